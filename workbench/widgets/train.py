"""The training launcher: start a run (or watch one), with live charts of its metrics (one per
family: loss, accuracy, margins, KL, reward, ...) under a smoothing slider, a progress bar, and
Stop / Resume.

Everything comes from the run folder: a background thread calls `refresh()` every `poll_s`
seconds while the run is active, and `refresh()` reads `Run.status()` and `Run.metrics()` and
redraws the figures from `workbench.charts` (the same figures as the GUI). The kernel stays free
while a run trains: the job is its own process (`workbench.train.jobs`), and the thread only reads.
"""

from __future__ import annotations

import threading

import ipywidgets as widgets

from workbench.present import primary_file, run_status
from workbench.widgets.common import ChartGrid, Follower, guarded, notice

BAR_STYLE = {"completed": "success", "failed": "danger", "stopped": "warning"}


def status_html(name: str, status: dict) -> str:
    """The run's state, step, ETA, and its error or final metrics."""
    s = run_status(name, status)
    if s.state == "failed":
        return notice(f"{s.headline()}: {s.error}", "error")
    if s.state == "completed":
        metrics = s.metrics_text()
        return notice(s.headline() + (f" · {metrics}" if metrics else ""), "ok")
    return notice(s.headline())


class TrainingLauncher(widgets.VBox):
    """Start a `stage` run with `settings` (the stage config's fields, as `workbench.train.train`
    takes them), or watch an existing run with `TrainingLauncher(run="NAME")`.

    Attributes a notebook or test reads: `run` (the Run), `progress` (IntProgress: value = step,
    max = max_steps), `charts` (a ChartGrid: `charts.smoothing`, `charts.figures` by chart title),
    `status` (HTML).
    """

    def __init__(self, stage: str = "sft", *, run=None, poll_s: float = 1.0, **settings):
        from workbench.models import DEFAULT_MODEL
        self.settings = dict(settings)
        self.poll_s = poll_s
        self.run = None
        self._lock = threading.Lock()
        self._follower = Follower()
        self._seen = None
        from workbench.train.config import STAGE_CONFIGS
        self.stage = widgets.Dropdown(options=list(STAGE_CONFIGS), value=stage, description="Stage")
        self.model = widgets.Text(value=str(self.settings.pop("model", DEFAULT_MODEL)), description="Model")
        self.data = widgets.Text(value=str(self.settings.pop(primary_file(stage), "")),
                                 description=primary_file(stage).capitalize(), layout=widgets.Layout(width="50%"))
        from workbench.models.hardware import precision_choices
        self.precision = widgets.Dropdown(options=precision_choices(),
                                          value=self.settings.pop("precision", "auto"), description="Precision")
        self.max_steps = widgets.BoundedIntText(value=self.settings.pop("max_steps", None) or 20, min=1,
                                                max=10**7, description="Max steps")
        self.name = widgets.Text(value=str(self.settings.pop("name", "") or ""), description="Run name",
                                 placeholder="made from the stage and time")
        self.start_button = widgets.Button(description="Start", button_style="primary")
        self.stop_button = widgets.Button(description="Stop", disabled=True)
        self.resume_button = widgets.Button(description="Resume", disabled=True)
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="Progress")
        self.status = widgets.HTML()
        self.charts = ChartGrid()
        self.stage.observe(lambda change: setattr(self.data, "description",
                                                  primary_file(change["new"]).capitalize()), names="value")
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.resume_button.on_click(lambda _: self.resume())
        super().__init__([widgets.HBox([self.stage, self.model, self.max_steps]),
                          widgets.HBox([self.data, self.name, self.precision]),
                          widgets.HBox([self.start_button, self.stop_button, self.resume_button, self.progress]),
                          self.status, self.charts])
        if run is not None:
            self.watch(run)

    # ------------------------------------------------------------ actions (engine calls)
    def config_settings(self) -> dict:
        """The form's values over the extras, as `RunConfig.from_form` reads them (an empty name: a new one)."""
        return {**self.settings, "model": self.model.value, "max_steps": self.max_steps.value,
                "precision": self.precision.value, primary_file(self.stage.value): self.data.value,
                "name": self.name.value}

    @guarded
    def start(self):
        """Start the run in its own process and watch it; returns the Run."""
        from workbench.train import jobs
        from workbench.train.config import RunConfig
        config = RunConfig.from_form({**self.config_settings(), "stage": self.stage.value}, source="the launcher")
        return self.watch(jobs.start(config))

    @guarded
    def stop(self) -> dict | None:
        """Ask the run to stop after its current step (it saves a checkpoint)."""
        from workbench.train import jobs
        status = jobs.stop(self.run.name)
        self.status.value = notice(f"Stop requested: {self.run.name} saves a checkpoint and stops.")
        return status

    @guarded
    def resume(self):
        """Continue a stopped or failed run from its last checkpoint, and watch it again."""
        from workbench.train import jobs
        return self.watch(jobs.resume(self.run.name))

    def watch(self, run):
        """Follow `run` (a Run or a run name): refresh now, then from a background thread."""
        from workbench.runs import ACTIVE_STATES, get_run
        self.halt()
        self.run = get_run(run) if isinstance(run, str) else run
        self._seen = None
        self.show_config(self.run.config())
        self.refresh()
        self._follower.follow(lambda: self.refresh().get("state"), poll_s=self.poll_s, active=ACTIVE_STATES,
                              status=self.status, what=f"run {self.run.name}")
        return self.run

    def show_config(self, config: dict) -> None:
        """Fill the form from a run's config, so Start repeats it (under a new name)."""
        if config.get("stage") in self.stage.options:
            self.stage.value = config["stage"]
        self.model.value = str(config.get("model") or self.model.value)
        self.data.value = str(config.get(primary_file(self.stage.value)) or "")
        self.max_steps.value = config.get("max_steps") or self.max_steps.value
        self.settings = {k: v for k, v in config.items()
                         if k not in ("stage", "name", "model", "max_steps", primary_file(self.stage.value))}

    def halt(self) -> None:
        """Stop following the run (the run itself goes on)."""
        self._follower.halt()

    # ------------------------------------------------------------ the view
    def refresh(self) -> dict:
        """Read the run folder once and update the progress bar, status line and charts.

        Returns the run's status dict. Charts are redrawn only when the metrics or state changed.
        """
        from workbench.runs import ACTIVE_STATES
        with self._lock:
            status = self.run.status()
            metrics = self.run.metrics()
            facts = run_status(self.run.name, status)
            state = facts.state
            self.progress.max = max(facts.total or 0, facts.step, 1)
            self.progress.value = self.progress.max if state == "completed" else min(facts.step, self.progress.max)
            self.progress.bar_style = BAR_STYLE.get(state, "info")
            self.status.value = status_html(self.run.name, status)
            active = state in ACTIVE_STATES
            self.stop_button.disabled = not active
            self.resume_button.disabled = active or state == "completed"
            self.start_button.disabled = active
            seen = (len(metrics), state)
            if seen != self._seen:
                self.charts.draw({self.run.name: metrics})
                self._seen = seen
            return status

    def points(self, key: str = "loss") -> int:
        """How many points of `key` the charts show (what a test or a reader checks)."""
        return self.charts.points(key)
