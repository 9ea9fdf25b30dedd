"""The config fields' metadata and the one way from a form or a command line to a config.

Every front end renders a field by its kind and reads it back with `RunConfig.from_form` (the app,
the notebook widgets) or `RunConfig.from_args` (the CLI's generated parser), so the same inputs
make the same config everywhere.
"""

import typing
from dataclasses import fields

import pytest

from conftest import ROOT
from workbench.errors import ConfigError
from workbench.train.config import (POLICY_STAGES, STAGE_CONFIGS, DPORunConfig, PPORunConfig, RunConfig,
                                    SFTRunConfig, start_from)
from workbench.train.knobs import AUTO, KINDS, form_value, knob

SFT = str(ROOT / "sample_data" / "sft.jsonl")
PREFERENCE = str(ROOT / "sample_data" / "preference.jsonl")
PROMPTS = str(ROOT / "sample_data" / "prompts.jsonl")


def parse(argv):
    from workbench.cli import build_parser
    return RunConfig.from_args(build_parser().parse_args(argv))


@pytest.mark.parametrize("stage", list(STAGE_CONFIGS))
def test_every_field_says_its_kind_and_agrees_with_its_type(stage):
    """The metadata is the front ends' only source: it must say what the annotation says."""
    cls = STAGE_CONFIGS[stage]
    hints = typing.get_type_hints(cls)
    base_type = {"int": int, "float": float, "bool": bool}
    for f in cls.knobs():
        kind, optional = f.metadata["kind"], f.metadata["optional"]
        assert kind in KINDS and f.metadata["help"], f.name
        assert optional == (type(None) in typing.get_args(hints[f.name])), f.name
        wanted = base_type.get(kind, str)
        assert wanted in (typing.get_args(hints[f.name]) or (hints[f.name],)), (f.name, kind)
        assert (kind == "choice") == bool(f.metadata["choices"]), f.name
        assert (kind == "run") == bool(f.metadata["runs"]), f.name


def test_a_field_name_means_the_same_kind_in_every_stage():
    """The app has one component per field name over all stages."""
    seen = {}
    for cls in STAGE_CONFIGS.values():
        for f in cls.knobs():
            facts = (f.metadata["kind"], f.metadata["optional"], f.metadata["runs"], f.metadata["choices"])
            assert seen.setdefault(f.name, facts) == facts, f.name


def test_the_metadata_says_whose_runs_a_field_names():
    assert PPORunConfig.run_fields() == {"from_run": POLICY_STAGES, "reward_model": ("reward",)}
    assert DPORunConfig.run_fields()["from_run"][0] == "sft" and "reward" not in POLICY_STAGES
    assert SFTRunConfig.run_fields() == {}
    with pytest.raises(TypeError, match="needs its kind"):
        knob(None, "a field whose kind nothing says")


def test_from_form_turns_text_and_empty_boxes_into_the_fields_types():
    config = RunConfig.from_form({"stage": "sft", "data": f"  {SFT} ", "max_steps": "40", "learning_rate": "3e-4",
                                  "batch_size": 2.0, "eval_steps": "", "name": " ", "method": AUTO,
                                  "packing": "no", "epochs": "", "assistant_only_loss": False,
                                  "beta": "0.5", "reward_model": "rm"})  # other stages' fields are ignored
    assert isinstance(config, SFTRunConfig) and config.data == SFT
    assert (config.max_steps, config.learning_rate, config.batch_size) == (40, 3e-4, 2)
    assert type(config.max_steps) is int and type(config.batch_size) is int
    assert config.eval_steps is None and config.name is None and config.method is None
    assert config.packing is False and config.assistant_only_loss is False
    assert config.epochs == SFTRunConfig().epochs  # an empty box of a field that takes no None: the default
    assert RunConfig.from_form({"stage": "sft", "packing": "yes"}).packing is True
    assert RunConfig.from_form({"stage": "sft", "packing": AUTO}).packing is None
    assert RunConfig.from_form({"stage": "sft", "precision": AUTO}).precision == "auto"  # a value, not None


@pytest.mark.parametrize("values, phrase", [
    ({"max_steps": "many"}, "'max_steps' should be int, not 'many'"),
    ({"batch_size": "2.5"}, "'batch_size' should be int"),
    ({"learning_rate": "fast"}, "'learning_rate' should be float, not 'fast'"),
    ({"assistant_only_loss": "maybe"}, "'assistant_only_loss' should be bool"),
    ({"packing": "perhaps"}, "'packing' should be bool, not 'perhaps'"),
    ({"lerning_rate": "0.1"}, "unknown key 'lerning_rate'"),
])
def test_from_form_refuses_a_bad_value_naming_the_field(values, phrase):
    with pytest.raises(ConfigError, match="the Train form: " + phrase):
        RunConfig.from_form({"stage": "sft", **values}, source="the Train form")


def test_form_value_is_what_from_form_reads_back():
    for cls in STAGE_CONFIGS.values():
        config = cls()
        shown = {f.name: form_value(f, getattr(config, f.name)) for f in cls.knobs()}
        assert RunConfig.from_form({**shown, "stage": config.stage}) == config
    packing = {f.name: f for f in fields(SFTRunConfig)}["packing"]
    assert [form_value(packing, v) for v in (None, True, False)] == [AUTO, "yes", "no"]


@pytest.mark.parametrize("argv, form", [
    (["train", "sft", "--data", SFT, "--max-steps", "40", "--learning-rate", "3e-4", "--packing",
      "--no-assistant-only-loss", "--method", "lora"],
     {"stage": "sft", "data": SFT, "max_steps": "40", "learning_rate": "3e-4", "packing": "yes",
      "assistant_only_loss": False, "method": "lora", "eval_steps": ""}),
    (["train", "dpo", "--data", PREFERENCE, "--from", "sft-1", "--beta", "0.2", "--batch-size", "2"],
     {"stage": "dpo", "data": PREFERENCE, "from_run": "sft-1", "beta": "0.2", "batch_size": 2, "method": AUTO}),
    (["train", "ppo", "--prompts", PROMPTS, "--reward-rule", "brevity", "--kl-target", "6", "--no-whiten-rewards"],
     {"stage": "ppo", "prompts": PROMPTS, "reward_rule": "brevity", "kl_target": "6", "whiten_rewards": False,
      "data": "", "reward_model": ""}),
])
def test_the_cli_and_a_form_make_the_same_config(argv, form):
    assert parse(argv) == RunConfig.from_form(form)


@pytest.mark.parametrize("stage", list(STAGE_CONFIGS))
def test_to_command_parses_back_to_the_same_config(stage):
    """Every field set away from its default, including the optional bools (`--packing`)."""
    cls = STAGE_CONFIGS[stage]
    changed = {}
    for f in cls.knobs():
        kind, value = f.metadata["kind"], getattr(cls(), f.name)
        if kind == "bool":
            changed[f.name] = not value if value is not None else True
        elif kind in ("int", "float"):
            changed[f.name] = (value or 1) * 3
        elif kind == "choice":
            changed[f.name] = f.metadata["choices"][-1]
        elif kind in ("text", "run", "model", "precision"):
            changed[f.name] = "bf16" if kind == "precision" else f"{f.name}-x"
    config = cls.from_dict({**changed, "stage": stage})
    assert parse(config.to_command().split()[1:]) == config


def test_from_args_keeps_a_saved_configs_values_under_the_options_given(tmp_path):
    saved = tmp_path / "run.yaml"
    SFTRunConfig(data=SFT, max_steps=7, batch_size=2).save(saved)
    config = parse(["train", "sft", "--config", str(saved), "--batch-size", "3"])
    assert (config.data, config.max_steps, config.batch_size) == (SFT, 7, 3)


def test_start_from_continues_a_policy_run_and_trains_a_reward_model_on_its_base(monkeypatch):
    """The feedback tab's "model whose answers you rate" becomes from_run or model by the stage's fields."""
    from pathlib import Path

    from workbench.models import variants
    runs = {"sft-1": variants.ModelRef("sft-1", "tiny", Path("adapter"), "sft", "sft-1"),
            "rm-1": variants.ModelRef("rm-1", "tiny", Path("adapter"), "reward", "rm-1")}
    monkeypatch.setattr(variants, "model_ref", lambda name, base=None: runs.get(name) or variants.ModelRef(
        name, base if name == "base" else name, None, None))
    assert start_from("dpo", "sft-1") == start_from("kto", "sft-1") == {"from_run": "sft-1"}
    assert start_from("reward", "sft-1") == {"model": "tiny"}
    assert start_from("dpo", "rm-1") == {"model": "tiny"}  # a reward model is no policy to continue
    assert start_from("dpo", "base", base="smollm2-135m") == {"model": "smollm2-135m"}
    assert start_from("dpo", "some/model") == {"model": "some/model"}
