"""Uploaded data files, kept in `$WORKBENCH_HOME/uploads/` so a job process can read them later.

The GUI receives an upload as a temporary file and the Jupyter uploader as bytes in memory; both
keep it here. A training job reads its data file later, from another process, when the temporary
copy may be gone. The file keeps its name, in a folder named by a hash of its content, so
re-uploading the same file reuses it and two files of one name do not collide. A file is written
beside its name and renamed, so a half-written one never has it.

The folder is kept under a size cap, `WORKBENCH_MAX_UPLOADS_BYTES` (default 5 GiB): each new upload
removes the oldest others until the folder fits, never one that a run's config.yaml names (its
data, eval_data or prompts), which its resume and its record need.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from workbench import paths
from workbench.data.files import env_int
from workbench.errors import DataError, RunError
from workbench.io import write_atomic

MAX_UPLOADS_ENV, DEFAULT_MAX_UPLOADS = "WORKBENCH_MAX_UPLOADS_BYTES", 5 * 2**30


def uploads_dir() -> Path:
    return paths.home() / "uploads"


def keep_upload(name: str, content: bytes) -> Path:
    """Store `content` as uploads/<first 12 hex of its sha256>/<name>; returns that path."""
    name = Path(name).name  # a browser may send a path; only its last part is a file name
    if not name or name in (".", ".."):
        raise DataError("an uploaded file has no usable name", hint="Rename the file and upload it again.")
    digest = hashlib.sha256(content).hexdigest()[:12]
    target = uploads_dir() / digest / name
    # Reused only when whole: a copy cut off by a crash (or an older, non-atomic version of this
    # function) would otherwise stand for this content forever.
    if not (target.is_file() and target.read_bytes() == content):
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, content)
    target.touch()  # the newest now, even when reused: the pruning goes by age
    prune_uploads(keep=target)
    return target


def prune_uploads(*, keep: Path | None = None, max_bytes: int | None = None) -> list[Path]:
    """Remove the oldest uploads (by modification time) until the folder holds at most max_bytes
    (default: WORKBENCH_MAX_UPLOADS_BYTES), sparing `keep` and every file a run names. Returns
    the files removed."""
    max_bytes = env_int(MAX_UPLOADS_ENV, DEFAULT_MAX_UPLOADS) if max_bytes is None else max_bytes
    files = [p for p in uploads_dir().glob("*/*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    if total <= max_bytes:
        return []
    named = _named_by_runs()
    removed = []
    for path in sorted(files, key=lambda p: p.stat().st_mtime):
        if total <= max_bytes:
            break
        # Runs record resolved paths; the home may sit behind a symbolic link.
        if path == keep or any(str(p) in text for p in (path, path.resolve()) for text in named):
            continue
        total -= path.stat().st_size
        path.unlink()
        removed.append(path)
        if not any(path.parent.iterdir()):
            shutil.rmtree(path.parent, ignore_errors=True)
    return removed


def _named_by_runs() -> set[str]:
    """What the runs' configs say, as text: each config.yaml whole (which still names a file when
    it no longer parses) and each of its values (a path as YAML may have quoted it)."""
    from workbench.runs import list_runs
    named: set[str] = set()
    for run in list_runs():
        try:
            named.add(run.config_path.read_text(encoding="utf-8", errors="replace"))
            named.update(str(v) for v in run.config().values() if isinstance(v, str))
        except (OSError, RunError):
            continue
    return named
