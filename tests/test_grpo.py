"""The GRPO stage on the tiny model: a job with a reward rule logs reward/mean, kl and samples; the
verifiable checks (exact, regex) score answers 0 or 1 against a prompt row's reference; bad input is
refused before a job starts; a reward run scores through RewardScorer; stop / resume continue."""

import json
import math
import os

import pytest
import torch
from test_ppo import adapter_run, leaky_model, record_logits_processors, run_here

from workbench.errors import ConfigError, DataError
from workbench.rl.rewards import (answer_number, check_reward, exact_match, final_answer, normalise_answer,
                                  regex_match)
from workbench.runs import new_run_folder, runs_root
from workbench.train.config import GRPORunConfig
from workbench.train.jobs import prepare_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = os.path.join(ROOT, "sample_data", "prompts.jsonl")
SMALL = dict(model="tiny", prompts=PROMPTS, max_steps=2, batch_size=2, num_generations=2, max_new_tokens=4,
             max_length=96, val_fraction=0, save_steps=1000, sample_every=1)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()  # see test_ppo.one_thread
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def questions_file(path, rows) -> str:
    """A prompts file of (question, reference) rows; a None reference leaves the field out."""
    with open(path, "w", encoding="utf-8") as f:
        for question, reference in rows:
            row = {"prompt": [{"role": "user", "content": question}]}
            if reference is not None:
                row["answer"] = reference
            f.write(json.dumps(row) + "\n")
    return str(path)


ARITHMETIC = [("What is 2 + 2?", 4), ("What is 10 / 4?", "2.5"), ("Capital of France?", "Paris"),
              ("How many legs does a spider have?", "8"), ("What is 6 x 7?", 42), ("Colour of the sky?", "blue")]


# ------------------------------------------------------------------------------------ the checks

def test_normalise_and_final_answer():
    assert normalise_answer("  The   Answer\n is  PARIS. ") == "the answer is paris"
    assert normalise_answer('"Paris!"') == "paris" and normalise_answer("'paris.'") == "paris"
    assert normalise_answer("e.g.") == "e.g"  # only trailing punctuation goes
    assert final_answer("We add them.\nAnswer: 42\nDone") == "42"
    assert final_answer("The answer is Paris.") == "Paris."
    assert final_answer("working 3 + 4\n#### 7") == "7"
    assert final_answer("answer: 1, then ANSWER: 2") == "2"  # the last marker wins
    assert final_answer("just 12") == "just 12"
    assert answer_number("3 + 4 = 7") == 7 and answer_number("Answer: 7 apples at 3 each") == 7
    assert answer_number("answer: 1,250.5 then 2") == 1250.5 and answer_number("none") is None


@pytest.mark.parametrize("answer, reference, expected", [
    ("42", "42", True), ("42", "42.0", True), ("42.0", 42, True), ("The answer is 42.", "42", True),
    ("I think 3 + 4 = 7", "7", True),            # numeric reference: the last number
    ("7 or maybe 8", "7", False),                # ... the last one, not any one
    ("Answer: 7. (I checked 8 twice)", "7", True),  # with a marker: the first number after it
    ("3 + 4 = 7, answer: 7 apples at 3 each", "7", True), ("answer: 8\nor 7", "7", False),
    ("1,000 apples", "1000", True), ("-3.5", "-3.50", True), ("0.1", ".1", True),
    ("42", "43", False), ("no number here", "42", False),
    ("Paris", "paris", True), ("  paris.  ", "Paris", True), ("Answer: Paris!", "Paris", True),
    ("It is Paris", "Paris", False),             # text references compare the whole final part
    ("The answer is blue sky.", "Blue  sky", True),
])
def test_exact_match(answer, reference, expected):
    assert exact_match(answer, reference) is expected
    assert check_reward("exact", answer, reference) == float(expected)


def test_regex_match():
    assert regex_match("The capital is Paris.", r"Par(is|ee)")
    assert not regex_match("the capital is paris", r"Paris")  # case-sensitive
    assert regex_match("42", r"^\d+$") and not regex_match("about 42", r"^\d+$")
    assert check_reward("regex", "x = 12", r"\b1[0-9]\b") == 1.0
    with pytest.raises(ValueError, match="unknown reward check"):
        check_reward("fuzzy", "a", "a")


def test_prompt_rows_keep_the_reference_field(tmp_path):
    """Only a GRPO check keeps the reference; other stages' rows stay as they were."""
    from workbench.data import load_rows
    from workbench.train.grpo import prompt_rows
    path = questions_file(tmp_path / "q.jsonl", ARITHMETIC)
    assert load_rows(path, task="prompts")[0].keys() == {"prompt", "_line"}
    assert load_rows(path, task="prompts", keep=("answer",))[0]["answer"] == 4
    rows, held_out = prompt_rows(GRPORunConfig(**{**SMALL, "prompts": path}, reward_check="exact"))
    assert not held_out and [r["reference"] for r in rows] == ["4", "2.5", "Paris", "8", "42", "blue"]
    rows, _ = prompt_rows(GRPORunConfig(**{**SMALL, "prompts": path}, reward_rule="length"))
    assert "reference" not in rows[0] and "answer" not in rows[0]
    # a preference file's prompts keep the field of the row where each prompt first occurs
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Rome",
                                 "gold": "Paris"}) + "\n")
    assert load_rows(pairs, task="prompts", keep=("gold",))[0]["gold"] == "Paris"


# ------------------------------------------------------------------------------------ runs

def test_grpo_job_with_a_reward_rule_logs_reward_kl_and_samples(fresh_home, monkeypatch):
    from workbench.train import train
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the job process inherits it (see one_thread)
    run = train("grpo", **SMALL, reward_rule="length", name="grpo-rule", wait=True)
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    rows = [row for row in run.metrics() if "reward/mean" in row and "loss" in row]
    assert [row["step"] for row in rows] == [1, 2]
    for key in ("reward/mean", "reward", "kl", "entropy", "completions/mean_length", "step", "epoch", "time"):
        assert key in rows[-1] and math.isfinite(rows[-1][key]), key
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # a fresh LoRA starts at the reference
    # the rule's score (+0.1 a word) before the missing-EOS penalty; 4 tokens make at most 4 words
    assert all(0 <= row["reward/mean"] <= 0.4 + 1e-6 for row in rows)
    samples = run.samples()
    assert {s["step"] for s in samples} == {1, 2}
    assert all(s.keys() == {"step", "prompt", "response", "score"} for s in samples)
    assert all(s["score"] == pytest.approx(0.1 * len(s["response"].split())) for s in samples)
    assert (run.adapter_dir / "adapter_model.safetensors").exists()
    assert run.config()["stage"] == "grpo" and "--reward-rule length" in prepare_config(
        GRPORunConfig(**SMALL, reward_rule="length")).to_command()


def test_grpo_with_an_exact_check_scores_zero_or_one(fresh_home, tmp_path):
    """Two of the six questions are held out: TRL evaluates them in groups too, and their answers
    are not samples (those are training answers)."""
    from workbench.train.grpo import prompt_rows
    path = questions_file(tmp_path / "q.jsonl", ARITHMETIC)
    config = GRPORunConfig(**{**SMALL, "prompts": path, "max_steps": 3, "val_fraction": 0.34},
                           reward_check="exact", missing_eos_penalty=None)
    run = run_here(config)
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    rows = [row for row in run.metrics() if "reward/mean" in row and "loss" in row]
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert all(0 <= row["reward/mean"] <= 1 and 0 <= row["reward"] <= 1 for row in rows)
    evals = [row for row in run.metrics() if "eval_reward/mean" in row]
    assert evals and evals[0]["step"] == 0 and all(0 <= row["eval_reward/mean"] <= 1 for row in evals)
    samples = run.samples()
    assert samples and {s["score"] for s in samples} <= {0.0, 1.0}
    training = {row["prompt"][-1]["content"] for row in prompt_rows(config)[0]}
    assert len(training) == 4 and {s["prompt"] for s in samples} <= training
    # every score is the check a user can redo by hand: the sample's answer against its reference
    references = {question: str(reference) for question, reference in ARITHMETIC}
    for s in samples:
        assert s["score"] == check_reward("exact", s["response"], references[s["prompt"]])


def test_grpo_samples_without_the_models_generation_settings(fresh_home, tmp_path, monkeypatch):
    """As RLOO (test_ppo): TRL's GenerationConfig leaves fields unset that transformers would fill
    from the model's generation_config.json; none of its processors may run. One base: a fresh LoRA
    whose reference is the base with the adapter off, no second model."""
    trainers = recording_trainers(monkeypatch)
    processors = record_logits_processors(monkeypatch)
    folder = str(leaky_model(tmp_path / "leaky"))
    run = run_here(GRPORunConfig(**{**SMALL, "model": folder, "max_steps": 1}, reward_rule="length",
                                 temperature=1.0))
    assert run.status()["state"] == "completed", run.status().get("error")
    built = [[type(x).__name__ for x in p] for p in processors]
    assert built and all(not names for names in built), built
    (trainer,) = trainers
    assert trainer.ref_model is None and set(trainer.model.peft_config) == {"default"} and trainer.beta > 0


def test_grpo_regex_check_and_stop_resume(fresh_home, tmp_path):
    """A pattern every answer matches gives every answer 1; a stop after step 1 resumes to step 3."""
    from workbench.train import grpo
    path = questions_file(tmp_path / "q.jsonl", [(q, r"[\s\S]*") for q, _ in ARITHMETIC])
    config = prepare_config(GRPORunConfig(**{**SMALL, "prompts": path, "max_steps": 3}, reward_check="regex",
                                          missing_eos_penalty=None, name="halted"))
    run = new_run_folder("grpo", "halted")
    config.save(run.config_path)
    run.stop_path.touch()  # a stop asked for while step 1 runs
    grpo.train(config, run)
    status = run.status()
    assert status["state"] == "stopped" and status["step"] == 1 and not run.stop_requested()
    checkpoint = run.last_checkpoint()
    assert checkpoint is not None and checkpoint.name == "checkpoint-1"
    grpo.train(config, run, resume_from=checkpoint)
    status = run.status()
    assert status["state"] == "completed" and status["step"] == 3, status.get("error")
    rows = [row for row in run.metrics() if "reward/mean" in row and "loss" in row]
    assert [row["step"] for row in rows] == [1, 2, 3] and all(row["reward/mean"] == 1.0 for row in rows)
    assert {s["score"] for s in run.samples()} == {1.0}
    assert (run.adapter_dir / "adapter_model.safetensors").exists()


def recording_trainers(monkeypatch) -> list:
    """The GRPOTrainers a test builds, recorded as they start training."""
    from trl import GRPOTrainer
    trainers, train = [], GRPOTrainer.train

    def recording(self, *args, **kwargs):
        trainers.append(self)
        return train(self, *args, **kwargs)
    monkeypatch.setattr(GRPOTrainer, "train", recording)
    return trainers


def test_grpo_from_an_sft_run_with_a_reward_run(fresh_home, monkeypatch):
    """The reference is the SFT policy, as a frozen "ref" adapter on the one base (kl starts at 0);
    the reward run's model scores the samples."""
    trainers = recording_trainers(monkeypatch)
    sft, reward = adapter_run("sft-g", "sft", seed=3), adapter_run("rm-g", "reward", seed=5)
    run = run_here(GRPORunConfig(**{**SMALL, "model": "smollm2-135m"}, from_run=sft.name, reward_model=reward.name))
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    assert run.config()["model"] == "tiny"  # the base comes from the SFT run
    (trainer,) = trainers
    assert trainer.ref_model is None and set(trainer.model.peft_config) == {"default", "ref"}
    rows = [row for row in run.metrics() if "reward/mean" in row and "loss" in row]
    assert [row["step"] for row in rows] == [1, 2]
    assert rows[0]["kl"] == pytest.approx(0.0, abs=1e-6)
    assert rows[0]["reward/mean"] != 0 and all(math.isfinite(row["kl"]) for row in rows)
    # the samples' scores are the reward model's: the same answers score the same again
    from workbench.models.score import RewardScorer
    samples = run.samples()
    scorer = RewardScorer(reward.name, precision=run.config()["precision"])
    again = scorer.score_many([([{"role": "user", "content": s["prompt"]}], s["response"]) for s in samples])
    assert [s["score"] for s in samples] == pytest.approx(again, abs=1e-3)


# ------------------------------------------------------------------------------------ bad input

def test_bad_input_is_refused_before_a_job_starts(fresh_home, tmp_path, capsys):
    from workbench.cli import main

    def check(**settings):
        prepare_config(GRPORunConfig(**{**SMALL, **settings}))

    with pytest.raises(ConfigError, match="'reward_model' or 'reward_rule' or 'reward_check': give exactly "
                                          "one: what scores the answers"):
        check()
    with pytest.raises(ConfigError, match=r"give exactly one, not 2 \(reward_rule, reward_check\)"):
        check(reward_rule="length", reward_check="exact")
    with pytest.raises(ConfigError, match="'reward_check' must be one of exact, regex, not 'fuzzy'"):
        check(reward_check="fuzzy")
    with pytest.raises(ConfigError, match="'num_generations' must be at least 2"):
        check(reward_rule="length", num_generations=1)
    with pytest.raises(ConfigError, match="must be a multiple of num_generations"):
        check(reward_rule="length", batch_size=3)
    sample = questions_file(tmp_path / "missing.jsonl", [("What is 2 + 2?", 4), ("Capital of France?", None)])
    with pytest.raises(DataError, match="missing.jsonl, line 2, field 'answer': the reference answer is missing"):
        check(prompts=sample, reward_check="exact")
    with pytest.raises(DataError, match="line 1, field 'gold': the reference answer is missing"):
        check(prompts=sample, reward_check="exact", reference_field="gold")
    check(prompts=sample, reward_rule="length")  # no check, no reference needed
    bad = questions_file(tmp_path / "bad.jsonl", [("What is 2 + 2?", "4"), ("Capital?", "Par(is")])
    with pytest.raises(DataError, match=r"bad.jsonl, line 2, field 'answer': 'Par\(is' is not a regular "
                                        "expression"):
        check(prompts=bad, reward_check="regex")
    check(prompts=bad, reward_check="exact")  # as an exact reference it is only text
    # the same through the command line: one line, no traceback, no run folder
    capsys.readouterr()
    code = main(["train", "grpo", "--prompts", sample, "--reward-check", "exact", "--model", "tiny"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "line 2, field 'answer'" in err and "Traceback" not in err
    code = main(["train", "grpo", "--prompts", sample, "--model", "tiny"])
    assert code == 2 and "give exactly one" in capsys.readouterr().err
    assert not runs_root().exists() or not any(p.name.startswith("grpo-") for p in runs_root().iterdir())


def test_cli_has_grpo_options(capsys):
    from workbench.cli import main
    with pytest.raises(SystemExit) as exit_:
        main(["train", "grpo", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for flag in ("--prompts", "--from", "--reward-model", "--reward-rule", "--reward-check", "--reference-field",
                 "--num-generations", "--kl-coef"):
        assert flag in out, flag
