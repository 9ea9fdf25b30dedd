"""PPO's checkpoints and final output in the run folder.

    checkpoints/checkpoint-STEP/   policy adapter (adapter_model.safetensors), value adapter (value/),
                                   value_head.safetensors, optimizer.pt, rng_state.pth, and
                                   trainer_state.json {global_step, kl_coef, stage} written last
    adapter/                       the policy adapter and tokenizer, usable like an SFT run's
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from workbench.io import built_aside, write_json_atomic
from workbench.runs import Run
from workbench.train.config import PPORunConfig
from workbench.train.ppo_actors import Actors, adapter_weights


def save_checkpoint(run: Run, actors: Actors, optimizer, step: int, kl_coef: float, config: PPORunConfig) -> Path:
    """checkpoints/checkpoint-STEP/: policy adapter (adapter_model.safetensors), value adapter
    (value/), value head, optimizer, random state, and trainer_state.json written last (a folder
    without it was cut off mid-save and is never resumed from)."""
    import torch
    from safetensors.torch import save_file
    folder = run.checkpoints_dir / f"checkpoint-{step}"
    with built_aside(folder) as tmp:
        actors.model.save_pretrained(str(tmp), selected_adapters=["default", "value"])
        save_file({k: v.contiguous() for k, v in actors.value_head.state_dict().items()},
                  str(tmp / "value_head.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        random_state = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            random_state["cuda"] = torch.cuda.get_rng_state()
        torch.save(random_state, tmp / "rng_state.pth")
        write_json_atomic(tmp / "trainer_state.json", {"global_step": step, "kl_coef": kl_coef, "stage": "ppo"})
    for old in run.checkpoints()[: -config.save_total_limit]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def load_checkpoint(folder: Path, actors: Actors, optimizer) -> tuple[int, float]:
    """Restore what `save_checkpoint` wrote; returns (step, kl_coef)."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file
    set_peft_model_state_dict(actors.model, adapter_weights(folder), adapter_name="default")
    set_peft_model_state_dict(actors.model, adapter_weights(folder / "value"), adapter_name="value")
    actors.value_head.load_state_dict(load_file(str(folder / "value_head.safetensors")))
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    random_state = torch.load(folder / "rng_state.pth", weights_only=True)
    torch.set_rng_state(random_state["torch"])
    if "cuda" in random_state and torch.cuda.is_available():
        torch.cuda.set_rng_state(random_state["cuda"])
    state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state["global_step"]), float(state["kl_coef"])


def save_policy(run: Run, actors: Actors, tokenizer) -> Path:
    """The policy adapter into the run's adapter/ folder (atomically), usable like an SFT run's."""
    target = run.adapter_dir
    with built_aside(target) as tmp:
        actors.model.save_pretrained(str(tmp), selected_adapters=["default"])
        tokenizer.save_pretrained(str(tmp))
    return target
