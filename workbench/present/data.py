"""What the front ends say about a data file and about one row's tokens.

`data_summary` (the Data tab, the widget's inspector and `workbench data inspect`) and
`token_stats` (the Tokenization tab, the token viewer and `workbench data tokens`) give the facts;
each front end only wraps them. The token chips are drawn here as HTML with their CSS, the same
for the GUI and the notebook.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.present.common import esc


@dataclass
class DataSummary:
    """A `DataReport` as the front ends state it."""

    name: str                # the file's name
    format: str              # the detected format, or "not recognised"
    task: str                # the task its rows serve, or "-"
    rows: int
    usable: int
    problems: int            # rows with a problem (all of them, not only those the report lists)
    warnings: list[str]      # why the file cannot serve the task asked for; what to do when no row is usable
    train_with: str | None   # the commands that train on it ("`workbench train sft`"), when it can be trained

    @property
    def counts(self) -> str:
        return f"{self.rows} rows: {self.usable} usable, {self.problems} with problems"


def data_summary(report) -> DataSummary:
    unusable = None if report.usable() else report.hint() or "No row is usable."
    return DataSummary(name=report.path.rsplit("/", 1)[-1], format=report.format or "not recognised",
                       task=report.task or "-", rows=report.rows, usable=report.valid_rows,
                       problems=max(report.error_count, len(report.errors)),
                       warnings=[w for w in (report.task_problem, unusable) if w],
                       train_with=None if report.task_problem else report.train_with())


@dataclass
class TokenStats:
    """One row of a `token_view` as the front ends state it."""

    row: int                 # the usable row's number, from 1
    line: int | None         # its line in the file
    model: str               # whose chat template and tokenizer
    tokens: int
    trained: int             # trained tokens that survive the cut
    cut: str                 # what max_length does to the row (`cut_summary`)


def token_stats(view: dict, row: int, line, model: str) -> TokenStats:
    return TokenStats(row=row, line=line, model=model, tokens=view["n_tokens"], trained=view["n_trained"],
                      cut=cut_summary(view))


def cut_summary(view: dict) -> str:
    """One phrase for what max_length does to a `token_view` row."""
    limit = view["max_length"]
    if limit is None:
        return "no max_length"
    if view["left_out"]:
        return (f"its longest answer ({view['longest_answer']} tokens) leaves no room for its prompt in "
                f"max_length {limit}, so the reward, DPO and KTO stages leave this row out")
    if view["cut_before"]:
        return (f"max_length {limit} drops the first {view['cut_before']} prompt tokens "
                f"and keeps the answers whole")
    if view["cut_at"] is not None:
        return f"max_length {limit} cuts it at token {view['cut_at']}"
    return f"max_length {limit} keeps all of it"


# ---------------------------------------------------------------- a token view as HTML chips

MAX_CHIPS = 2000  # a browser draws a few thousand spans comfortably; longer rows are summarised

TOKEN_CSS = """
.tok-legend { display: flex; gap: 8px; margin-bottom: 8px; font-size: 0.85em; }
.tok-chips { display: flex; flex-wrap: wrap; gap: 6px 3px; font-family: ui-monospace, monospace; font-size: 0.85em;
             line-height: 1.2; }
.tok { display: inline-flex; flex-direction: column; align-items: center; padding: 2px 4px; border-radius: 4px;
       border: 1px solid transparent; white-space: pre; }
.tok sub { font-size: 0.7em; opacity: 0.65; }
.tok.trained { background: #bbf7d0; border-color: #16a34a; color: #052e16; font-weight: 600; }
.tok.masked { background: #f3f4f6; border-color: #d1d5db; color: #6b7280; }
.tok.truncated { background: #fee2e2; border-color: #fca5a5; color: #9ca3af; text-decoration: line-through; }
.tok-cut { align-self: stretch; padding: 2px 6px; border-left: 3px solid #dc2626; color: #dc2626; font-weight: 700; }
.tok-more { color: #6b7280; font-style: italic; padding: 2px 6px; }
"""

LEGEND = ('<div class="tok-legend"><span class="tok trained">trained</span>'
          '<span class="tok masked">masked (no loss)</span>'
          '<span class="tok masked truncated">cut by max_length</span></div>')


def chip_text(text: str) -> str:
    """Make whitespace visible: a space is a middle dot, a newline a return arrow."""
    return esc(text.replace(" ", "·").replace("\n", "↵").replace("\t", "→")) or "∅"


def chips_html(view: dict, limit: int = MAX_CHIPS) -> str:
    """The token chips of a `token_view` result, with a cut marker where max_length cuts.

    Styled by the classes in TOKEN_CSS (trained, masked, truncated), which the page supplies.
    """
    parts = [LEGEND, '<div class="tok-chips">']
    for token in view["tokens"][:limit]:
        if view["cut_at"] is not None and token["index"] == view["cut_at"]:
            parts.append(f'<span class="tok-cut" title="the trainer never sees what follows">'
                         f'✂ max_length {view["max_length"]}</span>')
        if view.get("cut_before") and not view.get("left_out") and token["index"] == view["cut_before"]:
            parts.append(f'<span class="tok-cut" title="the trainer never sees what precedes">'
                         f'✂ max_length {view["max_length"]}</span>')
        kind = "trained" if token["trained"] else "masked"
        if token["truncated"]:
            kind += " truncated"
        title = f"#{token['index']} id {token['id']} · {'trained' if token['trained'] else 'masked'}"
        parts.append(f'<span class="tok {kind}" title="{esc(title)}">'
                     f'<span class="tok-text">{chip_text(token["text"])}</span>'
                     f'<sub class="tok-id">{token["id"]}</sub></span>')
    if len(view["tokens"]) > limit:
        parts.append(f'<span class="tok-more">… {len(view["tokens"]) - limit} more tokens</span>')
    parts.append("</div>")
    return "".join(parts)
