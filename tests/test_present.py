"""The three front ends state the same facts: one run folder, read by the GUI's run view, the
notebook's launcher and the CLI, says the same state, step/total, ETA and final metrics in each;
and every run picker offers the runs `workbench.present.run_choices` decides."""

import os

import pytest
import yaml

from workbench.present import run_choices, run_status
from workbench.runs import new_run_folder

pytest.importorskip("gradio")
pytest.importorskip("ipywidgets")


def make_run(name: str, stage: str = "sft", output: str | None = None, **status):
    """A run folder as a job leaves it: config.yaml, status.json, and its adapter/ or model/."""
    run = new_run_folder(stage, name)
    run.config_path.write_text(yaml.safe_dump({"stage": stage, "name": name, "model": "tiny", "max_steps": 10}))
    if output:
        (run.path / output).mkdir()
    run.update_status(**status)
    return run


def front_ends(run, capsys) -> dict[str, str]:
    """What each front end shows of `run`'s status, as text."""
    from ui.runview import progress_html, status_text
    from workbench.cli import main
    from workbench.cli.runs import progress_line
    from workbench.widgets import TrainingLauncher
    status = run.status()
    launcher = TrainingLauncher(run=run.name, poll_s=60)
    launcher.halt()
    assert main(["runs", "show", run.name]) == 0
    return {"gui": progress_html(run.name, status, 0) + status_text(run.name, status),
            "widget": launcher.status.value,
            "cli": progress_line(run.name, status) + "\n" + capsys.readouterr().out}


@pytest.mark.parametrize("state", ["running", "completed", "failed"])
def test_one_run_reads_the_same_in_the_gui_the_widget_and_the_cli(fresh_home, capsys, state):
    settings = {
        "running": dict(state="running", pid=os.getpid(), step=3, max_steps=10, eta_s=42.4),
        "completed": dict(state="completed", step=10, max_steps=10, eta_s=0, output="adapter",
                          final={"train_loss": 1.23456, "eval_loss": 2.5, "train_runtime": 5.0, "epoch": 1.0}),
        "failed": dict(state="failed", step=4, max_steps=10, error="CUDA out of memory"),
    }[state]
    run = make_run("shown", **settings)
    facts = run_status(run.name, run.status())
    assert facts.state == state
    shown = front_ends(run, capsys)
    steps = {"running": "3/10", "completed": "10/10", "failed": "4/10"}[state]
    for where, text in shown.items():
        assert state in text and steps in text, (where, text)
        # the ETA only while running, and the same rounding everywhere
        assert ("ETA 42 s" in text) == (state == "running"), (where, text)
        if state == "completed":
            assert facts.metrics == [("eval_loss", "2.5"), ("train_loss", "1.235")]
            for key, value in facts.metrics:
                assert key in text and value in text, (where, text)
            assert "runtime" not in text and "epoch" not in text, (where, text)  # bookkeeping, everywhere
        if state == "failed":
            assert "CUDA out of memory" in text, (where, text)
    # the bar is full once completed, and a third full at step 3 of 10
    assert ("#" * 30 in shown["cli"]) == (state == "completed")
    if state == "running":
        assert "[#########....." in shown["cli"] and 'style="width:30%"' in shown["gui"]


def test_run_pickers_offer_what_each_purpose_can_load(fresh_home):
    """A reward run scores answers: the model pickers leave it out (Comparer refuses it), the
    reward-model pickers offer only it; a run without a trained output is offered nowhere."""
    from ui.compare_tab import model_choices
    from ui.train_tab import run_choices as field_choices
    from workbench.widgets import CompareWidget
    make_run("sft-done", output="adapter", state="completed", step=10, max_steps=10)
    make_run("rm-done", stage="reward", output="model", state="completed", step=10, max_steps=10)
    make_run("sft-stopped", state="stopped", step=2, max_steps=10)
    make_run("rm-failed", stage="reward", output="model", state="failed", step=9, max_steps=10)
    assert run_choices("answers") == ["sft-done"]
    assert run_choices("start") == ["sft-done"]
    assert run_choices("reward_model") == ["rm-done"]
    with pytest.raises(ValueError, match="unknown run picker purpose"):
        run_choices("chat")
    # every front end's pickers: the GUI's Compare and Feedback tabs, its Train form, the widget
    assert model_choices() == ["base", "sft-done"]
    from workbench.train.config import config_class
    ppo = {f.name: f for f in config_class("ppo").knobs()}
    assert field_choices(ppo["reward_model"]) == ["", "rm-done"] and field_choices(ppo["from_run"]) == ["", "sft-done"]
    widget = CompareWidget(["base"])
    assert widget.models[0].options == ("", "base", "sft-done") and widget.reward_model.options == ("", "rm-done")


def test_the_runs_table_is_compact_filters_sorts_and_shows_each_stages_headline(fresh_home):
    """Nine columns whatever the stages; each run's own headline metric (held-out first); filters
    by stage and state; sorting by start time, name or value, runs without a value last."""
    import json

    from test_hardening import make_run
    from workbench.present.runs import RUN_COLUMNS, runs_overview
    home = fresh_home
    made = {
        "a-sft": ("sft", {"state": "completed", "step": 4, "max_steps": 4, "started_at": 1000.0,
                          "finished_at": 1185.0}, [{"step": 4, "loss": 1.5, "eval_loss": 1.7}]),
        "b-rm": ("reward", {"state": "failed", "step": 1, "max_steps": 9, "started_at": 2000.0,
                            "finished_at": 2042.0}, [{"step": 1, "loss": 0.6, "accuracy": 0.5}]),
        "c-dpo": ("dpo", {"state": "stopped", "step": 2, "max_steps": 8, "started_at": 3000.0,
                          "finished_at": 3600.0}, [{"step": 2, "loss": 0.69, "rewards/margins": 0.25}]),
        "d-ppo": ("ppo", {"state": "completed", "step": 1, "max_steps": 1, "started_at": 500.0,
                          "finished_at": 510.0}, [{"step": 1, "kl": 0.1}]),
    }
    for name, (stage, status, metrics) in made.items():
        folder = make_run(home, name, status, config=f"stage: {stage}\nmodel: tiny\n")
        (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    rows = {row[0]: dict(zip(RUN_COLUMNS, row)) for row in runs_overview()}
    assert len(RUN_COLUMNS) <= 10 and set(rows) == set(made)
    assert (rows["a-sft"]["metric"], rows["a-sft"]["value"]) == ("eval_loss", 1.7)  # held-out first
    assert (rows["b-rm"]["metric"], rows["b-rm"]["value"]) == ("accuracy", 0.5)
    assert (rows["c-dpo"]["metric"], rows["c-dpo"]["value"]) == ("rewards/margins", 0.25)
    assert (rows["d-ppo"]["metric"], rows["d-ppo"]["value"]) == ("", None)  # its headline is not logged yet
    assert rows["a-sft"]["duration"] == "3 min 5 s" and rows["c-dpo"]["duration"] == "10 min 0 s"
    assert rows["c-dpo"]["progress"] == "2/8" and rows["b-rm"]["state"] == "failed"
    names = lambda **kw: [row[0] for row in runs_overview(**kw)]
    assert names() == ["c-dpo", "b-rm", "a-sft", "d-ppo"]  # newest start first
    assert names(sort="started", descending=False) == ["d-ppo", "a-sft", "b-rm", "c-dpo"]
    assert names(sort="name", descending=False) == ["a-sft", "b-rm", "c-dpo", "d-ppo"]
    assert names(sort="value") == ["a-sft", "b-rm", "c-dpo", "d-ppo"]  # 1.7, 0.5, 0.25, then none
    assert names(stage="dpo") == ["c-dpo"] and names(state="completed") == ["a-sft", "d-ppo"]
    assert names(stage="sft", state="failed") == []


def test_the_first_run_path_follows_the_home(fresh_home):
    """Shown while the home has no runs but its own; each step done, and ready, by the runs there."""
    from workbench.present.start import DPO_RUN, SFT_RUN, compare_models, start_config, start_path
    path = start_path()
    assert path.show and [s.label for s in path.steps] == ["1 · Sample data", "2 · Tokens", "3 · SFT",
                                                            "4 · Preferences", "5 · Compare"]
    assert not any(s.done for s in path.steps) and not path.step("compare").ready
    assert "Sample data" in path.line
    assert start_path(seen=["data"]).step("data").done and "Tokens" in start_path(seen=["data"]).line
    sft = make_run(SFT_RUN, state="running", pid=os.getpid(), step=3, max_steps=12)
    path = start_path()
    assert path.step("sft").label == "3 · SFT (running)" and not path.step("preferences").ready
    assert path.step("tokens").done and path.line == "SFT: start-sft is training; the Train tab shows it live."
    (sft.path / "adapter").mkdir()
    sft.update_status(state="completed", step=12)
    make_run(DPO_RUN, stage="dpo", state="stopped", step=1, max_steps=10)
    path = start_path()
    assert path.show and path.step("sft").done and path.step("preferences").ready and path.step("compare").ready
    assert path.step("preferences").label == "4 · Preferences (stopped)" and compare_models() == ["base", SFT_RUN]
    assert path.line.startswith("Preferences: start-dpo stopped")
    config = start_config("preferences", "tiny")
    assert (config.stage, config.name, config.from_run, config.max_steps) == ("dpo", DPO_RUN, SFT_RUN, 10)
    assert config.data.endswith("sample_data/preference.jsonl")
    make_run("mine", state="completed", step=4, max_steps=4)
    assert not start_path().show  # a run of the user's own: the path goes
