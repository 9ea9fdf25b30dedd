"""The real SmolLM2-135M default model, a few steps of each stage (marked: slow on a CPU)."""

import os

import pytest

from workbench.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "sample_data")
FEW = dict(model="smollm2-135m", max_steps=2, batch_size=2, max_length=128, max_rows=24, save_steps=2)

pytestmark = pytest.mark.real_model


def test_each_stage_trains_the_default_model(fresh_home):
    sft = train("sft", data=f"{SAMPLES}/sft.jsonl", name="real-sft", wait=True, **FEW)
    status = sft.status()
    assert status["state"] == "completed", status.get("error")
    losses = [r["loss"] for r in sft.metrics() if "loss" in r]
    # a pretrained chat model starts far below the ~10.8 loss of uniform guessing over 49k tokens
    assert losses and all(0 < loss < 6 for loss in losses)
    assert "eval_loss" in status["final"]

    reward = train("reward", data=f"{SAMPLES}/preference.jsonl", name="real-rm", wait=True, **FEW)
    assert reward.status()["state"] == "completed", reward.status().get("error")
    assert "eval_accuracy" in reward.status()["final"]

    dpo = train("dpo", data=f"{SAMPLES}/preference.jsonl", from_run="real-sft", name="real-dpo", wait=True,
                **FEW)
    status = dpo.status()
    assert status["state"] == "completed", status.get("error")
    assert any("rewards/margins" in r for r in dpo.metrics())
    assert (dpo.adapter_dir / "adapter_model.safetensors").exists()

    kto = train("kto", data=f"{SAMPLES}/unpaired.jsonl", from_run="real-sft", name="real-kto", wait=True,
                **{**FEW, "max_length": 256})
    status = kto.status()
    assert status["state"] == "completed", status.get("error")
    assert {"rewards/chosen", "kl"} <= set().union(*kto.metrics())

    # GRPO from the SFT run, scored by the reward run: two steps of two answers a prompt
    grpo = train("grpo", prompts=f"{SAMPLES}/prompts.jsonl", from_run="real-sft", reward_model="real-rm",
                 name="real-grpo", wait=True, num_generations=2, max_new_tokens=8,
                 **{k: v for k, v in FEW.items() if k != "save_steps"})
    status = grpo.status()
    assert status["state"] == "completed", status.get("error")
    rows = grpo.metrics()
    assert any("reward/mean" in r for r in rows) and any("kl" in r for r in rows)
