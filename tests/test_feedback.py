"""Human feedback: the append-only judgement file (also across a kill), the random left/right
placement, merging raters with their agreement, reading a feedback file as a preference file, and
training a reward model from one on the tiny model."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from workbench import feedback as fb
from workbench.data import inspect_file, load_rows
from workbench.errors import ConfigError, DataError


def pair(prompt="Why is the sky blue?", a="Rayleigh scattering.", b="Because it is.", models=("base", "base"),
         seeds=(1, 2)):
    return fb.Pair([{"role": "user", "content": prompt}], fb.Candidate(models[0], seeds[0], a),
                   fb.Candidate(models[1], seeds[1], b), {"temperature": 0.8})


class FakeComparer:
    """Answers "<model>/<seed>" at once: make_pair's placement logic without a model."""

    def encode(self, messages, *, model):
        return [0]

    def answers(self, requests, **sampling):
        from workbench.evaluate import Answer
        return [Answer(model=model, text=f"{model}/{seed}", tokens=1, seconds=0.0) for model, _, seed in requests]


def test_each_judgement_is_appended_and_undo_appends_a_retraction(fresh_home):
    path = fb.feedback_path("mine")
    before = b""
    ids = []
    for i, choice in enumerate(["left", "right", "tie", "skip", "left"]):
        record = fb.record_judgement("mine", pair(prompt=f"q{i}"), choice, rater="ana",
                                     corrected="Light scatters off air molecules." if i == 4 else None)
        now = path.read_bytes()
        assert now.startswith(before)  # earlier bytes never change
        if choice == "skip":
            assert record is None and now == before  # skips are not written
        else:
            assert now.count(b"\n") == before.count(b"\n") + 1
            ids.append(record["id"])
        before = now
    rows = fb.read_feedback("mine")
    assert [r["id"] for r in rows] == ids
    first, second, tie, corrected = rows
    assert (first["chosen"], first["chosen_side"], first["rejected_side"]) == ("Rayleigh scattering.", "left", "right")
    assert (second["chosen"], second["chosen_side"], second["chosen_seed"]) == ("Because it is.", "right", 2)
    assert tie["tie"] is True and "tie" not in first
    assert corrected["chosen"] == "Light scatters off air molecules."
    assert corrected["chosen_original"] == "Rayleigh scattering."
    assert all(r["rater"] == "ana" and r["time"].endswith("Z") for r in rows)

    retraction = fb.undo("mine", ids[1])
    assert path.read_bytes().startswith(before)
    assert json.loads(path.read_text().splitlines()[-1])["retracts"] == ids[1]
    assert [r["id"] for r in fb.read_feedback("mine")] == [ids[0], ids[2], ids[3]]
    stats = fb.feedback_stats("mine")
    assert (stats["judgements"], stats["pairs"], stats["ties"], stats["retracted"], stats["corrected"]) == (3, 2, 1, 1, 1)
    assert stats["raters"] == {"ana": 3} and retraction["id"] not in ids


def test_bad_judgements_and_names_are_refused(fresh_home):
    with pytest.raises(DataError, match="same text"):
        fb.record_judgement("mine", pair(a="same", b="same"), "left")
    with pytest.raises(DataError, match="tie has no better answer"):
        fb.record_judgement("mine", pair(), "tie", corrected="x")
    with pytest.raises(ConfigError, match="unknown choice"):
        fb.record_judgement("mine", pair(), "A")
    with pytest.raises(ConfigError, match="not a usable feedback dataset name"):
        fb.feedback_path("../escape")
    assert not fb.feedback_path("mine").exists()


WRITER = """
import sys
from workbench import feedback as fb
p = fb.Pair([{"role": "user", "content": "q"}], fb.Candidate("base", 1, "a" * 3000), fb.Candidate("base", 2, "b"), {})
i = 0
while True:
    fb.record_judgement(sys.argv[1], p, "left", rater=str(i))
    i += 1
"""


def test_a_kill_between_judgements_loses_at_most_the_torn_last_line(fresh_home):
    path = fb.feedback_path("killed")
    process = subprocess.Popen([sys.executable, "-c", WRITER, "killed"], cwd=ROOT,
                               env={**os.environ, "WORKBENCH_HOME": str(fresh_home)})
    deadline = time.monotonic() + 60
    while (not path.exists() or path.read_bytes().count(b"\n") < 20) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1].splitlines()
    assert len(complete) >= 20
    assert all(json.loads(line)["chosen_side"] == "left" for line in complete)  # every whole line reads
    rows = fb.read_feedback("killed")
    assert len(rows) == len(complete)
    assert [r["rater"] for r in rows] == [str(i) for i in range(len(rows))]  # none lost in between

    # A line torn by a crash does not swallow the next judgement: it starts on a fresh line.
    with open(path, "ab") as handle:
        handle.write(b'{"prompt": [{"role": "user", "content": "cut sh')
    fb.record_judgement("killed", pair(), "right", rater="after")
    rows = fb.read_feedback("killed")
    assert len(rows) == len(complete) + 1 and rows[-1]["rater"] == "after"
    report = inspect_file(path)
    assert report.valid_rows == len(rows) and report.error_count == 1  # the torn fragment, reported


def test_left_right_placement_is_random_and_recorded():
    rng = random.Random(1234)
    comparer = FakeComparer()
    firsts = []
    for i in range(200):
        p = fb.make_pair(comparer, f"prompt {i}", ["sft-1", "dpo-2"], rng)
        assert {p.left.model, p.right.model} == {"sft-1", "dpo-2"}
        assert p.left.seed == p.right.seed  # two models: same seed, only the model differs
        firsts.append(p.left.model == "sft-1")
        # The record says which answer was shown where, and which model wrote it.
        record = fb.judgement_record(p, "right")
        assert (record["chosen"], record["chosen_model"], record["chosen_side"]) == (p.right.text, p.right.model, "right")
        assert (record["rejected"], record["rejected_model"], record["rejected_side"]) == (p.left.text, p.left.model, "left")
    share = sum(firsts) / len(firsts)
    assert 0.35 <= share <= 0.65 and 0 < sum(firsts) < 200
    # One model: two different seeds; the same rng seed repeats the session exactly.
    one = [fb.make_pair(comparer, "q", ["base"], random.Random(7)) for _ in range(2)]
    assert one[0] == one[1] and one[0].left.seed != one[0].right.seed
    with pytest.raises(ConfigError, match="greedy"):
        fb.make_pair(comparer, "q", ["base"], rng, temperature=0)


def rate(name, rater, verdicts):
    """Judge items 0..n-1 (the same prompt and answer texts for every rater): 'a' picks answer
    'A<i>', 'b' answer 'B<i>', 't' a tie. The answers are shown in either order."""
    for i, verdict in enumerate(verdicts):
        p = pair(prompt=f"item {i}", a=f"A{i}", b=f"B{i}")
        if (i + len(rater)) % 2:  # another rater saw it the other way round
            p.left, p.right = p.right, p.left
        choice = {"t": "tie", "a": "left" if p.left.text == f"A{i}" else "right"}.get(verdict)
        choice = choice or ("left" if p.left.text == f"B{i}" else "right")
        fb.record_judgement(name, p, choice, rater=rater)


def test_merge_reports_agreement_and_cohens_kappa(fresh_home, capsys):
    from workbench.cli import main
    rate("ana", "ana", "aabta")  # item 4: only ana judged it
    rate("bob", "bob", "abbt")
    # By hand: agree on items 0, 2, 3 -> p_o = 3/4. Shares: ana a .5 b .25 t .25, bob a .25 b .5 t .25,
    # p_e = .125 + .125 + .0625 = .3125, kappa = (.75 - .3125) / (1 - .3125) = 7/11.
    result = fb.merge_feedback(["ana", "bob"], "both")
    assert result["judgements"] == 9 and result["raters"] == {"ana": 5, "bob": 4}
    agreement = result["agreement"]
    assert agreement["items"] == 4 and agreement["raters"] == ["ana", "bob"]
    (only,) = agreement["pairs"]
    assert (only["items"], only["agree"], only["raw"]) == (4, 3, 0.75)
    assert only["kappa"] == pytest.approx(7 / 11)
    assert len(fb.read_feedback("both")) == 9
    with pytest.raises(ConfigError, match="already exists"):
        fb.merge_feedback(["ana"], "both")
    # Three raters: the mean over rater pairs (carl agrees with ana on everything).
    rate("carl", "carl", "aabt")
    assert main(["feedback", "merge", "ana", "bob", "carl", "--out", "three"]) == 0
    out = capsys.readouterr().out
    assert "agreement ana vs bob: 3/4 (75%), Cohen's kappa 0.636" in out
    assert "agreement ana vs carl: 4/4 (100%), Cohen's kappa 1.000" in out
    assert "mean over rater pairs" in out
    assert fb.cohen_kappa(["tie", "tie"], ["tie", "tie"]) is None  # one label only: undefined


def test_data_inspect_reads_a_feedback_file(fresh_home, capsys):
    from workbench.cli import main
    ids = [fb.record_judgement("fbk", pair(prompt=f"q{i}"), choice)["id"]
           for i, choice in enumerate(["left", "right", "tie", "left", "right"])]
    fb.undo("fbk", ids[3])
    path = fb.feedback_path("fbk")
    assert main(["data", "inspect", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["format"], report["task"], report["valid_rows"], report["error_count"]) == ("preference", "preference", 3, 0)
    assert report["feedback"] == {"judgements": 4, "pairs": 3, "ties": 1, "thumbs_up": 0, "thumbs_down": 0,
                                  "retracted": 1}
    assert main(["data", "inspect", str(path)]) == 0
    assert "feedback: 4 judgements (3 pairs, 1 ties), 1 retracted" in capsys.readouterr().out
    rows = load_rows(path, task="preference")
    assert [r["prompt"][0]["content"] for r in rows] == ["q0", "q1", "q4"]
    assert set(rows[0]) == {"prompt", "chosen", "rejected", "_line"}


def test_a_reward_model_trained_from_feedback_records_its_source(fresh_home, capsys):
    from workbench.cli import main
    from workbench.models import build_tiny_model
    build_tiny_model()
    for i in range(6):
        fb.record_judgement("prefs", pair(prompt=f"Question {i}?", a=f"A clear answer {i}.", b="No."), "left", rater="ana")
    fb.record_judgement("prefs", pair(prompt="tied?"), "tie")
    run = fb.train_from_feedback("prefs", "reward", model="tiny", max_steps=2, batch_size=2, wait=True)
    assert run.status()["state"] == "completed", run.log_path.read_text()[-2000:]
    record = fb.run_feedback(run.name)
    path = fb.feedback_path("prefs")
    assert record["file"] == str(path.resolve()) and record["feedback"] == "prefs"
    assert (record["judgements"], record["ties"], record["bytes"]) == (6, 1, path.stat().st_size)
    assert run.config()["data"] == str(path.resolve()) and run.config()["max_rows"] == 6
    # The reward model's view of the judgements: a share of the 6 pairs (the tie left out).
    agreement = fb.agreement_with_reward_model(fb.read_feedback("prefs"), run.name)
    assert agreement["n"] == 6 and 0 <= agreement["share"] <= 1 and len(agreement["agrees"]) == 6
    assert main(["feedback", "list"]) == 0
    assert "prefs: 6 pairs for training, 1 ties" in capsys.readouterr().out


def test_a_session_rates_prompts_with_the_tiny_model(fresh_home):
    from workbench.models import build_tiny_model
    build_tiny_model()
    session = fb.Session("s", ["tiny"], fb.prompts_from("one\ntwo\nthree"), rater="ana", seed=3, max_new_tokens=3)
    first = session.advance()
    assert first.prompt[0]["content"] == "one" and first.left.seed != first.right.seed
    session.judge("left")
    second = session.advance()
    assert second.prompt[0]["content"] == "two"
    session.judge("skip")
    third = session.advance()
    undone = session.undo()  # the first judgement comes back to be judged again
    assert undone is first and session.current is first
    assert session.advance() is third and session.advance() is None
    counts = session.counts()
    assert (counts["judgements"], counts["retracted"], counts["session"]) == (0, 1, 0)
    assert len(fb.prompts_from(file=ROOT / "sample_data" / "prompts.jsonl")) > 10
    session.close()


# ------------------------------------------------------------------ thumbs up / down: KTO data

def test_thumbs_are_appended_undone_and_counted(fresh_home, capsys):
    from workbench.cli import main
    shown = pair()
    up = fb.record_thumb("th", shown, "left", "up", rater="ana")
    down = fb.record_thumb("th", shown, "right", "down", rater="ana")
    assert (up["completion"], up["label"], up["thumb"], up["side"], up["model"], up["seed"]) == (
        "Rayleigh scattering.", True, "up", "left", "base", 1)
    assert (down["completion"], down["label"], down["temperature"]) == ("Because it is.", False, 0.8)
    fb.record_judgement("th", shown, "left", rater="bob")
    gone = fb.record_thumb("th", pair(prompt="Retracted?"), "left", "down")
    fb.undo("th", gone["id"])
    stats = fb.feedback_stats("th")
    assert (stats["judgements"], stats["pairs"], stats["thumbs_up"], stats["thumbs_down"], stats["retracted"],
            stats["unpaired"]) == (3, 1, 1, 1, 1, 4)
    assert stats["raters"] == {"ana": 2, "bob": 1}
    assert [r["id"] for r in fb.read_feedback("th", thumbs=True)][:2] == [up["id"], down["id"]]
    assert len(fb.read_feedback("th")) == 1  # pair judgements only, as before
    assert main(["feedback", "show", "th"]) == 0
    assert "1 pairs for training, 0 ties, 1 thumbs up, 1 down, 1 retracted" in capsys.readouterr().out
    with pytest.raises(Exception, match="unknown thumb"):
        fb.record_thumb("th", shown, "left", "sideways")
    with pytest.raises(Exception, match="unknown side"):
        fb.record_thumb("th", shown, "middle", "up")


def test_a_feedback_file_reads_as_unpaired_rows(fresh_home, capsys):
    """Thumbs as they are; each pair as its chosen answer (desirable) and rejected one (not); ties,
    retractions and retracted thumbs left out. As preference rows the file keeps only its pairs."""
    from workbench.cli import main
    fb.record_thumb("mix", pair(prompt="q0"), "right", "down")
    fb.record_judgement("mix", pair(prompt="q1", a="Good.", b="Bad."), "left")
    fb.record_judgement("mix", pair(prompt="q2"), "tie")
    fb.undo("mix", fb.record_thumb("mix", pair(prompt="q3"), "left", "up")["id"])
    fb.record_thumb("mix", pair(prompt="q4", b="Fine."), "right", "up")
    path = fb.feedback_path("mix")
    rows = load_rows(path, task="unpaired")
    assert [(r["prompt"][0]["content"], r["completion"], r["label"]) for r in rows] == [
        ("q0", "Because it is.", False), ("q1", "Good.", True), ("q1", "Bad.", False), ("q4", "Fine.", True)]
    assert set(rows[0]) == {"prompt", "completion", "label", "_line"} and rows[1]["_line"] == rows[2]["_line"] == 2
    assert [r["prompt"][0]["content"] for r in load_rows(path, task="preference")] == ["q1"]
    report = inspect_file(path)  # with pairs in it, the file is first a preference file
    assert (report.format, report.task, report.valid_rows) == ("preference", "preference", 1)
    assert report.feedback["thumbs_up"] == 1 and report.feedback["thumbs_down"] == 1
    assert main(["data", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 retracted; thumbs 1 up, 1 down" in out
    assert "its thumbs too: workbench feedback train mix --stage kto" in out  # not only reward or DPO
    # thumbs only: an unpaired file, whatever a stage asks for
    fb.record_thumb("only", pair(), "left", "up")
    fb.record_thumb("only", pair(), "right", "down")
    assert main(["data", "inspect", str(fb.feedback_path("only")), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["format"], report["task"], report["valid_rows"]) == ("kto", "unpaired", 2)
    with pytest.raises(DataError, match="unpaired feedback.*needs prompt/chosen/rejected"):
        load_rows(fb.feedback_path("only"), task="preference")


def test_a_session_takes_thumbs_and_undoes_them(fresh_home):
    session = fb.Session("st", ["base"], fb.prompts_from("one\ntwo"), comparer=FakeComparer(), rater="ana")
    first = session.advance()
    session.thumb("left", "up")
    session.thumb("left", "down")  # changed: the first thumb is retracted
    session.thumb("right", "up")
    assert session.current is first and session.thumbs() == {"left": "down", "right": "up"}
    stats = session.counts()
    assert (stats["thumbs_up"], stats["thumbs_down"], stats["retracted"], stats["session"]) == (1, 1, 1, 2)
    session.judge("right")
    second = session.advance()
    assert session.thumbs() == {}
    assert session.undo() is first and session.current is first  # the pair judgement comes back
    assert session.undo() is first and session.thumbs() == {"left": "down"}  # then the last thumb
    assert session.advance() is second
    stats = session.counts()
    assert (stats["pairs"], stats["thumbs_down"], stats["thumbs_up"], stats["session"]) == (0, 1, 0, 1)
    session.close()


def test_kto_trains_from_a_feedback_file(fresh_home, capsys):
    from workbench.cli import main
    from workbench.models import build_tiny_model
    from workbench.runs import get_run
    build_tiny_model()
    for i in range(3):
        shown = pair(prompt=f"Question {i}?", a=f"A clear answer {i}.", b="No.")
        fb.record_thumb("kto-fb", shown, "left", "up", rater="ana")
        fb.record_thumb("kto-fb", shown, "right", "down", rater="ana")
    fb.record_judgement("kto-fb", pair(prompt="Which?", a="This one.", b="Meh."), "left")
    assert main(["feedback", "train", "kto-fb", "--stage", "kto", "--model", "tiny", "--max-steps", "2",
                 "--max-length", "256", "--batch-size", "2", "--run-name", "kto-from-feedback"]) == 0
    run = get_run("kto-from-feedback")
    assert run.status()["state"] == "completed", run.log_path.read_text()[-2000:]
    config = run.config()
    assert (config["stage"], config["max_rows"], config["max_length"]) == ("kto", 8, 256)  # 6 thumbs + 2 per pair
    record = fb.run_feedback(run.name)
    assert (record["judgements"], record["thumbs_up"], record["thumbs_down"]) == (8, 3, 3)
    with pytest.raises(DataError, match="fewer than 2 rows for KTO"):
        fb.record_thumb("one-thumb", pair(), "left", "up")
        fb.train_from_feedback("one-thumb", "kto", model="tiny")
