"""A feedback dataset: $WORKBENCH_HOME/feedback/<name>.jsonl, appended one judgement at a time,
never rewritten (undo appends a retraction), and read back with the retractions applied.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from workbench import paths
from workbench.errors import ConfigError, DataError
from workbench.feedback.pairs import Pair

CHOICES = ("left", "right", "tie", "skip")
SIDES = ("left", "right")
THUMBS = ("up", "down")


def check_name(name: str) -> str:
    """A feedback dataset name: a plain file name, never a path."""
    name = (name or "").strip()
    if name.endswith(".jsonl"):
        name = name[: -len(".jsonl")]
    if not paths.is_name(name):
        raise ConfigError(f"'{name}' is not a usable feedback dataset name",
                          hint=f"{paths.NAME_HINT}, e.g. my-feedback.")
    return name


def feedback_path(name: str) -> Path:
    return paths.feedback_dir() / f"{check_name(name)}.jsonl"


def resolve(name_or_path) -> Path:
    """A feedback dataset to read: by name (under $WORKBENCH_HOME/feedback), or by a path that
    says it is one (a Path, or text with a folder in it, such as ./data.jsonl). A bare name is a
    name even where a file of that name sits in the working folder. Writers take names only
    (`feedback_path`): judgements never go to a file outside the feedback folder."""
    text = str(name_or_path)
    if isinstance(name_or_path, os.PathLike) or "/" in text or os.sep in text:
        return Path(text).expanduser()
    return feedback_path(text)


def list_feedback() -> list[dict]:
    """feedback_stats of every dataset in $WORKBENCH_HOME/feedback, newest first."""
    folder = paths.feedback_dir()
    files = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.is_dir() else []
    return [feedback_stats(path) for path in files]


def append_record(path: Path, record: dict) -> None:
    """Append one judgement, on disk before this returns: the file is the user's dataset."""
    from workbench.io import append_jsonl
    append_jsonl(path, record, fsync=True)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def judgement_record(pair: Pair, choice: str, *, corrected: str | None = None,
                     rater: str | None = None) -> dict | None:
    """The line `record_judgement` writes (None for a skip); raises for an unusable judgement."""
    if choice not in CHOICES:
        raise ConfigError(f"unknown choice '{choice}'", hint=f"Use one of {', '.join(CHOICES)}.")
    if choice == "skip":
        return None
    corrected = (corrected or "").strip() or None
    if choice == "tie" and corrected:
        raise DataError("a tie has no better answer to correct", field="corrected",
                        hint="Pick the better answer (A or B), or clear the correction.")
    sides = {"left": pair.left, "right": pair.right}
    chosen_side = "right" if choice == "right" else "left"
    rejected_side = "left" if chosen_side == "right" else "right"
    chosen, rejected = sides[chosen_side], sides[rejected_side]
    text = corrected if corrected is not None and corrected != chosen.text.strip() else None
    if choice != "tie" and (text or chosen.text) == rejected.text:
        raise DataError("the two answers are the same text, so neither is better", field="chosen",
                        hint="Mark a tie, skip, or correct the better answer.")
    record = {"prompt": pair.prompt, "chosen": text or chosen.text, "rejected": rejected.text,
              "id": uuid.uuid4().hex,
              "chosen_model": chosen.model, "chosen_seed": chosen.seed, "chosen_side": chosen_side,
              "rejected_model": rejected.model, "rejected_seed": rejected.seed, "rejected_side": rejected_side,
              "rater": (rater or "").strip() or None, "time": _now(), **pair.settings}
    if text is not None:
        record["chosen_original"] = chosen.text
    if choice == "tie":
        record["tie"] = True
    return record


def record_judgement(name, pair: Pair, choice: str, *, corrected: str | None = None,
                     rater: str | None = None) -> dict | None:
    """Append one judgement to the dataset `name` at once; returns the record (None for a skip).

    choice: "left" (answer A is better), "right" (B), "tie" or "skip". corrected: the better
    answer as the rater edited it; it becomes "chosen" and the original is kept as
    "chosen_original".
    """
    record = judgement_record(pair, choice, corrected=corrected, rater=rater)
    if record is not None:
        append_record(feedback_path(name), record)
    return record


def thumb_record(pair: Pair, side: str, thumb: str, *, rater: str | None = None) -> dict:
    """The line `record_thumb` writes; raises for an unknown side or thumb."""
    if side not in SIDES:
        raise ConfigError(f"unknown side '{side}'", hint="Use 'left' (answer A) or 'right' (answer B).")
    if thumb not in THUMBS:
        raise ConfigError(f"unknown thumb '{thumb}'", hint="Use 'up' or 'down'.")
    answer = pair.left if side == "left" else pair.right
    return {"prompt": pair.prompt, "completion": answer.text, "label": thumb == "up", "thumb": thumb,
            "id": uuid.uuid4().hex, "model": answer.model, "seed": answer.seed, "side": side,
            "rater": (rater or "").strip() or None, "time": _now(), **pair.settings}


def record_thumb(name, pair: Pair, side: str, thumb: str, *, rater: str | None = None) -> dict:
    """Append a thumbs up or down on one answer of `pair` ("left" is A) to the dataset `name`."""
    record = thumb_record(pair, side, thumb, rater=rater)
    append_record(feedback_path(name), record)
    return record


RATINGS = ("up", "down")


def rating_record(prompt: list[dict], answer: str, *, model: str, rating: str, correction: str | None = None,
                  seed: int | None = None, settings: dict | None = None, exchange: str | None = None,
                  rater: str | None = None) -> dict:
    """The feedback line for a rating of one served answer (`workbench serve`'s /v1/feedback).
    Without a correction it is a thumb (an unpaired, KTO row, "side": "served"); with one it is a
    preference pair whose chosen answer is the correction and whose rejected answer is the model's
    ("chosen_side": "correction"), whatever the thumb said: a person who rewrote an answer preferred
    the rewrite. exchange: the served answer's id, kept so the row can be traced to the served log."""
    if rating not in RATINGS:
        raise ConfigError(f"unknown rating '{rating}'", hint="Use 'up' or 'down'.")
    correction = (correction or "").strip() or None
    common = {"id": uuid.uuid4().hex, "exchange": exchange, "rater": (rater or "").strip() or None,
              "time": _now(), **(settings or {})}
    if correction is None:
        return {"prompt": prompt, "completion": answer, "label": rating == "up", "thumb": rating,
                "model": model, "seed": seed, "side": "served", **common}
    if correction == answer.strip():
        raise DataError("the correction is the answer itself, so it teaches nothing", field="correction",
                        hint="Send the rating alone, or a correction that differs from the answer.")
    return {"prompt": prompt, "chosen": correction, "rejected": answer, "chosen_model": model, "chosen_seed": seed,
            "chosen_side": "correction", "rejected_model": model, "rejected_seed": seed, "rejected_side": "served",
            "chosen_original": answer, "rating": rating, **common}


def record_rating(name, prompt: list[dict], answer: str, **rating) -> dict:
    """Append `rating_record(prompt, answer, **rating)` to the feedback dataset `name`."""
    record = rating_record(prompt, answer, **rating)
    append_record(feedback_path(name), record)
    return record


def undo(name, judgement_id: str, *, rater: str | None = None) -> dict:
    """Retract a judgement by appending {"retracts": id}; the file is never rewritten."""
    record = {"retracts": judgement_id, "id": uuid.uuid4().hex, "rater": rater, "time": _now()}
    append_record(feedback_path(name), record)
    return record


def _lines(path: Path) -> list[tuple[int, dict]]:
    from workbench.io import read_jsonl_tolerant
    return [(n, row) for n, row in enumerate(read_jsonl_tolerant(path), start=1) if isinstance(row, dict)]


def _rows(records) -> list[dict]:
    """The rows of split_feedback's records; a line it found unusable (a RowError) is left out."""
    return [row for _, row in records if isinstance(row, dict)]


def read_feedback(name_or_path, *, keep_ties: bool = True, thumbs: bool = False) -> list[dict]:
    """The effective pair judgements, in file order: retractions applied, a torn line skipped.
    Ties are kept (with "tie": true) unless keep_ties=False; thumbs=True adds the thumbs up/down
    (rows with "thumb") where they are in the file."""
    from workbench.data.feedback_rows import split_feedback
    path = resolve(name_or_path)
    if not path.exists():
        raise DataError("no such feedback dataset", path=path,
                        hint="Rate some answers first (the Feedback tab, or `workbench.feedback.Session`).")
    lines = _lines(path)
    kept, _ = split_feedback(lines, keep_ties=keep_ties)
    keep = {id(row) for row in _rows(kept) if "chosen_side" in row}
    if thumbs:
        keep |= {id(row) for row in _rows(split_feedback(lines, unpaired=True)[0]) if "thumb" in row}
    return [row for _, row in lines if id(row) in keep]


def feedback_stats(name_or_path) -> dict:
    """{"name", "path", "judgements" (pairs, ties and thumbs), "pairs" (usable for reward and
    DPO), "ties", "thumbs_up", "thumbs_down", "unpaired" (KTO rows: thumbs + 2 per pair),
    "retracted", "corrected", "raters" {name: judgements}, "bytes"}."""
    from workbench.data.feedback_rows import split_feedback
    path = resolve(name_or_path)
    lines = _lines(path) if path.exists() else []
    kept, counts = split_feedback(lines, keep_ties=True)
    judgements = [row for row in _rows(kept) if "chosen_side" in row]
    thumbs = [row for row in _rows(split_feedback(lines, unpaired=True)[0]) if "thumb" in row]
    raters: dict[str, int] = {}
    for row in judgements + thumbs:
        raters[row.get("rater") or "?"] = raters.get(row.get("rater") or "?", 0) + 1
    counts = counts or {"judgements": 0, "pairs": 0, "ties": 0, "thumbs_up": 0, "thumbs_down": 0, "retracted": 0}
    return {"name": path.name.removesuffix(".jsonl"), "path": str(path), **counts,
            "unpaired": counts["thumbs_up"] + counts["thumbs_down"] + 2 * counts["pairs"],
            "corrected": sum("chosen_original" in row for row in judgements), "raters": raters,
            "bytes": path.stat().st_size if path.exists() else 0}
