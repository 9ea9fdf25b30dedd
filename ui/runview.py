"""How a run looks in the page, for the Train, Runs and Pipeline tabs: its progress bar, a status
line, its charts with their smoothing, and its sample generations as a table. Everything comes from
the run folder's status and files; the facts stated are `workbench.present.run_status`'s, and the
charts `workbench.charts.metric_figures`', as in the widgets and the CLI."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ui.common import esc, notice
from workbench import charts
from workbench.present import run_status

SAMPLE_ROWS = 20
# The charts' grid: two columns where a chart gets 340 px or more, one on a narrow page.
CSS = """
.wb-charts { display: grid !important; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); }
.wb-charts > * { min-width: 0 !important; }
"""


def chart_grid(prefix: str) -> tuple[gr.Slider, list[gr.Plot]]:
    """The smoothing slider and one plot per metric family (`charts.FAMILIES`), in a grid; a family
    the run does not log stays hidden. Ids: {prefix}-smoothing, {prefix}-charts, {prefix}-chart-N."""
    smoothing = gr.Slider(0, 0.99, value=charts.SMOOTHING, step=0.01, elem_id=f"{prefix}-smoothing",
                          label="Smoothing (a moving average, as in TensorBoard; the raw curve stays faint)")
    with gr.Row(elem_classes=["wb-charts"], elem_id=f"{prefix}-charts"):
        plots = [gr.Plot(show_label=False, visible=False, elem_id=f"{prefix}-chart-{i}")
                 for i in range(len(charts.FAMILIES))]
    return smoothing, plots


def chart_updates(runs: dict[str, list[dict]], smoothing: float | None) -> list:
    """The grid's plots for `runs` (name -> metric rows, the first the run shown): a chart per
    family it logs, the other plots hidden."""
    figures = list(charts.metric_figures(runs, charts.SMOOTHING if smoothing is None else smoothing).values())
    return ([gr.update(value=figure, visible=True) for figure in figures] +
            [gr.update(visible=False)] * (len(charts.FAMILIES) - len(figures)))


def no_charts() -> list:
    return [gr.update(visible=False)] * len(charts.FAMILIES)


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
