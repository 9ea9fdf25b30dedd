"""What the widgets share: a status line that shows an error as one readable line, a Follower that
refreshes a widget while its run is active, and the grid of metric charts with its smoothing.

A widget's handler calls the engine and fills its child widgets; a failure never reaches the
notebook as a traceback from inside a button callback (which Jupyter would print to the log
console, out of sight), it shows in the widget's own status line.
"""

from __future__ import annotations

import logging
import threading

import ipywidgets as widgets
import plotly.graph_objects as go

from workbench import charts, present
from workbench.present import esc  # noqa: F401 - the widgets take it from here

log = logging.getLogger("workbench.widgets")

COLORS = {"info": "#374151", "ok": "#15803d", "error": "#b91c1c"}


def notice(text: str, kind: str = "info") -> str:
    """Status-line HTML: kind is info | ok | error."""
    return (f'<span class="wb-notice wb-{kind}" style="color:{COLORS[kind]}">'
            f'{esc(present.notice(text, kind))}</span>')


def readable(error: BaseException) -> str:
    """One line a user can act on; unexpected errors keep their traceback in the log."""
    return present.readable(error, logger=log)


def _show_in_status(error: Exception, widget, *args, **kwargs) -> None:
    widget.status.value = notice(readable(error), "error")


# Wrap a widget method so a failure shows in `self.status` (and the method returns None).
guarded = present.guarded(_show_in_status)


class Follower:
    """Calls `refresh()` every `poll_s` seconds on a background thread while what it follows is
    active: the thread ends once refresh returns a state not in `active`. A failed read (a file
    caught mid-write) shows in `status` and is tried again at the next tick. The kernel stays free:
    the thread only reads."""

    def __init__(self):
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def follow(self, refresh, *, poll_s: float, active, status, what: str) -> None:
        """Start following (halting any earlier thread first). what: names it in the thread and
        in a failed read's message."""
        self.halt()
        halt = self._halt = threading.Event()

        def poll():
            while not halt.wait(poll_s):
                try:
                    state = refresh()
                except Exception as error:  # noqa: BLE001 - a file read mid-write; try again next tick
                    status.value = notice(f"could not read {what}: {error}", "error")
                    continue
                if state not in active:
                    return

        self._thread = threading.Thread(target=poll, daemon=True, name=f"follow-{what}")
        self._thread.start()

    def halt(self) -> None:
        """Stop following (what it followed goes on)."""
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None


def redraw(widget: go.FigureWidget, figure: go.Figure) -> None:
    """Make a FigureWidget show `figure` (its traces and layout) in one update."""
    with widget.batch_update():
        widget.data = ()
        widget.add_traces(list(figure.data))
        widget.layout = figure.layout


class ChartGrid(widgets.VBox):
    """A run's charts as the GUI draws them (`workbench.charts.metric_figures`): one per metric
    family, two to a row where they fit, under a smoothing slider. `draw(runs)` shows runs (name ->
    metric rows, the first the run followed); moving the slider redraws them. Attributes a
    notebook or test reads: `smoothing` (FloatSlider), `figures` (chart title -> FigureWidget)."""

    def __init__(self):
        self.smoothing = widgets.FloatSlider(value=charts.SMOOTHING, min=0, max=0.99, step=0.01,
                                             description="Smoothing", continuous_update=False)
        self.grid = widgets.GridBox(layout=widgets.Layout(
            grid_template_columns="repeat(auto-fill, minmax(340px, 1fr))", width="100%"))
        self.figures: dict[str, go.FigureWidget] = {}
        self._runs: dict[str, list[dict]] = {}
        self._lock = threading.Lock()  # the follower's thread draws, and so does a slider move
        self.smoothing.observe(lambda _: self.draw(self._runs), names="value")
        super().__init__([self.smoothing, self.grid])

    def draw(self, runs: dict[str, list[dict]]) -> None:
        with self._lock:
            self._runs = runs
            figures = charts.metric_figures(runs, self.smoothing.value)
            if list(figures) != list(self.figures):  # another set of charts: new widgets
                self.figures = {title: go.FigureWidget() for title in figures}
                self.grid.children = list(self.figures.values())
            for title, figure in figures.items():
                redraw(self.figures[title], figure)

    def points(self, key: str = "loss") -> int:
        """How many points of metric `key` the charts show (each point once, not raw and smoothed)."""
        return sum(len(trace.x or ()) for figure in self.figures.values() for trace in figure.data
                   if (trace.meta or {}).get("key") == key and trace.meta.get("kind") != "smoothed")
