"""The training engine end to end on the tiny model: run folders, live metrics, stop / resume,
kill -9, one job at a time, and bad configs giving one clear line."""

import json
import os
import signal
import subprocess
import sys

import pytest

from workbench.errors import ConfigError, DataError, RunError
from workbench.runs import get_run
from workbench.train import jobs, train

from ui_support import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SFT = os.path.join(ROOT, "sample_data", "sft.jsonl")
PREFERENCE = os.path.join(ROOT, "sample_data", "preference.jsonl")
UNPAIRED = os.path.join(ROOT, "sample_data", "unpaired.jsonl")
QUICK = dict(model="tiny", max_length=128, batch_size=2, save_steps=4, eval_steps=4, max_rows=40)


def test_sft_run_folder_and_metrics(fresh_home):
    run = train("sft", data=SFT, name="sft-a", max_steps=8, wait=True, **QUICK)
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    assert status["step"] == 8 and status["max_steps"] == 8
    for key in ("started_at", "updated_at", "eta_s"):
        assert key in status
    assert (run.path / "config.yaml").exists() and (run.path / "train.log").exists()
    assert (run.adapter_dir / "adapter_model.safetensors").exists()
    assert [p.name for p in run.checkpoints()] == ["checkpoint-4", "checkpoint-8"]
    rows = run.metrics()
    train_rows = [r for r in rows if "loss" in r]
    eval_rows = [r for r in rows if "eval_loss" in r]
    assert len(train_rows) >= 8
    for key in ("loss", "mean_token_accuracy", "learning_rate", "step", "epoch"):
        assert key in train_rows[-1]
    assert any("tokens_per_s" in r for r in train_rows)
    assert len(eval_rows) >= 2 and "eval_loss" in status["final"]
    # the saved config repeats the run, and equals a printable command
    config = jobs.load_config(run)
    assert config.max_steps == 8 and config.method == "lora"
    assert config.to_command().startswith("workbench train sft ")


def test_padding_free_sft_equals_one_row_at_a_time(fresh_home):
    """The rows of a micro-batch share one forward pass without padding; each must still attend
    only to itself, so the losses equal those of one row per pass with accumulation."""
    settings = dict(QUICK, batch_size=4, max_steps=3, eval_steps=100, learning_rate=1e-2, method="full")
    together = train("sft", data=SFT, name="together", micro_batch=4, wait=True, **settings)
    alone = train("sft", data=SFT, name="alone", micro_batch=1, wait=True, **settings)
    assert together.config()["micro_batch"] == 4 and alone.config()["micro_batch"] == 1
    losses = [[r["loss"] for r in run.metrics() if "loss" in r] for run in (together, alone)]
    assert len(losses[0]) == 3 and losses[0] == pytest.approx(losses[1], rel=1e-4)
    assert losses[0][0] != pytest.approx(losses[0][-1], rel=1e-3)  # it trained: the losses moved


def test_micro_batch_follows_the_hardware():
    from workbench.models.hardware import detect_hardware
    from workbench.train.config import DPORunConfig, SFTRunConfig
    cpu = detect_hardware()
    assert cpu.device == "cpu"
    pick = lambda config: jobs.default_micro_batch(config, cpu)  # noqa: E731
    assert pick(SFTRunConfig(batch_size=16, max_length=512, packing=False)) == 2   # speed at < 2 GB
    assert pick(SFTRunConfig(batch_size=3, max_length=512, packing=False)) == 1    # a divisor of 3
    assert pick(SFTRunConfig(batch_size=4, max_length=4096, packing=False)) == 1   # 4096 tokens a pass
    assert pick(DPORunConfig(batch_size=8)) == 1  # DPO pads: one row per pass on a CPU


def test_reward_and_dpo_stages(fresh_home):
    reward = train("reward", data=PREFERENCE, name="rm", max_steps=4, wait=True, **QUICK)
    status = reward.status()
    assert status["state"] == "completed", status.get("error")
    assert "eval_accuracy" in status["final"]
    keys = set().union(*reward.metrics())
    assert {"loss", "accuracy", "margin", "eval_accuracy"} <= keys

    sft = train("sft", data=SFT, name="sft-b", max_steps=2, wait=True, **QUICK)
    dpo = train("dpo", data=PREFERENCE, from_run=sft.name, name="dpo-b", max_steps=4, wait=True,
                **{**QUICK, "model": "smollm2-135m"})  # the base comes from the SFT run, not this
    status = dpo.status()
    assert status["state"] == "completed", status.get("error")
    assert dpo.config()["model"] == "tiny"
    keys = set().union(*dpo.metrics())
    assert {"loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
            "eval_rewards/margins"} <= keys


def test_reward_stage_cuts_long_pairs_instead_of_dropping_them(fresh_home, tmp_path):
    # At max_length 96 TRL's RewardTrainer used to drop every pair of this file longer than 96
    # tokens, which was all of them, and training crashed in torch's sampler (num_samples=0).
    run = train("reward", data=PREFERENCE, name="rm-96", max_steps=2, wait=True,
                **{**QUICK, "max_length": 96, "max_rows": None, "eval_steps": 1000})
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    log = run.log_path.read_text()
    assert "training rows had their prompt cut from the start to fit max_length (96 tokens)" in log
    # its rambling rejected answers run to 144 tokens: those pairs cannot fit whole and are counted
    assert "training rows left out: an answer alone does not fit max_length (96 tokens)" in log


def test_a_max_length_no_pair_fits_is_a_data_error(fresh_home, tmp_path):
    from test_ppo import run_here
    from workbench.train.config import RewardRunConfig
    config = RewardRunConfig(data=PREFERENCE, name="rm-tiny", max_steps=2, **{**QUICK, "max_length": 12})
    with pytest.raises(DataError, match="fits in max_length \\(12 tokens\\)") as caught:
        run_here(config)
    assert caught.value.path == PREFERENCE and "--max-length" in caught.value.hint


def test_dpo_keeps_the_answers_and_cuts_the_prompt_start(fresh_home):
    """What TRL's DPOTrainer trains on, after its collator: each sequence is the end of the prompt
    and the whole answer, within max_length."""
    from trl import DPOConfig

    from workbench.data import load_rows
    from workbench.data.tokens import encode_preference
    from workbench.models import load_causal_lm, load_tokenizer
    from workbench.train.dpo import encode_pairs, pretokenized_trainer

    tokenizer = load_tokenizer("tiny")
    rows = load_rows(PREFERENCE)[:12]
    max_length = 72
    trainer = pretokenized_trainer()(
        model=load_causal_lm("tiny"), processing_class=tokenizer,
        train_dataset=encode_pairs(tokenizer, rows, max_length, "training", PREFERENCE),
        args=DPOConfig(output_dir="/tmp/unused", use_cpu=True, bf16=False, report_to="none",
                       max_length=max_length, dataset_num_proc=None))
    whole = [encode_preference(tokenizer, row) for row in rows]
    longest = [max(len(pair["chosen_ids"]), len(pair["rejected_ids"])) for pair in whole]
    fits = [pair for pair, answer in zip(whole, longest) if len(pair["prompt_ids"]) + answer <= max_length]
    left_out = [pair for pair, answer in zip(whole, longest) if answer >= max_length]
    assert len(trainer.train_dataset) == len(rows) - len(left_out) and left_out  # this file has long answers
    assert len(fits) < len(trainer.train_dataset)  # some prompts were cut
    kept = [pair for pair in whole if pair not in left_out]
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    n = len(kept)
    for i, pair in enumerate(kept):
        for side, row in (("chosen_ids", i), ("rejected_ids", n + i)):
            length = int(batch["attention_mask"][row].sum())
            ids = batch["input_ids"][row][:length].tolist()
            answer = [j for j, m in enumerate(batch["completion_mask"][row][:length].tolist()) if m]
            assert length <= max_length
            assert ids[answer[0]:] == pair[side] and answer == list(range(length - len(pair[side]), length))
            assert ids[:answer[0]] == pair["prompt_ids"][-answer[0]:]  # the end of the prompt


@pytest.mark.parametrize("method,steps", [("lora", 1), ("full", 1), ("lora", 12)],
                         ids=["lora", "full", "lora-precomputed"])
def test_dpo_reference_is_the_sft_model(fresh_home, method, steps):
    """Before the first update the policy is the reference, so DPO's loss is exactly log 2: true
    only if the reference is the SFT model (its adapter has random, non-zero weights here), not the
    base. A full fine-tune folds the adapter into both, and then trains every weight. A run that
    reads its 9 training pairs more than twice (12 steps of 2) computes the reference's log-probs
    once before training, batched, and must give the same loss from them."""
    import math

    from test_ppo import adapter_run, run_here

    from workbench.train.config import DPORunConfig
    sft = adapter_run("sft-r", "sft")
    run = run_here(DPORunConfig(data=PREFERENCE, from_run=sft.name, method=method, name=f"dpo-{method}-{steps}",
                                model="tiny", max_steps=steps, batch_size=2, max_length=256, max_rows=12,
                                val_fraction=0.25, save_steps=1000, learning_rate=1e-3, eval_steps=1000))
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    assert ("reference_logps_s" in status) == (steps == 12)
    first = next(row for row in run.metrics() if row["step"] == 0 and "eval_loss" in row)
    assert first["eval_loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert [row["loss"] for row in run.metrics() if "loss" in row]  # it trained a step


def test_stop_then_resume_continues(fresh_home):
    # full fine-tuning at a high rate: the tiny model's loss falls fast, so a resume that lost the
    # trained weights would show as a jump back to the untrained loss (about 10.8)
    run = train("sft", data=SFT, name="long", max_steps=60, method="full", learning_rate=1e-2,
                **{**QUICK, "save_steps": 1000})
    wait_until(lambda: run.status().get("step", 0) >= 10, timeout=300, poll=0.1)
    jobs.stop(run.name)
    jobs.wait_for(run)
    status = run.status()
    assert status["state"] == "stopped"
    stopped_at = status["step"]
    assert stopped_at < 60
    assert run.last_checkpoint().name == f"checkpoint-{stopped_at}"
    before = [r for r in run.metrics() if "loss" in r]

    jobs.resume(run.name, wait=True)
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    assert status["step"] == 60
    after = [r for r in run.metrics() if "loss" in r and r["step"] > stopped_at]
    assert after[0]["step"] == stopped_at + 1
    # the loss continues from where it was rather than starting over from an untrained model
    first_loss, last_before = before[0]["loss"], before[-1]["loss"]
    assert last_before < first_loss - 0.2
    assert abs(after[0]["loss"] - last_before) < abs(after[0]["loss"] - first_loss)


def test_kill_9_marks_failed_and_keeps_work(fresh_home):
    run = train("sft", data=SFT, name="victim", max_steps=400, **{**QUICK, "save_steps": 2})
    wait_until(lambda: len(run.checkpoints()) >= 1 and run.status().get("step", 0) >= 3, poll=0.1)
    os.kill(run.raw_status()["pid"], signal.SIGKILL)
    status = wait_until(lambda: run.status() if run.status()["state"] != "running" else None, poll=0.1)
    assert status["state"] == "failed"
    assert "killed" in status["error"]
    assert run.checkpoints() and run.metrics()


def test_one_job_at_a_time(fresh_home):
    first = train("sft", data=SFT, name="first", max_steps=400, **QUICK)
    try:
        with pytest.raises(RunError, match="one job trains at a time"):
            train("sft", data=SFT, name="second", max_steps=2, **QUICK)
    finally:
        jobs.stop(first.name)
        jobs.wait_for(first)
    assert not (fresh_home / "runs" / "second").exists()


def test_bad_configs_raise_clear_errors(fresh_home, tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'lerning_rate'.*Did you mean 'learning_rate'"):
        train("sft", data=SFT, lerning_rate=0.1)
    with pytest.raises(ConfigError, match="'max_steps' must be a positive"):
        train("sft", data=SFT, max_steps=-3)
    with pytest.raises(DataError, match="preference"):
        train("sft", data=PREFERENCE, model="tiny", max_steps=2)
    with pytest.raises(RunError, match="no run named 'nope'"):
        train("dpo", data=PREFERENCE, from_run="nope", max_steps=2)
    assert not (fresh_home / "runs").exists() or not any((fresh_home / "runs").iterdir())


@pytest.mark.parametrize("argv, phrase", [
    (["train", "sft", "--data", SFT, "--max-steps", "-1"], "'max_steps' must be a positive"),
    (["train", "sft", "--data", PREFERENCE], "preference"),
    (["train", "sft", "--data", "/nonexistent.jsonl"], "does not exist"),
    (["train", "dpo", "--data", PREFERENCE, "--from", "ghost"], "ghost"),
    (["runs", "show", "ghost"], "no run named 'ghost'"),
])
def test_cli_bad_input_is_one_line(fresh_home, argv, phrase):
    result = subprocess.run([sys.executable, "-m", "workbench", *argv], capture_output=True, text=True,
                            env={**os.environ, "WORKBENCH_HOME": str(fresh_home)})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and phrase in lines[0], result.stderr


def test_cli_config_file_unknown_key(fresh_home, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(f"stage: sft\ndata: {SFT}\nbatchsize: 3\n")
    result = subprocess.run([sys.executable, "-m", "workbench", "train", "sft", "--config", str(config)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "unknown key 'batchsize'" in result.stderr
    assert "batch_size" in result.stderr and "Traceback" not in result.stderr


def test_half_written_metrics_line_is_ignored(fresh_home):
    run = train("sft", data=SFT, name="crashy", max_steps=2, wait=True, **QUICK)
    with open(run.metrics_path, "a") as handle:
        handle.write('{"step": 3, "loss": 1.')
    rows = run.metrics()
    assert rows and all(isinstance(r, dict) for r in rows) and rows[-1].get("step") != 3
    listed = subprocess.run([sys.executable, "-m", "workbench", "runs", "list", "--json"],
                            capture_output=True, text=True, env={**os.environ, "WORKBENCH_HOME": str(fresh_home)})
    assert json.loads(listed.stdout)[0]["name"] == "crashy"
    # A resumed job's next row starts on a fresh line instead of being glued to the fragment.
    run.log_metrics({"step": 4, "loss": 0.5})
    assert run.metrics()[-1] == {"step": 4, "loss": 0.5}


def test_a_job_that_cannot_start_is_failed_not_queued(fresh_home, monkeypatch):
    import subprocess as sp

    def broken(*args, **kwargs):
        raise OSError("no such interpreter")

    monkeypatch.setattr(sp, "Popen", broken)
    with pytest.raises(RunError, match="could not start its job process"):
        train("sft", data=SFT, name="stillborn", max_steps=2, **QUICK)
    assert get_run("stillborn").status()["state"] == "failed"
    assert jobs.active_runs() == []


# ------------------------------------------------------------------------------------ precision

STEP_SETTINGS = {
    "sft": dict(data=SFT),
    "reward": dict(data=PREFERENCE),
    "dpo": dict(data=PREFERENCE),
    "kto": dict(data=UNPAIRED),
    "ppo": dict(prompts=PREFERENCE, reward_rule="length", rollout_batch_size=2, ppo_epochs=1,
                max_new_tokens=4),
    "rloo": dict(prompts=PREFERENCE, reward_rule="length", num_generations=2, max_new_tokens=4),
    "grpo": dict(prompts=PREFERENCE, reward_rule="length", num_generations=2, max_new_tokens=4),
}


@pytest.mark.parametrize("stage", list(STEP_SETTINGS))
def test_every_stage_steps_in_both_precisions(fresh_home, monkeypatch, stage):
    """Two steps of each stage in fp32 and in bf16 (emulated where the CPU has no bf16): each
    completes with finite metrics and records its precision; where the first held-out loss does
    not depend on sampling (SFT, reward, DPO, KTO) it agrees across precisions within bf16's tolerance."""
    import math

    import torch
    from conftest import assert_close
    from test_ppo import run_here

    from workbench.train.config import config_class
    first_eval = {}
    for precision in ("fp32", "bf16"):
        monkeypatch.setenv("WORKBENCH_PRECISION", precision)
        torch.manual_seed(len(precision))  # the stage seeds itself: what ran before must not matter
        settings = dict(model="tiny", max_steps=2, batch_size=2, max_length=256, max_rows=12,
                        val_fraction=0.25, save_steps=1000, eval_steps=1000, name=f"{stage}-{precision}")
        run = run_here(config_class(stage)(**settings, **STEP_SETTINGS[stage]))
        status = run.status()
        assert status["state"] == "completed", status.get("error")
        assert run.config()["precision"] == precision
        steps = [row for row in run.metrics() if row.get("step") in (1, 2) and not any(
            key.startswith("eval_") for key in row)]
        assert {row["step"] for row in steps} == {1, 2}
        for row in steps:
            values = [v for k, v in row.items() if isinstance(v, float) and k not in ("epoch", "time")]
            assert values and all(math.isfinite(v) for v in values), row
        first_eval[precision] = next((row["eval_loss"] for row in run.metrics()
                                      if row.get("step") == 0 and "eval_loss" in row), None)
    if stage in ("sft", "reward", "dpo", "kto"):
        assert first_eval["fp32"] is not None
        assert_close(first_eval["bf16"], first_eval["fp32"], "bf16", f"{stage}'s held-out loss before training")


def test_runs_show_says_what_a_run_trained_in(fresh_home, capsys):
    from test_ppo import run_here

    from workbench.cli import main
    from workbench.train.config import SFTRunConfig
    run = run_here(SFTRunConfig(model="tiny", data=SFT, max_steps=1, batch_size=2, max_rows=8, val_fraction=0.0,
                                precision="fp32", name="shown"))
    capsys.readouterr()
    assert main(["runs", "show", run.name]) == 0
    assert "trained: tiny, lora, precision fp32" in capsys.readouterr().out
