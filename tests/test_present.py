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
