"""Scoring answers with a reward model trained by the reward stage.

`RewardScorer` loads the base once with the run's adapter (or its full model) and returns the
scalar reward of a (prompt, response) pair: the score head's output at the last token of the
conversation rendered exactly as the reward stage rendered it for training. The body computes in
the precision asked for (`precision`, see `detect_hardware`); the score head always in fp32, as
in training and in PPO's shared-base scorer.
"""

from __future__ import annotations

from workbench.errors import ConfigError
from workbench.models.batch import padded
from workbench.models.variants import ModelRef, model_ref
from workbench.runs import get_run


def reward_run_ref(name: str) -> ModelRef:
    """The ModelRef of a finished reward run. Raises RunError when there is no such run, ModelError
    when it has no output yet, ConfigError when it is a run of another stage."""
    get_run(name)  # raises RunError listing the known runs when there is none
    ref = model_ref(name)
    if ref.stage != "reward":
        raise ConfigError(f"run '{name}' is a {ref.stage} run, not a reward-model run",
                          hint="Give a run trained with `workbench train reward --data PREFERENCE_FILE`.")
    return ref


def check_same_tokenizer(policy_base: str, reward_base: str, reward_run: str) -> None:
    """A reward model reads token ids: it must share the policy's tokenizer (same vocabulary)."""
    from workbench.models import load_tokenizer
    if str(policy_base) == str(reward_base):
        return
    ours, theirs = load_tokenizer(policy_base), load_tokenizer(reward_base)
    if ours.get_vocab() != theirs.get_vocab() or ours.eos_token != theirs.eos_token:
        raise ConfigError(
            f"reward run '{reward_run}' was trained on {reward_base}, whose tokenizer ({len(theirs)} tokens) "
            f"is not the policy's ({policy_base}, {len(ours)} tokens): it would read other tokens than "
            "the policy writes",
            hint=f"Train a reward model on {policy_base}: `workbench train reward --model {policy_base} "
                 "--data PREFERENCE_FILE`.")


class RewardScorer:
    def __init__(self, reward_run: str, *, precision: str | None = None):
        import torch
        from peft import PeftModel

        from workbench.models import detect_hardware, load_reward_model, load_tokenizer

        ref = reward_run_ref(reward_run)
        self.name = ref.label
        self.base = ref.base
        self.tokenizer = load_tokenizer(ref.base)
        self.hardware = detect_hardware(precision)
        model = load_reward_model(ref.base, for_training=False, hardware=self.hardware)
        if ref.adapter is not None:
            model = PeftModel.from_pretrained(model, str(ref.adapter))
        self.model = model.eval()
        self.device = next(model.parameters()).device
        self._torch = torch

    def encode(self, prompt: list[dict], response: str) -> list[int]:
        from workbench.data.tokens import encode_answer
        prompt_ids, answer_ids = encode_answer(self.tokenizer, prompt, response)
        return prompt_ids + answer_ids

    def score_ids(self, input_ids, attention_mask):
        """Rewards of a right-padded batch: input_ids, attention_mask (B, T) -> (B,) float tensor.

        The reward is read at the last attended token of each row.
        """
        torch = self._torch
        with torch.no_grad():
            out = self.model(input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device))
        logits = out.logits.squeeze(-1)
        if logits.dim() == 2:  # per-token scores (B, T): take the last attended position
            last = attention_mask.sum(dim=1) - 1
            logits = logits[torch.arange(logits.size(0)), last]
        return logits.float().cpu()

    def score_many(self, pairs: list[tuple[list[dict], str]], batch_size: int = 8) -> list[float]:
        """Rewards of (prompt messages, response text) pairs, in their order.

        Batches are formed from rows of similar length (sorted by token count), so little of each
        forward pass is padding: on real conversations, whose lengths vary tenfold, that halves the time.
        """
        encoded = [self.encode(p, r) for p, r in pairs]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        scores = [0.0] * len(encoded)
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            for i, score in zip(batch, self.score_ids(*padded([encoded[i] for i in batch], pad)).tolist()):
                scores[i] = score
        return scores

    def score(self, prompt: list[dict] | str, response: str) -> float:
        if isinstance(prompt, str):
            prompt = [{"role": "user", "content": prompt}]
        return self.score_many([(prompt, response)])[0]
