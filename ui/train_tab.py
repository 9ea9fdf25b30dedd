"""The Train tab: a form generated from the stage configs, start / stop / resume, and live charts.

The form has one component per config field over all stages (`STAGE_CONFIGS`), shown for the
stages that have it, so a stage added to the engine appears here without changes. What the page
shows about a run comes from its run folder only (status, metrics, samples): a refreshed page or a
restarted app picks up a running job where it is.
"""

from __future__ import annotations

import gradio as gr

from workbench import charts, paths, present
from workbench.present import primary_file
from workbench.runs import run_names
from workbench.train.config import STAGE_CONFIGS, RunConfig, config_class
from workbench.train.knobs import form_choices, form_value
from ui.common import esc, guarded, log, model_names, notice, readable
from ui.runview import chart_grid, chart_updates, no_charts, progress_html, samples_table, status_text

POLL_SECONDS = 2.0
# The command preview keeps its own height: filled while the tab is not yet drawn (a page load
# restoring the form), CodeMirror measured its lines there as hundreds of pixels tall.
CSS = """
#train-command .cm-scroller { min-height: 3em !important; }
"""
# The essentials, shown first (each for the stages that have it): what a run needs, or the one knob
# of its method (DPO's beta, PPO's KL weight). Everything else, with a default that works, goes under
# "More settings", closed: first the fields stages add, grouped by the stages that have them, then
# the rest of RunConfig's.
MAIN_FIELDS = ("model", "data", "prompts", "from_run", "reward_model", "reward_check", "max_steps", "learning_rate",
               "beta", "kl_coef", "name")
FIELD_WIDTH = 220  # px: two fields to a row in the form's column, one where it is narrower


def field_specs() -> dict[str, dict]:
    """name -> {"field": dataclass Field, "defaults": {stage: default}, "help": {stage: its help text},
    "shared": on RunConfig}. A stage may say more about a field in its own words (PPO's batch_size).

    A workbench served beyond this machine leaves out how the machine runs a job (the launcher and
    its processes): the engine refuses them there too."""
    shared = {f.name for f in RunConfig.knobs()}
    hidden = RunConfig.MACHINE_FIELDS if paths.is_shared() else ()
    specs: dict[str, dict] = {}
    for stage, cls in STAGE_CONFIGS.items():
        defaults = cls()
        for f in cls.knobs():
            if f.name in hidden:
                continue
            spec = specs.setdefault(f.name, {"field": f, "defaults": {}, "help": {}, "shared": f.name in shared})
            spec["defaults"][stage] = getattr(defaults, f.name)
            spec["help"][stage] = f.metadata["help"]
    return specs


def field_help(spec: dict, stage: str) -> dict:
    """{"info": the stage's help text for the field}, or {} where the stage has no such field."""
    return {"info": spec["help"][stage]} if stage in spec["help"] else {}


def form_groups(specs: dict) -> tuple[list[str], dict[tuple, list[str]], list[str]]:
    """Field names in form order: (main settings, {stages: the fields only they have}, more settings).

    Fields that the same stages have share a group, so a stage switch shows or hides whole groups
    and no half-empty rows are left behind.
    """
    main = [n for n in MAIN_FIELDS if n in specs]
    own: dict[tuple, list[str]] = {}
    for name, spec in specs.items():
        if not spec["shared"] and name not in main:
            own.setdefault(tuple(spec["defaults"]), []).append(name)
    more = [n for n, spec in specs.items() if spec["shared"] and n not in main]
    return main, own, more


def form_names() -> list[str]:
    """The order of the form's components: the inputs of `start_run` after the stage."""
    main, own, more = form_groups(field_specs())
    return main + [n for names in own.values() for n in names] + more


def shown(visible: bool):
    """Gradio visibility for a form field: "hidden" keeps a hidden field in the page, so a value
    set while it is hidden (the training file moving to `prompts` on a stage switch) is kept."""
    return True if visible else "hidden"


def group_classes(visible: bool) -> list[str]:
    """A group of stage fields is switched off by a CSS class: a "hidden" Gradio column keeps the
    gaps between its empty rows, and an invisible one would drop its fields' values."""
    return ["wb-group"] if visible else ["wb-group", "wb-off"]


def visible_in(stage: str, name: str, specs: dict) -> bool:
    """A stage shows the fields it has; of the file fields, only those it reads (PPO: no `data`)."""
    if stage not in specs[name]["defaults"]:
        return False
    every_file = {f for st in STAGE_CONFIGS for f in config_class(st)().file_fields()}
    return name not in every_file or name in config_class(stage)().file_fields()


def run_choices(f) -> list[str]:
    """Runs a run field can name: finished runs of the stages the field takes (its knob's `runs`)."""
    return [""] + present.run_choices(f.metadata["runs"])


def config_from_form(stage: str, values: dict):
    """The stage's RunConfig from the form's values (name -> value)."""
    return RunConfig.from_form({**values, "stage": stage}, source="the Train form")


def stage_switch(specs: dict, old: str, new: str, values: dict) -> dict[str, dict]:
    """What changes in the form when the stage goes from `old` to `new`: name -> {"visible", "info"?,
    "value"?}.

    Fields of the new stage show, with its help text, others hide. A field the old stage hid, or
    left at its default, takes the new stage's default; the training file moves to the field the new
    stage reads it from (`data` for SFT, `prompts` for PPO), so a file chosen in the Data tab follows
    the stage.
    """
    changes = {}
    for name, spec in specs.items():
        defaults, f = spec["defaults"], spec["field"]
        visible = visible_in(new, name, specs)
        change = {"visible": shown(visible), **(field_help(spec, new) if visible else {})}
        # A field the old stage hid holds nothing the user chose for this stage.
        untouched = old not in defaults or values.get(name) == form_value(f, defaults[old])
        if new in defaults and untouched:
            change["value"] = form_value(f, defaults[new])
        changes[name] = change
    before, after = primary_file(old), primary_file(new)
    if before != after and values.get(before) and not values.get(after):
        changes[after]["value"] = values[before]
        changes[before]["value"] = ""
    return changes


def command_text(stage: str, values: dict) -> str:
    try:
        return config_from_form(stage, values).to_command()
    except Exception as error:  # noqa: BLE001 - a half-filled form is normal while typing
        return f"# not a valid command yet: {readable(error)}"


# ------------------------------------------------------------------ form actions

def stage_doc(stage: str) -> str:
    return (config_class(stage).__doc__ or "").strip().splitlines()[0]


def values_of(args) -> dict:
    """The form's values by field name, from its components' values in form order."""
    return dict(zip(form_names(), args))


def show_groups(stage: str) -> list:
    """Updates of the stage-settings groups (in form order): the stage's own show, the others hide."""
    return [gr.update(elem_classes=group_classes(stage in stages)) for stages in form_groups(field_specs())[1]]


def on_stage(new_stage, old_stage, *args):
    """A new stage: (its doc, the stage kept, the command, the groups, each field's update)."""
    if new_stage == old_stage:
        # A dropdown pick can fire twice; the second comes with the values from before the first.
        return gr.skip()
    values = values_of(args)
    changes = stage_switch(field_specs(), old_stage, new_stage, values)
    new_values = {**values, **{n: c["value"] for n, c in changes.items() if "value" in c}}
    return [stage_doc(new_stage), new_stage, command_text(new_stage, new_values), *show_groups(new_stage),
            *(gr.update(**changes[n]) for n in form_names())]


@guarded
def start_run(stage_name, *args):
    from workbench.train import jobs
    started = jobs.start(config_from_form(stage_name, values_of(args)))
    return (gr.update(choices=run_names(), value=started.name),
            notice(f"Started run {esc(started.name)}; it trains in its own process. "
                   f"Same as `{esc(jobs.load_config(started).to_command())}`", "ok"))


@guarded
def stop_run(name):
    from workbench.train import jobs
    if not name:
        return notice("No run chosen.", "error")
    jobs.stop(name)
    return notice(f"Stop requested: {esc(name)} saves a checkpoint after its current step.")


@guarded
def resume_run(name):
    from workbench.train import jobs
    if not name:
        return notice("No run chosen.", "error")
    resumed = jobs.resume(name)
    checkpoint = resumed.last_checkpoint()
    return notice(f"Resumed {esc(name)} from {esc(checkpoint.name if checkpoint else 'the start')}.", "ok")


@guarded
def load_settings(name):
    """A run's settings in the form: (stage, stage kept, doc, command, groups, each field's update)."""
    if not name:
        raise gr.Error("Choose a run whose settings to load.")
    return settings_of(name)


def settings_of(name: str) -> list:
    """The form's updates showing run `name`'s config.yaml (`load_settings`' outputs), under no name."""
    from workbench.runs import get_run
    from workbench.train import jobs
    config = jobs.load_config(get_run(name))
    values = {**config.to_dict(), "name": None}  # a reloaded run gets a fresh name: run names are unique
    specs = field_specs()
    updates = [gr.update(visible=shown(visible_in(config.stage, n, specs)),
                         value=form_value(specs[n]["field"], values[n]), **field_help(specs[n], config.stage))
               if n in values else gr.update(visible=shown(False)) for n in form_names()]
    return [config.stage, config.stage, stage_doc(config.stage), command_text(config.stage, values),
            *show_groups(config.stage), *updates]


# ------------------------------------------------------------------ run view

def run_view(name: str, overlay: list[str] | None, smoothing: float | None = None) -> tuple:
    """Everything the page shows about a run: (progress, samples, status, *one plot per chart)."""
    from workbench.runs import get_run
    run = get_run(name)
    status, metrics = run.status(), run.metrics()
    series = {run.name: metrics}
    for other in overlay or []:
        if other and other != run.name:
            series[other] = get_run(other).metrics()
    samples = run.samples()
    return (progress_html(run.name, status, charts.count_points(metrics)),
            gr.update(value=samples_table(samples), visible=bool(samples)), status_text(run.name, status),
            *chart_updates(series, smoothing))


def signature(name: str, overlay, smoothing) -> tuple:
    """Changes whenever what `run_view` would draw changes; polling redraws only then."""
    from workbench.runs import get_run
    run = get_run(name)
    status = run.status()
    sizes = tuple(p.stat().st_size if p.exists() else 0 for p in (run.metrics_path, run.samples_path))
    return (name, tuple(overlay or ()), smoothing, status.get("state"), status.get("step"), status.get("eta_s"),
            sizes)


@guarded
def watch(name: str, overlay: list[str] | None, smoothing: float | None = None):
    if not name:
        return ("", gr.update(visible=False), "No run yet: start one on the left.", *no_charts())
    return run_view(name, overlay, smoothing)


def poll(name: str, overlay, smoothing, last):
    """The timer's tick: redraw when the run folder changed. Never raises (it runs every 2 s)."""
    outputs = 3 + len(charts.FAMILIES)
    if not name:
        return (gr.skip(),) * outputs + (last,)
    try:
        now = signature(name, overlay, smoothing)
        if now == last:
            return (gr.skip(),) * outputs + (last,)
        return run_view(name, overlay, smoothing) + (now,)
    except Exception as error:  # noqa: BLE001
        return (gr.skip(), gr.skip(), notice(esc(readable(error)), "error"), *(gr.skip(),) * len(charts.FAMILIES),
                None)


def initial_run() -> str | None:
    """The run a fresh page shows: the one training now, else the newest."""
    from workbench.train.jobs import active_runs
    active = active_runs()
    if active:
        return active[0].name
    names = run_names()
    return names[0] if names else None


# ------------------------------------------------------------------ building

def _component(name: str, spec: dict, stage: str, hardware):
    """The component for one config field, chosen by the field's kind (`workbench.train.knobs.knob`)."""
    f, default = spec["field"], spec["defaults"].get(stage, next(iter(spec["defaults"].values())))
    kind, optional = f.metadata["kind"], f.metadata["optional"]
    common = dict(label=name.replace("_", " "), info=spec["help"].get(stage, f.metadata["help"]),
                  elem_id=f"train-{name}", visible=shown(visible_in(stage, name, {name: spec})),
                  value=form_value(f, default), min_width=FIELD_WIDTH)
    if kind == "model":
        return gr.Dropdown(choices=model_names(), allow_custom_value=True, **common)
    if kind == "run":
        return gr.Dropdown(choices=run_choices(f), allow_custom_value=True, **common)
    if kind in ("choice", "precision") or (kind == "bool" and optional):
        return gr.Dropdown(choices=form_choices(f, hardware), **common)
    if kind == "bool":
        return gr.Checkbox(**common)
    if optional:
        # An optional number stays a text box: empty is a value of its own (None), not 0.
        return gr.Textbox(placeholder="empty", max_lines=1, **common)
    if kind in ("int", "float"):
        return gr.Number(precision=0 if kind == "int" else None, **common)
    return gr.Textbox(max_lines=1, **common)


def _grid(form: dict, names: list[str], specs: dict, stage: str, hardware) -> None:
    """Fields in one row that wraps, as many to a line as fit (two in the form's column): a field
    the stage hides leaves no gap, and the form stays short enough to see Start."""
    with gr.Row():
        for name in names:
            form[name] = _component(name, specs[name], stage, hardware)


def _form_column(stage: str, hardware) -> dict:
    """The left column: the stage, its essentials, the buttons, the command preview, and "More
    settings" (closed): the stage's own fields, then the rest. Returns its components by name;
    "form" maps each field to its component, "groups" the stage groups' columns."""
    from workbench.models.hardware import describe_precision
    specs = field_specs()
    main, own, more = form_groups(specs)
    ui = {"stage": gr.Dropdown(choices=list(STAGE_CONFIGS), value=stage, label="Stage", elem_id="train-stage"),
          "stage_doc": gr.Markdown(stage_doc(stage), elem_id="train-stage-doc"), "form": {}, "groups": []}
    _grid(ui["form"], main, specs, stage, hardware)
    with gr.Row():
        ui["start"] = gr.Button("Start", variant="primary", elem_id="train-start", min_width=90)
        ui["stop"] = gr.Button("Stop", variant="stop", elem_id="train-stop", min_width=90)
        ui["resume"] = gr.Button("Resume", elem_id="train-resume", min_width=90)
    ui["command"] = gr.Code(label="The same run from the command line", language="shell", interactive=False,
                            wrap_lines=True, lines=2, max_lines=6, elem_id="train-command")
    with gr.Accordion("More settings", open=False, elem_id="train-more"):
        for stages, group in own.items():
            with gr.Column(elem_classes=group_classes(stage in stages)) as column:
                gr.Markdown(f"**{esc(', '.join(stages))}**")
                _grid(ui["form"], group, specs, stage, hardware)
            ui["groups"].append(column)
        gr.Markdown("**every stage**")
        _grid(ui["form"], more, specs, stage, hardware)
        gr.Markdown(f"*{esc(hardware.reason)} {esc(describe_precision(hardware))}*", elem_id="train-hardware")
    return ui


def _run_column() -> dict:
    """The right column: the run shown, its progress, status, charts and samples."""
    with gr.Row():
        run = gr.Dropdown(choices=run_names(), value=None, label="Run shown", elem_id="train-run", scale=3)
        load = gr.Button("Load its settings", elem_id="train-load", scale=1)
    view = dict(run=run, load=load, progress=gr.HTML(elem_id="train-progress"),
                status=gr.Markdown(elem_id="train-status"))
    view["smoothing"], view["plots"] = chart_grid("train")
    return dict(view, overlay=gr.Dropdown(choices=run_names(), value=[], multiselect=True,
                                          label="Overlay other runs (dashed)", elem_id="train-overlay"),
                samples=gr.Dataframe(label="Samples (newest first)", visible=False, interactive=False,
                                     wrap=True, max_height=320, elem_id="train-samples"))


def _wire_form(ui: dict) -> None:
    """The form's events: a stage switch, the command preview, Start / Stop / Resume, Load."""
    components = list(ui["form"].values())  # in form order (`form_names`)
    stage, stage_state, command = ui["stage"], ui["stage_state"], ui["command"]
    stage.input(on_stage, [stage, stage_state, *components],
                [ui["stage_doc"], stage_state, command, *ui["groups"], *components], api_visibility="private")
    # One event for every field, run one at a time and always on the newest values: a listener per field
    # ran concurrently, so an older preview could land after a newer one and show a stale command.
    gr.on([c.change for c in components], lambda s, *args: command_text(s, values_of(args)),
          [stage, *components], command, api_visibility="private", show_progress="hidden",
          trigger_mode="always_last", concurrency_limit=1, concurrency_id="train-command")
    ui["start"].click(start_run, [stage, *components], [ui["run"], ui["status"]], api_name="start_run")
    ui["stop"].click(stop_run, ui["run"], ui["status"], api_name="stop_run")
    ui["resume"].click(resume_run, ui["run"], ui["status"], api_name="resume_run")
    ui["load"].click(load_settings, ui["run"], [stage, stage_state, ui["stage_doc"], command, *ui["groups"],
                                                *components], api_name="load_settings")


def _wire_run_view(ui: dict, ctx: dict, first: str) -> None:
    """The run view's events: a run or overlay picked, the timer's redraws, a (re)loaded page."""
    run, overlay, smoothing = ui["run"], ui["overlay"], ui["smoothing"]
    view_outputs = [ui["progress"], ui["samples"], ui["status"], *ui["plots"]]
    run.change(watch, [run, overlay, smoothing], view_outputs, api_name="watch", show_progress="hidden")
    for control in (overlay, smoothing):
        control.change(watch, [run, overlay, smoothing], view_outputs, api_visibility="private",
                       show_progress="hidden", trigger_mode="always_last")
    ui["timer"].tick(poll, [run, overlay, smoothing, ui["last_drawn"]], [*view_outputs, ui["last_drawn"]],
                     api_visibility="private", show_progress="hidden")

    settings = [ui["stage"], ui["stage_state"], ui["stage_doc"], ui["command"], *ui["groups"], *ui["form"].values()]

    def on_load(*args):
        """A (re)loaded page shows the run training now, else the newest, and its settings in the
        form (from its config.yaml): a refresh keeps the form the run was started with."""
        names_now, shown_run = run_names(), initial_run()
        pickers = gr.update(choices=names_now, value=shown_run), gr.update(choices=names_now)
        if shown_run:
            try:
                return *pickers, *settings_of(shown_run)
            except Exception as error:  # noqa: BLE001 - a broken run folder leaves the form as it is
                log.warning("cannot load %s's settings into the form: %s", shown_run, readable(error))
        command = command_text(first, values_of(args))
        return *pickers, *(command if c is ui["command"] else gr.skip() for c in settings)
    ctx["demo"].load(on_load, list(ui["form"].values()), [run, overlay, *settings], api_name="reattach")


def _link_other_tabs(ui: dict, ctx: dict, tab) -> None:
    """The other tabs' choices flow into the form (the header's model and max_length, the Data tab's
    file and split), and a visit to the tab refreshes the run pickers."""
    form = ui["form"]
    for source, target in [("model", "model"), ("max_length", "max_length"), ("val_fraction", "val_fraction"),
                           ("eval_file", "eval_data")]:
        if source in ctx and target in form:
            ctx[source].change(lambda v: v, ctx[source], form[target], api_visibility="private",
                               show_progress="hidden")
    # The Data tab's file goes where the current stage takes its training file.
    file_fields = [n for n in form if n in {primary_file(st) for st in STAGE_CONFIGS}]
    ctx["data_path"].change(
        lambda path, st: [gr.update(value=path) if n == primary_file(st) else gr.skip() for n in file_fields],
        [ctx["data_path"], ui["stage"]], [form[n] for n in file_fields], api_visibility="private",
        show_progress="hidden")
    def on_visit(stage):
        """Fresh run pickers, and the stage's fields shown: a (re)loaded page fills the form before
        the tab is first drawn, and the fields' visibility set then is lost (their values are kept)."""
        names_now, specs = run_names(), field_specs()
        fields = [gr.update(visible=shown(visible_in(stage, n, specs)), **field_help(specs[n], stage), **(
            {"choices": run_choices(specs[n]["field"])} if specs[n]["field"].metadata["kind"] == "run" else {}))
            for n in form]
        return gr.update(choices=names_now), gr.update(choices=names_now), *show_groups(stage), *fields
    tab.select(on_visit, ui["stage"], [ui["run"], ui["overlay"], *ui["groups"], *form.values()],
               api_visibility="private")


def build(ctx: dict) -> gr.Tab:
    from workbench.models import detect_hardware
    first = next(iter(STAGE_CONFIGS))
    with gr.Tab("Train", id="train", elem_id="tab-train") as tab:
        # Side by side where both fit, else the form above the run (a 1024 px window).
        with gr.Row():
            with gr.Column(scale=2, min_width=440):
                ui = _form_column(first, detect_hardware())
            with gr.Column(scale=3, min_width=520):
                ui.update(_run_column())
        ui.update(last_drawn=gr.State(None), stage_state=gr.State(first), timer=gr.Timer(POLL_SECONDS))
    _wire_form(ui)
    _wire_run_view(ui, ctx, first)
    _link_other_tabs(ui, ctx, tab)
    ctx.update(train_run=ui["run"], train_tab=tab)
    return tab
