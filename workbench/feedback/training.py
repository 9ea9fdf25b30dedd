"""Training a reward model, DPO or KTO on a feedback dataset, and recording which one a run used."""

from __future__ import annotations

import hashlib
import json

from workbench.errors import ConfigError, DataError
from workbench.feedback.dataset import feedback_stats, resolve

STAGES = ("reward", "dpo", "kto")
FEEDBACK_RECORD = "feedback.json"  # in the run folder: which feedback a run was trained on


def train_from_feedback(name, /, stage: str = "reward", *, wait: bool = False, **settings):
    """Start a reward-model, DPO or KTO run on a feedback dataset; returns the Run.

    reward and dpo learn from the pair judgements. kto learns from the thumbs up/down and from
    each pair as two rows (chosen desirable, rejected undesirable): see `workbench.data.formats.
    split_feedback`. name: the dataset (positional: `name=` in settings names the run).
    settings: the stage's config fields (model, from_run, max_steps, ...). The
    run uses the rows usable at this moment (max_rows caps later additions, which the append-only file
    puts at the end), and its folder gets feedback.json: the file, its name, the judgement
    counts, and the byte length and SHA-256 of the file as read.
    """
    from workbench.io import write_json_atomic
    from workbench.train import train
    from workbench.train.jobs import wait_for
    if stage not in STAGES:
        raise ConfigError(f"feedback trains a 'reward' model, 'dpo' or 'kto', not '{stage}'")
    path = resolve(name)
    stats = feedback_stats(path)
    rows = stats["unpaired"] if stage == "kto" else stats["pairs"]
    if rows < (2 if stage == "kto" else 1):  # a KTO batch needs two rows for its KL estimate
        raise DataError("holds no judgement to learn from (ties and retracted ones do not count)"
                        if stage != "kto" else "holds fewer than 2 rows for KTO (thumbs, and 2 per pair)",
                        path=path, hint="Rate more answers first.")
    content = path.read_bytes()
    limit = settings.get("max_rows")
    settings["max_rows"] = min(limit, rows) if limit else rows
    run = train(stage, data=str(path), **settings)
    record = {"feedback": stats["name"], "file": str(path.resolve()), "judgements": settings["max_rows"],
              "ties": stats["ties"], "thumbs_up": stats["thumbs_up"], "thumbs_down": stats["thumbs_down"],
              "retracted": stats["retracted"], "raters": stats["raters"],
              "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    write_json_atomic(run.path / FEEDBACK_RECORD, record)
    return wait_for(run) if wait else run


def run_feedback(run) -> dict | None:
    """The feedback.json a run trained from feedback carries (a Run or a run name), else None."""
    from workbench.runs import Run, get_run
    run = run if isinstance(run, Run) else get_run(run)
    try:
        return json.loads((run.path / FEEDBACK_RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
