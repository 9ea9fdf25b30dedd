"""The token mask viewer: one row of a data file through the model's chat template, each token a
chip, trained tokens green and masked ones grey. The view is `workbench.data.tokens.token_view`
(the same code the SFT stage trains with) drawn by `workbench.present.chips_html` (the same
chips as the GUI)."""

from __future__ import annotations

import ipywidgets as widgets

from workbench.present import TOKEN_CSS, chips_html, token_stats, tokenizer_for
from workbench.widgets.common import esc, guarded, notice


def stats_html(view: dict, row_number: int, line, model: str) -> str:
    s = token_stats(view, row_number, line, model)
    return (f"Row {s.row} (file line {s.line}) through <b>{esc(s.model)}</b>: <b>{s.tokens} tokens</b>, "
            f"<b>{s.trained} trained</b>; {esc(s.cut)}.")


class TokenViewer(widgets.VBox):
    """Pick a file, a model and a row; `show()` draws the row's tokens and returns the view dict
    ({"tokens": [{"index", "id", "text", "trained", "truncated"}], "n_trained", ...})."""

    def __init__(self, path: str | None = None, model: str | None = None, row: int = 1,
                 max_length: int | None = None, assistant_only: bool = True):
        from workbench.models import DEFAULT_MODEL
        from workbench.train.config import DEFAULT_MAX_LENGTH
        self.path = widgets.Text(value=str(path or ""), description="Data file", placeholder="sample_data/sft.jsonl",
                                 layout=widgets.Layout(width="60%"))
        self.model = widgets.Text(value=model or DEFAULT_MODEL, description="Model")
        self.row = widgets.BoundedIntText(value=row, min=1, max=10**9, description="Row")
        self.max_length = widgets.BoundedIntText(value=max_length or DEFAULT_MAX_LENGTH, min=8, max=10**6, description="max_length")
        self.assistant_only = widgets.Checkbox(value=assistant_only, description="Train on assistant turns only")
        self.button = widgets.Button(description="Show tokens", button_style="primary")
        self.status = widgets.HTML()
        self.stats = widgets.HTML()
        self.chips = widgets.HTML()
        self.template = widgets.Textarea(description="Template", layout=widgets.Layout(width="95%", height="140px"))
        self.view = None
        self._style = f"<style>{TOKEN_CSS}</style>"
        self.button.on_click(lambda _: self.show())
        super().__init__([widgets.HBox([self.path, self.model]),
                          widgets.HBox([self.row, self.max_length, self.assistant_only, self.button]),
                          self.status, self.stats, self.chips, self.template])
        if path:
            self.show()

    @guarded
    def show(self, row: int | None = None) -> dict | None:
        from workbench.data import load_rows
        from workbench.data.tokens import token_view
        from workbench.errors import DataError
        if row is not None:
            self.row.value = row
        self.status.value = ""
        if not self.path.value.strip():
            self.status.value = notice("No data file chosen: type a path, e.g. sample_data/sft.jsonl.", "error")
            return None
        rows = load_rows(self.path.value.strip(), cached=True)
        number = self.row.value
        if not 1 <= number <= len(rows):
            raise DataError(f"row {number} is out of range: the file has {len(rows)} usable rows",
                            path=self.path.value.strip(), hint="Rows are numbered from 1.")
        view = token_view(tokenizer_for(self.model.value.strip()), rows[number - 1],
                          max_length=self.max_length.value or None, assistant_only=self.assistant_only.value)
        self.stats.value = stats_html(view, number, rows[number - 1].get("_line"), self.model.value.strip())
        self.chips.value = self._style + chips_html(view)
        self.template.value = view["text"]
        self.view = view
        return view
