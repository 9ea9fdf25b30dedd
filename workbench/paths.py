"""Where the workbench keeps its files: `$WORKBENCH_HOME`, by default `~/.cache/workbench`.

    models/    converted default model, the tiny test model
    runs/      one folder per training run (the single source of truth for a run)
    feedback/  human preference judgements, append-only JSONL
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    root = os.environ.get("WORKBENCH_HOME") or Path.home() / ".cache" / "workbench"
    return Path(root).expanduser()


def models_dir() -> Path:
    return home() / "models"


def runs_dir() -> Path:
    return home() / "runs"


def feedback_dir() -> Path:
    return home() / "feedback"


def repo_root() -> Path:
    """The project checkout (for sample_data/); front ends use it to offer the sample files."""
    return Path(__file__).resolve().parent.parent


def sample_data_dir() -> Path:
    return repo_root() / "sample_data"
