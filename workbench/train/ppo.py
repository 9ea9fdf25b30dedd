"""PPO: online RLHF, written here because TRL 1.16 has no PPOTrainer any more.

Each step is one rollout and its update, as the RLHF papers describe it (Ziegler et al. 2019,
Stiennon et al. 2020, Ouyang et al. 2022); the maths is in `workbench.rl.maths`:

  1. sample an answer to each of `rollout_batch_size` prompts from the policy;
  2. score each answer: the reward model's score read at its last real token, minus the
     missing-EOS penalty when the answer was cut off at max_new_tokens;
  3. per-token rewards: -kl_coef * KL(policy || reference) on every answer token, plus the score
     on the last one;
  4. values from the value function, GAE advantages and returns, whitened advantages;
  5. `ppo_epochs` passes over shuffled minibatches: clipped policy loss, and vf_coef times the
     clipped value loss;
  6. the KL coefficient moves towards kl_target (adaptive) or stays (fixed); metrics, sample
     answers and checkpoints go to the run folder.

The loop follows torchtune's `recipes/ppo_full_finetune_single_device.py` (generate_trajectory,
then _ppo_step over minibatches) and TRL's PPO trainer of 2024-2025 (`trl/trainer/ppo_trainer.py`:
truncation after EOS, missing_eos_penalty, reward read at the last real token).

The networks (one base model, an adapter each) are in `workbench.train.ppo_actors`; checkpoints
in `workbench.train.ppo_checkpoint`.

Reward rules (`--reward-rule`, instead of a reward model) make runs that need no trained reward
model, for demos and for the tests: `length` (+0.1 a word), `brevity` (-0.1 a word) and
`token:WORD` (+1 for each time WORD appears as a word).
"""

from __future__ import annotations

import dataclasses
import math
import random
import resource
import time
from pathlib import Path

from workbench.models.batch import padded
from workbench.models.load import linear_fp32
from workbench.models.score import check_same_tokenizer, reward_run_ref
from workbench.rl.rewards import parse_reward_rule
from workbench.runs import Run, now
from workbench.train.common import check_policy_run, model_source, training_rows
from workbench.train.config import PPORunConfig
from workbench.train.ppo_actors import Actors, adapter, hidden_states, load_actors
from workbench.train.ppo_checkpoint import load_checkpoint, save_checkpoint, save_policy


# ================================================================================ checks

def prompt_rows(config: PPORunConfig) -> tuple[list[dict], list[dict]]:
    """(train, held-out) prompt rows: held-out from eval_data, or a seeded split of the prompts."""
    return training_rows(dataclasses.replace(config, data=config.prompts), task="prompts")


def check_inputs(config: PPORunConfig) -> None:
    """Everything that can be checked before a job starts: reward, starting run, prompts."""
    check_policy_run(config)
    base, _ = model_source(config)
    config.model = base
    if config.reward_rule:
        parse_reward_rule(config.reward_rule)
    else:
        ref = reward_run_ref(config.reward_model)
        check_same_tokenizer(base, ref.base, config.reward_model)
    prompt_rows(config)


# ================================================================================ rollout

def _rows(batch):
    return batch["query"], batch["query_mask"], batch["responses"], batch["mask"]


def encode_prompts(tokenizer, rows: list[dict], max_prompt_tokens: int) -> list[list[int]]:
    """Token ids of each prompt with the generation prompt; a long one keeps its end (the turn
    the model answers)."""
    from workbench.data.tokens import encode_prompt
    return [encode_prompt(tokenizer, row["prompt"])[-max_prompt_tokens:] for row in rows]


def left_padded(prompt_ids: list[list[int]], pad_id: int, device):
    """(ids, attention mask), both (B, P), padded on the left as generation needs."""
    ids, attention = padded(prompt_ids, pad_id, left=True)
    return ids.to(device), attention.to(device)


def sample_answers(actors: Actors, tokenizer, prompt_ids, config: PPORunConfig) -> dict:
    """Sample one answer per prompt from the policy.

    Returns {"query" (B, P) left-padded prompt ids, "query_mask" (B, P), "responses" (B, R) with
    padding after the first EOS, "mask" (B, R) bool: the real answer tokens, EOS included,
    "has_eos" (B,) bool: the answer ended before max_new_tokens}.
    """
    import torch

    from workbench.models.sampling import generate, generation_config
    from workbench.rl.maths import response_mask, truncate_after_eos
    model = actors.model
    query, query_mask = left_padded(prompt_ids, tokenizer.pad_token_id, model.device)
    # softmax(logits / temperature) and nothing else: the distribution `policy_logprobs` scores
    generation = generation_config(temperature=config.temperature, max_new_tokens=config.max_new_tokens,
                                   eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    chunks = []
    with torch.no_grad(), adapter(model, "default"):
        for start in range(0, len(prompt_ids), config.rollout_batch_size):
            part = slice(start, start + config.rollout_batch_size)
            out = generate(model, generation, input_ids=query[part], attention_mask=query_mask[part])
            chunks.append(out[:, query.shape[1]:])
    width = max(c.shape[1] for c in chunks)
    responses = torch.cat([torch.nn.functional.pad(c, (0, width - c.shape[1]), value=tokenizer.pad_token_id)
                           for c in chunks])
    mask = response_mask(responses, tokenizer.eos_token_id)
    responses = truncate_after_eos(responses, tokenizer.eos_token_id, tokenizer.pad_token_id)
    has_eos = (responses == tokenizer.eos_token_id).any(dim=1)
    return {"query": query, "query_mask": query_mask, "responses": responses, "mask": mask,
            "has_eos": has_eos}


def policy_logprobs(actors: Actors, name: str | None, query, query_mask, responses, mask, temperature,
                    with_entropy: bool = False):
    """Log-probabilities (B, R) of the answer tokens under adapter `name` (and the entropy (B, R)
    of each next-token distribution when asked). Differentiable when gradients are on."""
    import torch

    from workbench.rl.maths import entropy_from_logits, token_logprobs
    model = actors.model
    ids = torch.cat([query, responses], dim=1)
    attention = torch.cat([query_mask, mask.long()], dim=1)
    with adapter(model, name):
        hidden = hidden_states(model, ids, attention)
    # The hidden state before each answer token predicts it; the LM head runs on those alone, in
    # fp32: bf16 logits move in steps of ~1/256 of their size, which at a low temperature is a
    # ratio step of the order of the clip range.
    logits = linear_fp32(model.get_base_model().get_output_embeddings(), hidden[:, query.shape[1] - 1: -1])
    logprobs = token_logprobs(logits, responses, temperature)
    entropy = entropy_from_logits(logits / temperature) if with_entropy else None
    return logprobs, entropy


def value_predictions(actors: Actors, query, query_mask, responses, mask):
    """V(s_t) (B, R): the value head on the value adapter's hidden state before each answer token."""
    import torch
    ids = torch.cat([query, responses], dim=1)
    attention = torch.cat([query_mask, mask.long()], dim=1)
    with adapter(actors.model, "value"):
        hidden = hidden_states(actors.model, ids, attention)
    return actors.value_head(hidden[:, query.shape[1] - 1: -1].float()).squeeze(-1)


def in_chunks(function, batch: dict, size: int, *args) -> list:
    """`function(query, query_mask, responses, mask, *args)` over row chunks of `size`, outputs
    concatenated: forward passes over a whole rollout stay within a minibatch's memory."""
    import torch
    outputs = []
    for start in range(0, batch["query"].shape[0], size):
        part = {k: v[start:start + size] for k, v in batch.items()}
        out = function(*_rows(part), *args)
        outputs.append(out if isinstance(out, tuple) else (out,))
    return [torch.cat(column) if column[0] is not None else None for column in zip(*outputs)]


def score_answers(actors: Actors, batch: dict, config: PPORunConfig) -> dict:
    """Add to a sampled batch what needs no value function: scores (B,), penalised scores (B,),
    has_eos (B,), policy and reference log-probs (B, R) and the policy's entropy (B, R)."""
    import torch

    from workbench.rl.maths import missing_eos_penalty
    size = config.batch_size
    with torch.no_grad():
        logprobs, entropy = in_chunks(
            lambda *rows: policy_logprobs(actors, "default", *rows, config.temperature, True), batch, size)
        ref_logprobs, _ = in_chunks(
            lambda *rows: policy_logprobs(actors, actors.reference, *rows, config.temperature), batch, size)
        (scores,) = in_chunks(actors.score, batch, size)
    scores = scores.float()
    return {**batch, "logprobs": logprobs, "ref_logprobs": ref_logprobs, "entropy": entropy,
            "scores": scores,
            "penalised": missing_eos_penalty(scores, batch["has_eos"], config.missing_eos_penalty)}


def rollout(actors: Actors, tokenizer, prompt_ids, config: PPORunConfig, kl_coef: float) -> dict:
    """Steps 1-4 of a PPO step: sample, score, penalise with the KL, estimate advantages.

    Adds to the scored batch: "values" (B, R), "kl" (B, R) per-token KL estimates, "kl_rewards"
    (B, R) the penalty part of the rewards, "advantages" (B, R) whitened and "returns" (B, R).
    """
    import torch

    from workbench.rl.maths import gae_advantages, kl_per_token, penalised_rewards, whiten
    batch = score_answers(actors, sample_answers(actors, tokenizer, prompt_ids, config), config)
    mask = batch["mask"]
    with torch.no_grad():
        (values,) = in_chunks(lambda *rows: value_predictions(actors, *rows), batch, config.batch_size)
    values = values * mask
    kl = kl_per_token(batch["logprobs"], batch["ref_logprobs"], config.kl_estimator) * mask
    rewards, kl_rewards = penalised_rewards(batch["penalised"], kl, kl_coef, mask)
    if config.whiten_rewards:
        rewards = whiten(rewards, mask, shift_mean=False)
    advantages, returns = gae_advantages(values, rewards, mask, config.gamma, config.lam)
    return {**batch, "values": values, "kl": kl, "kl_rewards": kl_rewards,
            "advantages": whiten(advantages, mask), "returns": returns}


# ================================================================================ update

def ppo_update(actors: Actors, optimizer, batch: dict, config: PPORunConfig) -> dict:
    """Step 5: `ppo_epochs` passes over shuffled minibatches of the rollout.

    Policy and value are separate adapters, so each loss is backpropagated through its own
    forward pass (one graph in memory at a time); together they make one optimizer step, taken
    every `grad_accum` minibatches. Returns the means of the losses and diagnostics.
    """
    import torch

    from workbench.rl.maths import policy_loss, value_loss
    rows = batch["query"].shape[0]
    stats: list[dict] = []
    for _ in range(config.ppo_epochs):
        order = torch.randperm(rows)
        minibatches = [order[i:i + config.batch_size] for i in range(0, rows, config.batch_size)]
        for k, index in enumerate(minibatches):
            mb = {key: value[index] for key, value in batch.items()}
            logprobs, _ = policy_logprobs(actors, "default", *_rows(mb), config.temperature)
            policy = policy_loss(logprobs, mb["logprobs"], mb["advantages"], mb["mask"], config.clip_range)
            (policy["loss"] / config.grad_accum).backward()
            values = value_predictions(actors, *_rows(mb))
            value = value_loss(values, mb["values"], mb["returns"], mb["mask"], config.value_clip_range)
            (config.vf_coef * value["loss"] / config.grad_accum).backward()
            if (k + 1) % config.grad_accum == 0 or k == len(minibatches) - 1:
                # Two networks, two norms: clipped together, the value function's larger gradient
                # scaled the policy's step down (held-out reward 0.64 -> 0.52 instead of rising).
                torch.nn.utils.clip_grad_norm_(actors.policy_params, 1.0)
                torch.nn.utils.clip_grad_norm_(actors.value_params, 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            stats.append({"policy_loss": policy["loss"].item(), "value_loss": value["loss"].item(),
                          "clip_frac": policy["clip_frac"].item(), "approx_kl": policy["approx_kl"].item(),
                          "ratio": policy["ratio"].item(), "value_clip_frac": value["clip_frac"].item()})
    return {key: sum(s[key] for s in stats) / len(stats) for key in stats[0]}


# ================================================================================ measuring

def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KB, macOS bytes)."""
    import sys
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def step_metrics(batch: dict, update: dict, kl_coef: float) -> dict:
    """One metrics row of a PPO step. Scores are the reward model's, before the EOS penalty; kl
    is per answer (the per-token estimates summed), in nats."""
    from workbench.rl.maths import masked_mean
    mask, scores = batch["mask"], batch["scores"]
    return {
        "reward/mean": scores.mean().item(),
        "reward/std": scores.std().item() if scores.numel() > 1 else 0.0,
        "reward/penalised": batch["penalised"].mean().item(),
        "kl": batch["kl"].sum(dim=1).mean().item(),
        "kl_penalty": -batch["kl_rewards"].sum(dim=1).mean().item(),
        "kl_coef": kl_coef,
        "entropy": masked_mean(batch["entropy"], mask).item(),
        "response_length": mask.sum(dim=1).float().mean().item(),
        "eos_rate": batch["has_eos"].float().mean().item(),
        "value/mean": masked_mean(batch["values"], mask).item(),
        **update,
        "peak_rss_mb": peak_rss_mb(),
    }


def evaluate(actors: Actors, tokenizer, prompt_ids, config: PPORunConfig) -> dict:
    """Mean score, KL (nats per answer, k1) and length of answers to held-out prompts.

    Sampled as in training, from a fixed seed and without touching the training random state, so
    the evaluations of a run (and of a resumed one) are comparable.
    """
    import torch

    from workbench.rl.maths import kl_per_token
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed + 1)
        batch = score_answers(actors, sample_answers(actors, tokenizer, prompt_ids, config), config)
    kl = kl_per_token(batch["logprobs"], batch["ref_logprobs"], "k1") * batch["mask"]
    return {"eval_reward/mean": batch["scores"].mean().item(), "eval_kl": kl.sum(dim=1).mean().item(),
            "eval_response_length": batch["mask"].sum(dim=1).float().mean().item(),
            "eval_eos_rate": batch["has_eos"].float().mean().item(), "eval_prompts": len(prompt_ids)}


def sample_rows(step: int, rows: list[dict], batch: dict, tokenizer, n: int = 4) -> list[dict]:
    """{step, prompt, response, score} of the first `n` answers of a rollout, for the GUI's table."""
    out = []
    for i, row in enumerate(rows[:n]):
        prompt = next((m["content"] for m in reversed(row["prompt"]) if m["role"] == "user"), "")
        response = tokenizer.decode(batch["responses"][i][batch["mask"][i]], skip_special_tokens=True)
        out.append({"step": step, "prompt": prompt, "response": response,
                    "score": round(batch["scores"][i].item(), 4)})
    return out


# ================================================================================ schedule

def batch_indices(n_prompts: int, step: int, size: int, seed: int) -> list[int]:
    """The prompts of PPO step `step` (0-based): each epoch a seeded shuffle of all prompts, read
    in order. A pure function of the step, so a resumed run answers the prompts it would have."""
    orders: dict[int, list[int]] = {}
    picked = []
    for i in range(step * size, (step + 1) * size):
        epoch, position = divmod(i, n_prompts)
        if epoch not in orders:
            orders[epoch] = list(range(n_prompts))
            random.Random(seed * 100003 + epoch).shuffle(orders[epoch])
        picked.append(orders[epoch][position])
    return picked


def planned_ppo_steps(config: PPORunConfig, n_prompts: int) -> int:
    if config.max_steps:
        return config.max_steps
    return max(1, math.ceil(n_prompts * config.epochs / config.rollout_batch_size))


def start_eval(run: Run) -> float | None:
    """The held-out mean score logged before the first update (kept across resumes)."""
    return next((row["eval_reward/mean"] for row in run.metrics()
                 if row.get("step") == 0 and "eval_reward/mean" in row), None)


# ================================================================================ the loop

def train(config: PPORunConfig, run: Run, resume_from: Path | None = None) -> None:
    import torch

    from workbench.models import detect_hardware, load_tokenizer
    from workbench.rl.maths import adaptive_kl_coef

    torch.manual_seed(config.seed)
    hardware = detect_hardware(config.precision)
    base, sft_adapter = model_source(config)
    tokenizer = load_tokenizer(base)
    train_rows, eval_rows = prompt_rows(config)
    max_prompt_tokens = config.max_length - config.max_new_tokens
    train_ids = encode_prompts(tokenizer, train_rows, max_prompt_tokens)
    eval_ids = encode_prompts(tokenizer, eval_rows, max_prompt_tokens)
    actors = load_actors(config, base, sft_adapter, hardware, tokenizer)
    if actors.second_copy:
        print(f"reward model {config.reward_model} is on another base: loaded as a second model", flush=True)
    optimizer = torch.optim.AdamW(actors.trainable, lr=config.resolved_learning_rate(), weight_decay=0.0)
    total = planned_ppo_steps(config, len(train_rows))
    step, kl_coef = load_checkpoint(resume_from, actors, optimizer) if resume_from else (0, config.kl_coef)

    def log(row: dict) -> None:
        epoch = round(step * config.rollout_batch_size / len(train_rows), 4)
        run.log_metrics({"step": step, "epoch": epoch, "time": now(), **row})

    run.update_status(step=step, max_steps=total)
    if step == 0 and eval_ids:
        log(evaluate(actors, tokenizer, eval_ids, config))
    started, first_step = time.monotonic(), step
    while step < total:
        tick = time.monotonic()
        picked = batch_indices(len(train_rows), step, config.rollout_batch_size, config.seed)
        batch = rollout(actors, tokenizer, [train_ids[i] for i in picked], config, kl_coef)
        update = ppo_update(actors, optimizer, batch, config)
        step += 1
        metrics = step_metrics(batch, update, kl_coef)
        kl_coef = adaptive_kl_coef(kl_coef, metrics["kl"], config.kl_target, len(picked), config.kl_horizon)
        if step % config.logging_steps == 0 or step == total:
            log({**metrics, "learning_rate": config.resolved_learning_rate(),
                 "step_s": round(time.monotonic() - tick, 2)})
        if step == 1 or step % config.sample_every == 0 or step == total:
            for row in sample_rows(step, [train_rows[i] for i in picked], batch, tokenizer):
                run.append_jsonl(run.samples_path, row)
        elapsed = time.monotonic() - started
        run.update_status(step=step, max_steps=total, elapsed_s=round(elapsed, 1),
                          eta_s=round(elapsed / (step - first_step) * (total - step), 1))
        if config.eval_steps and step % config.eval_steps == 0 and step < total and eval_ids:
            log(evaluate(actors, tokenizer, eval_ids, config))
        if run.stop_requested():
            checkpoint = save_checkpoint(run, actors, optimizer, step, kl_coef, config)
            run.stop_path.unlink(missing_ok=True)
            run.update_status(state="stopped", stopped_at=now(), pid=None, last_checkpoint=str(checkpoint))
            return
        if step % config.save_steps == 0 or step == total:
            save_checkpoint(run, actors, optimizer, step, kl_coef, config)

    final = {"peak_rss_mb": peak_rss_mb(), "reward_model_copy": actors.second_copy}
    if eval_ids:
        result = evaluate(actors, tokenizer, eval_ids, config)
        log(result)
        final.update(result, **{"eval_reward/start": start_eval(run)})
    output = save_policy(run, actors, tokenizer)
    run.update_status(state="completed", finished_at=now(), final=final, output=str(output), pid=None, eta_s=0)
