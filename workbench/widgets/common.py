"""What the widgets share: a status line that shows an error as one readable line.

A widget's handler calls the engine and fills its child widgets; a failure never reaches the
notebook as a traceback from inside a button callback (which Jupyter would print to the log
console, out of sight), it shows in the widget's own status line.
"""

from __future__ import annotations

import logging

from workbench import present
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
