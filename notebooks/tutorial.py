"""What the tutorial notebooks share: the run names, the settings of each stage's run, and
"reuse the run if an earlier notebook already trained it, train it (short) otherwise".

Each notebook trains its own stage with `workbench.train.train(...)` in a cell you can read;
the later notebooks call `ensure(stage, QUICK)` for the runs they build on, so every notebook
also runs on its own. QUICK uses the tiny test model (random weights, the real SmolLM2 tokenizer)
and a few steps: it checks the plumbing in seconds, and its answers are noise. The full mode
trains the real SmolLM2-135M-Instruct on this machine's CPU.
"""

from __future__ import annotations

import os
import warnings

from workbench.paths import sample_data_dir

# Tutorials print what matters; transformers' load reports and progress bars would bury it.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # also transformers' "Loading weights" bars
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning, module="torch")

STAGES = ("sft", "reward", "dpo", "kto", "ppo")


def data(name: str) -> str:
    """A sample data file's path (sample_data/ in the checkout), whatever the notebook's folder."""
    return str(sample_data_dir() / name)


def model(quick: bool) -> str:
    return "tiny" if quick else "smollm2-135m"


def run_name(stage: str, quick: bool) -> str:
    """The fixed run name the tutorials share: tutorial-sft, tutorial-sft-quick, ..."""
    return f"tutorial-{stage}" + ("-quick" if quick else "")


def recipe(stage: str, quick: bool) -> dict:
    """The settings of a tutorial's run: `train(stage, name=run_name(stage, quick), **recipe(...))`.

    Full mode: step counts chosen to finish in a few minutes each on a 2-core laptop CPU.
    QUICK: a few steps on the tiny model, with a high learning rate so that the variants differ.
    """
    common = dict(model=model(quick), save_steps=1000)
    if quick:
        # A few rows held out of the 16 trained on (not the whole eval file: evaluating 30 pairs
        # costs more than the 4 training steps).
        common.update(max_length=128, batch_size=2, max_rows=16, val_fraction=0.2, learning_rate=0.05,
                      max_steps=4, eval_steps=4)
    if stage == "sft":
        full = dict(eval_data=data("sft_eval.jsonl"), max_steps=30, max_length=256, eval_steps=10)
        return {**common, "data": data("sft.jsonl"), **({} if quick else full)}
    if stage == "reward":
        full = dict(eval_data=data("preference_eval.jsonl"), max_steps=25, max_length=192, eval_steps=25)
        return {**common, "data": data("preference.jsonl"), **({} if quick else full)}
    if stage == "dpo":
        full = dict(eval_data=data("preference_eval.jsonl"), max_steps=20, max_length=192, eval_steps=10)
        return {**common, "data": data("preference.jsonl"), "from_run": run_name("sft", quick),
                **({} if quick else full)}
    if stage == "kto":  # no notebook of its own yet: `tutorial.ensure("kto", QUICK)` trains it
        full = dict(max_steps=20, max_length=192, eval_steps=10)
        return {**common, "data": data("unpaired.jsonl"), "from_run": run_name("sft", quick),
                **({} if quick else full)}
    if stage == "ppo":
        for unused in ("max_rows", "val_fraction"):
            common.pop(unused, None)
        quick_ppo = dict(max_steps=3, rollout_batch_size=4, batch_size=2, ppo_epochs=1, max_new_tokens=8,
                         max_length=96, learning_rate=1e-3, eval_steps=None)
        full_ppo = dict(max_steps=4, rollout_batch_size=8, batch_size=4, ppo_epochs=2, max_new_tokens=32,
                        max_length=192, sample_every=1)
        return {**common, "prompts": data("prompts.jsonl"), "from_run": run_name("sft", quick),
                "reward_model": run_name("reward", quick), **(quick_ppo if quick else full_ppo)}
    raise ValueError(f"no tutorial recipe for stage '{stage}'; stages: {', '.join(STAGES)}")


def reuse(name: str):
    """The completed run called `name`, or None when there is none (a failed one is removed).

    A run still training is waited for; a stopped one is resumed to its end.
    """
    from workbench.errors import RunError
    from workbench.runs import ACTIVE_STATES, delete_run, get_run
    from workbench.train import jobs
    try:
        run = get_run(name)
    except RunError:
        return None
    state = run.status().get("state")
    if state in ACTIVE_STATES:
        print(f"{name} is training: waiting for it")
        jobs.wait_for(run)
    elif state == "stopped":
        print(f"{name} was stopped: resuming it")
        jobs.resume(name, wait=True)
    state = run.status().get("state")
    if state == "completed":
        print(f"reusing the completed run {name}")
        return run
    print(f"{name} is {state} ({run.status().get('error')}): removing it to train it again")
    delete_run(name)
    return None


def ensure(stage: str, quick: bool):
    """The tutorial's run of `stage`, trained now (with what it builds on) if it is missing."""
    from workbench.errors import RunError
    from workbench.train import train
    name = run_name(stage, quick)
    run = reuse(name)
    if run is None:
        for earlier in {"dpo": ("sft",), "kto": ("sft",), "ppo": ("sft", "reward")}.get(stage, ()):
            ensure(earlier, quick)
        print(f"training {name} (the {stage} tutorial's run) ...")
        run = train(stage, name=name, wait=True, **recipe(stage, quick))
    if run.status().get("state") != "completed":
        raise RunError(f"run '{name}' ended {run.status().get('state')}: {run.status().get('error')}",
                       hint=f"See {run.log_path}.")
    return run
