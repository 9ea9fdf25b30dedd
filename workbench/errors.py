"""Errors the front ends show as they are: what went wrong, where, and what to do next.

Every error raised on purpose by the engine is a `WorkbenchError`. The CLI prints it as one
line (no traceback), the GUI shows it in the page, the widgets in their output area.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """A problem the user can act on. `hint` says how."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class DataError(WorkbenchError):
    """A data file that cannot be used; names the file, and the line and field where known."""

    def __init__(self, message: str, *, path=None, line: int | None = None,
                 field: str | None = None, hint: str | None = None):
        where = ", ".join(p for p in (
            str(path) if path is not None else None,
            f"line {line}" if line is not None else None,
            f"field '{field}'" if field else None,
        ) if p)
        super().__init__(f"{where}: {message}" if where else message, hint)
        self.path, self.line, self.field = path, line, field


class ConfigError(WorkbenchError):
    """A run configuration that cannot run (unknown key, bad value, wrong data for the stage)."""


class ModelError(WorkbenchError):
    """A model name or folder that cannot be resolved or loaded."""


class RunError(WorkbenchError):
    """A run folder that does not exist, or an action its state does not allow."""


def one_line(error: BaseException) -> str:
    """What a front end shows for any failure: a WorkbenchError as it is, anything else as its
    type and first line (plus what to try when memory ran out). Front ends log the traceback."""
    if isinstance(error, WorkbenchError):
        return str(error)
    text = (str(error).strip().splitlines() or [""])[0][:300]
    if isinstance(error, MemoryError) or "out of memory" in text.lower():
        return ("Out of memory: " + (text or "the machine ran out of memory") +
                ". Try a smaller model, batch size or max length.")
    return f"{type(error).__name__}: {text or 'unexpected error'}"
