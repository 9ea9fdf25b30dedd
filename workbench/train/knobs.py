"""A config field's knob: its documentation and what a front end needs to render and parse it.

Every front end reads these, so the GUI's form, the widgets and the CLI's options show a field
alike and turn what a person typed into the same config (`RunConfig.from_form` / `from_args`).
"""

from __future__ import annotations

from dataclasses import field, fields

from workbench.errors import ConfigError


# What a field holds, so every front end renders and parses it alike: text | int | float | bool,
# file (a data file's path), model (a model name or folder), precision (auto or a dtype), choice
# (one of the field's choices), run (the name of a run of one of the field's stages).
KINDS = ("text", "int", "float", "bool", "file", "model", "precision", "choice", "run")
AUTO = "auto"  # a form's value for None where None lets the engine choose (method, packing)
SWITCH = {None: AUTO, True: "yes", False: "no"}  # a bool the engine may choose, as a form offers it


def knob(default, help: str, *, kind: str | None = None, optional: bool | None = None,
         runs: tuple[str, ...] = (), choices: tuple[str, ...] = (), auto=None):
    """A config field with its documentation (shown by `--help` and the forms) and what a front end
    needs to render and parse it, in the field's metadata:

    kind: one of KINDS; by default the type of `default` (a None default needs it given).
    optional: None is a value of its own, by default when `default` is None: an empty box, or for a
      choice or a bool, "auto" (the engine chooses from the hardware).
    runs: for a run field, the stages whose runs it names. choices: for a choice field.
    auto: for a choice the engine may make, `auto(hardware)` says what it picks there.
    """
    kind = kind or {bool: "bool", int: "int", float: "float", str: "text"}.get(type(default))
    if kind not in KINDS:
        raise TypeError(f"knob({default!r}, ...) needs its kind: one of {', '.join(KINDS)}")
    optional = default is None if optional is None else optional
    return field(default=default, metadata={"help": help, "kind": kind, "optional": optional, "runs": runs,
                                            "choices": choices, "auto": auto})


def coerce(cls, key: str, value, source: str):
    """YAML gives strings for some numbers (1e-4), a form gives text; accept what a user would
    reasonably write for the field's kind."""
    kind = {f.name: f for f in fields(cls)}[key].metadata["kind"]
    if value is None or kind not in ("bool", "int", "float"):
        return value
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            raise ValueError
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: '{key}' should be {kind}, not {value!r}") from None


def from_text(f, value):
    """A form's value for field `f` as the config takes it: text stripped, an empty box None,
    "auto" None where the engine may choose, and "yes" / "no" a bool."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    meta = f.metadata
    if meta["optional"] and meta["kind"] in ("choice", "bool") and value == AUTO:
        return None
    if meta["optional"] and meta["kind"] == "bool":
        return {"yes": True, "no": False}.get(value, value or None)
    return value or None


def form_value(f, value):
    """A config value of field `f` as a form shows it: None is an empty box, or "auto" for a
    choice or a bool that the engine may make (method, packing); `RunConfig.from_form` reads it back."""
    meta = f.metadata
    if meta["optional"] and meta["kind"] == "bool":
        return SWITCH[value]
    if meta["optional"] and meta["kind"] == "choice":
        return value or AUTO
    return "" if value is None else value


def form_choices(f, hardware) -> list[tuple[str, str]]:
    """(label, value) of what a form offers for field `f` of kind choice, precision, or an
    optional bool, with "auto" labelled by what it picks on `hardware` (a Hardware)."""
    from workbench.models.hardware import precision_choices
    meta = f.metadata
    if meta["kind"] == "precision":
        return precision_choices(hardware)
    auto = [(f"auto: {meta['auto'](hardware) if meta['auto'] else 'what this hardware serves best'}", AUTO)]
    if meta["kind"] == "bool":
        return auto + [("yes", "yes"), ("no", "no")]
    return (auto if meta["optional"] else []) + [(choice, choice) for choice in meta["choices"]]
