"""The PPO maths of `workbench.rl.maths`, each function on numbers worked out by hand here."""

import math

import pytest
import torch

from workbench.rl import maths

T, F = True, False


def close(actual, expected, tol=1e-5):
    assert torch.allclose(torch.as_tensor(actual, dtype=torch.float32),
                          torch.as_tensor(expected, dtype=torch.float32), atol=tol), (actual, expected)


def test_masked_mean_and_var():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = torch.tensor([[T, T, F], [T, F, F]])
    # the masked values are 1, 2, 4: mean 7/3
    close(maths.masked_mean(x, mask), 7 / 3)
    close(maths.masked_mean(x, mask, dim=1), [1.5, 4.0])
    # squared deviations (4/3)^2 + (1/3)^2 + (5/3)^2 = 42/9; biased 14/9, unbiased 14/9 * 3/2 = 7/3
    close(maths.masked_var(x, mask, unbiased=False), 14 / 9)
    close(maths.masked_var(x, mask), 7 / 3)
    # nothing masked in: 0, not NaN
    close(maths.masked_mean(x, torch.zeros_like(mask)), 0.0)


def test_whiten_uses_only_real_tokens_and_zeroes_padding():
    x = torch.tensor([[1.0, 2.0, 100.0], [4.0, -50.0, 7.0]])
    mask = torch.tensor([[T, T, F], [T, F, F]])
    std = math.sqrt(7 / 3)  # values 1, 2, 4 as above: mean 7/3, unbiased variance 7/3
    close(maths.whiten(x, mask), [[(1 - 7 / 3) / std, (2 - 7 / 3) / std, 0.0], [(4 - 7 / 3) / std, 0.0, 0.0]])
    close(maths.whiten(x, mask, shift_mean=False),
          [[(1 - 7 / 3) / std + 7 / 3, (2 - 7 / 3) / std + 7 / 3, 0.0], [(4 - 7 / 3) / std + 7 / 3, 0.0, 0.0]])


def test_padding_after_eos_is_masked():
    eos, pad = 2, 0
    responses = torch.tensor([[5, 2, 7, 2],    # ends at position 1; what follows is not the answer
                              [5, 6, 7, 8],    # never ended (cut at max_new_tokens)
                              [2, 0, 0, 0]])   # ended at once
    mask = maths.response_mask(responses, eos)
    assert mask.tolist() == [[T, T, F, F], [T, T, T, T], [T, F, F, F]]
    assert maths.truncate_after_eos(responses, eos, pad).tolist() == [[5, 2, 0, 0], [5, 6, 7, 8], [2, 0, 0, 0]]
    assert maths.last_token_index(mask).tolist() == [1, 3, 0]


def test_missing_eos_penalty():
    scores, has_eos = torch.tensor([1.0, 1.0]), torch.tensor([T, F])
    close(maths.missing_eos_penalty(scores, has_eos, 0.5), [1.0, 0.5])
    close(maths.missing_eos_penalty(scores, has_eos, None), [1.0, 1.0])


@pytest.mark.parametrize("estimator, expected", [
    # log ratios 0.5 and -1.0
    ("k1", [0.5, -1.0]),
    ("k3", [math.exp(-0.5) - 1 + 0.5, math.exp(1.0) - 1 - 1.0]),  # 0.10653, 0.71828
    ("abs", [0.5, 1.0]),
    ("mse", [0.125, 0.5]),
])
def test_kl_estimators(estimator, expected):
    logprobs, ref_logprobs = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-1.5, -1.0]])
    close(maths.kl_per_token(logprobs, ref_logprobs, estimator), [expected])


def test_kl_estimators_reject_unknown_name():
    with pytest.raises(ValueError, match="k1, k3"):
        maths.kl_per_token(torch.zeros(1, 1), torch.zeros(1, 1), "k2")


def test_penalised_rewards_put_the_score_on_the_last_real_token():
    scores = torch.tensor([2.0, -1.0])
    kl = torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    mask = torch.tensor([[T, T, F], [T, T, T]])
    rewards, kl_rewards = maths.penalised_rewards(scores, kl, kl_coef=0.5, mask=mask)
    close(kl_rewards, [[-0.05, -0.1, 0.0], [-0.2, -0.25, -0.3]])
    close(rewards, [[-0.05, -0.1 + 2.0, 0.0], [-0.2, -0.25, -0.3 - 1.0]])


def test_gae_advantages_and_returns():
    values = torch.tensor([[1.0, 2.0, 3.0]])
    rewards = torch.tensor([[0.5, 1.0, 9.0]])  # the 9 sits on padding and must not count
    mask = torch.tensor([[T, T, F]])
    # gamma 1, lambda 0.5: the episode ends after token 1, so V after it is 0
    #   delta_1 = 1.0 + 0 - 2 = -1.0              A_1 = -1.0
    #   delta_0 = 0.5 + 2 - 1 = 1.5               A_0 = 1.5 + 0.5 * -1.0 = 1.0
    advantages, returns = maths.gae_advantages(values, rewards, mask, gamma=1.0, lam=0.5)
    close(advantages, [[1.0, -1.0, 0.0]])
    close(returns, [[2.0, 1.0, 0.0]])
    # gamma 0.9, lambda 0.5:  delta_0 = 0.5 + 0.9 * 2 - 1 = 1.3, A_0 = 1.3 + 0.45 * -1.0 = 0.85
    advantages, returns = maths.gae_advantages(values, rewards, mask, gamma=0.9, lam=0.5)
    close(advantages, [[0.85, -1.0, 0.0]])
    close(returns, [[1.85, 1.0, 0.0]])
    # gamma = lambda = 1: the return is the sum of the rewards still to come
    advantages, returns = maths.gae_advantages(torch.full((1, 3), 0.5), torch.tensor([[1.0, 2.0, 3.0]]),
                                               torch.ones(1, 3, dtype=torch.bool), gamma=1.0, lam=1.0)
    close(returns, [[6.0, 5.0, 3.0]])
    close(advantages, [[5.5, 4.5, 2.5]])


def test_clipped_policy_loss_and_its_gradient():
    ratios = torch.tensor([[1.5, 0.5, 1.1, 9.0]])  # the last token is padding
    logprobs = ratios.log().requires_grad_(True)
    old = torch.zeros(1, 4)
    advantages = torch.tensor([[1.0, 1.0, -1.0, 5.0]])
    mask = torch.tensor([[T, T, T, F]])
    out = maths.policy_loss(logprobs, old, advantages, mask, clip_range=0.2)
    # token 0: max(-1.5, -1.2) = -1.2 (clipped);  token 1: max(-0.5, -0.8) = -0.5;  token 2: 1.1 either way
    close(out["loss"], (-1.2 - 0.5 + 1.1) / 3)
    close(out["clip_frac"], 1 / 3)
    close(out["approx_kl"], 0.5 * (math.log(1.5) ** 2 + math.log(0.5) ** 2 + math.log(1.1) ** 2) / 3)
    close(out["ratio"], (1.5 + 0.5 + 1.1) / 3)
    out["loss"].backward()
    # d(-A * ratio)/d logprob = -A * ratio / 3 where unclipped; 0 where clipped or padding
    close(logprobs.grad, [[0.0, -0.5 / 3, 1.1 / 3, 0.0]])


def test_clipped_value_loss():
    values = torch.tensor([[1.0, 2.0, 50.0]])
    old = torch.tensor([[0.5, 1.0, 0.0]])
    returns = torch.tensor([[2.0, 1.0, 0.0]])
    mask = torch.tensor([[T, T, F]])
    out = maths.value_loss(values, old, returns, mask, clip_range=0.2)
    # token 0: clipped value 0.7; errors (1-2)^2 = 1 and (0.7-2)^2 = 1.69 -> 1.69 (clipped larger)
    # token 1: clipped value 1.2; errors (2-1)^2 = 1 and (1.2-1)^2 = 0.04 -> 1
    close(out["loss"], 0.5 * (1.69 + 1.0) / 2)
    close(out["clip_frac"], 0.5)


def test_entropy_and_token_logprobs():
    logits = torch.tensor([[[0.0, 0.0], [0.0, math.log(3.0)]]])  # p = (1/2, 1/2) and (1/4, 3/4)
    close(maths.entropy_from_logits(logits), [[math.log(2), -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))]])
    tokens = torch.tensor([[0, 1]])
    close(maths.token_logprobs(logits, tokens), [[math.log(0.5), math.log(0.75)]])
    # temperature 2 halves the logits: p(1) = sqrt(3) / (1 + sqrt(3))
    close(maths.token_logprobs(logits, tokens, temperature=2.0),
          [[math.log(0.5), math.log(math.sqrt(3) / (1 + math.sqrt(3)))]])


def test_adaptive_kl_coefficient():
    # KL twice the target: error clipped to +0.2; 100 answers over a horizon of 1000 -> x 1.02
    assert maths.adaptive_kl_coef(0.1, kl=12.0, target=6.0, n_steps=100, horizon=1000) == pytest.approx(0.102)
    # KL 10% under target: error -0.1 -> x 0.99
    assert maths.adaptive_kl_coef(0.1, kl=5.4, target=6.0, n_steps=100, horizon=1000) == pytest.approx(0.099)
    # no target: a fixed coefficient
    assert maths.adaptive_kl_coef(0.1, kl=50.0, target=None, n_steps=100) == 0.1
