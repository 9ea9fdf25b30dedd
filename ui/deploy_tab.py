"""The Deploy tab: serve chosen runs through the OpenAI chat API, see how to call it, and watch
what it is asked, how fast it answers and how people rate it, per model over time. The loop of
the workbench in one place: serve -> rate -> train (a KTO or DPO run on the ratings) -> serve.

The server is `workbench serve` in a process of its own (`workbench.serve.start_server`), on
127.0.0.1 only; the facts shown are `workbench.present.deploy_facts`.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from workbench import charts
from workbench.present import deploy_facts, run_choices
from workbench.present.serve import TABLE_COLUMNS
from ui.common import esc, guarded

REFRESH_S = 5


def model_choices() -> list[str]:
    return ["base"] + run_choices("answers")


def view(name: str):
    """(status Markdown, how-to Markdown, per-model table, figure, server output) for server `name`."""
    facts = deploy_facts((name or "served").strip())
    status = f"**{esc(facts.line)}**"
    howto = ("Ask it (any OpenAI client works; `base_url` is the URL above):\n\n"
             f"```\n{facts.curl}\n```\n\nRate an answer (the `id` of its response): thumbs become KTO rows, a "
             f"`\"correction\"` a preference pair, in the feedback dataset **{esc(facts.name)}** "
             f"(train on it in the Feedback tab, or `workbench feedback train {esc(facts.name)} --stage kto`):\n\n"
             f"```\n{facts.rate_curl}\n```")
    table = pd.DataFrame(facts.table, columns=list(TABLE_COLUMNS))
    return status, howto, table, charts.served_figure(facts.stats), facts.output


@guarded
def start(models: list[str], name: str, port, log: bool, base: str):
    from workbench.serve import start_server
    if not models:
        raise gr.Error("Pick the models to serve.")
    start_server(models, name=(name or "served").strip(), port=int(port or 8000), log=bool(log),
                 base=(base or "").strip() or None)
    gr.Info("Starting: the models load in the server's own process (the status turns to running).")
    return view(name)


@guarded
def stop(name: str):
    from workbench.serve import stop_server
    stop_server((name or "served").strip())
    return view(name)


def build(ctx: dict) -> gr.Tab:
    with gr.Tab("Deploy", id="deploy", elem_id="tab-deploy") as tab:
        gr.Markdown("Serve the base and tuned models through the **OpenAI chat API** on this machine "
                    "(127.0.0.1). Variants of one base share it in memory. What the server is asked, and "
                    "how people rate its answers, shows below and flows back into training.")
        with gr.Row():
            models = gr.Dropdown(choices=model_choices(), value=["base"], multiselect=True,
                                 label="Models to serve ('base' is the model chosen at the top; runs)",
                                 elem_id="deploy-models", scale=3)
            name = gr.Textbox(value="served", label="Name (of the served log and the ratings' dataset)",
                              elem_id="deploy-name", scale=1)
            port = gr.Number(value=8000, precision=0, minimum=1024, maximum=65535, label="Port",
                             elem_id="deploy-port", scale=1)
            log = gr.Checkbox(value=True, label="Log every exchange (needed for the charts)", elem_id="deploy-log",
                              scale=1)
        with gr.Row():
            start_button = gr.Button("Start serving", variant="primary", elem_id="deploy-start")
            stop_button = gr.Button("Stop", variant="stop", elem_id="deploy-stop")
            refresh = gr.Button("Refresh", elem_id="deploy-refresh")
        status = gr.Markdown(elem_id="deploy-status")
        howto = gr.Markdown(elem_id="deploy-howto")
        table = gr.Dataframe(label="Per model (from the served log)", interactive=False, elem_id="deploy-table")
        figure = gr.Plot(label="Requests, latency and ratings over time", elem_id="deploy-plot")
        with gr.Accordion("Server output", open=False):
            output = gr.Textbox(lines=8, max_lines=12, show_label=False, elem_id="deploy-output")
        outputs = [status, howto, table, figure, output]
        start_button.click(start, [models, name, port, log, ctx["model"]], outputs)
        stop_button.click(stop, [name], outputs)
        refresh.click(view, [name], outputs)
        gr.Timer(REFRESH_S).tick(view, [name], outputs, show_progress="hidden")
        tab.select(lambda: gr.update(choices=model_choices()), None, [models])
        ctx["demo"].load(view, [name], outputs)
    return tab
