"""Training: one module per stage, a run folder per run, a process per job.

    from workbench.train import train
    run = train("sft", data="sample_data/sft.jsonl", model="tiny", max_steps=20, wait=True)
"""

from __future__ import annotations


def train(stage: str, *, wait: bool = False, allow_parallel: bool = False, config=None, **settings):
    """Start a `stage` run in its own process with `settings` (the stage config's fields).

    `config` may be a saved config.yaml path or a config object; `settings` override it.
    Returns the `Run`; with `wait=True`, after it has ended.
    """
    from workbench.train import jobs
    from workbench.train.config import merge_config
    return jobs.start(merge_config(stage, settings, config), allow_parallel=allow_parallel, wait=wait)


__all__ = ["train"]
