"""Scale-out through Accelerate: the same SFT stage in 2 CPU processes (gloo) on the tiny model."""

import os

from workbench.train import train
from workbench.train.jobs import job_command
from workbench.train.config import SFTRunConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SFT = os.path.join(ROOT, "sample_data", "sft.jsonl")
SETTINGS = dict(model="tiny", data=SFT, method="full", max_steps=6, max_length=128, max_rows=48, eval_steps=3,
                save_steps=3, learning_rate=1e-2, packing=False)


def test_two_processes_match_one(fresh_home):
    single = train("sft", name="single", batch_size=4, wait=True, **SETTINGS)
    double = train("sft", name="double", batch_size=2, launcher="accelerate", num_processes=2, wait=True,
                   **SETTINGS)
    for run in (single, double):
        assert run.status()["state"] == "completed", run.status().get("error")
    assert "--num_processes" in " ".join(job_command(double, SFTRunConfig(**double.config()), False))

    # rank 0 alone writes: one metrics row per logged step, no duplicates from rank 1
    steps = [r["step"] for r in double.metrics() if "loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == 6
    assert (double.model_dir / "model.safetensors").exists()

    # the same global batch (2 x 2 = 4) on the same data: the model learns, and the two runs agree
    # step by step, which they would not if the gradients were not averaged over the processes
    loss = {run.name: [r["loss"] for r in run.metrics() if "loss" in r] for run in (single, double)}
    assert loss["single"][-1] < loss["single"][0] - 0.3
    for one, two in zip(loss["single"], loss["double"]):
        assert abs(one - two) < 0.01 * one
    final = {run.name: run.status()["final"]["eval_loss"] for run in (single, double)}
    assert abs(final["single"] - final["double"]) < 0.02 * final["single"]
