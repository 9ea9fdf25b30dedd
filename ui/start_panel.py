"""The "start here" path above the tabs: on a home with no runs, five one-click steps (sample data,
tokens, SFT, preferences, compare), each filling its tab and opening it. Which steps are done, and
which can be taken now, are `workbench.present.start`'s facts; the runs the steps start are its
`start_config`, launched like the Train tab's.

`build(ctx)` lays the panel out (before the tabs); `wire(ctx)` connects it to the tabs' components
once they exist (ctx: data_path, data_inspect, tokens_show, train_run, compare_send, compare_pickers,
compare_prompt, tabs).
"""

from __future__ import annotations

import gradio as gr

from workbench.present import start
from workbench.runs import ACTIVE_STATES, run_names
from ui.common import esc, guarded

POLL_SECONDS = 3.0
CSS = """
#start-here { border: 2px solid #2563eb; }
#start-here button { min-width: 0; }
"""


def panel_view(seen: list[str]) -> tuple:
    """(panel, each step's button, the next-step line, the timer) for the path's facts now; the
    timer ticks while a step's run trains."""
    facts = start.start_path(seen)
    first = next((s.key for s in facts.steps if not s.done and s.ready), None)
    buttons = [gr.update(value=s.label, interactive=s.ready, variant="primary" if s.key == first else "secondary")
               for s in facts.steps]
    training = any(s.state in ACTIVE_STATES for s in facts.steps)
    return (gr.update(visible=facts.show), *buttons, facts.line, gr.Timer(active=training))


def shown(seen: list[str], key: str) -> list[str]:
    return seen if key in seen else [*seen, key]


@guarded
def run_step(key: str, model: str, seen: list[str]):
    """Start the step's run (or, started already, show it): (the Train tab's run, tabs, seen)."""
    from workbench.train import jobs
    step = start.start_path(seen).step(key)
    if not step.ready:
        raise gr.Error(f"{esc(step.title)} starts from {start.SFT_RUN}: wait until it has completed.")
    config = start.start_config(key, model)
    if not step.state:
        jobs.start(config)
    return gr.update(choices=run_names(), value=config.name), gr.Tabs(selected="train"), shown(seen, key)


@guarded
def compare_step(seen: list[str]):
    """Base, SFT and DPO in the Compare tab's columns, the held-out question typed: (seen, tabs,
    each column's model, the prompt)."""
    from ui.compare_tab import COLUMNS, model_choices
    step = start.start_path(seen).step("compare")
    if not step.ready:
        raise gr.Error(f"Compare waits for {start.SFT_RUN} to complete.")
    models = (start.compare_models() + [None] * COLUMNS)[:COLUMNS]
    choices = model_choices()
    return (shown(seen, "compare"), gr.Tabs(selected="compare"),
            *(gr.update(choices=choices, value=m) for m in models), start.compare_prompt())


def build(ctx: dict) -> None:
    with gr.Column(visible=False, variant="panel", elem_id="start-here") as panel:
        gr.Markdown("**Start here**: one click a step, from the sample data to base, SFT and DPO answering "
                    "side by side, on the model chosen above. (Shown while the home has no runs of its own.)",
                    elem_id="start-intro")
        with gr.Row(equal_height=True):
            buttons = {key: gr.Button(f"{n} · {title}", size="sm", elem_id=f"start-{key}", min_width=120)
                       for n, (key, title, _) in enumerate(start.STEPS, start=1)}
        with gr.Row(equal_height=True):
            line = gr.Markdown(elem_id="start-line")
            hide = gr.Button("Hide", size="sm", elem_id="start-hide", scale=0, min_width=80)
    ctx["start"] = dict(panel=panel, buttons=buttons, line=line, hide=hide, seen=gr.State([]),
                        timer=gr.Timer(POLL_SECONDS, active=False))


def wire(ctx: dict) -> None:
    p, tabs = ctx["start"], ctx["tabs"]
    seen, buttons = p["seen"], p["buttons"]
    view = [p["panel"], *buttons.values(), p["line"], p["timer"]]
    private = dict(api_visibility="private")
    ctx["demo"].load(panel_view, seen, view, **private)
    p["timer"].tick(panel_view, seen, view, show_progress="hidden", **private)
    p["hide"].click(lambda: gr.update(visible=False), None, p["panel"], **private)

    def show_file(key: str, tab: str):
        return lambda now: (shown(now, key), start.sample_path(), gr.Tabs(selected=tab))
    fn, inputs, outputs = ctx["data_inspect"]
    buttons["data"].click(show_file("data", "data"), seen, [seen, ctx["data_path"], tabs], **private).then(
        fn, inputs, outputs, **private).then(panel_view, seen, view, **private)
    fn, inputs, outputs = ctx["tokens_show"]
    buttons["tokens"].click(show_file("tokens", "tokens"), seen, [seen, ctx["data_path"], tabs], **private).then(
        fn, inputs, outputs, **private).then(panel_view, seen, view, **private)
    for key in ("sft", "preferences"):
        buttons[key].click(lambda model, now, key=key: run_step(key, model, now), [ctx["model"], seen],
                           [ctx["train_run"], tabs, seen], **private).then(panel_view, seen, view, **private)
    fn, inputs, outputs = ctx["compare_send"]
    buttons["compare"].click(compare_step, seen, [seen, tabs, *ctx["compare_pickers"], ctx["compare_prompt"]],
                             **private).success(fn, inputs, outputs, **private).then(panel_view, seen, view,
                                                                                     **private)
