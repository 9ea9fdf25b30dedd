"""How a run looks in the page, for the Train and Runs tabs: its progress bar, a status line,
and its sample generations as a table. Everything comes from the run folder's status and files;
the facts stated are `workbench.present.run_status`'s, as in the widget and the CLI."""

from __future__ import annotations

import pandas as pd

from ui.common import esc, notice
from workbench.present import run_status

SAMPLE_ROWS = 20


def progress_html(name: str, status: dict, points: int) -> str:
    """A progress bar with step / total / ETA, the run's state, and the number of plotted points."""
    s = run_status(name, status)
    eta = f" · {s.eta}" if s.eta else ""
    return (f'<div class="wb-progress" data-state="{esc(s.state)}"><div class="wb-bar wb-{esc(s.state)}" '
            f'style="width:{int(100 * s.done)}%"></div></div>'
            f'<div class="wb-progress-text"><b>{esc(s.name)}</b> · <span class="wb-state">{esc(s.state)}</span>'
            f' · step {s.steps}{eta} · <span class="wb-points" data-points="{points}">'
            f'points: {points}</span></div>')


def status_text(name: str, status: dict) -> str:
    s = run_status(name, status)
    if s.state == "failed":
        return notice(f"Run {esc(s.name)} failed: {esc(s.error)}", "error")
    if s.state == "completed":
        metrics = s.metrics_text()
        return notice(f"Run {esc(s.name)} completed" + (f": {esc(metrics)}" if metrics else "") +
                      ". Compare it with the base model in the Compare tab.", "ok")
    if s.state == "stopped":
        return notice(f"Run {esc(s.name)} stopped at step {s.step}; Resume continues from its "
                      "last checkpoint.")
    return notice(f"Run {esc(s.name)} is {esc(s.state)}.")


def samples_table(samples: list[dict]) -> pd.DataFrame:
    """The newest generations of a PPO / RLOO run, one row each, long texts shortened."""
    rows = samples[-SAMPLE_ROWS:][::-1]
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value):
        if isinstance(value, (int, float, str)) or value is None:
            return value if not isinstance(value, str) else value[:400]
        return str(value)[:400]
    return pd.DataFrame([[cell(row.get(c)) for c in columns] for row in rows], columns=columns)
