"""What the front ends say about a run, and which runs their pickers offer.

`run_status` turns a run's status (status.json, or `Run.summary()`, which has the same keys) into
the facts every front end shows: the GUI's progress bar and status line, the widget's, and the
CLI's progress line and `runs show` all print these, so they state the same state, step, ETA and
final metrics. `run_choices` is the one rule for what a run picker lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Final metrics not worth a user's glance: the trainer's bookkeeping (train_runtime, epoch, ...).
BOOKKEEPING = ("runtime", "per_second", "num_tokens", "epoch")


@dataclass
class RunStatus:
    """A run's state as the front ends state it. Every text field is ready to print."""

    name: str
    state: str                  # queued | running | completed | stopped | failed; "?" when unknown
    step: int                   # optimizer steps done
    total: int | None           # max_steps; None until the trainer knows it
    eta_s: float | None         # seconds left; only while running, else None
    error: str | None           # why a failed run failed
    metrics: list[tuple[str, str]] = field(default_factory=list)  # (name, value to 4 digits) of the final metrics

    @property
    def done(self) -> float:
        """The share of the run done, 0 to 1 (1 once completed, whatever the step)."""
        if self.state == "completed":
            return 1.0
        return min(self.step / self.total, 1.0) if self.total else 0.0

    @property
    def steps(self) -> str:
        return f"{self.step}/{self.total or '?'}"

    @property
    def eta(self) -> str:
        """"ETA 42 s" while running with an estimate, else ""."""
        return f"ETA {self.eta_s:.0f} s" if self.eta_s else ""

    def headline(self) -> str:
        """"name · state · step 3/10 · ETA 42 s": the facts of a one-line status."""
        return " · ".join(p for p in (self.name, self.state, f"step {self.steps}", self.eta) if p)

    def metrics_text(self) -> str:
        """"loss 1.234, eval_loss 1.5": the final metrics in one phrase ("" before the end)."""
        return ", ".join(f"{key} {value}" for key, value in self.metrics)


def run_status(name: str, status: dict) -> RunStatus:
    """The facts of a run's status dict (`Run.status()` or `Run.summary()`)."""
    state = status.get("state") or "?"
    eta = status.get("eta_s")
    final = status.get("final") or {}
    metrics = [(key, f"{value:.4g}") for key, value in sorted(final.items())
               if isinstance(value, (int, float)) and not isinstance(value, bool)
               and not any(word in key for word in BOOKKEEPING)]
    return RunStatus(name=name, state=state, step=status.get("step") or 0, total=status.get("max_steps") or None,
                     eta_s=eta if state == "running" and isinstance(eta, (int, float)) and eta else None,
                     error=(status.get("error") or "no reason recorded") if state == "failed" else None,
                     metrics=metrics)


# What a run picker is for -> which runs it lists. Only completed runs have a trained adapter or
# model to load; a reward run scores answers and never writes them.
PURPOSES = {
    "answers": "completed runs whose model answers (compare, chat, feedback, evaluation): not reward runs",
    "start": "completed policy runs a stage can start from (from_run)",
    "reward_model": "completed reward runs, to score answers",
}


def run_choices(purpose: str | tuple[str, ...]) -> list[str]:
    """Names of the runs a picker for `purpose` offers, newest first: a key of PURPOSES, or the
    stages whose runs a config field names (its knob's `runs`, e.g. from_run's policy stages).
    Only completed runs with a trained output; a run whose folder cannot be read is left out."""
    from workbench.errors import RunError
    from workbench.runs import list_runs
    from workbench.train.config import POLICY_STAGES
    if isinstance(purpose, str) and purpose not in PURPOSES:
        raise ValueError(f"unknown run picker purpose '{purpose}': one of {', '.join(PURPOSES)}")
    names = []
    for run in list_runs():
        try:
            stage = run.config().get("stage")
        except RunError:  # a broken run folder: `runs list` shows it, no picker offers it
            continue
        if isinstance(purpose, str):
            wanted = {"answers": stage != "reward", "start": stage in POLICY_STAGES,
                      "reward_model": stage == "reward"}[purpose]
        else:
            wanted = stage in purpose
        if wanted and run.output_dir() is not None and run.status().get("state") == "completed":
            names.append(run.name)
    return names


# ---------------------------------------------------------------- the runs table

RUN_COLUMNS = ("name", "stage", "state", "progress", "base", "started", "duration", "metric", "value")
# The one number that says how a stage's run is doing: its held-out figure where it has one.
HEADLINE_METRICS = {
    "sft": ("eval_loss", "loss"),
    "kto": ("eval_loss", "loss"),
    "reward": ("eval_accuracy", "accuracy"),
    "dpo": ("eval_rewards/margins", "rewards/margins"),
    "ppo": ("eval_reward/mean", "reward/mean"),
    "rloo": ("reward/mean", "reward"),
    "grpo": ("reward", "reward/mean"),
}
SORTS = ("started", "name", "stage", "state", "duration", "value")


def headline_metric(stage: str | None, last: dict) -> tuple[str, float] | tuple[str, None]:
    """(name, latest value) of the stage's headline metric; ("", None) before it is logged."""
    for key in HEADLINE_METRICS.get(stage or "", ("eval_loss", "loss")):
        if isinstance(last.get(key), (int, float)):
            return key, float(last[key])
    return "", None


def duration_text(seconds: float | None) -> str:
    """"42 s", "3 min 5 s", "2 h 07 min"; "" when unknown."""
    if seconds is None or seconds < 0:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def runs_overview(stage: str | None = None, state: str | None = None, sort: str = "started",
                  descending: bool = True) -> list[list]:
    """The compact runs table, one row of RUN_COLUMNS per run: only `stage`'s and `state`'s runs
    when given ("all" or None: every run), sorted by a key of SORTS (runs without a value last).
    progress is "step/total"; started is local time; duration runs to now while a run is active."""
    import time

    from workbench.runs import ACTIVE_STATES, list_runs
    rows = []
    for summary in (run.summary() for run in list_runs()):
        if stage not in (None, "", "all") and summary["stage"] != stage:
            continue
        if state not in (None, "", "all") and summary["state"] != state:
            continue
        facts = run_status(summary["name"], summary)
        begun = summary.get("started_at") or summary.get("created_at")
        ended = time.time() if summary["state"] in ACTIVE_STATES else (summary.get("finished_at")
                                                                        or summary.get("updated_at"))
        base = summary["model"] or ""
        if summary.get("from_run"):
            base = f"{base} ← {summary['from_run']}"
        metric, value = headline_metric(summary["stage"], summary["last_metrics"])
        rows.append({"name": summary["name"], "stage": summary["stage"] or "?", "state": facts.state,
                     "progress": facts.steps, "base": base,
                     "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(begun)) if begun else "",
                     "duration": duration_text(ended - begun) if begun and ended else "",
                     "metric": metric, "value": round(value, 4) if value is not None else None,
                     "_started": begun or 0, "_duration": (ended - begun) if begun and ended else -1})
    key = sort if sort in SORTS else "started"
    if key in ("started", "duration"):
        rows.sort(key=lambda r: r["_" + key], reverse=descending)
    else:
        known = [r for r in rows if r[key] not in (None, "")]
        rows = sorted(known, key=lambda r: r[key], reverse=descending) + [r for r in rows if r[key] in (None, "")]
    return [[row[c] for c in RUN_COLUMNS] for row in rows]
