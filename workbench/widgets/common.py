"""What the widgets share: a status line that shows an error as one readable line, and run choices.

A widget's handler calls the engine and fills its child widgets; a failure never reaches the
notebook as a traceback from inside a button callback (which Jupyter would print to the log
console, out of sight), it shows in the widget's own status line.
"""

from __future__ import annotations

import functools
import html
import logging

from workbench.errors import WorkbenchError

log = logging.getLogger("workbench.widgets")


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def notice(text: str, kind: str = "info") -> str:
    """Status-line HTML: kind is info | ok | error."""
    color = {"info": "#374151", "ok": "#15803d", "error": "#b91c1c"}[kind]
    icon = {"info": "", "ok": "✓ ", "error": "⚠ "}[kind]
    return f'<span class="wb-notice wb-{kind}" style="color:{color}">{icon}{esc(text)}</span>'


def readable(error: BaseException) -> str:
    """One line a user can act on; unexpected errors keep their traceback in the log."""
    if isinstance(error, WorkbenchError):
        return str(error)
    log.error("unexpected error in a widget", exc_info=error)
    text = (str(error).strip().splitlines() or [""])[0][:300]
    return f"{type(error).__name__}: {text or 'unexpected error'}"


def guarded(method):
    """Wrap a widget method so a failure shows in `self.status` (and the method returns None)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as error:  # noqa: BLE001 - every failure becomes a status line
            self.status.value = notice(readable(error), "error")
            return None
    return wrapper


def run_choices(*, stage: str | None = None, exclude_stage: str | None = None) -> list[str]:
    """Names of runs with a trained output, newest first; only one stage's, or all but one."""
    from workbench.train.runfolder import list_runs
    names = []
    for run in list_runs():
        run_stage = run.config().get("stage")
        if run.output_dir() is None or (stage and run_stage != stage) or run_stage == exclude_stage:
            continue
        names.append(run.name)
    return names
