"""The Pipeline tab: load a pipeline file (the sample is the Captain Brief demo: SFT, a reward
model, DPO and PPO, then an evaluation), edit it, start it, and watch one line per step with the
running step's curve; stop and resume it. All of it is `workbench.pipeline`; the facts shown are
`workbench.present.pipeline_facts`.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from workbench.present import pipeline_facts, pipeline_names
from workbench.present.pipeline import STEP_COLUMNS
from workbench.errors import DataError
from ui.common import esc, guarded
from ui.runview import chart_grid, chart_updates, no_charts

REFRESH_S = 2


def sample_pipeline() -> str:
    from workbench import paths
    return str(paths.sample_data_dir() / "pipeline.yaml")


def pipeline_path(text: str | None) -> str:
    """A pipeline file typed by the user: resolved (a shared app reads its own folders only), an
    existing .yaml or .yml file. Raises DataError naming the path and what to do."""
    from workbench import paths
    text = (text or "").strip().strip('"').strip("'")
    if not text:
        raise DataError("no pipeline file given", hint=f"Type a path, e.g. {sample_pipeline()}.")
    path = paths.readable_path(text)
    if not path.is_file() or path.suffix.lower() not in (".yaml", ".yml"):
        raise DataError("not a pipeline file (.yaml) on this machine", path=path,
                        hint=f"Check the path; the sample is {sample_pipeline()}.")
    return str(path)


@guarded
def load(file_text: str) -> str:
    """The pipeline file's text, for the editor."""
    from pathlib import Path
    return Path(pipeline_path(file_text)).read_text(encoding="utf-8")


def view(name: str, smoothing: float | None = None):
    """(status Markdown, steps table, *the charts of the running step's run) of pipeline `name`."""
    from workbench.runs import get_run
    facts = pipeline_facts((name or "").strip())
    plots = chart_updates({facts.run: get_run(facts.run).metrics()}, smoothing) if facts.run else no_charts()
    return (f"**{esc(facts.line)}**", pd.DataFrame(facts.rows, columns=list(STEP_COLUMNS)), *plots)


@guarded
def start(file_text: str, text: str, name: str, smoothing: float):
    """Start the edited pipeline (its files relative to the loaded file's folder)."""
    from workbench.pipeline import run_pipeline
    pipeline = run_pipeline(pipeline_path(file_text), text=text, name=(name or "").strip() or None)
    gr.Info(f"Pipeline {pipeline.name} started: its steps run one after another, each as a run of its own.")
    return (gr.update(choices=pipeline_names(), value=pipeline.name), *view(pipeline.name, smoothing))


@guarded
def stop(name: str, smoothing: float):
    from workbench.pipeline import stop_pipeline
    stop_pipeline((name or "").strip())
    gr.Info("Stopping after the running step's current training step (it keeps a checkpoint).")
    return view(name, smoothing)


@guarded
def resume(name: str, smoothing: float):
    from workbench.pipeline import resume_pipeline
    resume_pipeline((name or "").strip())
    return view(name, smoothing)


def build(ctx: dict) -> gr.Tab:
    with gr.Tab("Pipeline", id="pipeline", elem_id="tab-pipeline") as tab:
        gr.Markdown("Run **several stages in one go**: each step is an ordinary run (its own curves and "
                    "checkpoints) that can start from an earlier step's run (`from: sft`, `reward_model: "
                    "reward`); an `eval` or `report` step measures the models at the end. Stopped or failed, a pipeline "
                    "resumes where it was, skipping the finished steps.")
        with gr.Row():
            file = gr.Textbox(value=sample_pipeline(), label="Pipeline file (its files are relative to it)",
                              elem_id="pipeline-file", scale=4)
            load_button = gr.Button("Load", elem_id="pipeline-load", scale=1)
        text = gr.Textbox(lines=16, max_lines=40, label="The pipeline (YAML; edit before starting)",
                          elem_id="pipeline-yaml")
        with gr.Row():
            name = gr.Textbox(label="Name (empty: the file's `name`)", elem_id="pipeline-name", scale=2)
            start_button = gr.Button("Start", variant="primary", elem_id="pipeline-start", scale=1)
        with gr.Row():
            pick = gr.Dropdown(choices=pipeline_names(), value=None, allow_custom_value=True,
                               label="Pipeline to watch", elem_id="pipeline-pick", scale=3)
            stop_button = gr.Button("Stop", variant="stop", elem_id="pipeline-stop", scale=1)
            resume_button = gr.Button("Resume", elem_id="pipeline-resume", scale=1)
        status = gr.Markdown(elem_id="pipeline-status")
        table = gr.Dataframe(headers=list(STEP_COLUMNS), interactive=False, elem_id="pipeline-table",
                             label="Steps")
        gr.Markdown("The running step's charts (or the last one that ran):")
        smoothing, plots = chart_grid("pipeline")
        outputs = [status, table, *plots]
        load_button.click(load, [file], [text])
        start_button.click(start, [file, text, name, smoothing], [pick, *outputs])
        stop_button.click(stop, [pick, smoothing], outputs)
        resume_button.click(resume, [pick, smoothing], outputs)
        for control in (pick, smoothing):
            control.change(view, [pick, smoothing], outputs, trigger_mode="always_last")
        gr.Timer(REFRESH_S).tick(view, [pick, smoothing], outputs, show_progress="hidden")
        tab.select(lambda current: gr.update(choices=pipeline_names(), value=current), [pick], [pick])
        ctx["demo"].load(load, [file], [text])
    return tab
