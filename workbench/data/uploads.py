"""Uploaded data files, kept in `$WORKBENCH_HOME/uploads/` so a job process can read them later.

The GUI receives an upload as a temporary file and the Jupyter uploader as bytes in memory; both
keep it here. A training job reads its data file later, from another process, when the temporary
copy may be gone. The file keeps its name, in a folder named by a hash of its content, so
re-uploading the same file reuses it and two files of one name do not collide. A file is written
beside its name and renamed, so a half-written one never has it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from workbench import paths
from workbench.errors import DataError
from workbench.io import write_atomic


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
    return target
