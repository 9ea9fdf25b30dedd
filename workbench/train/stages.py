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
