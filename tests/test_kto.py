"""The KTO stage on the tiny model: a job that logs KTO's metrics, a start from an SFT run, bad
input refused before a job starts, stop / resume, and a real LLaMA-Factory KTO file."""

import json
import os
import subprocess
import sys

import pytest

from conftest import shared_file
from ui_support import wait_until
from workbench.errors import ConfigError, DataError
from workbench.train import jobs, train
from workbench.train.config import KTORunConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SFT = os.path.join(ROOT, "sample_data", "sft.jsonl")
PREFERENCE = os.path.join(ROOT, "sample_data", "preference.jsonl")
QUICK = dict(model="tiny", max_length=256, batch_size=2, save_steps=1000, eval_steps=2)

QUESTIONS = ["What is the capital of France?", "How many legs does a spider have?", "What is 2 + 2?",
             "Name a primary colour.", "What do bees make?", "Which planet is red?",
             "What is frozen water called?", "How many days are in a week?"]
GOOD = ["Paris.", "Eight.", "Four.", "Red.", "Honey.", "Mars.", "Ice.", "Seven."]
BAD = ["I would rather not say, but it might be Berlin or perhaps somewhere else entirely.",
       "Spiders have many legs, possibly six, though nobody has ever counted them properly.",
       "That depends on what you mean by two, and also on what you mean by plus.",
       "Colours are a social construct and I cannot pick one for you today, sorry.",
       "Bees make noise mostly, and sometimes trouble for people who walk past them.",
       "All planets are red if you look at them through red glasses, so any of them.",
       "Frozen water is called cold water, which is water that is very cold indeed.",
       "A week has as many days as you like if you never look at a calendar at all."]


def unpaired_file(path, labels=None) -> str:
    """16 rows: each question with a short right answer (desirable) and a rambling one (not)."""
    rows = []
    for question, good, bad in zip(QUESTIONS, GOOD, BAD):
        rows.append({"prompt": [{"role": "user", "content": question}], "completion": good, "label": True})
        rows.append({"prompt": [{"role": "user", "content": question}], "completion": bad, "label": False})
    if labels is not None:
        rows = [{**row, "label": label} for row, label in zip(rows, labels)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_kto_run_logs_rewards_and_kl(fresh_home, tmp_path):
    run = train("kto", data=unpaired_file(tmp_path / "kto.jsonl"), name="kto-a", max_steps=4,
                val_fraction=0.25, wait=True, **QUICK)
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    assert status["step"] == 4
    assert (run.adapter_dir / "adapter_model.safetensors").exists()
    config = run.config()
    assert config["stage"] == "kto" and config["precision"] in ("fp32", "bf16")
    assert config["micro_batch"] == 2  # KTO's KL estimate needs two rows in a forward pass
    assert jobs.load_config(run).to_command().startswith("workbench train kto ")
    rows = run.metrics()
    keys = set().union(*rows)
    for key in ("rewards/chosen", "rewards/rejected", "kl"):
        assert key in keys and f"eval_{key}" in keys, key
    assert "loss" in keys and "eval_loss" in status["final"]
    # Before training, the policy is the reference: every log-ratio, and so the loss, is exact.
    first = next(row for row in rows if row["step"] == 0 and "eval_loss" in row)
    assert first["eval_loss"] == pytest.approx(0.5) and first["eval_kl"] == 0


def test_kto_from_an_sft_run_uses_its_base(fresh_home, tmp_path):
    sft = train("sft", data=SFT, name="sft-k", max_steps=2, max_rows=16, wait=True, **QUICK)
    assert sft.status()["state"] == "completed", sft.status().get("error")
    kto = train("kto", data=unpaired_file(tmp_path / "kto.jsonl"), from_run=sft.name, name="kto-b",
                max_steps=2, wait=True, **{**QUICK, "model": "smollm2-135m"})  # the base comes from the SFT run
    status = kto.status()
    assert status["state"] == "completed", status.get("error")
    assert kto.config()["model"] == "tiny" and kto.config()["from_run"] == "sft-k"
    assert (kto.adapter_dir / "adapter_model.safetensors").exists()


@pytest.mark.parametrize("method", ["lora", "full"])
def test_the_reference_is_the_sft_model(fresh_home, tmp_path, method):
    """Before the first update the policy is the reference, so every log-ratio is 0 and the loss
    exactly 0.5: true only if the reference is the SFT model (its adapter has random, non-zero
    weights here), not the base. A full fine-tune folds the adapter into both."""
    from test_ppo import adapter_run, run_here
    sft = adapter_run("sft-r", "sft")
    run = run_here(KTORunConfig(data=unpaired_file(tmp_path / "kto.jsonl"), from_run=sft.name, method=method,
                                name=f"kto-{method}", max_steps=1, val_fraction=0.25, **QUICK))
    assert run.status()["state"] == "completed", run.status().get("error")
    first = next(row for row in run.metrics() if row["step"] == 0 and "eval_loss" in row)
    assert first["eval_loss"] == pytest.approx(0.5, abs=1e-6)
    assert first["eval_rewards/chosen"] == 0 and first["eval_rewards/rejected"] == 0
    assert first["eval_logps/chosen"] != pytest.approx(-1)  # (a real forward pass was made)


def test_bad_input_is_refused_before_a_job_starts(fresh_home, tmp_path):
    def start(**settings):
        return train("kto", **{**QUICK, "max_steps": 2, **settings})

    with pytest.raises(DataError) as caught:
        start(data=PREFERENCE)
    assert caught.value.message.startswith(f"{PREFERENCE}: holds preference data")
    assert "holds preference data" in caught.value.message and "prompt/completion/label" in caught.value.message
    assert "an unpaired (KTO) file" in caught.value.hint
    with pytest.raises(ConfigError, match="'batch_size' must be at least 2.*KL estimate"):
        start(data=unpaired_file(tmp_path / "a.jsonl"), batch_size=1)
    with pytest.raises(ConfigError, match="'micro_batch' must be at least 2"):
        start(data=unpaired_file(tmp_path / "a.jsonl"), batch_size=4, micro_batch=1)
    with pytest.raises(ConfigError, match="'undesirable_weight' must be positive"):
        start(data=unpaired_file(tmp_path / "a.jsonl"), undesirable_weight=0)
    bad_label = tmp_path / "bad_label.jsonl"
    unpaired_file(bad_label)
    lines = bad_label.read_text().splitlines()
    lines[2] = lines[2].replace('"label": true', '"label": "maybe"')
    bad_label.write_text("\n".join(lines[2:3]) + "\n")
    with pytest.raises(DataError) as caught:
        start(data=str(bad_label))
    assert "bad_label.jsonl" in str(caught.value) and caught.value.field == "label" and caught.value.line == 1
    assert not (fresh_home / "runs").exists() or not any((fresh_home / "runs").iterdir())

    # The same through the command line: one line naming the file, no traceback.
    result = subprocess.run([sys.executable, "-m", "workbench", "train", "kto", "--data", PREFERENCE],
                            capture_output=True, text=True, env={**os.environ, "WORKBENCH_HOME": str(fresh_home)})
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "preference.jsonl" in lines[0], result.stderr


def test_one_label_only_is_accepted(fresh_home, tmp_path):
    """TRL's KTOTrainer trains on desirable rows alone (its loss takes each label's half when
    present), so a file without undesirable answers is not refused."""
    from workbench.train.jobs import prepare_config
    path = unpaired_file(tmp_path / "good.jsonl", labels=[True] * 16)
    config = prepare_config(KTORunConfig(data=path, **{**QUICK, "max_steps": 2}))
    assert config.micro_batch == 2


def test_rows_whose_answer_leaves_no_room_leave_nothing_to_train(fresh_home, tmp_path):
    from test_ppo import run_here
    config = KTORunConfig(data=unpaired_file(tmp_path / "kto.jsonl"), name="kto-short", max_steps=2,
                          **{**QUICK, "max_length": 4})  # "Ice.<|im_end|>\n", the shortest answer, is 4 tokens
    with pytest.raises(DataError, match="none of its 14 training rows fits in max_length \\(4 tokens\\)") as caught:
        run_here(config)
    assert caught.value.path.endswith("kto.jsonl") and "--max-length" in caught.value.hint


def test_long_prompts_lose_their_start_and_keep_the_answer(tmp_path):
    """What TRL's KTOTrainer trains on: the end of each prompt and the whole completion, within
    max_length; TRL used to drop the rows whose prompt filled max_length and cut the others' answers."""
    from trl import KTOConfig

    from workbench.data import load_rows
    from workbench.data.tokens import answer_parts
    from workbench.models import load_causal_lm, load_tokenizer
    from workbench.train.kto import keep_answers_trainer, unpaired_rows

    system = {"role": "system", "content": "You answer quiz questions for a pub team. " * 6}
    rows = [{**row, "prompt": [system] + row["prompt"]} for row in load_rows(unpaired_file(tmp_path / "k.jsonl"))]
    tokenizer, max_length = load_tokenizer("tiny"), 48
    trainer = keep_answers_trainer()(
        model=load_causal_lm("tiny"), processing_class=tokenizer, train_dataset=unpaired_rows(rows),
        args=KTOConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to="none",
                       per_device_train_batch_size=2, max_length=max_length, dataset_num_proc=None))
    parts = [answer_parts(tokenizer, row) for row in rows]
    assert all(len(prompt) + len(answer) > max_length for prompt, (answer,) in parts)  # every row is cut
    assert trainer.cut_counts["train"] == (16, 16, 0) and len(trainer.train_dataset) == 16
    for row, (prompt, (answer,)) in zip(trainer.train_dataset, parts):
        assert row["completion_ids"] == answer  # whole, as TRL tokenized it
        assert row["prompt_ids"] == prompt[-(max_length - len(answer)):]
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    for i in range(4):
        length = int(batch["attention_mask"][i].sum())
        mask = batch["completion_mask"][i][:length].tolist()
        assert length == max_length and sum(mask) == len(trainer.train_dataset[i]["completion_ids"]) and mask[-1]
    assert batch["KL_input_ids"].shape[1] <= max_length  # TRL's collator still cuts the mismatched KL pairs


def test_micro_batch_default_is_at_least_two():
    from workbench.models.hardware import detect_hardware
    cpu = detect_hardware()
    assert cpu.device == "cpu" and cpu.micro_batch == 1
    pick = lambda batch: jobs.default_micro_batch(KTORunConfig(batch_size=batch), cpu)  # noqa: E731
    assert [pick(2), pick(3), pick(4), pick(8), pick(9)] == [2, 3, 2, 2, 3]


def test_stop_then_resume_continues(fresh_home, tmp_path):
    # A high rate moves the policy off the reference within a step; a resume that lost the trained
    # adapter would start again at the reference, where the loss is exactly 0.5.
    run = train("kto", data=unpaired_file(tmp_path / "kto.jsonl"), name="kto-long", max_steps=12,
                learning_rate=5e-2, val_fraction=0, **{**QUICK, "eval_steps": 1000})
    wait_until(lambda: run.status().get("step", 0) >= 3, timeout=300, poll=0.1)
    jobs.stop(run.name)
    jobs.wait_for(run)
    status = run.status()
    assert status["state"] == "stopped", status.get("error")
    stopped_at = status["step"]
    assert 3 <= stopped_at < 12
    assert run.last_checkpoint().name == f"checkpoint-{stopped_at}"
    before = [r for r in run.metrics() if "loss" in r]
    assert before[0]["loss"] == pytest.approx(0.5, abs=1e-6)

    jobs.resume(run.name, wait=True)
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    assert status["step"] == 12
    after = [r for r in run.metrics() if "loss" in r and r["step"] > stopped_at]
    assert after[0]["step"] == stopped_at + 1
    assert abs(after[0]["loss"] - 0.5) > 1e-4


def test_real_llama_factory_kto_file(fresh_home):
    path = shared_file("llama-factory/kto_en_demo.json")
    # Its prompts run to 2,000 tokens: the rows keep the end of their prompt and their whole answer.
    run = train("kto", data=str(path), name="kto-real", max_steps=2, max_rows=16, val_fraction=0.25,
                wait=True, **{**QUICK, "max_length": 512})
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    keys = set().union(*run.metrics())
    assert {"loss", "kl", "eval_kl", "rewards/chosen", "rewards/rejected"} <= keys
    assert "training rows had their prompt cut from the start to fit max_length (512 tokens)" in run.log_path.read_text()


def test_tutorial_recipe_is_a_valid_kto_config():
    sys.path.insert(0, os.path.join(ROOT, "notebooks"))
    try:
        import tutorial
    finally:
        sys.path.pop(0)
    assert "kto" in tutorial.STAGES
    for quick in (True, False):
        settings = tutorial.recipe("kto", quick)
        assert settings["from_run"] == tutorial.run_name("sft", quick)
        KTORunConfig(**{k: v for k, v in settings.items() if k != "from_run"}).validate()


def test_the_inspectors_say_an_unpaired_file_trains_with_kto(tmp_path):
    from ui.data_tab import summary_text
    from workbench.data import inspect_file
    from workbench.widgets.data import summary_html
    path = unpaired_file(tmp_path / "kto.jsonl")
    report = inspect_file(path)
    assert report.task == "unpaired" and report.train_with() == "`workbench train kto`"
    assert "Train it with `workbench train kto`." in summary_text(report)
    assert "Train it with <code>workbench train kto</code>." in summary_html(report)
    result = subprocess.run([sys.executable, "-m", "workbench", "data", "inspect", path], capture_output=True,
                            text=True)
    assert result.returncode == 0 and "train:   workbench train kto" in result.stdout
    # a file that cannot feed the asked task says that instead
    wrong = summary_text(inspect_file(PREFERENCE, task="unpaired"))
    assert "holds preference data" in wrong and "Train it with" not in wrong
