"""Human feedback: rate two answers to a prompt, grow a preference dataset, learn from it.

RLHF starts with people judging model outputs. Here a rater sees two answers to one prompt (one
model with two sampling seeds, or two models), picks the better one, marks a tie or skips, and may
correct the better answer first. Each judgement is appended at once to

    $WORKBENCH_HOME/feedback/<name>.jsonl

in the canonical preference form, so `workbench data inspect`, `load_rows(task="preference")` and
the reward and DPO stages read it like any other preference file. One line per judgement:

    {"prompt": [messages], "chosen": str, "rejected": str,
     "id": uuid, "chosen_model", "chosen_seed", "chosen_side": "left"|"right",
     "rejected_model", "rejected_seed", "rejected_side", "rater", "time": ISO 8601 UTC,
     "temperature", "top_p", "max_new_tokens",
     "chosen_original"?: the answer as generated, when the rater corrected it ("chosen" is the fix),
     "tie"?: true  (then chosen/rejected are simply the left/right answers; not a training pair)}

A thumbs up or down on one answer (a rater may give each answer on show one, before or instead of
choosing between them) is a line of the unpaired (KTO) form:

    {"prompt": [messages], "completion": str, "label": true|false, "thumb": "up"|"down",
     "id", "model", "seed", "side": "left"|"right", "rater", "time", "temperature", "top_p",
     "max_new_tokens"}

Read as the `unpaired` task (`workbench train kto --data FILE`, `load_rows(task="unpaired")`) a
feedback file gives its thumbs and, for each pair, two rows: the chosen answer labelled desirable
and the rejected one undesirable. Read as `preference` it gives its pairs; the thumbs are left out.
A file of thumbs only is an unpaired file.

The file is never rewritten: undo appends {"retracts": id, "id", "rater", "time"}, and readers drop
the retracted judgement. Skips are not written: a skip says nothing about the answers, and the file
is the user's dataset, not a log of the session. A crash or a closed tab loses at most the
judgement being written (a torn last line, which readers skip).

    session = Session("my-feedback", ["base"], prompts, rater="ana")
    pair = session.advance()             # pair.left / pair.right: Candidate(model, seed, text)
    session.judge("left")                # or "right", "tie", "skip"; corrected="better text"
    session.thumb("right", "down")       # a thumbs down on answer B; the pair stays on show
    train_from_feedback("my-feedback", stage="dpo", max_steps=20)   # or "reward", "kto"
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from workbench import paths
from workbench.errors import ConfigError, DataError, WorkbenchError

CHOICES = ("left", "right", "tie", "skip")
SIDES = ("left", "right")
THUMBS = ("up", "down")
STAGES = ("reward", "dpo", "kto")


# ------------------------------------------------------------------ where the files are

def check_name(name: str) -> str:
    """A feedback dataset name: a plain file name, never a path."""
    name = (name or "").strip()
    if name.endswith(".jsonl"):
        name = name[: -len(".jsonl")]
    if not paths.NAME.match(name):
        raise ConfigError(f"'{name}' is not a usable feedback dataset name",
                          hint=f"{paths.NAME_HINT}, e.g. my-feedback.")
    return name


def feedback_path(name: str) -> Path:
    return paths.feedback_dir() / f"{check_name(name)}.jsonl"


def resolve(name_or_path) -> Path:
    """A feedback dataset by name (under $WORKBENCH_HOME/feedback) or by file path."""
    text = str(name_or_path)
    if text.endswith(".jsonl") and ("/" in text or os.sep in text or Path(text).is_file()):
        return Path(text).expanduser()
    return feedback_path(text)  # anything else must be a plain name


def list_feedback() -> list[dict]:
    """feedback_stats of every dataset in $WORKBENCH_HOME/feedback, newest first."""
    folder = paths.feedback_dir()
    files = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.is_dir() else []
    return [feedback_stats(path) for path in files]


# ------------------------------------------------------------------ prompts

def prompts_from(text: str | None = None, file=None) -> list[list[dict]]:
    """Prompts as message lists: typed ones (one per line; blank lines ignored), else the prompts
    of `file` (a prompts file, or any dataset with prompts: preference, SFT, ...)."""
    from workbench.data import load_rows
    typed = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if typed:
        return [[{"role": "user", "content": line}] for line in typed]
    if file:
        return [row["prompt"] for row in load_rows(file, task="prompts")]
    raise DataError("no prompts given", hint="Type prompts (one per line) or choose a file with prompts, "
                                              "e.g. sample_data/prompts.jsonl.")


# ------------------------------------------------------------------ pairs

@dataclass
class Candidate:
    """One answer shown to the rater: which model wrote it with which sampling seed."""

    model: str
    seed: int
    text: str


@dataclass
class Pair:
    """Two answers to one prompt, as shown: `left` is answer A, `right` answer B."""

    prompt: list[dict]
    left: Candidate
    right: Candidate
    settings: dict = field(default_factory=dict)  # temperature, top_p, max_new_tokens


def make_pair(comparer, prompt, models: list[str], rng: random.Random, *, temperature: float = 0.8,
              top_p: float = 1.0, max_new_tokens: int = 96) -> Pair:
    """Two answers to `prompt`, placed left/right at random.

    models: one model (two answers with two seeds drawn from `rng`) or two (one answer each,
    with the same seed, so only the model differs). comparer: a `workbench.evaluate.Comparer`
    holding the models. rng decides the seeds and the sides, so a seeded rng repeats a session.
    """
    from workbench.evaluate import as_messages
    check_sampling(models, temperature)
    messages = as_messages(prompt)
    seed = rng.randrange(2**31)
    other = seed if len(models) == 2 else (seed + 1 + rng.randrange(2**31 - 1)) % 2**31
    sampling = dict(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
    first, second = models[0], models[-1]
    a = Candidate(first, seed, comparer.generate(messages, model=first, seed=seed, **sampling).text)
    b = Candidate(second, other, comparer.generate(messages, model=second, seed=other, **sampling).text)
    left, right = (b, a) if rng.random() < 0.5 else (a, b)
    return Pair(messages, left, right, sampling)


def check_sampling(models: list[str], temperature: float) -> None:
    """Raise ConfigError unless the settings can give two different answers to compare."""
    if len(models) not in (1, 2):
        raise ConfigError(f"feedback compares the answers of one or two models, not {len(models)}",
                          hint="Pick one model (two answers with different seeds) or two.")
    if len(models) == 1 and temperature <= 0:
        raise ConfigError("temperature 0 (greedy) gives the same answer for every seed",
                          hint="Raise the temperature, or pick a second model to compare with.")


# ------------------------------------------------------------------ the append-only file

def _append(path: Path, record: dict) -> None:
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
        _append(resolve(name), record)
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
    _append(resolve(name), record)
    return record


def undo(name, judgement_id: str, *, rater: str | None = None) -> dict:
    """Retract a judgement by appending {"retracts": id}; the file is never rewritten."""
    record = {"retracts": judgement_id, "id": uuid.uuid4().hex, "rater": rater, "time": _now()}
    _append(resolve(name), record)
    return record


def _lines(path: Path) -> list[tuple[int, dict]]:
    from workbench.io import read_jsonl_tolerant
    return [(n, row) for n, row in enumerate(read_jsonl_tolerant(path), start=1) if isinstance(row, dict)]


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
    keep = {id(row) for _, row in kept if "chosen_side" in row}
    if thumbs:
        keep |= {id(row) for _, row in split_feedback(lines, unpaired=True)[0] if "thumb" in row}
    return [row for _, row in lines if id(row) in keep]


def feedback_stats(name_or_path) -> dict:
    """{"name", "path", "judgements" (pairs, ties and thumbs), "pairs" (usable for reward and
    DPO), "ties", "thumbs_up", "thumbs_down", "unpaired" (KTO rows: thumbs + 2 per pair),
    "retracted", "corrected", "raters" {name: judgements}, "bytes"}."""
    from workbench.data.feedback_rows import split_feedback
    path = resolve(name_or_path)
    lines = _lines(path) if path.exists() else []
    kept, counts = split_feedback(lines, keep_ties=True)
    judgements = [row for _, row in kept if "chosen_side" in row]
    thumbs = [row for _, row in split_feedback(lines, unpaired=True)[0] if "thumb" in row]
    raters: dict[str, int] = {}
    for row in judgements + thumbs:
        raters[row.get("rater") or "?"] = raters.get(row.get("rater") or "?", 0) + 1
    counts = counts or {"judgements": 0, "pairs": 0, "ties": 0, "thumbs_up": 0, "thumbs_down": 0, "retracted": 0}
    return {"name": path.name.removesuffix(".jsonl"), "path": str(path), **counts,
            "unpaired": counts["thumbs_up"] + counts["thumbs_down"] + 2 * counts["pairs"],
            "corrected": sum("chosen_original" in row for row in judgements), "raters": raters,
            "bytes": path.stat().st_size if path.exists() else 0}


# ------------------------------------------------------------------ several raters

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
            if row["id"] in seen:
                continue
            seen.add(row["id"])
            merged.append({**row, "rater": row.get("rater") or path.name.removesuffix(".jsonl")})
    if not merged:
        raise DataError("the datasets to merge hold no judgements", hint="Check the names or paths.")
    for row in merged:
        _append(out, row)
    pairs = [row for row in merged if "chosen_side" in row]  # thumbs have no second answer to agree on
    return {**feedback_stats(out), "sources": [str(resolve(s)) for s in sources], "agreement": agreement(pairs)}


# ------------------------------------------------------------------ a reward model's view

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


# ------------------------------------------------------------------ learning from it

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


# ------------------------------------------------------------------ a rater's session

class Session:
    """One rater working through prompts: the pair on show, the next one prepared in the
    background while the rater reads, and the judgements of this session that undo can take back.

    Front ends (the Feedback tab, the Jupyter widget) call advance / judge / undo / counts.
    """

    def __init__(self, name, models: list[str], prompts: list, *, comparer=None, base: str | None = None,
                 reward_model: str | None = None, rater: str | None = None, seed: int = 0,
                 prefetch: bool = True, **sampling):
        from workbench.evaluate import Comparer
        self.path = resolve(name)
        self.models = [m for m in dict.fromkeys(models) if m]
        check_sampling(self.models, sampling.get("temperature", 0.8))  # before the slow model load
        if not prompts:
            raise DataError("no prompts to rate", hint="Give at least one prompt.")
        self.comparer = comparer or Comparer(self.models, base=base, reward_model=reward_model)
        self.rater, self.sampling, self.prefetch = rater, sampling, prefetch
        self._rng = random.Random(seed)
        self._todo = deque(prompts)
        self._ready: deque[Pair] = deque()  # pairs undo put back, shown before new ones
        self._next: Future | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feedback")
        self._done: list[tuple[dict, Pair]] = []  # judgements and thumbs, in the order given
        self._agrees: dict[str, bool] = {}
        self.current: Pair | None = None
        self.judged = 0

    def _submit(self) -> Future:
        """Make the next prompt's pair on the session's one worker thread: one thread, so the rng
        draws (seeds, sides) follow the prompts' order whatever the timing."""
        prompt = self._todo.popleft() if self._todo else None
        return self._pool.submit(lambda: prompt and make_pair(self.comparer, prompt, self.models, self._rng,
                                                              **self.sampling))

    def left(self) -> int:
        """Prompts not yet shown (the one on show excluded)."""
        return len(self._todo) + len(self._ready) + (1 if self._next is not None else 0)

    def advance(self) -> Pair | None:
        """Show the next pair (None when the prompts are used up); blocks while it is generated,
        then starts preparing the one after."""
        if self._ready:
            self.current = self._ready.popleft()
        else:
            future, self._next = self._next or self._submit(), None
            self.current = future.result()
        if self.prefetch and self._todo and self._next is None:
            self._next = self._submit()
        return self.current

    def judge(self, choice: str, corrected: str | None = None) -> dict | None:
        """Record the rater's choice on the pair on show ("left", "right", "tie", "skip")."""
        if self.current is None:
            raise WorkbenchError("no pair is on show", hint="Start rating first.")
        record = record_judgement(self.path, self.current, choice, corrected=corrected, rater=self.rater)
        if record is not None:
            self._done.append((record, self.current))
            self.judged += 1
        return record

    def thumb(self, side: str, thumb: str) -> dict:
        """A thumbs "up" or "down" on one answer on show ("left" is A); the pair stays on show, to
        be judged or skipped. A second thumb on the same answer retracts the first."""
        if self.current is None:
            raise WorkbenchError("no pair is on show", hint="Start rating first.")
        record = record_thumb(self.path, self.current, side, thumb, rater=self.rater)
        for i, (old, pair) in enumerate(self._done):
            if pair is self.current and old.get("side") == side and "thumb" in old:
                undo(self.path, old["id"], rater=self.rater)
                del self._done[i]
                self.judged -= 1
                break
        self._done.append((record, self.current))
        self.judged += 1
        return record

    def thumbs(self) -> dict[str, str]:
        """The thumbs this session gave the answers on show: {"left"|"right": "up"|"down"}."""
        return {old["side"]: old["thumb"] for old, pair in self._done if pair is self.current and "thumb" in old}

    def undo(self) -> Pair:
        """Retract this session's last judgement or thumb and show its pair again (the pair on
        show waits, unless it is that pair)."""
        if not self._done:
            raise WorkbenchError("nothing to undo in this session")
        record, pair = self._done.pop()
        undo(self.path, record["id"], rater=self.rater)
        self.judged -= 1
        if self.current is not None and self.current is not pair:
            self._ready.appendleft(self.current)
        self.current = pair
        return pair

    def counts(self) -> dict:
        """feedback_stats of the dataset, "session" (judged here), and with a reward model
        "reward_agreement" ({"n", "agree", "share"}; each judgement is scored once)."""
        stats = {**feedback_stats(self.path), "session": self.judged}
        scorer = getattr(self.comparer, "scorer", None)
        if scorer is not None and self.path.exists():
            rows = [r for r in read_feedback(self.path) if not r.get("tie")]  # pairs only
            new = [r for r in rows if r["id"] not in self._agrees]
            if new:
                self._agrees.update(agreement_with_reward_model(new, scorer=scorer)["agrees"])
            agree = sum(self._agrees[r["id"]] for r in rows)
            stats["reward_agreement"] = {"model": self.comparer.reward_model, "n": len(rows), "agree": agree,
                                         "share": agree / len(rows) if rows else None}
        return stats

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["Candidate", "Pair", "Session", "make_pair", "record_judgement", "judgement_record", "undo",
           "record_thumb", "thumb_record",
           "read_feedback", "feedback_stats", "feedback_path", "list_feedback", "prompts_from", "merge_feedback",
           "agreement", "cohen_kappa", "agreement_with_reward_model", "train_from_feedback", "run_feedback"]
