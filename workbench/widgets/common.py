"""What the widgets share: a status line that shows an error as one readable line.

A widget's handler calls the engine and fills its child widgets; a failure never reaches the
notebook as a traceback from inside a button callback (which Jupyter would print to the log
console, out of sight), it shows in the widget's own status line.
"""

from __future__ import annotations

import functools
import html
import logging

from workbench.errors import WorkbenchError, one_line

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
    if not isinstance(error, WorkbenchError):
        log.error("unexpected error in a widget", exc_info=error)
    return one_line(error)


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
