"""Where the workbench keeps its files: `$WORKBENCH_HOME`, by default `~/.cache/workbench`.

    models/    converted default model, the tiny test model
    runs/      one folder per training run (the single source of truth for a run)
    feedback/  human preference judgements, append-only JSONL
    logs/      the command line's third-party warnings (cli.log)
    exports/   runs exported from the GUI
"""

from __future__ import annotations

import os
import re
from pathlib import Path

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
