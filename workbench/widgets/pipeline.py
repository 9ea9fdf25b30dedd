"""The pipeline widget: start a pipeline file (or watch one), with one row per step and the running
step's charts (with their smoothing), and Stop / Resume. The same calls and facts as the GUI's Pipeline tab
(`workbench.pipeline`, `workbench.present.pipeline_facts`); a background thread refreshes it while
the pipeline runs, and the kernel stays free (the pipeline and its runs are processes of their own).
"""

from __future__ import annotations

import ipywidgets as widgets

from workbench.present import pipeline_facts
from workbench.present.pipeline import STEP_COLUMNS
from workbench.widgets.common import ChartGrid, Follower, esc, guarded, notice


class PipelineWidget(widgets.VBox):
    """Start the pipeline file `path` (its text editable in `text`), or watch a pipeline with
    `PipelineWidget(pipeline="NAME")`. Attributes a notebook or test reads: `name` (the pipeline's),
    `steps` (HTML table), `status` (HTML), `charts` (a ChartGrid of the running step's run)."""

    def __init__(self, path: str | None = None, *, pipeline: str | None = None, poll_s: float = 1.0):
        from pathlib import Path

        from workbench import paths
        path = str(path or paths.sample_data_dir() / "pipeline.yaml")
        self.name = None
        self.poll_s = poll_s
        self._follower = Follower()
        self._seen = None
        self.path = widgets.Text(value=path, description="File", layout=widgets.Layout(width="70%"))
        self.text = widgets.Textarea(value=Path(path).read_text(encoding="utf-8") if Path(path).is_file() else "",
                                     layout=widgets.Layout(width="95%", height="240px"))
        self.start_button = widgets.Button(description="Start", button_style="primary")
        self.stop_button = widgets.Button(description="Stop", disabled=True)
        self.resume_button = widgets.Button(description="Resume", disabled=True)
        self.status = widgets.HTML()
        self.steps = widgets.HTML()
        self.charts = ChartGrid()
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.resume_button.on_click(lambda _: self.resume())
        super().__init__([self.path, self.text, widgets.HBox([self.start_button, self.stop_button,
                                                              self.resume_button]),
                          self.status, self.steps, self.charts])
        if pipeline is not None:
            self.watch(pipeline)

    @guarded
    def start(self):
        """Start the pipeline as edited (its files relative to `path`) and watch it; returns its name."""
        from workbench.pipeline import run_pipeline
        return self.watch(run_pipeline(self.path.value, text=self.text.value).name)

    @guarded
    def stop(self):
        from workbench.pipeline import stop_pipeline
        stop_pipeline(self.name)
        self.status.value = notice(f"Stop requested: {self.name} stops after its running step's current step.")

    @guarded
    def resume(self):
        from workbench.pipeline import resume_pipeline
        return self.watch(resume_pipeline(self.name).name)

    def watch(self, name: str) -> str:
        """Follow pipeline `name`: refresh now, then from a background thread while it runs."""
        from workbench.pipeline import ACTIVE
        self.halt()
        self.name, self._seen = name, None
        self.refresh()
        self._follower.follow(self.refresh, poll_s=self.poll_s, active=ACTIVE, status=self.status,
                              what=f"pipeline {name}")
        return name

    def halt(self) -> None:
        """Stop following the pipeline (it goes on)."""
        self._follower.halt()

    def refresh(self) -> str:
        """Read the pipeline once: status line, steps table, and the charts when they changed.
        Returns the pipeline's state."""
        from workbench.pipeline import ACTIVE
        from workbench.runs import get_run
        facts = pipeline_facts(self.name)
        state = facts.state
        kind = {"completed": "ok", "failed": "error"}.get(state, "info")
        self.status.value = notice(facts.line, kind)
        head = "".join(f"<th>{esc(c)}</th>" for c in STEP_COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>" for row in facts.rows)
        self.steps.value = f"<table><tr>{head}</tr>{body}</table>"
        self.stop_button.disabled = state not in ACTIVE
        self.resume_button.disabled = state in ACTIVE or state == "completed"
        self.start_button.disabled = state in ACTIVE
        if facts.run:
            metrics = get_run(facts.run).metrics()
            seen = (facts.run, len(metrics))
            if seen != self._seen:
                self.charts.draw({facts.run: metrics})
                self._seen = seen
        return state
