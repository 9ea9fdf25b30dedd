"""The first-run path: on a home with no runs, five one-click steps from the sample data to a
side-by-side comparison, instead of empty boxes.

    data         the sample conversations (sample_data/sft.jsonl): their format and lengths
    tokens       one of them through the model's chat template: which tokens SFT trains on
    sft          a short SFT run on them (SFT_RUN), in its own process
    preferences  a short DPO run from it on the sample preference pairs (DPO_RUN)
    compare      base, SFT and DPO answering the same held-out prompt side by side

`start_path` says whether to show the path and, per step, whether it is done and whether it can be
taken now, from the runs in the home (and the steps the page has shown, for those that only show
something). `start_config` is the run a step starts; `compare_models` and `compare_prompt` who
answers in the last step, and what.
"""

from __future__ import annotations

from dataclasses import dataclass

SFT_RUN, DPO_RUN = "start-sft", "start-dpo"
STEPS = (
    ("data", "Sample data", "see the sample conversations' format"),
    ("tokens", "Tokens", "see what SFT trains on, token by token"),
    ("sft", "SFT", "train SFT on them (12 steps, in its own process)"),
    ("preferences", "Preferences", "train DPO from the SFT run on chosen/rejected pairs (10 steps)"),
    ("compare", "Compare", "ask base, SFT and DPO the same question"),
)
# The sample pipeline's first two steps (sample_data/pipeline.yaml): a few minutes on the default
# model on a CPU, seconds on a GPU.
RUN_SETTINGS = {
    "sft": dict(stage="sft", name=SFT_RUN, data="sft.jsonl", eval_data="sft_eval.jsonl", max_steps=12),
    "preferences": dict(stage="dpo", name=DPO_RUN, from_run=SFT_RUN, data="preference.jsonl",
                        eval_data="preference_eval.jsonl", max_steps=10),
}
COMMON = dict(max_length=256, batch_size=4)
SAMPLE_FILE = "sft.jsonl"


@dataclass
class Step:
    key: str        # a key of STEPS
    title: str      # "SFT"
    what: str       # "train SFT on them (12 steps, in its own process)"
    done: bool
    ready: bool     # can be taken now (DPO and Compare wait for the SFT run)
    state: str      # the step's run's state ("running", "completed", ...), "" without one

    @property
    def label(self) -> str:
        """The step's button: "3 · SFT ✓", "3 · SFT (running)"."""
        number = [key for key, _, _ in STEPS].index(self.key) + 1
        mark = " ✓" if self.done else f" ({self.state})" if self.state else ""
        return f"{number} · {self.title}{mark}"


@dataclass
class StartPath:
    show: bool          # the home has no runs but the path's own
    steps: list[Step]
    line: str           # what to do next, in a sentence

    def step(self, key: str) -> Step:
        return next(s for s in self.steps if s.key == key)


def start_path(seen=()) -> StartPath:
    """The path's facts now. seen: the steps the page has already shown (data, tokens, compare)."""
    from workbench.runs import ACTIVE_STATES, list_runs
    states = {run.name: run.status().get("state") or "?" for run in list_runs()}
    sft, dpo = states.get(SFT_RUN, ""), states.get(DPO_RUN, "")
    done = {"data": "data" in seen or bool(sft), "tokens": "tokens" in seen or bool(sft),
            "sft": sft == "completed", "preferences": dpo == "completed", "compare": "compare" in seen}
    ready = {"data": True, "tokens": True, "sft": True, "preferences": sft == "completed",
             "compare": sft == "completed"}
    run_state = {"sft": sft, "preferences": dpo}
    steps = [Step(key, title, what, done[key], ready[key], run_state.get(key, "")) for key, title, what in STEPS]
    first = next((s for s in steps if not s.done), None)
    if first is None:
        line = "Done: every step of the path is taken. The tabs below do each of them on your own files."
    elif first.state in ACTIVE_STATES:
        line = f"{first.title}: {RUN_SETTINGS[first.key]['name']} is training; the Train tab shows it live."
    elif first.state:
        line = (f"{first.title}: {RUN_SETTINGS[first.key]['name']} {first.state}; its button opens it in the Train "
                "tab, where Resume continues it.")
    else:
        line = f"Next: **{first.title}**: {first.what}."
    return StartPath(show=not set(states) - {SFT_RUN, DPO_RUN}, steps=steps, line=line)


def start_config(key: str, model: str):
    """The RunConfig of step `key` ("sft" or "preferences") on the sample data, with `model` as
    the base (DPO takes the SFT run's)."""
    from workbench import paths
    from workbench.train.config import config_class
    settings = {**COMMON, **RUN_SETTINGS[key], "model": model}
    for field in ("data", "eval_data"):
        settings[field] = str(paths.sample_data_dir() / settings[field])
    return config_class(settings["stage"])(**settings)


def sample_path() -> str:
    """The data file the path's first steps show."""
    from workbench import paths
    return str(paths.sample_data_dir() / SAMPLE_FILE)


def compare_prompt() -> str:
    """The question the Compare step asks: the first held-out prompt (sample_data/prompts.jsonl)."""
    import json

    from workbench import paths
    with open(paths.sample_data_dir() / "prompts.jsonl", encoding="utf-8") as lines:
        return json.loads(next(lines))["prompt"][-1]["content"]


def compare_models() -> list[str]:
    """Who answers in the Compare step: the base, the SFT run, and the DPO run once it completed."""
    return ["base", SFT_RUN] + ([DPO_RUN] if start_path().step("preferences").done else [])
