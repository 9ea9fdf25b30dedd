"""The Jupyter widgets driven through their handlers, as a notebook user's clicks would (no browser):
each shows what the engine returned, and a failure as one line in its status."""

import json
import os

import pytest

from test_ppo import one_thread  # noqa: F401  (autouse: one torch thread, far faster on 2 shared cores)
from workbench.train import jobs, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SFT = os.path.join(ROOT, "sample_data", "sft.jsonl")
PREFERENCE = os.path.join(ROOT, "sample_data", "preference.jsonl")
QUICK = dict(model="tiny", max_length=128, batch_size=2, max_rows=12, val_fraction=0.0, save_steps=1000)


@pytest.fixture
def broken_file(tmp_path):
    path = tmp_path / "broken.jsonl"
    good = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Ahoy!"}]}
    bad_role = {"messages": [{"role": "user", "content": "Hi"}, {"role": "pirate", "content": "Arr"}]}
    path.write_text("\n".join([json.dumps(good), json.dumps(bad_role), "{not json"]) + "\n")
    return path


def test_inspector_shows_each_broken_line_and_field(broken_file):
    from workbench.widgets import DataInspector
    inspector = DataInspector()
    report = inspector.inspect(str(broken_file))
    assert report is not None and (report.format, report.valid_rows, report.rows) == ("messages", 1, 3)
    assert "format <b>messages</b>" in inspector.summary.value and "1 usable, 2 with problems" in inspector.summary.value
    table = inspector.problems.value
    assert "<td>2</td><td><code>messages[1].role</code></td>" in table  # line 2, the field at fault
    assert "<td>3</td>" in table and "not valid JSON" in table
    assert inspector.status.value == ""


def test_inspector_missing_file_is_one_line_in_status(tmp_path):
    from workbench.widgets import DataInspector
    inspector = DataInspector()
    assert inspector.inspect(str(tmp_path / "nope.jsonl")) is None
    assert "file not found" in inspector.status.value and "nope.jsonl" in inspector.status.value
    assert "Traceback" not in inspector.status.value and inspector.summary.value == ""


def test_upload_is_kept_in_the_home_and_inspected(fresh_home, broken_file):
    from workbench.widgets import DataInspector
    inspector = DataInspector()
    content = broken_file.read_bytes()
    kept = inspector.on_upload([{"name": "mine.jsonl", "content": memoryview(content)}])
    assert kept.startswith(str(fresh_home / "uploads")) and kept.endswith("/mine.jsonl")
    assert open(kept, "rb").read() == content
    assert inspector.report.valid_rows == 1 and "mine.jsonl" in inspector.summary.value


def test_token_viewer_marks_assistant_tokens_trained():
    from workbench.widgets import TokenViewer
    viewer = TokenViewer(SFT, model="tiny", row=1)
    view = viewer.view
    trained = "".join(t["text"] for t in view["tokens"] if t["trained"])
    masked = "".join(t["text"] for t in view["tokens"] if not t["trained"])
    assert view["n_trained"] > 0
    assert trained.endswith("<|im_end|>") and "<|im_start|>" not in trained  # the answer and its end of turn
    assert "Who was the first person to walk on the Moon?" in masked  # the user turn is context only
    assert viewer.chips.value.count('class="tok trained"') == view["n_trained"] + 1  # + the legend's chip
    assert f"{view['n_trained']} trained" in viewer.stats.value
    # training on every token, and a cut by max_length, change the view
    viewer.assistant_only.value = False
    viewer.max_length.value = 20
    cut = viewer.show()
    assert cut["cut_at"] == 20 and cut["n_trained"] == 20 and "✂ max_length 20" in viewer.chips.value
    assert viewer.show(row=10_000) is None and "out of range" in viewer.status.value


def test_launcher_runs_sft_and_fills_the_live_chart(fresh_home):
    from workbench.widgets import TrainingLauncher
    launcher = TrainingLauncher("sft", data=SFT, max_steps=5, poll_s=0.2, **QUICK)
    assert launcher.points() == 0 and launcher.progress.value == 0
    assert launcher.precision.value == "auto"
    launcher.precision.value = "fp32"
    run = launcher.start()
    assert run is not None, launcher.status.value
    assert run.config()["max_steps"] == 5 and run.config()["model"] == "tiny"
    assert run.config()["precision"] == "fp32"  # the run records the precision it trained in
    jobs.wait_for(run)
    status = launcher.refresh()
    assert status["state"] == "completed", status.get("error")
    assert launcher.progress.max == 5 and launcher.progress.value == 5
    assert launcher.points("loss") == 5  # one point per logged step, drawn from metrics.jsonl
    loss = {t.meta["kind"]: t for t in launcher.charts.figures["Loss"].data if t.meta["key"] == "loss"}
    assert loss["raw"].y == tuple(r["loss"] for r in run.metrics() if "loss" in r)
    # the smoothing slider redraws the smoothed curve; the raw one stays as logged
    launcher.charts.smoothing.value = 0
    assert launcher.charts.figures["Loss"].data[1].y == loss["raw"].y
    launcher.charts.smoothing.value = 0.9
    smoothed = {t.meta["kind"]: t.y for t in launcher.charts.figures["Loss"].data if t.meta["key"] == "loss"}
    assert smoothed["smoothed"] != loss["raw"].y and smoothed["raw"] == loss["raw"].y
    assert "completed" in launcher.status.value
    assert launcher.stop_button.disabled and launcher.resume_button.disabled
    launcher.halt()
    # a second start with the same name is refused in the status line, not with a traceback
    launcher.name.value = run.name
    assert launcher.start() is None and "already exists" in launcher.status.value


def test_launcher_stop_and_resume(fresh_home):
    from ui_support import wait_until
    from workbench.widgets import TrainingLauncher
    launcher = TrainingLauncher("sft", data=SFT, max_steps=200, poll_s=0.2,
                                **{**QUICK, "method": "full", "learning_rate": 1e-3})
    run = launcher.start()
    wait_until(lambda: (run.status().get("step") or 0) >= 2, timeout=300, poll=0.1)
    launcher.refresh()
    assert not launcher.stop_button.disabled
    launcher.stop()
    jobs.wait_for(run)
    status = launcher.refresh()
    assert status["state"] == "stopped" and not launcher.resume_button.disabled
    assert 0 < launcher.progress.value < 200
    resumed = launcher.resume()
    assert resumed is not None and resumed.status()["state"] == "running", launcher.status.value
    jobs.stop(run.name)
    jobs.wait_for(run)
    launcher.halt()


def test_launcher_watches_a_reward_run_and_draws_its_stage_charts(fresh_home):
    from workbench.widgets import TrainingLauncher
    run = train("reward", data=PREFERENCE, name="rm-w", max_steps=3, wait=True, **QUICK)
    launcher = TrainingLauncher(run="rm-w", poll_s=0.2)
    launcher.halt()
    assert list(launcher.charts.figures)[:3] == ["Loss", "Accuracy", "Margins"], list(launcher.charts.figures)
    assert {t.meta["key"] for t in launcher.charts.figures["Accuracy"].data} == {"accuracy"}
    assert {t.meta["key"] for t in launcher.charts.figures["Margins"].data} == {"margin"}
    assert launcher.progress.value == launcher.progress.max == 3
    assert run.name in launcher.status.value
    # the form shows the watched run's settings, so Start would repeat it
    assert (launcher.stage.value, launcher.model.value, launcher.max_steps.value) == ("reward", "tiny", 3)
    assert launcher.data.value == PREFERENCE and launcher.config_settings()["batch_size"] == 2


def test_compare_widget_answers_with_two_models_and_a_reward(fresh_home):
    from workbench.widgets import CompareWidget
    settings = {**QUICK, "learning_rate": 0.05}
    sft = train("sft", data=SFT, name="sft-w", max_steps=3, wait=True, **settings)
    train("reward", data=PREFERENCE, name="rm-w", max_steps=2, wait=True, **settings)
    widget = CompareWidget(["base", sft.name], reward_model="rm-w", max_new_tokens=6)
    assert "sft-w" in widget.models[0].options and "rm-w" not in widget.models[0].options
    assert widget.reward_model.options == ("", "rm-w")
    answers = widget.compare("What is the capital of France?")
    assert [a.model for a in answers] == ["base", "sft-w"]
    assert all(a.tokens >= 1 and isinstance(a.reward, float) for a in answers)
    assert answers[0].text != answers[1].text  # the adapter is switched on for the SFT column
    assert len(widget.columns.children) == 2 and "sft-w" in widget.columns.children[1].value
    # the same models again reuse the loaded Comparer; an unknown run is one line in the status
    comparer = widget.comparer
    widget.compare()
    assert widget.comparer is comparer
    # the precision is the user's choice: another one loads the models again, in that dtype
    auto = comparer.hardware.precision
    assert widget.precision.options[0] == (f"auto: {auto} on this machine", "auto")
    other = "fp32" if auto == "bf16" else "bf16"
    widget.precision.value = other
    widget.compare()
    assert widget.comparer is not comparer and widget.comparer.hardware.precision == other
    assert f"in {other}" in widget.status.value
    widget.models[2].options = list(widget.models[2].options) + ["no-such-run"]
    widget.models[2].value = "no-such-run"
    assert widget.compare() is None and "no-such-run" in widget.status.value


def test_feedback_widget_gives_thumbs_and_judges(fresh_home):
    """The thumbs buttons' handler on a fake comparer (no model): a thumb keeps the pair on show and
    the correction typed, a changed thumb retracts the first, undo takes back the last thumb."""
    from test_feedback import FakeComparer
    from workbench import feedback as fb
    from workbench.widgets import FeedbackWidget
    widget = FeedbackWidget("wfb", ["base"], prompts=["one", "two"], rater="ana", comparer=FakeComparer())
    first = widget.session.current
    widget.correction.value = "typed"
    assert widget.thumb("left", "up")["label"] is True
    assert widget.thumb("right", "up") and widget.thumb("right", "down")["label"] is False
    assert widget.session.current is first and widget.correction.value == "typed"
    assert "A 👍, B 👎" in widget.status.value and "1 thumbs up, 1 down" in widget.counter.value
    assert widget.undo() is first and widget.session.thumbs() == {"left": "up"}
    assert widget.choose("left") is not None and widget.session.current.prompt[0]["content"] == "two"
    stats = fb.feedback_stats("wfb")
    assert (stats["pairs"], stats["thumbs_up"], stats["thumbs_down"], stats["retracted"]) == (1, 1, 0, 2)
    assert widget.thumb("middle", "up") is None and "unknown side" in widget.status.value
    widget.session.close()


def test_pipeline_widget_runs_a_two_step_pipeline_and_shows_each_step(fresh_home, tmp_path):
    from workbench.pipeline import get_pipeline, wait_pipeline
    from workbench.widgets import PipelineWidget
    path = tmp_path / "two.yaml"
    path.write_text(f"name: wp\ndefaults: {json.dumps(QUICK)}\nsteps:\n"
                    f"  - {{name: sft, stage: sft, data: {SFT}, max_steps: 2}}\n"
                    f"  - {{name: dpo, stage: dpo, from: sft, data: {PREFERENCE}, max_steps: 2}}\n")
    widget = PipelineWidget(str(path), poll_s=0.2)
    assert "name: wp" in widget.text.value  # the file, ready to edit
    widget.text.value = widget.text.value.replace("max_steps: 2}\n  - {name: dpo", "max_steps: 3}\n  - {name: dpo")
    assert widget.start() == "wp", widget.status.value
    wait_pipeline(get_pipeline("wp"))
    assert widget.refresh() == "completed", widget.status.value
    assert "wp: completed" in widget.status.value
    assert widget.steps.value.count("completed") == 2 and "wp-sft" in widget.steps.value and "3/3" in widget.steps.value
    assert widget.charts.points("loss") == 2  # the DPO run's curve
    assert widget.resume_button.disabled and widget.stop_button.disabled
    widget.halt()
    # a second start of the same name is refused in the status line, not with a traceback
    assert widget.start() is None and "exists already" in widget.status.value
