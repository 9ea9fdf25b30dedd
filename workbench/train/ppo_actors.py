"""PPO's networks: policy, reference, reward and value on one base model, and the scorers that
turn a batch of answers into rewards.

Memory: one base model. Every network of PPO is that base with a LoRA adapter switched on:

    default    the policy, trainable: the SFT run's adapter (`--from`), or a fresh LoRA
    reference  a frozen copy of the SFT adapter, so the reference is the SFT policy itself (as
               TRL's DPO "ref" adapter); without `--from` the reference is the base, adapters off
    reward     the reward run's adapter, frozen, and its score head (hidden -> 1)
    value      the value function, trainable: an adapter and a value head (hidden -> 1)

Only when the reward run sits on another base (same tokenizer) is it loaded as its own model
(`RewardScorer`), a second copy of a base in memory; its base must differ for that to happen.

The value function is a second adapter with its own head, both initialised from the reward model:
- Its own adapter, not a head on the policy's body: the value loss then never moves the policy
  (lm-human-preferences and TRL's PPO keep policy and value apart too; a shared body makes the
  value loss a second objective for the policy, traded off through vf_coef). It costs a second
  forward and backward through the base per minibatch and a LoRA's worth of memory, not a base.
- Initialised from the reward model (adapter and score head), as TRL's PPO and InstructGPT do:
  with gamma = 1 and the score on the last token, the return at a token is the final score minus
  the KL still to come, and the reward model read at a prefix already estimates the score. The
  first advantages are then informative instead of the noise of a random head. With a rule
  reward, or a reward model on another base, the value adapter starts fresh (equal to the base)
  and the head at zero.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from workbench.models.batch import padded
from workbench.models.score import reward_run_ref
from workbench.rl.rewards import parse_reward_rule
from workbench.train.config import PPORunConfig

TRAINABLE = ("default", "value")


@dataclass
class Actors:
    """The networks of a run, on one base model (see the module docstring)."""

    model: object               # PeftModel: the base with adapters default, value (+ reference, reward)
    value_head: object          # torch.nn.Linear(hidden, 1)
    reference: str | None       # adapter giving the reference log-probs; None = the base alone
    score: Callable             # (query, query_mask, responses, mask) -> (B,) scores
    trainable: list             # parameters the optimizer updates, in a fixed order
    policy_params: list         # the policy adapter's: its gradient norm is clipped on its own,
    value_params: list          # apart from the value adapter's and head's
    second_copy: bool = False   # the reward model is a second base in memory


def keep_trainable(model) -> None:
    """requires_grad back on for the policy and value adapters, whichever adapter is switched on.

    PEFT's switches set requires_grad too: `set_adapter` turns it on for the adapter switched on
    and off for every other one (`BaseTunerLayer.set_adapter`), and `disable_adapter` turns it off
    for all (`enable_adapters(False)`). The value loss is backpropagated after `adapter` has switched
    back to the policy, and autograd drops the gradient of a leaf whose requires_grad is off by the
    time the gradient arrives: without this the value adapter never learned, only its head did.
    The reference and reward adapters are left as the switch left them, frozen.
    """
    model.set_requires_grad(list(TRAINABLE), requires_grad=True)


@contextmanager
def adapter(model, name: str | None):
    """Run `model` with adapter `name` switched on; None runs the base with every adapter off.

    Frozen adapters are switched on in inference mode; leaving restores the policy ("default").
    The policy and value adapters stay trainable across every switch (see `keep_trainable`).
    """
    if name is None:
        try:
            with model.disable_adapter():
                keep_trainable(model)
                yield
        finally:
            keep_trainable(model)
        return
    model.set_adapter(name, inference_mode=name not in TRAINABLE)
    keep_trainable(model)
    try:
        yield
    finally:
        model.set_adapter("default")
        keep_trainable(model)


def hidden_states(model, input_ids, attention_mask):
    """Last hidden states (B, T, H) of the body under the LM head, with the active adapter.

    Positions count real tokens only, so a left-padded prompt sees the positions it would alone.
    """
    lm = model.get_base_model()
    body = getattr(lm, lm.base_model_prefix)
    positions = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
    return body(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                use_cache=False).last_hidden_state


def adapter_weights(folder: Path) -> dict:
    from safetensors.torch import load_file
    return load_file(str(Path(folder) / "adapter_model.safetensors"))


def add_adapter_from(model, folder: Path, name: str, trainable: bool):
    """Add the LoRA weights saved in `folder` as adapter `name`; return its score-head weight
    (1, H) when the folder is a reward model's, else None.

    A reward adapter was saved for a sequence classifier; its LoRA layers sit in the same body, so
    they load into the causal LM as they are, and its score head is returned to be used beside it.
    """
    from peft import LoraConfig, set_peft_model_state_dict
    lora = LoraConfig.from_pretrained(str(folder))
    lora.task_type, lora.modules_to_save, lora.inference_mode = "CAUSAL_LM", None, not trainable
    model.add_adapter(name, lora)
    weights = adapter_weights(folder)
    score = next((w for k, w in weights.items() if k.endswith("score.weight")), None)
    set_peft_model_state_dict(model, {k: w for k, w in weights.items() if "lora_" in k}, adapter_name=name)
    return score


def load_actors(config: PPORunConfig, base: str, sft_adapter: Path | None, hardware, tokenizer) -> Actors:
    """Policy, reference, reward and value on one base (see the module docstring)."""
    import torch
    from peft import PeftModel, get_peft_model

    from workbench.models import load_causal_lm, resolve_model
    from workbench.train.common import lora_config

    lm = load_causal_lm(base, method=config.method, hardware=hardware)
    if sft_adapter is not None:
        model = PeftModel.from_pretrained(lm, str(sft_adapter), adapter_name="default", is_trainable=True)
        add_adapter_from(model, sft_adapter, "reference", trainable=False)
        reference = "reference"
    else:
        model = get_peft_model(lm, lora_config(config), adapter_name="default")
        reference = None
    hidden = lm.config.hidden_size
    value_head = torch.nn.Linear(hidden, 1, device=lm.device, dtype=torch.float32)
    torch.nn.init.zeros_(value_head.weight)
    torch.nn.init.zeros_(value_head.bias)

    second_copy = False
    if config.reward_rule:
        score = rule_scorer(parse_reward_rule(config.reward_rule), tokenizer)
        model.add_adapter("value", lora_config(config))
    else:
        ref = reward_run_ref(config.reward_model)
        if ref.adapter is not None and resolve_model(ref.base) == resolve_model(base):
            reward_weight = add_adapter_from(model, ref.adapter, "reward", trainable=False)
            add_adapter_from(model, ref.adapter, "value", trainable=True)
            reward_head = torch.nn.Linear(hidden, 1, bias=False, device=lm.device, dtype=torch.float32)
            with torch.no_grad():
                reward_head.weight.copy_(reward_weight)
                value_head.weight.copy_(reward_weight)
            reward_head.requires_grad_(False)
            score = shared_base_scorer(model, reward_head, tokenizer.pad_token_id)
        else:  # a reward model on another base: its own copy in memory
            from workbench.models.score import RewardScorer
            score = separate_scorer(RewardScorer(config.reward_model, precision=config.precision),
                                    tokenizer.pad_token_id)
            model.add_adapter("value", lora_config(config))
            second_copy = True
    model.set_adapter("default")
    keep_trainable(model)
    model.eval()  # no dropout: before the first update the new/old probability ratio must be exactly 1
    policy = [p for n, p in model.named_parameters() if "lora_" in n and ".default." in n]
    value = [p for n, p in model.named_parameters() if "lora_" in n and ".value." in n]
    return Actors(model=model, value_head=value_head, reference=reference, score=score,
                  trainable=policy + value + list(value_head.parameters()),
                  policy_params=policy, value_params=value + list(value_head.parameters()),
                  second_copy=second_copy)


# ================================================================================ scoring

def shared_base_scorer(model, reward_head, pad_id: int) -> Callable:
    """Scores from the reward adapter and score head on the shared base, read at the last real
    token of prompt + answer (the same position the reward stage trained on).

    Rows are packed to the left first (`right_padded`), as the reward stage and `RewardScorer`
    lay them out: in bf16 the body's result depends on where the padding sits, by about 1%."""
    import torch

    def score(query, query_mask, responses, mask):
        ids, attention = right_padded(query, query_mask, responses, mask, pad_id)
        ids, attention = ids.to(query.device), attention.to(query.device)
        with adapter(model, "reward"):
            hidden = hidden_states(model, ids, attention)
        last = attention.sum(dim=1) - 1
        rows = torch.arange(ids.shape[0], device=ids.device)
        return reward_head(hidden[rows, last].float()).squeeze(-1)
    return score


def right_padded(query, query_mask, responses, mask, pad_id: int):
    """Prompt + answer of each row packed to the left: (ids, attention mask), both (B, T)."""
    import torch
    rows = [torch.cat([q[qm.bool()], r[m]]) for q, qm, r, m in zip(query, query_mask, responses, mask)]
    return padded(rows, pad_id)


def separate_scorer(scorer, pad_id: int) -> Callable:
    """Scores from a reward model loaded as its own model (a reward run on another base)."""
    def score(query, query_mask, responses, mask):
        ids, attention = right_padded(query, query_mask, responses, mask, pad_id)
        return scorer.score_ids(ids, attention).to(query.device)
    return score


def rule_scorer(rule: Callable[[str], float], tokenizer) -> Callable:
    """Scores from a rule on the decoded answer text."""
    import torch

    def score(query, query_mask, responses, mask):
        texts = [tokenizer.decode(r[m], skip_special_tokens=True) for r, m in zip(responses, mask)]
        return torch.tensor([rule(t) for t in texts], dtype=torch.float32, device=query.device)
    return score
