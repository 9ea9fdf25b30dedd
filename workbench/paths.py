"""Where the workbench keeps its files: `$WORKBENCH_HOME`, by default `~/.cache/workbench`.

    models/    converted default model, the tiny test model
    runs/      one folder per training run (the single source of truth for a run)
    feedback/  human preference judgements, append-only JSONL
    logs/      the command line's third-party warnings (cli.log)
    exports/   runs exported from the GUI
    uploads/   data files uploaded through the GUI or the notebook widgets

Served beyond this machine (`workbench launch --host X`), the app reads typed paths only inside
its own folders: `share_reads` turns that on, `readable_path` is the one check every GUI path
box goes through.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from workbench.errors import DataError

# What a run or a feedback dataset may be called: a plain file name, never a path.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
NAME_HINT = "Use letters, digits, '.', '_' or '-' (up to 100 characters)"


def is_name(text) -> bool:
    """Whether `text` is a usable name. The whole text must match (`$` would let a trailing
    newline through)."""
    return isinstance(text, str) and NAME.fullmatch(text) is not None


def home() -> Path:
    root = os.environ.get("WORKBENCH_HOME") or Path.home() / ".cache" / "workbench"
    return Path(root).expanduser()


def models_dir() -> Path:
    return home() / "models"


def runs_dir() -> Path:
    return home() / "runs"


def feedback_dir() -> Path:
    return home() / "feedback"


def logs_dir() -> Path:
    return home() / "logs"


def exports_dir() -> Path:
    """Where the GUI exports runs: the one folder inside the home an export may write to."""
    return home() / "exports"


def repo_root() -> Path:
    """The project checkout (for sample_data/); front ends use it to offer the sample files."""
    return Path(__file__).resolve().parent.parent


def sample_data_dir() -> Path:
    return repo_root() / "sample_data"


# ---------------------------------------------------------------- what a shared app may read

# None: the app is served on loopback, to the user of this machine, who may read any file anyway.
_shared_roots: tuple[Path, ...] | None = None

NOT_READABLE_HINT = ("A shared workbench reads only uploaded files, its sample data, its own runs "
                     "and feedback, and the folders its operator allowed (--allow-dir): upload the "
                     "file instead.")


def share_reads(allowed_dirs=()) -> None:
    """From now on, typed paths must lie inside $WORKBENCH_HOME (uploads, runs, feedback), the
    sample data or `allowed_dirs`. For the whole process: `workbench launch` calls it once,
    before building the app, when it serves beyond this machine."""
    global _shared_roots
    _shared_roots = tuple(Path(d).expanduser().resolve() for d in (home(), sample_data_dir(), *allowed_dirs))


def local_reads() -> None:
    """Back to reading any path (an app on loopback; tests)."""
    global _shared_roots
    _shared_roots = None


def is_shared() -> bool:
    return _shared_roots is not None


def readable_path(text) -> Path:
    """A path typed by a user, made absolute (symbolic links followed, relative to where the app
    started). In a shared app, one outside the allowed folders raises the same DataError whether
    it exists or not, so the answer never tells a remote user what is on this machine."""
    path = Path(str(text)).expanduser().resolve()
    if _shared_roots is not None and not any(path.is_relative_to(root) for root in _shared_roots):
        raise DataError(f"'{text}' is not available in a shared workbench", hint=NOT_READABLE_HINT)
    return path
