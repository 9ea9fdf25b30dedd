"""Human-feedback files (`workbench.feedback`) as data: which judgements are training rows."""

from __future__ import annotations

from workbench.data.validate import RowError, kind


def split_feedback(records: list[tuple[int, dict | RowError]], *, keep_ties: bool = False,
                   unpaired: bool = False) -> tuple[list[tuple[int, dict | RowError]], dict | None]:
    """A human-feedback file (`workbench.feedback`) holds pair judgements (they carry
    "chosen_side"), thumbs up/down on single answers ("thumb": "up"|"down", with "completion" and
    "label"), retraction lines {"retracts": id} that cancel an earlier judgement (the file is
    append-only, so undo appends), and ties ("tie": true) that prefer neither answer. Retractions,
    retracted judgements and ties are neither training rows nor errors: drop them (ties stay if
    keep_ties).

    unpaired=False keeps the pairs (a preference file) and drops the thumbs; unpaired=True gives
    KTO rows: the thumbs as they are, and each pair as two rows at its line, the chosen answer
    labelled desirable and the rejected one undesirable (the rater preferred one to the other;
    that is the most a pair says about each answer alone).

    records: (line, row) as read_records gives them. Returns (the records left, counts
    {"judgements", "pairs", "ties", "thumbs_up", "thumbs_down", "retracted"}), or (records, None)
    for any other file.
    """
    rows = [r for _, r in records if isinstance(r, dict)]
    if not any("retracts" in r or "chosen_side" in r or "thumb" in r for r in rows):
        return records, None
    records = [(line, _bad_id(line, r) or r) if isinstance(r, dict) else (line, r) for line, r in records]
    rows = [r for _, r in records if isinstance(r, dict)]
    retracted = {r["retracts"] for r in rows if "retracts" in r}
    judged = [r for r in rows if "retracts" not in r]
    live = [r for r in judged if r.get("id") not in retracted]
    ties = sum(r.get("tie") is True for r in live)
    up = sum(r.get("thumb") == "up" for r in live)
    down = sum(r.get("thumb") == "down" for r in live)
    counts = {"judgements": len(live), "pairs": len(live) - ties - up - down, "ties": ties,
              "thumbs_up": up, "thumbs_down": down, "retracted": len(judged) - len(live)}
    kept = []
    for line, r in records:
        if not isinstance(r, dict):
            kept.append((line, r))
        elif "retracts" in r or r.get("id") in retracted:
            continue
        elif "thumb" in r:
            if unpaired:
                kept.append((line, r))
        elif unpaired:
            if r.get("tie") is not True and "chosen" in r and "rejected" in r:
                kept += [(line, {"prompt": r.get("prompt"), "completion": r["chosen"], "label": True}),
                         (line, {"prompt": r.get("prompt"), "completion": r["rejected"], "label": False})]
        elif keep_ties or r.get("tie") is not True:
            kept.append((line, r))
    return kept, counts


def _bad_id(line: int, row: dict) -> RowError | None:
    """A judgement's "id", or the "retracts" naming one, that is not a string (a hand edit, another
    tool): that line's error, not the whole file's."""
    for name in ("retracts", "id"):
        if name in row and not isinstance(row[name], str):
            return RowError(line, name, f"expected a judgement id (a string), got {kind(row[name])}")
    return None


def feedback_as_unpaired(counts: dict | None, task: str | None) -> bool:
    """Whether a feedback file is read as KTO rows: when a stage asks for them, or when it holds
    thumbs and no pair (then it is an unpaired file whatever is asked, and says so)."""
    return bool(counts) and (task == "unpaired" or (counts["pairs"] == 0 and counts["thumbs_up"]
                                                    + counts["thumbs_down"] > 0))
