"""The Data tab: upload or pick a file, see its format, task, problems, canonical rows and token
lengths, and choose the validation split. Everything comes from `workbench.data`."""

from __future__ import annotations

import json

import gradio as gr
import pandas as pd

from workbench import charts
from workbench.data import SUFFIXES
from ui.common import (
    data_path, esc, guarded, keep_upload, notice, sample_files, tokenizer_for,
)
from workbench.errors import WorkbenchError
from workbench.present import data_summary

HISTOGRAM_ROWS = 2000  # token lengths of the first rows only: a big file should not stall the page
PREVIEW_ROWS = 5
PROBLEM_COLUMNS = ["line", "field", "problem"]


def problems_table(report) -> pd.DataFrame:
    return pd.DataFrame([[e.line, e.field or "", e.message] for e in report.errors], columns=PROBLEM_COLUMNS)


def summary_text(report) -> str:
    s = data_summary(report)
    text = f"**{esc(s.name)}** · format **{esc(s.format)}** · task **{esc(s.task)}** · {s.counts}"
    for warning in s.warnings:
        text += f"\n\n{notice(esc(warning), 'error')}"
    if s.train_with:
        text += f"\n\nTrain it with {s.train_with}."
    return text


def lengths_view(rows: list[dict], model: str, max_length: int | None):
    """(histogram figure, one-line summary) of the rows' token lengths under `model`'s template."""
    from workbench.data.tokens import length_stats
    if not rows:
        return None, "No usable rows to measure."
    try:
        stats = length_stats(tokenizer_for(model), rows[:HISTOGRAM_ROWS], max_length=max_length or None)
    except WorkbenchError as error:
        return None, notice(esc(error), "error")
    first = f" (first {HISTOGRAM_ROWS})" if len(rows) > HISTOGRAM_ROWS else ""
    text = (f"Tokens per row{first} with **{esc(model)}**: min {stats['min']}, median {stats['median']:g}, "
            f"p95 {stats['p95']}, max {stats['max']}; {stats['truncated_rows']} rows longer than max_length "
            f"{max_length}")
    if stats.get("untrained_after_truncation"):
        text += f"; {stats['untrained_after_truncation']} rows keep no trained token once cut"
    return charts.histogram_figure(stats["lengths"], max_length), text


def split_text(valid_rows: int, val_fraction: float, eval_file: str | None, seed: int = 0) -> str:
    """How the rows will be split for training, said with the engine's own split."""
    from workbench.data import split_rows
    if eval_file:
        return f"Training on all {valid_rows} usable rows; validating on **{esc(eval_file.rsplit('/', 1)[-1])}**."
    train, held_out = split_rows(list(range(valid_rows)), val_fraction=val_fraction or 0.0, seed=seed)
    if not held_out:
        return f"Training on all {len(train)} rows; no validation (eval loss will not be reported)."
    return (f"Training on {len(train)} rows, validating on {len(held_out)} "
            f"({val_fraction:.0%} held out, chosen with seed {seed}).")


@guarded
def inspect_data(path_text: str, model: str, max_length, val_fraction, eval_file):
    """Inspect a file. Returns (path, summary, problems, preview, histogram, lengths text, split text)."""
    from workbench.data import inspect_cached
    path = data_path(path_text)
    report = inspect_cached(path)
    figure, lengths = lengths_view(report.canonical, model, int(max_length) if max_length else None)
    preview = json.dumps(report.to_json(sample=PREVIEW_ROWS)["sample"], indent=1, ensure_ascii=False)
    problems = problems_table(report)
    return (path, summary_text(report), gr.update(value=problems, visible=len(problems) > 0), preview, figure, lengths,
            split_text(report.valid_rows, val_fraction, eval_file) if report.usable() else "")


@guarded
def on_split(path_text: str, val_fraction, eval_file):
    from workbench.data import inspect_cached
    if not (path_text or "").strip():
        return ""
    if eval_file:
        data_path(eval_file)
    report = inspect_cached(data_path(path_text))
    return split_text(report.valid_rows, val_fraction, eval_file)


@guarded
def on_upload(temp_path: str | None):
    if not temp_path:
        return gr.skip()
    return keep_upload(temp_path)


def build(ctx: dict) -> gr.Tab:
    """Create the tab inside the current Blocks; shares the data file path and the split."""
    samples = sample_files()
    with gr.Tab("Data", id="data", elem_id="tab-data") as tab:
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="Upload a data file (JSONL, JSON, CSV, Parquet; up to 200 MB)",
                                 file_types=list(SUFFIXES), type="filepath", elem_id="data-upload", height=120)
                sample = gr.Dropdown(choices=samples, value=None, label="…or a sample file", elem_id="data-sample")
            with gr.Column(scale=2):
                path = gr.Textbox(label="Data file (or type a path on this machine, then press Enter)",
                                  elem_id="data-path", placeholder="sample_data/sft.jsonl")
                inspect_button = gr.Button("Inspect", variant="primary", elem_id="data-inspect")
                summary = gr.Markdown("Choose a file to see its format.", elem_id="data-summary")
        with gr.Row():
            val_fraction = gr.Slider(0.0, 0.5, value=0.1, step=0.05, label="Validation share (held out from this file)",
                                     elem_id="data-val-fraction")
            eval_file = gr.Dropdown(choices=samples, value=None, allow_custom_value=True,
                                    label="…or a separate validation file (overrides the share)", elem_id="data-eval")
        split = gr.Markdown(elem_id="data-split")
        problems = gr.Dataframe(value=pd.DataFrame(columns=PROBLEM_COLUMNS), label="Rows with problems",
                                elem_id="data-problems", visible=False, interactive=False, wrap=True, max_height=260)
        with gr.Row():
            with gr.Column():
                histogram = gr.Plot(label="Token lengths", elem_id="data-lengths")
                lengths = gr.Markdown(elem_id="data-lengths-text")
            preview = gr.Code(label=f"First {PREVIEW_ROWS} rows in canonical form", language="json",
                              interactive=False, wrap_lines=True, max_lines=30, elem_id="data-preview")

    inputs = [path, ctx["model"], ctx["max_length"], val_fraction, eval_file]
    outputs = [path, summary, problems, preview, histogram, lengths, split]
    upload.upload(on_upload, upload, path, api_visibility="private").success(
        inspect_data, inputs, outputs, api_visibility="private")
    sample.input(lambda p: p, sample, path, api_visibility="private").then(
        inspect_data, inputs, outputs, api_visibility="private")
    inspect_button.click(inspect_data, inputs, outputs, api_name="inspect")
    path.submit(inspect_data, inputs, outputs, api_visibility="private")
    val_fraction.release(on_split, [path, val_fraction, eval_file], split, api_visibility="private")
    eval_file.input(on_split, [path, val_fraction, eval_file], split, api_visibility="private")
    ctx.update(data_path=path, val_fraction=val_fraction, eval_file=eval_file, data_summary=summary,
               data_inspect=(inspect_data, inputs, outputs))
    return tab
