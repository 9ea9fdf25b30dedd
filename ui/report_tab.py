"""The Report tab: what each method did, for chosen runs or a pipeline's, on held-out files; the
same table, charts and answers as the HTML file it writes (`workbench.report`), which it offers
for download with its JSON. Saved reports open again from the picker."""

from __future__ import annotations

import queue
import threading

import gradio as gr
import pandas as pd

from ui.common import data_path, esc, guarded, sample_file, sample_files
from workbench.present import pipeline_names, report_choices, report_facts, run_choices

CHARTS = 3  # the most charts a report has: numbers per model, win rates, gain against cost


def model_choices() -> list[str]:
    return ["base"] + run_choices("answers")


def show(record: dict):
    """(status, summary, table, *charts, examples, files) of a report record."""
    facts = report_facts(record)
    figures = (facts.figures + [None] * CHARTS)[:CHARTS]
    return (f"**{esc(facts.line)}**",
            "\n".join(f"- {esc(line)}" for line in facts.summary) or "*Only the base: nothing moved.*",
            pd.DataFrame(facts.rows, columns=facts.header),
            *(gr.update(value=fig, visible=fig is not None) for fig in figures),
            pd.DataFrame(facts.example_rows, columns=facts.example_header),
            [path for path in (facts.html, facts.json) if path])


@guarded
def open_saved(report_id: str):
    from workbench import paths
    from workbench.report import get_report
    report_id = (report_id or "").strip()
    if not report_id:
        raise gr.Error("Pick a saved report.")
    if "/" in report_id or "\\" in report_id:  # a typed file: shared, only the workbench's own folders
        report_id = str(paths.readable_path(report_id))
    return show(get_report(report_id))


@guarded
def from_pipeline(name: str):
    """Fill the models and reward model from a pipeline, and the held-out files its eval or report
    step names (a pipeline without one keeps the files shown)."""
    from workbench.pipeline import get_pipeline, report_arguments
    if not name:
        return gr.update(), gr.update(), gr.update(), gr.update(), gr.update()
    values = report_arguments(get_pipeline(name))
    files = [gr.update(value=values[key]) if values.get(key) else gr.update()
             for key in ("sft_data", "preference_data", "prompts")]
    return gr.update(value=values["models"]), gr.update(value=values.get("reward_model") or ""), *files


@guarded
def build_report(models, reward_model, sft_text, preference_text, prompts_text, max_rows, samples, max_new_tokens,
                 base):
    """Measure and save a report, saying each phase as it goes; then show it. `base` (the app's
    model) is what "base" means when only "base" is chosen; otherwise it is the runs' own base,
    the model they were trained from (drift from another model would mean nothing)."""
    from workbench.report import make_report
    if not models:
        raise gr.Error("Pick the models to report on (the base is always added).")
    files = {key: data_path(text) for key, text in (("sft_data", sft_text), ("preference_data", preference_text),
                                                     ("prompts", prompts_text)) if (text or "").strip()}
    if not files:
        raise gr.Error("Give at least one held-out file: SFT rows, preference pairs or prompts.")
    said: queue.Queue = queue.Queue()
    result: dict = {}

    def work():
        try:
            result["record"] = make_report(list(models), reward_model=reward_model or None,
                                           base=(base or None) if set(models) == {"base"} else None,
                                           max_rows=int(max_rows),
                                           samples=int(samples), max_new_tokens=int(max_new_tokens),
                                           on_progress=said.put, **files)
        except BaseException as error:  # shown by the handler's guard, in the user's thread
            result["error"] = error
        said.put(None)

    threading.Thread(target=work, daemon=True).start()
    skip = [gr.update()] * (2 + CHARTS + 2)  # all but the status line
    while (text := said.get()) is not None:
        yield (f"*Measuring: {esc(text)} …*", *skip)
    if "error" in result:
        raise result["error"]
    yield show(result["record"])


def build(ctx: dict) -> gr.Tab:
    samples = dict((name, path) for name, path in sample_files())
    with gr.Tab("Report", id="report", elem_id="tab-report") as tab:
        gr.Markdown("What each method did, on held-out data: loss and preference accuracy, the reward model's "
                    "score and win rates, diversity (distinct-n, self-BLEU), fidelity to reference answers "
                    "(ROUGE-L, BLEU) and drift from the base (KL). One HTML file to send, and its JSON.")
        with gr.Row():
            models = gr.Dropdown(choices=model_choices(), value=None, multiselect=True, allow_custom_value=True,
                                 label="Models (the base is always added: drift is measured from it)",
                                 elem_id="report-models", scale=3)
            reward = gr.Dropdown(choices=[""] + run_choices("reward_model"), value="", elem_id="report-reward",
                                 label="Reward model (scores, win rates); optional", scale=2)
            pipeline = gr.Dropdown(choices=[""] + pipeline_names(), value="", elem_id="report-pipeline",
                                   label="Or take a pipeline's runs and files", scale=2)
        with gr.Row():
            sft = gr.Dropdown(choices=list(samples.items()), value=sample_file("sft_eval.jsonl"),
                              allow_custom_value=True, label="Held-out SFT rows (loss; fidelity to their answers)",
                              elem_id="report-sft")
            preference = gr.Dropdown(choices=list(samples.items()), value=sample_file("preference_eval.jsonl"),
                                     allow_custom_value=True, label="Held-out preference pairs (accuracy)",
                                     elem_id="report-preference")
            prompts = gr.Dropdown(choices=list(samples.items()), value=sample_file("prompts.jsonl"),
                                  allow_custom_value=True, label="Held-out prompts (answers, diversity, drift)",
                                  elem_id="report-prompts")
        with gr.Row():
            max_rows = gr.Number(value=16, precision=0, minimum=1, label="Rows of each file (the first N)",
                                 elem_id="report-rows")
            samples_n = gr.Number(value=4, precision=0, minimum=2, label="Samples per prompt (diversity)",
                                  elem_id="report-samples")
            max_new = gr.Number(value=64, precision=0, minimum=1, label="Max new tokens", elem_id="report-max-new")
            build_button = gr.Button("Build the report", variant="primary", elem_id="report-build")
        with gr.Row():
            saved = gr.Dropdown(choices=report_choices(), value=None, label="Saved reports (or a report id or file)",
                                allow_custom_value=True, elem_id="report-saved",
                                scale=4)
            open_button = gr.Button("Open", elem_id="report-open", scale=1)
        status = gr.Markdown(elem_id="report-status")
        summary = gr.Markdown(elem_id="report-summary")
        table = gr.Dataframe(interactive=False, label="Numbers (↑ higher is better, ↓ lower)", elem_id="report-table")
        charts = [gr.Plot(visible=False, elem_id=f"report-chart-{i + 1}") for i in range(CHARTS)]
        examples = gr.Dataframe(interactive=False, wrap=True, label="Answers to held-out prompts (greedy)",
                                elem_id="report-examples")
        files = gr.File(label="The report: HTML (opens anywhere, no server) and its numbers as JSON",
                        file_count="multiple", interactive=False, elem_id="report-files")

    shown = [status, summary, table, *charts, examples, files]
    build_button.click(build_report, [models, reward, sft, preference, prompts, max_rows, samples_n, max_new,
                                      ctx["model"]],
                       shown, api_name="report").then(
        lambda: gr.update(choices=report_choices()), None, saved, api_visibility="private")
    open_button.click(open_saved, saved, shown, api_name="open_report")
    pipeline.change(from_pipeline, pipeline, [models, reward, sft, preference, prompts], api_visibility="private")

    def refresh():
        return (gr.update(choices=model_choices()), gr.update(choices=[""] + run_choices("reward_model")),
                gr.update(choices=[""] + pipeline_names()), gr.update(choices=report_choices()))
    tab.select(refresh, None, [models, reward, pipeline, saved], api_visibility="private")
    return tab
