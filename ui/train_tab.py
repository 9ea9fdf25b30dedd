"""The Train tab: a form generated from the stage configs, start / stop / resume, and live charts.

The form has one component per config field over all stages (`STAGE_CONFIGS`), shown for the
stages that have it, so a stage added to the engine appears here without changes. What the page
shows about a run comes from its run folder only (status, metrics, samples): a refreshed page or a
restarted app picks up a running job where it is.
"""

from __future__ import annotations

import functools
from dataclasses import fields

import gradio as gr

from workbench import charts, present
from workbench.present import primary_file
from workbench.runs import run_names
from ui.common import esc, guarded, model_names, notice, readable
from ui.runview import progress_html, samples_table, status_text

AUTO = "auto"  # the method choice that lets the engine pick from the hardware
POLL_SECONDS = 2.0
# Fields shown first; the other RunConfig fields go under "More settings", and the fields stages
# add (beta, from_run, ...) under "Stage settings", grouped by the stages that have them.
MAIN_FIELDS = ("model", "method", "precision", "data", "prompts", "eval_data", "max_steps", "epochs", "learning_rate",
               "batch_size", "max_length", "name")


def _stage_configs() -> dict:
    from workbench.train.config import STAGE_CONFIGS
    return STAGE_CONFIGS


def field_specs() -> dict[str, dict]:
    """name -> {"field": dataclass Field, "defaults": {stage: default}, "shared": on RunConfig}."""
    from workbench.train.config import RunConfig
    shared = {f.name for f in fields(RunConfig)}
    specs: dict[str, dict] = {}
    for stage, cls in _stage_configs().items():
        defaults = cls()
        for f in fields(cls):
            if f.name == "stage":
                continue
            spec = specs.setdefault(f.name, {"field": f, "defaults": {}, "shared": f.name in shared})
            spec["defaults"][stage] = getattr(defaults, f.name)
    return specs


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
    from workbench.train.config import config_class
    if stage not in specs[name]["defaults"]:
        return False
    every_file = {f for st in _stage_configs() for f in config_class(st)().file_fields()}
    return name not in every_file or name in config_class(stage)().file_fields()


def is_run_field(name: str) -> bool:
    """Fields that name another run (from_run, reward_run, reward_model, ...)."""
    words = name.split("_")
    return "run" in words or name in ("reward_model", "policy", "reference")


def run_choices(name: str) -> list[str]:
    """Runs a run field can name: a reward model is a reward run; from_run a policy run."""
    return [""] + present.run_choices("reward_model" if name.startswith("reward") else "start")


def _optional(f) -> bool:
    return "None" in str(f.type)


def config_from_form(stage: str, values: dict):
    """The stage's RunConfig from form values; empty boxes mean None or the stage default."""
    from workbench.train.config import config_class
    cls = config_class(stage)
    default = cls()
    settings = {}
    for f in fields(cls):
        if f.name == "stage" or f.name not in values:
            continue
        value = values[f.name]
        if f.name == "method" and value == AUTO:
            value = None
        if f.name in optional_switches() and isinstance(value, str):
            value = {v: k for k, v in YES_NO.items()}.get(value, value)
        if isinstance(value, str):
            value = value.strip() or None
        if value is None and not _optional(f):
            value = getattr(default, f.name)
        settings[f.name] = value
    return cls.from_dict({**settings, "stage": stage}, source="the Train form")


YES_NO = {None: AUTO, True: "yes", False: "no"}  # an optional switch: auto (None), on, off


def form_value(name: str, value):
    """A config value as its form component shows it (None is an empty box, or "auto")."""
    if name == "method":
        return value or AUTO
    if name in optional_switches():
        return YES_NO[value]
    return "" if value is None else value


@functools.lru_cache(maxsize=1)
def optional_switches() -> frozenset[str]:
    """Fields typed `bool | None`: None means the engine chooses (packing on a GPU, not on a CPU)."""
    return frozenset(n for n, spec in field_specs().items() if str(spec["field"].type).startswith("bool | None"))


def stage_switch(specs: dict, old: str, new: str, values: dict) -> dict[str, dict]:
    """What changes in the form when the stage goes from `old` to `new`: name -> {"visible", "value"?}.

    Fields of the new stage show, others hide. A field the old stage hid, or left at its default,
    takes the new stage's default; the training file moves to the field the new stage reads it from
    (`data` for SFT, `prompts` for PPO), so a file chosen in the Data tab follows the stage.
    """
    changes = {}
    for name, spec in specs.items():
        defaults = spec["defaults"]
        change = {"visible": shown(visible_in(new, name, specs))}
        # A field the old stage hid holds nothing the user chose for this stage.
        untouched = old not in defaults or values.get(name) == form_value(name, defaults[old])
        if new in defaults and untouched:
            change["value"] = form_value(name, defaults[new])
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


# ------------------------------------------------------------------ run view

def run_view(name: str, overlay: list[str] | None):
    """Everything the page shows about a run: (progress, loss figure, stage figure, samples, status)."""
    from workbench.runs import get_run
    run = get_run(name)
    status, metrics = run.status(), run.metrics()
    series = {run.name: metrics}
    for other in overlay or []:
        if other and other != run.name:
            series[other] = get_run(other).metrics()
    samples = run.samples()
    return (progress_html(run.name, status, charts.count_points(metrics)), charts.loss_figure(series),
            charts.stage_figure(series), gr.update(value=samples_table(samples), visible=bool(samples)),
            status_text(run.name, status))


def signature(name: str, overlay) -> tuple:
    """Changes whenever what `run_view` would draw changes; polling redraws only then."""
    from workbench.runs import get_run
    run = get_run(name)
    status = run.status()
    sizes = tuple(p.stat().st_size if p.exists() else 0 for p in (run.metrics_path, run.samples_path))
    return (name, tuple(overlay or ()), status.get("state"), status.get("step"), status.get("eta_s"), sizes)


@guarded
def watch(name: str, overlay: list[str] | None):
    if not name:
        return ("", None, None, gr.update(visible=False), "No run yet: start one on the left.")
    return run_view(name, overlay)


def poll(name: str, overlay, last):
    """The timer's tick: redraw when the run folder changed. Never raises (it runs every 2 s)."""
    if not name:
        return (gr.skip(),) * 5 + (last,)
    try:
        now = signature(name, overlay)
        if now == last:
            return (gr.skip(),) * 5 + (last,)
        return run_view(name, overlay) + (now,)
    except Exception as error:  # noqa: BLE001
        return (gr.skip(),) * 4 + (notice(esc(readable(error)), "error"), None)


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
    f, default = spec["field"], spec["defaults"].get(stage, next(iter(spec["defaults"].values())))
    common = dict(label=name.replace("_", " "), info=f.metadata.get("help"), elem_id=f"train-{name}",
                  visible=shown(visible_in(stage, name, {name: spec})))
    kind = str(f.type)
    if name == "method":
        from workbench.models.hardware import METHODS
        choices = [(f"auto: {hardware.default_method} on this machine", AUTO), *METHODS]
        return gr.Dropdown(choices=choices, value=form_value(name, default), **common)
    if name == "precision":
        from workbench.models.hardware import precision_choices
        return gr.Dropdown(choices=precision_choices(hardware), value=default, **common)
    if name == "model":
        return gr.Dropdown(choices=model_names(), value=default, allow_custom_value=True, **common)
    if is_run_field(name):
        return gr.Dropdown(choices=run_choices(name), value=form_value(name, default),
                           allow_custom_value=True, **common)
    if name in optional_switches():
        choices = [("auto: what this hardware serves best", AUTO), ("yes", "yes"), ("no", "no")]
        return gr.Dropdown(choices=choices, value=form_value(name, default), **common)
    if isinstance(default, bool) or "bool" in kind:
        return gr.Checkbox(value=bool(default), **common)
    if _optional(f):
        # An optional number stays a text box: empty is a value of its own (None), not 0.
        return gr.Textbox(value=form_value(name, default), placeholder="empty", **common)
    if kind.startswith("int"):
        return gr.Number(value=default, precision=0, **common)
    if kind.startswith("float"):
        return gr.Number(value=default, **common)
    return gr.Textbox(value=form_value(name, default), **common)


def _grid(form: dict, names: list[str], specs: dict, stage: str, hardware) -> None:
    """Fields two to a row: the form stays short enough to see Start without scrolling far."""
    for i in range(0, len(names), 2):
        with gr.Row():
            for name in names[i:i + 2]:
                form[name] = _component(name, specs[name], stage, hardware)


def build(ctx: dict) -> gr.Tab:
    from workbench.models import detect_hardware
    from workbench.models.hardware import describe_precision
    hardware = detect_hardware()
    configs = _stage_configs()
    specs = field_specs()
    first = next(iter(configs))
    doc = {stage: (cls.__doc__ or "").strip().splitlines()[0] for stage, cls in configs.items()}

    with gr.Tab("Train", id="train", elem_id="tab-train") as tab:
        with gr.Row():
            with gr.Column(scale=2):
                stage = gr.Dropdown(choices=list(configs), value=first, label="Stage", elem_id="train-stage")
                stage_doc = gr.Markdown(doc[first], elem_id="train-stage-doc")
                form: dict[str, gr.components.Component] = {}
                main, own, more = form_groups(specs)
                _grid(form, main, specs, first, hardware)
                gr.Markdown(f"*{esc(hardware.reason)} {esc(describe_precision(hardware))}*",
                            elem_id="train-hardware")
                with gr.Row():
                    start = gr.Button("Start", variant="primary", elem_id="train-start")
                    stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
                    resume = gr.Button("Resume", elem_id="train-resume")
                command = gr.Code(label="The same run from the command line", language="shell",
                                  interactive=False, wrap_lines=True, lines=2, max_lines=6,
                                  elem_id="train-command")
                groups = []  # (column, the stages that show it)
                with gr.Accordion("Stage settings", open=True):
                    for stages, group in own.items():
                        with gr.Column(elem_classes=group_classes(first in stages)) as column:
                            _grid(form, group, specs, first, hardware)
                        groups.append((column, stages))
                with gr.Accordion("More settings", open=False):
                    _grid(form, more, specs, first, hardware)
            with gr.Column(scale=3):
                with gr.Row():
                    run = gr.Dropdown(choices=run_names(), value=None, label="Run shown", elem_id="train-run",
                                      scale=3)
                    load = gr.Button("Load its settings", elem_id="train-load", scale=1)
                progress = gr.HTML(elem_id="train-progress")
                status = gr.Markdown(elem_id="train-status")
                loss_plot = gr.Plot(label="Loss", show_label=False, elem_id="train-loss-plot")
                stage_plot = gr.Plot(label="Stage metrics", show_label=False, elem_id="train-stage-plot")
                overlay = gr.Dropdown(choices=run_names(), value=[], multiselect=True,
                                      label="Overlay other runs (dashed)", elem_id="train-overlay")
                samples = gr.Dataframe(label="Samples (newest first)", visible=False, interactive=False,
                                       wrap=True, max_height=320, elem_id="train-samples")
        last_drawn = gr.State(None)
        stage_state = gr.State(first)
        timer = gr.Timer(POLL_SECONDS)

    names = list(form)
    components = [form[n] for n in names]

    def values_of(args) -> dict:
        return dict(zip(names, args))

    columns = [column for column, _ in groups]

    def show_groups(stage_name):
        return [gr.update(elem_classes=group_classes(stage_name in stages)) for _, stages in groups]

    def on_stage(new_stage, old_stage, *args):
        if new_stage == old_stage:
            # A dropdown pick can fire twice; the second comes with the values from before the first.
            return gr.skip()
        changes = stage_switch(specs, old_stage, new_stage, values_of(args))
        new_values = {**values_of(args), **{n: c["value"] for n, c in changes.items() if "value" in c}}
        return [doc[new_stage], new_stage, command_text(new_stage, new_values), *show_groups(new_stage),
                *(gr.update(**changes[n]) for n in names)]

    stage.input(on_stage, [stage, stage_state, *components],
                [stage_doc, stage_state, command, *columns, *components], api_visibility="private")
    # One event for every field, run one at a time and always on the newest values: a listener per field
    # ran concurrently, so an older preview could land after a newer one and show a stale command.
    gr.on([c.change for c in components], lambda s, *args: command_text(s, values_of(args)),
          [stage, *components], command, api_visibility="private", show_progress="hidden",
          trigger_mode="always_last", concurrency_limit=1, concurrency_id="train-command")

    @guarded
    def start_run(stage_name, *args):
        from workbench.train import jobs
        config = config_from_form(stage_name, values_of(args))
        started = jobs.start(config)
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
        from workbench.runs import get_run
        from workbench.train import jobs
        if not name:
            raise gr.Error("Choose a run whose settings to load.")
        config = jobs.load_config(get_run(name))
        values = config.to_dict()
        # A reloaded run gets a fresh name: run names are unique.
        values["name"] = None
        updates = [gr.update(visible=shown(visible_in(config.stage, n, specs)), value=form_value(n, values[n]))
                   if n in values else gr.update(visible=shown(False)) for n in names]
        return [config.stage, config.stage, doc[config.stage], command_text(config.stage, values),
                *show_groups(config.stage), *updates]

    start.click(start_run, [stage, *components], [run, status], api_name="start_run")
    stop.click(stop_run, run, status, api_name="stop_run")
    resume.click(resume_run, run, status, api_name="resume_run")
    load.click(load_settings, run, [stage, stage_state, stage_doc, command, *columns, *components],
               api_name="load_settings")
    view_outputs = [progress, loss_plot, stage_plot, samples, status]
    run.change(watch, [run, overlay], view_outputs, api_name="watch", show_progress="hidden")
    overlay.change(watch, [run, overlay], view_outputs, api_visibility="private", show_progress="hidden")
    timer.tick(poll, [run, overlay, last_drawn], [*view_outputs, last_drawn], api_visibility="private",
               show_progress="hidden")

    def on_load(*args):
        names_now = run_names()
        return (gr.update(choices=names_now, value=initial_run()), gr.update(choices=names_now),
                command_text(first, values_of(args)))
    ctx["demo"].load(on_load, components, [run, overlay, command], api_name="reattach")

    # The other tabs' choices flow into the form: the header's model and max_length, the Data
    # tab's file and validation split.
    links = [("model", "model"), ("max_length", "max_length"), ("val_fraction", "val_fraction"),
             ("eval_file", "eval_data")]
    for source, target in links:
        if source in ctx and target in form:
            ctx[source].change(lambda v: v, ctx[source], form[target], api_visibility="private",
                               show_progress="hidden")
    # The Data tab's file goes where the current stage takes its training file.
    file_fields = [n for n in names if n in {primary_file(st) for st in configs}]
    ctx["data_path"].change(
        lambda path, st: [gr.update(value=path) if n == primary_file(st) else gr.skip() for n in file_fields],
        [ctx["data_path"], stage], [form[n] for n in file_fields], api_visibility="private",
        show_progress="hidden")

    def refresh_choices():
        names_now = run_names()
        return gr.update(choices=names_now), gr.update(choices=names_now), *(
            gr.update(choices=run_choices(n)) for n in names if is_run_field(n))
    run_fields = [form[n] for n in names if is_run_field(n)]
    tab.select(refresh_choices, None, [run, overlay, *run_fields], api_visibility="private")
    ctx.update(train_run=run, train_tab=tab)
    return tab
