"""Several raters' datasets: their agreement (Cohen's kappa), merging them, and how often a reward
model agrees with the people.
"""

from __future__ import annotations

import json
from itertools import combinations

from workbench.errors import ConfigError, DataError
from workbench.feedback.dataset import append_record, feedback_path, feedback_stats, read_feedback, resolve


def _item(row: dict) -> tuple[str, tuple[str, str]]:
    """What two raters judged alike: the same prompt and the same two answer texts (as generated,
    before any correction), in either order. Texts, not models and seeds: the same model and seed
    give other texts at other settings, and what a rater saw is the texts."""
    shown = (row.get("chosen_original", row["chosen"]), row["rejected"])
    return json.dumps(row["prompt"], sort_keys=True), tuple(sorted(shown))


def _label(row: dict) -> str:
    """The rater's verdict on its item: which of the two (sorted) texts won, or a tie."""
    if row.get("tie"):
        return "tie"
    return "first" if row.get("chosen_original", row["chosen"]) == _item(row)[1][0] else "second"


def cohen_kappa(a: list[str], b: list[str]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items: (p_o - p_e) / (1 - p_e), with p_e the
    agreement expected from each rater's label shares. None when p_e is 1 (both always gave one
    and the same label: kappa is undefined)."""
    n = len(a)
    if n == 0 or n != len(b):
        return None
    observed = sum(x == y for x, y in zip(a, b)) / n
    expected = sum((a.count(k) / n) * (b.count(k) / n) for k in set(a) | set(b))
    return None if expected >= 1 else (observed - expected) / (1 - expected)


def agreement(judgements: list[dict]) -> dict:
    """Agreement between raters on the items more than one of them judged.

    Each rater's latest verdict per item counts. For every pair of raters with items in common:
    {"raters", "items", "agree", "raw" (agree / items), "kappa"}; "raw" and "kappa" at the top are
    the means over those rater pairs (Cohen's kappa for two raters). "items" at the top: items
    judged by two raters or more.
    """
    verdicts: dict[str, dict] = {}  # rater -> item -> label
    for row in judgements:
        verdicts.setdefault(row.get("rater") or "?", {})[_item(row)] = _label(row)
    pairs = []
    for r1, r2 in combinations(sorted(verdicts), 2):
        shared = sorted(set(verdicts[r1]) & set(verdicts[r2]))
        if not shared:
            continue
        a, b = [verdicts[r1][i] for i in shared], [verdicts[r2][i] for i in shared]
        agree = sum(x == y for x, y in zip(a, b))
        pairs.append({"raters": [r1, r2], "items": len(shared), "agree": agree,
                      "raw": agree / len(shared), "kappa": cohen_kappa(a, b)})
    judged = {}
    for rater_items in verdicts.values():
        for item in rater_items:
            judged[item] = judged.get(item, 0) + 1
    kappas = [p["kappa"] for p in pairs if p["kappa"] is not None]
    return {"raters": sorted(verdicts), "items": sum(n > 1 for n in judged.values()), "pairs": pairs,
            "raw": sum(p["raw"] for p in pairs) / len(pairs) if pairs else None,
            "kappa": sum(kappas) / len(kappas) if kappas else None}


def merge_feedback(sources: list, out_name: str) -> dict:
    """Merge several raters' datasets (names or paths) into a new dataset `out_name`.

    Writes every effective judgement (pairs, ties, thumbs) once (by id; retractions applied; a judgement without a
    rater is credited to its file's name) and returns feedback_stats of the new file plus
    "agreement" (see `agreement`; on the pair judgements). Judgements that disagree are both kept: the trainer sees both.
    """
    out = feedback_path(out_name)
    if out.exists():
        raise ConfigError(f"feedback dataset '{out_name}' already exists", hint="Choose a new --out name.")
    merged, seen = [], set()
    for source in sources:
        path = resolve(source)
        for row in read_feedback(path, thumbs=True):
            key = row.get("id")  # a row without one (a hand edit) is its own
            if key is not None and key in seen:
                continue
            seen.add(key)
            merged.append({**row, "rater": row.get("rater") or path.name.removesuffix(".jsonl")})
    if not merged:
        raise DataError("the datasets to merge hold no judgements", hint="Check the names or paths.")
    for row in merged:
        append_record(out, row)
    pairs = [row for row in merged if "chosen_side" in row]  # thumbs have no second answer to agree on
    return {**feedback_stats(out), "sources": [str(resolve(s)) for s in sources], "agreement": agreement(pairs)}


def agreement_with_reward_model(judgements: list[dict], reward_run: str | None = None, *,
                                scorer=None) -> dict:
    """How often a reward model scores the rater's chosen answer above the rejected one.

    Ties are left out; a corrected answer is scored as generated (what the rater compared).
    Pass `scorer` (a RewardScorer) to reuse a loaded one. Returns {"n", "agree", "share"
    (None when n is 0), "agrees": {judgement id: bool}}.
    """
    rows = [row for row in judgements if not row.get("tie")]
    if scorer is None:
        from workbench.models.score import RewardScorer
        scorer = RewardScorer(reward_run)
    scores = scorer.score_many([(row["prompt"], text) for row in rows
                                for text in (row.get("chosen_original", row["chosen"]), row["rejected"])])
    agrees = {row["id"]: scores[2 * i] > scores[2 * i + 1] for i, row in enumerate(rows)}
    n, agree = len(rows), sum(agrees.values())
    return {"n": n, "agree": agree, "share": agree / n if n else None, "agrees": agrees}
