"""Pipelines on the tiny model: a three-step pipeline (SFT, a reward model, DPO from the SFT run)
runs in one go; stopped in its first step, it resumes that run from its checkpoint and never redoes
a finished step; a failing step names itself; a bad file is refused before anything starts."""

import json
import os

import pytest

from ui_support import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "sample_data")
STEPS = [
    {"name": "sft", "stage": "sft", "data": "sft.jsonl", "max_steps": 3},
    {"name": "rm", "stage": "reward", "data": "preference.jsonl", "max_steps": 2},
    {"name": "dpo", "stage": "dpo", "from": "sft", "data": "preference.jsonl", "max_steps": 2},
]
DEFAULTS = {"model": "tiny", "max_length": 128, "batch_size": 2, "val_fraction": 0.0, "max_rows": 12,
            "save_steps": 1000}


def write_pipeline(tmp_path, steps, name="p3", defaults=DEFAULTS):
    """A pipeline file beside copies of the sample files it names (relative paths, as a user writes)."""
    import shutil

    import yaml
    for file in ("sft.jsonl", "preference.jsonl"):
        shutil.copy(os.path.join(SAMPLES, file), tmp_path / file)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "defaults": defaults, "steps": steps}))
    return path


def states(pipeline):
    return {row["step"]: row["state"] for row in pipeline.summary()}


def test_a_three_step_pipeline_runs_each_step_from_the_one_before_then_evaluates_them(fresh_home, tmp_path):
    from workbench.evaluate import list_evals
    from workbench.runs import get_run
    from workbench.pipeline import run_pipeline
    evaluation = {"name": "eval", "stage": "eval", "models": ["base", "sft", "dpo"], "max_rows": 4,
                  "sft_data": "sft.jsonl", "preference_data": "preference.jsonl"}
    report = {"name": "report", "stage": "report", "models": ["sft", "dpo"], "reward_model": "rm",
              "preference_data": "preference.jsonl", "max_rows": 2, "samples": 2, "max_new_tokens": 4}
    pipeline = run_pipeline(write_pipeline(tmp_path, STEPS + [evaluation, report]), wait=True)
    state = pipeline.state()
    assert state["state"] == "completed", (state, pipeline.log_path.read_text())
    assert states(pipeline) == {"sft": "completed", "rm": "completed", "dpo": "completed", "eval": "completed",
                                "report": "completed"}
    assert {k: v for k, v in state["runs"].items() if k not in ("eval", "report")} == {
        "sft": "p3-sft", "rm": "p3-rm", "dpo": "p3-dpo"}
    (record,) = [e for e in list_evals() if e["id"] == state["runs"]["eval"]]
    assert list(record["models"]) == ["base", "p3-sft", "p3-dpo"]  # steps stand for their runs
    assert all("loss" in m and "preference_accuracy" in m for m in record["models"].values())
    # the report step wrote its files into the pipeline's folder, scored by the pipeline's reward model
    written = json.loads((pipeline.folder / "report.json").read_text())
    assert written["id"] == state["runs"]["report"] and (pipeline.folder / "report.html").exists()
    assert written["models"] == ["base", "p3-sft", "p3-dpo"] and written["reward_model"] == "p3-rm"
    assert all(m["mean_reward"] is not None and m["samples"] == 4 for m in written["metrics"].values())
    from workbench.present import pipeline_facts
    assert pipeline_facts("p3").report == state["runs"]["report"]
    dpo = get_run("p3-dpo").config()
    assert dpo["from_run"] == "p3-sft" and dpo["model"] == "tiny" and dpo["max_length"] == 128
    assert dpo["data"] == str(tmp_path / "preference.jsonl")  # relative to the pipeline file


def test_a_stopped_pipeline_resumes_its_step_and_skips_finished_ones(fresh_home, tmp_path):
    from workbench.errors import RunError
    from workbench.runs import get_run, run_names
    from workbench.pipeline import resume_pipeline, run_pipeline, stop_pipeline, wait_pipeline
    steps = [{**STEPS[0], "max_steps": 40, "learning_rate": 1e-3}, STEPS[1]]
    pipeline = run_pipeline(write_pipeline(tmp_path, steps, name="p2"))
    wait_until(lambda: "sft" in pipeline.state().get("runs", {}), timeout=120, what="the first step's run")
    sft = get_run("p2-sft")
    wait_until(lambda: sft.status().get("step", 0) >= 3, timeout=300, poll=0.1, what="a few SFT steps")
    stop_pipeline("p2")
    wait_pipeline(pipeline)
    assert pipeline.state()["state"] == "stopped"
    stopped_at = sft.status()["step"]
    assert sft.status()["state"] == "stopped" and 3 <= stopped_at < 40
    assert states(pipeline) == {"sft": "stopped", "rm": "waiting"}  # the next step never started
    resume_pipeline("p2", wait=True)
    assert pipeline.state()["state"] == "completed", pipeline.log_path.read_text()
    steps_logged = [row["step"] for row in sft.metrics() if "loss" in row]
    assert steps_logged[-1] == 40 and stopped_at + 1 in steps_logged  # the same run, continued
    assert sorted(run_names()) == ["p2-rm", "p2-sft"]
    # once completed, a resume has nothing to do and a finished step is never run again
    before = get_run("p2-rm").status()["finished_at"]
    with pytest.raises(RunError, match="nothing to resume"):
        resume_pipeline("p2")
    assert get_run("p2-rm").status()["finished_at"] == before


def test_a_failing_step_stops_the_pipeline_and_names_itself(fresh_home, tmp_path):
    from workbench.runs import run_names
    from workbench.pipeline import run_pipeline
    (tmp_path / "broken.jsonl").write_text('{"prompt": "no answers here"}\n')
    steps = [STEPS[0], {"name": "rm", "stage": "reward", "data": "broken.jsonl", "max_steps": 2}, STEPS[2]]
    pipeline = run_pipeline(write_pipeline(tmp_path, steps, name="pf"), wait=True)
    state = pipeline.state()
    assert state["state"] == "failed" and state["failed_step"] == "rm"
    assert state["error"].startswith("step 'rm': ") and "broken.jsonl" in state["error"]
    assert run_names() == ["pf-sft"]  # nothing after the failed step started


@pytest.mark.parametrize("steps,message", [
    ([{"name": "a", "stage": "sft", "data": "sft.jsonl", "max_stepz": 3}], "unknown key 'max_stepz'"),
    ([{"name": "a", "stage": "sfx"}], "needs a `name` and a `stage`"),
    ([{"name": "a", "stage": "sft", "data": "sft.jsonl"}] * 2, "used twice"),
    ([{"name": "a", "stage": "eval", "models": ["base"], "sft_data": "sft.jsonl", "max_row": 2}],
     "unknown key 'max_row' for an eval step"),
    ([{"name": "a", "stage": "eval", "models": ["base"]}], "nothing to evaluate on"),
], ids=["unknown-field", "unknown-stage", "twice", "eval-unknown-field", "eval-no-data"])
def test_a_bad_pipeline_file_is_refused_before_anything_starts(fresh_home, tmp_path, steps, message):
    from workbench.errors import ConfigError
    from workbench.pipeline import list_pipelines, run_pipeline
    with pytest.raises(ConfigError, match=message) as caught:
        run_pipeline(write_pipeline(tmp_path, steps, name="bad"))
    assert "step 1" in str(caught.value) or "step 2" in str(caught.value)
    assert list_pipelines() == []


def test_cli_pipeline_show_lists_the_steps(fresh_home, tmp_path, capsys):
    from workbench.cli import main
    assert main(["pipeline", "run", str(write_pipeline(tmp_path, STEPS[:1], name="pc")), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["state"] == "completed" and shown["steps"][0]["run"] == "pc-sft"
    assert main(["pipeline", "show", "pc"]) == 0
    assert "pc-sft" in capsys.readouterr().out
    assert main(["pipeline", "resume", "nope"]) == 2
    assert "no pipeline named 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["pipeline.yaml", "pipeline-shared.yaml"])
def test_the_shipped_pipelines_are_valid(name):
    """Every field of every step is one its stage takes, and every file it names exists."""
    from conftest import shared_file
    from workbench.pipeline import read_steps
    if name == "pipeline-shared.yaml":
        shared_file("llama-factory/alpaca_en_demo.json")  # skips where ../shared/data is absent
    spec, steps = read_steps(os.path.join(SAMPLES, name))
    assert [s.stage for s in steps] == ["sft", "reward", "dpo", "ppo", "report"]
    for step in steps:
        for key in ("data", "prompts", "sft_data", "preference_data"):
            if step.values.get(key):
                assert os.path.isfile(step.values[key]), (name, step.name, step.values[key])
