"""The data uploader and inspector: a file (uploaded, or a path on this machine) in, its format,
task, usable rows and the per-line problem table out. It is `workbench.data.inspect_file`."""

from __future__ import annotations

import json
import re

import ipywidgets as widgets

from workbench.present import data_summary
from workbench.widgets.common import esc, guarded, notice

PREVIEW_ROWS = 3
ACCEPT = ".jsonl,.json,.gz,.csv,.parquet"


def summary_html(report) -> str:
    """One line: file, format, task, rows usable and with problems (plus what to do if unusable)."""
    s = data_summary(report)
    text = f"<b>{esc(s.name)}</b> · format <b>{esc(s.format)}</b> · task <b>{esc(s.task)}</b> · {s.counts}"
    for warning in s.warnings:
        text += "<br>" + notice(warning, "error")
    if s.train_with:
        text += "<br>Train it with " + re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(s.train_with)) + "."
    return text


def problems_html(report) -> str:
    """The per-line problem table (line, field, problem), or nothing when every row is usable."""
    if not report.errors:
        return ""
    rows = "".join(f"<tr><td>{e.line}</td><td><code>{esc(e.field or '')}</code></td><td>{esc(e.message)}</td></tr>"
                   for e in report.errors)
    return ('<table class="wb-problems"><thead><tr><th>line</th><th>field</th><th>problem</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


class DataInspector(widgets.VBox):
    """Upload a file or type a path, press Inspect (or Enter): summary, problems, canonical rows.

    `inspect(path)` is the handler; it returns the `DataReport` (None when the file could not be
    read at all; the reason is in `status`). `report` keeps the last one.
    """

    def __init__(self, path: str | None = None):
        self.upload = widgets.FileUpload(accept=ACCEPT, multiple=False, description="Upload")
        self.path = widgets.Text(value=str(path or ""), placeholder="sample_data/sft.jsonl",
                                 description="Data file", layout=widgets.Layout(width="60%"))
        self.button = widgets.Button(description="Inspect", button_style="primary")
        self.status = widgets.HTML()
        self.summary = widgets.HTML("Choose a file to see its format.")
        self.problems = widgets.HTML()
        self.preview = widgets.HTML()
        self.report = None
        self.upload.observe(lambda change: self.on_upload(change["new"]), names="value")
        self.button.on_click(lambda _: self.inspect())
        self.path.continuous_update = False
        self.path.observe(lambda _: self.inspect(), names="value")
        super().__init__([widgets.HBox([self.upload, self.path, self.button]), self.status, self.summary,
                          self.problems, self.preview])
        if path:
            self.inspect()

    @guarded
    def on_upload(self, files) -> str | None:
        """Keep an uploaded file in $WORKBENCH_HOME/uploads and inspect it; returns its path."""
        from workbench.data.uploads import keep_upload
        if not files:
            return None
        upload = files[0]
        kept = keep_upload(upload["name"], bytes(upload["content"]))
        self.path.value = str(kept)  # its observer inspects the file
        return str(kept)

    @guarded
    def inspect(self, path: str | None = None):
        from workbench.data import inspect_file
        self.status.value, self.summary.value, self.problems.value, self.preview.value = "", "", "", ""
        if path is not None and path != self.path.value:
            self.path.value = str(path)  # its observer comes back here with the new value
            return self.report
        if not self.path.value.strip():
            self.status.value = notice("No data file chosen: upload one or type a path.", "error")
            return None
        self.report = None
        report = inspect_file(self.path.value.strip())
        sample = json.dumps(report.to_json(sample=PREVIEW_ROWS)["sample"], indent=1, ensure_ascii=False)
        self.summary.value = summary_html(report)
        self.problems.value = problems_html(report)
        self.preview.value = (f"<details><summary>First {PREVIEW_ROWS} rows in canonical form</summary>"
                              f"<pre>{esc(sample)}</pre></details>") if report.canonical else ""
        self.report = report
        return report
