"""The Tokenization tab: one row through the model's chat template, each token a chip with its id.

Trained tokens (the loss is computed on them) look different from masked ones, and the point
where `max_length` cuts the row is marked (the end of an SFT row; the start of a preference row's
prompt). The view comes from `workbench.data.tokens.token_view`, the same code the stages train with;
its facts and chips from `workbench.present`.
"""

from __future__ import annotations

import gradio as gr

from ui.common import data_path, esc, guarded, tokenizer_for
from workbench.present import chips_html, token_stats  # shared with the Jupyter token viewer


def stats_text(view: dict, row_number: int, line, model: str) -> str:
    s = token_stats(view, row_number, line, model)
    return (f"Row {s.row} (file line {s.line}) through **{esc(s.model)}**: **{s.tokens} tokens**, "
            f"**{s.trained} trained**; {esc(s.cut)}.")


@guarded
def show_tokens(path_text: str, model: str, row_number, max_length, assistant_only: bool):
    """Returns (stats markdown, chips HTML, rendered template text, row slider update)."""
    from workbench.data import load_rows
    from workbench.data.tokens import token_view
    from workbench.errors import DataError
    path = data_path(path_text)
    rows = load_rows(path, cached=True)
    row_number = int(row_number or 1)
    if not 1 <= row_number <= len(rows):
        raise DataError(f"row {row_number} is out of range: the file has {len(rows)} usable rows",
                        path=path, hint="Rows are numbered from 1.")
    row = rows[row_number - 1]
    view = token_view(tokenizer_for(model), row, max_length=int(max_length) if max_length else None,
                      assistant_only=assistant_only)
    return (stats_text(view, row_number, row.get("_line"), model), chips_html(view), view["text"],
            gr.update(maximum=len(rows)))


def show_tokens_if_chosen(path_text: str, *rest):
    """Refresh the view when a file is chosen; leave the page as it is otherwise."""
    if not (path_text or "").strip():
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return show_tokens(path_text, *rest)


def build(ctx: dict) -> gr.Tab:
    with gr.Tab("Tokenization", id="tokens", elem_id="tab-tokens") as tab:
        gr.Markdown("A row rendered through the model's chat template. Hover a chip for its position; "
                    "the small number is the token id. The loss is computed on **trained** tokens only.")
        with gr.Row():
            row = gr.Slider(1, 100, value=1, step=1, label="Row (usable rows, from 1)", elem_id="tok-row")
            assistant_only = gr.Checkbox(value=True, label="Train on assistant turns only",
                                         elem_id="tok-assistant-only")
            show = gr.Button("Show tokens", variant="primary", elem_id="tok-show")
        stats = gr.Markdown("Choose a data file in the Data tab, then show its tokens.", elem_id="tok-stats")
        chips = gr.HTML(elem_id="tok-chips")
        template = gr.Textbox(label="Rendered chat template text", lines=8, max_lines=20,
                              elem_id="tok-template", buttons=["copy"])
    inputs = [ctx["data_path"], ctx["model"], row, ctx["max_length"], assistant_only]
    outputs = [stats, chips, template, row]
    show.click(show_tokens, inputs, outputs, api_name="tokens")
    for trigger in (row.release, assistant_only.input, ctx["max_length"].submit, ctx["model"].input):
        trigger(show_tokens_if_chosen, inputs, outputs, api_visibility="private")
    tab.select(show_tokens_if_chosen, inputs, outputs, api_visibility="private")
    ctx["tokens_show"] = (show_tokens, inputs, outputs)
    return tab
