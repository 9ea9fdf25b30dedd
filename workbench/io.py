"""Files that readers may see while a writer works on them: JSON written atomically, JSONL appended
one whole line at a time and read tolerantly, and folders built aside then moved into place.

Every writer in the workbench goes through these, so a reader (a front end polling a run, a second
process building the same model) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write a file so that a reader sees the old file or the new one, never half of one.

    The temp file's name is unique to this call: two threads of one process (the app's) writing
    the same file must not share, and truncate, one temp file. A failed write removes it.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, value) -> None:
    """Write JSON so that a reader sees the old file or the new one, never half of one."""
    write_atomic(path, json.dumps(value, indent=2, default=str))


def claim_id(folder: Path, prefix: str) -> str:
    """A new id `PREFIX-YYYYmmdd-HHMMSS[-N]`, claimed by creating `folder/<id>.json` empty, so two
    writers in the same second never share one (a reader skips the empty file until it is written)."""
    import time
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    attempt = 0
    while True:
        name = f"{prefix}-{stamp}" + (f"-{attempt}" if attempt else "")
        try:
            (folder / f"{name}.json").open("x").close()
            return name
        except FileExistsError:
            attempt += 1


def append_jsonl(path: Path, row: dict, *, fsync: bool = False) -> None:
    """Append one JSON line with one write, so a reader (or a crash) sees the whole line or a torn
    tail, never a rewritten file. fsync: return only once the line is on disk.

    A line torn by a writer that died mid-write has no newline: this row then starts on a fresh
    line, or it would be glued to the fragment and lost with it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(row, ensure_ascii=False, default=float) + "\n").encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        while data:
            data = data[os.write(fd, data):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl_tolerant(path: Path) -> list[dict]:
    """Rows of a JSONL file the writer may have died in the middle of: a broken line is skipped."""
    rows = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if not line:
                    continue
                try:
                    rows.append(json.loads(line))
                except (json.JSONDecodeError, RecursionError):
                    continue  # half-written by a process that died mid-write, or not ours
    except FileNotFoundError:
        pass
    return rows


def move_into_place(tmp: Path, target: Path) -> None:
    """Replace `target` (a folder, or nothing) with the finished folder `tmp`, which sits beside it.

    The old target is renamed aside first and removed only once `tmp` has its name, so a failure
    leaves the old one in place. If another process put a target there first (the rename fails
    and a target exists), theirs is kept and `tmp` is removed.
    """
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(target, old)
    try:
        os.rename(tmp, target)
    except OSError:
        if not target.exists():
            if old is not None:
                os.rename(old, target)
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def built_aside(target: Path) -> Iterator[Path]:
    """Yield an empty folder beside `target` to build in; on success it replaces `target`
    (`move_into_place`), on any error (or Ctrl-C) it is removed and `target` is left as it was.

    The folder's name carries this process's id, so two processes building the same target never
    share one, and one left by a process that was killed mid-build is removed by the next build.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        move_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove_stale_temps(target: Path) -> None:
    """Temp folders left by a process that was killed mid-build (its pid is gone)."""
    import psutil

    for prefix in (f".{target.name}.tmp-", f".{target.name}.old-"):
        for stale in target.parent.glob(prefix + "*"):
            pid = stale.name[len(prefix):]
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)
