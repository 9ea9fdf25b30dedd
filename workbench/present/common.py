"""What every front end shares, whatever it draws with: HTML escaping, status-line symbols, an
error as one readable line, handlers that turn failures into those lines, and the small engine
look-ups each view needs (a cached tokenizer, the field that takes a stage's training file).
"""

from __future__ import annotations

import functools
import html
import inspect
import logging

from workbench.errors import WorkbenchError, one_line

log = logging.getLogger("workbench.present")

# Plain text symbols: an emoji font is not on every machine (headless browsers show boxes).
ICONS = {"info": "", "ok": "✓ ", "error": "⚠ "}


def esc(text) -> str:
    """`text` safe inside HTML (and Gradio's Markdown, which passes HTML through)."""
    return html.escape(str(text), quote=True)


def notice(text: str, kind: str = "info") -> str:
    """A status line as plain text: kind (info | ok | error) becomes a leading symbol."""
    return f"{ICONS[kind]}{text}"


def readable(error: BaseException, *, logger: logging.Logger = log, details: str = "") -> str:
    """One line a user can act on. An unexpected error (not a WorkbenchError) is logged with its
    traceback, and `details` (where that log is) is added to its line, except for out of memory,
    whose line already says what to do."""
    if isinstance(error, WorkbenchError):
        return one_line(error)
    logger.error("unexpected error in a front end", exc_info=error)
    text = one_line(error)
    return f"{text} ({details})" if details and not text.startswith("Out of memory") else text


def guarded(on_error):
    """A decorator for event handlers (functions or generators): an exception the handler raises
    goes to on_error(error, *args, **kwargs), whose return value the handler then returns."""
    def decorate(fn):
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def generator(*args, **kwargs):
                try:
                    yield from fn(*args, **kwargs)
                except Exception as error:  # noqa: BLE001 - every failure becomes a message
                    return on_error(error, *args, **kwargs)
            return generator

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as error:  # noqa: BLE001
                return on_error(error, *args, **kwargs)
        return wrapper
    return decorate


@functools.lru_cache(maxsize=4)
def tokenizer_for(model: str):
    """Tokenizers load in a second or two; the views keep the last few."""
    from workbench.models import load_tokenizer
    return load_tokenizer(model)


def primary_file(stage: str) -> str:
    """The config field that takes the stage's training file (data for SFT, prompts for PPO, ...)."""
    from workbench.train.config import config_class
    return config_class(stage)().file_fields()[0]
