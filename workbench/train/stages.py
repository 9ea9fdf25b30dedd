"""The training stages and where each lives: one module per method, each with
`check_inputs(config)` (fast, run before a job starts) and `train(config, run, resume_from)`."""

from __future__ import annotations

import importlib

STAGE_MODULES = {
    "sft": "workbench.train.sft",
    "reward": "workbench.train.reward",
    "dpo": "workbench.train.dpo",
    "kto": "workbench.train.kto",
    "ppo": "workbench.train.ppo",
    "rloo": "workbench.train.rloo",
    "grpo": "workbench.train.grpo",
}


def stage_module(stage: str):
    from workbench.train.config import config_class
    config_class(stage)  # raises a ConfigError naming the known stages
    return importlib.import_module(STAGE_MODULES[stage])


def check_inputs(config) -> None:
    stage_module(config.stage).check_inputs(config)


def train_stage(config, run, resume_from=None) -> None:
    """Train `config`'s stage into `run`, every random number drawn from `config.seed` on: the new
    layers a model is loaded with (a reward model's score head, LoRA's A matrices) are drawn
    before TRL's trainer seeds itself, and would otherwise depend on what ran before them."""
    from transformers import set_seed
    set_seed(config.seed)
    stage_module(config.stage).train(config, run, resume_from=resume_from)
