"""The maths of PPO for language models, as small pure tensor functions.

Shapes: B = sequences in a batch, R = response tokens (the generated part, padded to the longest).
Every per-token tensor is (B, R) and is read together with a `mask` (B, R) of booleans that is
True on the real response tokens: from the first generated token up to and including the first
end-of-sequence token. Positions after it are padding and never count.

References followed (named again in each docstring):
- torchtune `torchtune/rlhf/rewards.py` (masked_mean, masked_var, whiten, get_rewards_ppo,
  estimate_advantages, get_reward_penalty_mask) and `torchtune/rlhf/loss/ppo.py` (PPOLoss).
- TRL's PPO trainer (`trl/trainer/ppo_trainer.py`, 2024-2025, removed from TRL in 2026):
  truncate_response, missing_eos_penalty, the k1/k3 KL estimators, the clipped value loss and the
  entropy of the logits; and TRL's older `AdaptiveKLController` (`trl/trainer/utils.py`).
- OpenAI lm-human-preferences (Ziegler et al. 2019, "Fine-Tuning Language Models from Human
  Preferences"): the score added to the KL penalty at the last token, and the adaptive KL
  coefficient.
- Schulman et al. 2015 (GAE, arXiv:1506.02438) and 2017 (PPO, arXiv:1707.06347, eq. 7).
"""

from __future__ import annotations

import torch

from workbench.rl import KL_ESTIMATORS


# ------------------------------------------------------------------------------- masked statistics

def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of `x` over the positions where `mask` is True (all of them, or along `dim`).

    x, mask: same shape. Returns a scalar, or x's shape without `dim`. An all-False mask gives 0,
    not NaN. Follows torchtune `rlhf.masked_mean` (itself from TRL `core.py`).
    """
    mask = mask.to(x.dtype)
    return (x * mask).sum(dim=dim) / mask.sum(dim=dim).clamp(min=1e-8)


def masked_var(x: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of `x` over the masked positions (a scalar), with Bessel's correction by default.

    Follows torchtune `rlhf.masked_var`; one masked value has no unbiased variance, so that case
    returns the biased one (0) instead of dividing by zero.
    """
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    count = mask.sum()
    if unbiased and count > 1:
        var = var * count / (count - 1)
    return var


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Normalise `x` to unit variance over the masked positions; zero mean unless `shift_mean` is
    False (then the original mean is kept, as for rewards). Masked-out positions come back as 0.

    x, mask: (B, R) -> (B, R). Follows torchtune `rlhf.whiten` / TRL `core.whiten`.
    """
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    whitened = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


# ------------------------------------------------------------------------------- responses

def response_mask(responses: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """True on the real tokens of each response: up to and including its first EOS token.

    responses: (B, R) token ids as generated. Returns (B, R) bool. A response without EOS (cut
    at max_new_tokens) is real everywhere. Whatever the model emitted after its first EOS (the
    generator's padding, or more tokens) is padding. Same rule as TRL's `truncate_response`
    and torchtune's `truncate_sequence_at_first_stop_token`.
    """
    is_eos = (responses == eos_token_id).long()
    eos_before = is_eos.cumsum(dim=1) - is_eos  # EOS tokens strictly before each position
    return eos_before == 0


def truncate_after_eos(responses: torch.Tensor, eos_token_id: int, pad_token_id: int) -> torch.Tensor:
    """`responses` with every token after the first EOS replaced by `pad_token_id`. (B, R) -> (B, R)."""
    return torch.where(response_mask(responses, eos_token_id), responses,
                       torch.full_like(responses, pad_token_id))


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last True position of each row of a (B, R) mask whose Trues are a prefix
    (a response mask). Returns (B,) long; 0 for an empty row."""
    return (mask.long().sum(dim=1) - 1).clamp(min=0)


def missing_eos_penalty(scores: torch.Tensor, has_eos: torch.Tensor, penalty: float | None) -> torch.Tensor:
    """Scores with `penalty` subtracted where the response never ended (no EOS).

    scores: (B,) reward-model scores; has_eos: (B,) bool. A policy that learns to ramble past
    max_new_tokens would otherwise be scored on a truncated text it never finished. TRL PPO's
    `missing_eos_penalty` (subtracted); torchtune's `get_reward_penalty_mask` sets a fixed value
    instead. `penalty=None` leaves the scores as they are.
    """
    if penalty is None:
        return scores
    return torch.where(has_eos, scores, scores - penalty)


# ------------------------------------------------------------------------------- KL and rewards

def kl_per_token(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(policy || reference) from the sampled tokens' log-probabilities.

    logprobs, ref_logprobs: (B, R) log pi(token) and log pi_ref(token) of tokens sampled from pi.
    With log_ratio = logprobs - ref_logprobs:
      k1  = log_ratio                          unbiased, can be negative per token (TRL "k1", "kl")
      k3  = exp(-log_ratio) - 1 + log_ratio    unbiased, never negative, lower variance (TRL "k3")
      abs = |log_ratio|                        (old TRL "abs")
      mse = 0.5 * log_ratio ** 2               (old TRL "mse"; also the "approx KL" of PPO logs)
    k1 and k3 follow J. Schulman, "Approximating KL divergence" (2020), as TRL's PPO does.
    """
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    if estimator == "abs":
        return log_ratio.abs()
    if estimator == "mse":
        return 0.5 * log_ratio ** 2
    raise ValueError(f"unknown KL estimator '{estimator}'; use one of {', '.join(KL_ESTIMATORS)}")


def penalised_rewards(scores: torch.Tensor, kl: torch.Tensor, kl_coef: float,
                      mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards: -kl_coef * KL on every real token, plus the score on the last real one.

    scores: (B,) sequence scores (reward model, after any missing-EOS penalty); kl: (B, R)
    per-token KL estimates; mask: (B, R) response mask. Returns (rewards, kl_rewards), both (B, R)
    and 0 on padding; kl_rewards is the penalty part alone (for logging).
    Follows torchtune `get_rewards_ppo` and lm-human-preferences `train_policy.py`, with the score
    placed on the last real token of each response (the EOS token when there is one), the token
    the reward model read it from.
    """
    kl_rewards = -kl_coef * kl * mask
    rewards = kl_rewards.clone()
    rows = torch.arange(scores.shape[0], device=scores.device)
    rewards[rows, last_token_index(mask)] += scores.to(rewards.dtype)
    return rewards, kl_rewards


# ------------------------------------------------------------------------------- advantages

def gae_advantages(values: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor,
                   gamma: float = 1.0, lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns, each response an episode ending at its last
    real token.

    values: (B, R) value predictions V(s_t) before each response token t; rewards: (B, R)
    per-token rewards (`penalised_rewards`); mask: (B, R) response mask.
      delta_t = r_t + gamma * V_{t+1} - V_t      (V after the last real token is 0)
      A_t     = delta_t + gamma * lam * A_{t+1}
      return_t = A_t + V_t
    Returns (advantages, returns), both (B, R), 0 on padding, not whitened (see `whiten`).
    Follows torchtune `estimate_advantages` and TRL PPO (Schulman et al. 2015, arXiv:1506.02438).
    """
    mask = mask.to(values.dtype)
    values, rewards = values * mask, rewards * mask
    length = values.shape[1]
    advantages = torch.zeros_like(values)
    next_advantage = torch.zeros_like(values[:, 0])
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(values[:, 0])
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_advantage = (delta + gamma * lam * next_advantage) * mask[:, t]
        advantages[:, t] = next_advantage
    return advantages, (advantages + values) * mask


# ------------------------------------------------------------------------------- losses

def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, clip_range: float = 0.2) -> dict[str, torch.Tensor]:
    """PPO's clipped surrogate loss (to minimise) and its diagnostics.

    logprobs: (B, R) log pi_theta(token) now (with gradients); old_logprobs: (B, R) at rollout
    time; advantages: (B, R) whitened; mask: (B, R).
      ratio = exp(logprobs - old_logprobs)
      loss  = mean over real tokens of max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps))
    Returns {"loss": scalar, "clip_frac": share of tokens where the clipped term won,
    "approx_kl": mean of 0.5 * (logprobs - old_logprobs)^2 (KL old -> new, k2 estimate),
    "ratio": mean ratio}. Follows torchtune `PPOLoss` (arXiv:1707.06347 eq. 7) and TRL PPO.
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    with torch.no_grad():
        clip_frac = masked_mean((clipped > unclipped).float(), mask)
        approx_kl = masked_mean(0.5 * log_ratio ** 2, mask)
        mean_ratio = masked_mean(ratio, mask)
    return {"loss": masked_mean(torch.maximum(unclipped, clipped), mask), "clip_frac": clip_frac,
            "approx_kl": approx_kl, "ratio": mean_ratio}


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
               mask: torch.Tensor, clip_range: float = 0.2) -> dict[str, torch.Tensor]:
    """The clipped value loss (to minimise) and its clip fraction.

    values: (B, R) V_phi now (with gradients); old_values: (B, R) at rollout time; returns:
    (B, R) GAE returns; mask: (B, R).
      clipped_values = old_values + clip(values - old_values, -c, c)
      loss = 0.5 * mean over real tokens of max((values - R)^2, (clipped_values - R)^2)
    Returns {"loss": scalar, "clip_frac": share of tokens where the clipped error was larger}.
    Follows torchtune `PPOLoss` and TRL PPO (`vf_losses1`, `vf_losses2`, `vf_clipfrac`).
    """
    clipped_values = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    unclipped_error = (values - returns) ** 2
    clipped_error = (clipped_values - returns) ** 2
    with torch.no_grad():
        clip_frac = masked_mean((clipped_error > unclipped_error).float(), mask)
    return {"loss": 0.5 * masked_mean(torch.maximum(unclipped_error, clipped_error), mask),
            "clip_frac": clip_frac}


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the categorical distribution at each position.

    logits: (B, R, V) -> (B, R). logsumexp(l) - sum(softmax(l) * l), as TRL's `entropy_from_logits`.
    """
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(dim=-1)


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log p(token) under softmax(logits / temperature). logits (B, R, V), tokens (B, R) -> (B, R).

    Dividing by the sampling temperature makes these the probabilities the tokens were really
    sampled with (TRL PPO and torchtune `logits_to_logprobs` do the same).
    """
    logprobs = torch.log_softmax(logits / temperature, dim=-1)
    return torch.gather(logprobs, 2, tokens.unsqueeze(-1)).squeeze(-1)


# ------------------------------------------------------------------------------- KL coefficient

def adaptive_kl_coef(kl_coef: float, kl: float, target: float | None, n_steps: int,
                     horizon: int = 10000) -> float:
    """The next KL coefficient: fixed when `target` is None, otherwise moved towards `target`.

    kl: the measured KL (nats per sequence) of the last rollout; n_steps: sequences in it.
      error = clip(kl / target - 1, -0.2, 0.2)
      kl_coef <- kl_coef * (1 + error * n_steps / horizon)
    Ziegler et al. 2019 (lm-human-preferences), as TRL's `AdaptiveKLController.update`.
    """
    if target is None:
        return kl_coef
    error = min(max(kl / target - 1.0, -0.2), 0.2)
    return kl_coef * (1.0 + error * n_steps / horizon)
