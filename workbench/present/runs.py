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
