"""How a run looks in the page, for the Train and Runs tabs: its progress bar, a status line,
and its sample generations as a table. Everything comes from the run folder's status and files."""

from __future__ import annotations

import pandas as pd

from ui.common import esc, notice

BOOKKEEPING = ("runtime", "per_second", "num_tokens", "epoch")  # final metrics not worth a user's glance
SAMPLE_ROWS = 20


def progress_html(name: str, status: dict, points: int) -> str:
    """A progress bar with step / total / ETA, the run's state, and the number of plotted points."""
    step, total = status.get("step") or 0, status.get("max_steps") or 0
    state = status.get("state") or "?"
    percent = 100 if state == "completed" else int(100 * step / total) if total else 0
    eta = status.get("eta_s")
    eta_text = f" · ETA {eta:.0f} s" if isinstance(eta, (int, float)) and eta and state == "running" else ""
    return (f'<div class="wb-progress" data-state="{esc(state)}"><div class="wb-bar wb-{esc(state)}" '
            f'style="width:{percent}%"></div></div>'
            f'<div class="wb-progress-text"><b>{esc(name)}</b> · <span class="wb-state">{esc(state)}</span>'
            f' · step {step}/{total or "?"}{eta_text} · <span class="wb-points" data-points="{points}">'
            f'points: {points}</span></div>')


def status_text(name: str, status: dict) -> str:
    state = status.get("state")
    if state == "failed":
        return notice(f"Run {esc(name)} failed: {esc(status.get('error') or 'no reason recorded')}", "error")
    if state == "completed":
        final = status.get("final") or {}
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(final.items())
                            if isinstance(v, (int, float)) and not any(w in k for w in BOOKKEEPING))
        return notice(f"Run {esc(name)} completed" + (f": {esc(metrics)}" if metrics else "") +
                      ". Compare it with the base model in the Compare tab.", "ok")
    if state == "stopped":
        return notice(f"Run {esc(name)} stopped at step {status.get('step')}; Resume continues from its "
                      "last checkpoint.")
    return notice(f"Run {esc(name)} is {esc(state)}.")


def samples_table(samples: list[dict]) -> pd.DataFrame:
    """The newest generations of a PPO / RLOO run, one row each, long texts shortened."""
    rows = samples[-SAMPLE_ROWS:][::-1]
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value):
        if isinstance(value, (int, float, str)) or value is None:
            return value if not isinstance(value, str) else value[:400]
        return str(value)[:400]
    return pd.DataFrame([[cell(row.get(c)) for c in columns] for row in rows], columns=columns)
