"""What every tab shares: readable errors, data file paths, and the choices offered in dropdowns.

The app is a thin front end: each handler calls the engine's public functions and turns what they
return into components. A handler never lets an exception reach Gradio as a bare "Error": a
`WorkbenchError` shows as its own message, anything else as one short line (the traceback goes to
the console).
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import gradio as gr

from workbench import paths, present
from workbench.data import SUFFIXES
from workbench.errors import DataError
from workbench.present import esc, notice, tokenizer_for  # noqa: F401 - the tabs take them from here

log = logging.getLogger("workbench.ui")

UPLOAD_LIMIT = "200mb"


# ------------------------------------------------------------------ errors

def readable(error: BaseException) -> str:
    """One line a user can act on. Unexpected errors are logged with their traceback."""
    return present.readable(error, logger=log, details="details in the console where the app runs")


def _raise_readable(error: Exception, *args, **kwargs):
    if isinstance(error, gr.Error):
        raise error
    # gr.Error renders its message as HTML: escape paths and file contents.
    raise gr.Error(html.escape(readable(error), quote=False), duration=30, print_exception=False) from None


# Wrap an event handler (function or generator) so its failure is a readable message.
guarded = present.guarded(_raise_readable)


# ------------------------------------------------------------------ data files

def data_path(text: str | None) -> str:
    """A data file typed by the user: resolved, existing, a regular file with a data suffix.

    Raises DataError naming the path and what to do; returns the resolved path as a string.
    """
    text = (text or "").strip().strip('"').strip("'")
    if not text:
        raise DataError("no data file chosen",
                        hint="Upload a file, pick a sample file, or type a path on this machine.")
    path = paths.readable_path(text)  # relative to where the app was started; shared: our folders only
    if not path.exists():
        raise DataError("file not found", path=path, hint="Check the path; it is read on the machine the app runs on.")
    if path.is_dir():
        raise DataError("is a folder, not a data file", path=path, hint="Pick one file inside it.")
    if not path.is_file():
        raise DataError("is not a regular file", path=path, hint="Give a JSONL, JSON, CSV or Parquet file.")
    if not path.name.lower().endswith(SUFFIXES):
        raise DataError(f"unknown file type '{''.join(path.suffixes) or path.name}'", path=path,
                        hint=f"Use one of {', '.join(SUFFIXES)}.")
    return str(path)


def keep_upload(temp_path: str) -> str:
    """Copy an upload out of Gradio's temporary cache into $WORKBENCH_HOME/uploads (see
    `workbench.data.uploads`, shared with the Jupyter uploader)."""
    from workbench.data.uploads import keep_upload as keep
    source = Path(temp_path)
    return str(keep(source.name, source.read_bytes()))


def sample_files() -> list[tuple[str, str]]:
    """(label, path) of the project's sample data files."""
    folder = paths.sample_data_dir()
    return [(p.name, str(p)) for p in sorted(folder.iterdir())
            if p.is_file() and p.name.lower().endswith(SUFFIXES)] if folder.is_dir() else []


def sample_file(name: str) -> str:
    return str(paths.sample_data_dir() / name)


# ------------------------------------------------------------------ choices

def model_names() -> list[str]:
    """Model names a user can pick (prepared or not); hub ids can still be typed."""
    from workbench.models import list_models
    return [m.name for m in list_models() if m.kind != "hub"]
