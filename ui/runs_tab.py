"""The Runs tab: every run folder in a table; open one for its curves, config and samples; export
or delete it (deleting asks for confirmation). Reads runs through `workbench.runs`."""

from __future__ import annotations

import gradio as gr
import pandas as pd
import yaml

from workbench.present.runs import SORTS
from workbench.runs import RUN_STATES, run_names
from workbench.train.config import STAGE_CONFIGS
from ui.common import esc, guarded, notice
from ui.runview import chart_grid, chart_updates, no_charts, samples_table, status_text

def runs_table(stage: str | None = "all", state: str | None = "all", sort: str = "started",
               descending: bool = True) -> pd.DataFrame:
    """The compact runs table (`workbench.present.runs_overview`): name, stage, state, progress,
    base, start, duration and the stage's headline metric; a run's full metrics are in its view."""
    from workbench.present.runs import RUN_COLUMNS, runs_overview
    return pd.DataFrame(runs_overview(stage, state, sort, descending), columns=list(RUN_COLUMNS))


@guarded
def open_run(name: str, smoothing: float | None = None):
    """(status, config YAML, samples, export folder, *one plot per chart) of one run."""
    from workbench.runs import get_run
    if not name:
        return ("Pick a run from the table.", "", gr.update(visible=False), "", *no_charts())
    run = get_run(name)
    metrics, status, samples = run.metrics(), run.status(), run.samples()
    output = run.output_dir()
    checkpoints = ", ".join(p.name for p in run.checkpoints()) or "none"
    details = (f"{status_text(run.name, status)}\n\nFolder `{esc(run.path)}` · output "
               f"`{esc(output.name) if output else 'none yet'}` · checkpoints {esc(checkpoints)}")
    return (details, yaml.safe_dump(run.config(), sort_keys=False),
            gr.update(value=samples_table(samples), visible=bool(samples)), default_export_dir(run.name),
            *chart_updates({run.name: metrics}, smoothing))


@guarded
def run_charts(name: str, smoothing: float):
    """The open run's charts again, at another smoothing."""
    from workbench.runs import get_run
    return chart_updates({name: get_run(name).metrics()}, smoothing) if name else no_charts()


def default_export_dir(name: str) -> str:
    from workbench import paths
    return str(paths.home() / "exports" / name)


# What the Export button writes: (label, value); the value is export_run's merge / gguf_type.
EXPORT_KINDS = [("the adapter as trained", "adapter"), ("a merged transformers folder", "merged"),
                ("GGUF f16, for llama.cpp, Ollama, LM Studio", "gguf:f16"),
                ("GGUF q8_0 (half the size of f16)", "gguf:q8_0")]


@guarded
def export(name: str, out_dir: str, kind: str) -> str:
    from workbench.evaluate import export_run
    if not name:
        return notice("Pick a run to export.", "error")
    if kind not in {value for _, value in EXPORT_KINDS}:
        return notice(f"Unknown export '{esc(kind)}'; choose one of the options.", "error")
    from workbench import paths
    # A shared app writes only where it may read: its own folders and the allowed ones.
    target = str(paths.readable_path(out_dir.strip())) if (out_dir or "").strip() else default_export_dir(name)
    gguf_type = kind.split(":", 1)[1] if kind.startswith("gguf:") else None
    done = export_run(name, target, merge=kind == "merged", gguf_type=gguf_type)
    message = (f"Exported {esc(name)} ({esc(done['kind'])}, base {esc(done['base'])}) to "
               f"`{esc(done['path'])}`: {esc(', '.join(done['files']))}.")
    if gguf_type:
        message += (f" Run it with Ollama: `cd {esc(done['path'])} && ollama create {esc(name)} -f Modelfile "
                    f"&& ollama run {esc(name)}`.")
    return notice(message, "ok")


@guarded
def ask_delete(name: str):
    """(confirmation row, question, the run to delete): the run is kept in a gr.State, so the
    confirmation deletes the run it named even when another row is picked in between."""
    if not name:
        return gr.update(visible=False), notice("Pick a run to delete.", "error"), None
    return (gr.update(visible=True),
            notice(f"Delete run **{esc(name)}** with its checkpoints and metrics, for good?", "error"), name)


@guarded
def confirm_delete(name: str | None):
    from workbench.runs import delete_run
    if not name:
        return (gr.update(visible=False), notice("No deletion was asked for: press Delete… first.", "error"),
                gr.skip(), gr.skip(), None)
    delete_run(name)
    names = run_names()
    return (gr.update(visible=False), notice(f"Deleted run {esc(name)}.", "ok"), runs_table(),
            gr.update(choices=names, value=names[0] if names else None), None)


def build(ctx: dict) -> gr.Tab:
    with gr.Tab("Runs", id="runs", elem_id="tab-runs") as tab:
        with gr.Row():
            refresh = gr.Button("Refresh", elem_id="runs-refresh", scale=0)
            pick = gr.Dropdown(choices=run_names(), value=None, label="Open run", elem_id="runs-pick", scale=3)
        with gr.Row():
            stage_filter = gr.Dropdown(["all", *STAGE_CONFIGS], value="all", label="Stage", elem_id="runs-stage",
                                       scale=1)
            state_filter = gr.Dropdown(["all", *RUN_STATES], value="all", label="State", elem_id="runs-state",
                                       scale=1)
            sort = gr.Dropdown(list(SORTS), value="started", label="Sort by", elem_id="runs-sort", scale=1)
            descending = gr.Checkbox(value=True, label="Descending", elem_id="runs-descending", scale=1)
        table = gr.Dataframe(value=runs_table(), interactive=False, wrap=True, max_height=300,
                             label="Runs; click a row to open it (its own view has every metric)",
                             elem_id="runs-table")
        details = gr.Markdown(elem_id="runs-details")
        smoothing, plots = chart_grid("runs")
        with gr.Row():
            config = gr.Code(label="config.yaml", language="yaml", interactive=False, elem_id="runs-config")
            samples = gr.Dataframe(label="Samples", visible=False, interactive=False, wrap=True,
                                   elem_id="runs-samples")
        with gr.Row():
            export_dir = gr.Textbox(label="Export to folder", elem_id="runs-export-dir", scale=3)
            kind = gr.Dropdown(EXPORT_KINDS, value="adapter", label="Export as", elem_id="runs-export-kind",
                               scale=2)
            export_button = gr.Button("Export", elem_id="runs-export", scale=1)
            delete_button = gr.Button("Delete…", variant="stop", elem_id="runs-delete", scale=1)
        message = gr.Markdown(elem_id="runs-message")
        with gr.Row(visible=False, elem_id="runs-confirm-row") as confirm_row:
            confirm = gr.Button("Yes, delete it", variant="stop", elem_id="runs-delete-confirm")
            cancel = gr.Button("Cancel", elem_id="runs-delete-cancel")
        to_delete = gr.State(None)  # the run the open question names

    def refresh_all(current, stage, state, order, down):
        names = run_names()
        return (runs_table(stage, state, order, down),
                gr.update(choices=names, value=current if current in names else None))

    def on_select(frame: pd.DataFrame, event: gr.SelectData):
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        return frame.iloc[row]["name"] if frame is not None and len(frame) > row else gr.skip()

    view = [pick, stage_filter, state_filter, sort, descending]
    refresh.click(refresh_all, view, [table, pick], api_name="runs_table")
    tab.select(refresh_all, view, [table, pick], api_visibility="private")
    for control in view[1:]:
        control.change(runs_table, view[1:], table, api_visibility="private")
    table.select(on_select, table, pick, api_visibility="private")
    pick.change(open_run, [pick, smoothing], [details, config, samples, export_dir, *plots], api_name="open_run")
    smoothing.change(run_charts, [pick, smoothing], plots, api_visibility="private", show_progress="hidden",
                     trigger_mode="always_last")
    export_button.click(export, [pick, export_dir, kind], message, api_name="export_run")
    delete_button.click(ask_delete, pick, [confirm_row, message, to_delete], api_name="ask_delete")
    cancel.click(lambda: (gr.update(visible=False), "", None), None, [confirm_row, message, to_delete],
                 api_visibility="private")
    confirm.click(confirm_delete, to_delete, [confirm_row, message, table, pick, to_delete], api_name="delete_run")
    return tab
