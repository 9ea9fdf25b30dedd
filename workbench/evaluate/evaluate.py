"""Held-out evaluation of several variants, and pairwise win rates by reward-model score.

Per variant (all served by one `Comparer`, so one base in memory):
  - sft:        mean loss per trained token on held-out SFT rows (the tokens `encode_row` marks as
                trained: assistant turns), and perplexity = exp(loss);
  - preference: how often the chosen answer gets a higher total log-likelihood than the rejected
                one (answer tokens only, end-of-turn included, as `encode_preference` cuts them);
  - reward:     mean reward-model score of the variant's own answers to held-out prompts;
and, from those rewards, each pair's win rate with a Wilson confidence interval.

Results are saved as JSON in `$WORKBENCH_HOME/evals/<id>.json`, with a copy in every run folder
involved (`runs/<name>/evals/<id>.json`), so the GUI and notebooks can draw them later.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path

from workbench import paths
from workbench.errors import ConfigError, DataError


# ---------------------------------------------------------------- win rates (pure)

def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion successes / n (successes may be fractional: a tie
    counts half). Better than the normal interval for small n and rates near 0 or 1."""
    if n <= 0:
        raise ValueError("n must be positive")
    z = statistics.NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def win_rates(scores: dict[str, list[float]], *, confidence: float = 0.95) -> list[dict]:
    """Pairwise win rates from per-prompt scores.

    scores: model -> one score per prompt, the same prompts in the same order for every model.
    Returns one dict per pair (model, opponent), `model` listed before `opponent` in `scores`:
    {"model", "opponent", "n", "wins", "losses", "ties", "win_rate", "ci_low", "ci_high",
    "confidence"}. win_rate = (wins + ties / 2) / n: a tie counts half a win for each side, so
    the opponent's win rate is 1 - win_rate and its interval is [1 - ci_high, 1 - ci_low].
    The interval is Wilson's, on that half-counted rate. With n = 0 the rate and interval are None.
    """
    names = list(scores)
    lengths = {len(scores[name]) for name in names}
    if len(lengths) > 1:
        raise ConfigError("win rates need one score per prompt for every model, in the same order; got "
                          + ", ".join(f"{name}: {len(scores[name])}" for name in names))
    pairs = []
    for i, model in enumerate(names):
        for opponent in names[i + 1:]:
            a, b = scores[model], scores[opponent]
            wins = sum(x > y for x, y in zip(a, b))
            losses = sum(x < y for x, y in zip(a, b))
            n = len(a)
            ties = n - wins - losses
            row = {"model": model, "opponent": opponent, "n": n, "wins": wins, "losses": losses,
                   "ties": ties, "win_rate": None, "ci_low": None, "ci_high": None,
                   "confidence": confidence}
            if n:
                low, high = wilson_interval(wins + ties / 2, n, confidence)
                row.update(win_rate=(wins + ties / 2) / n, ci_low=low, ci_high=high)
            pairs.append(row)
    return pairs


# ---------------------------------------------------------------- likelihoods

def token_nll(model, input_ids: list[int], mask: list[int]) -> tuple[float, int]:
    """(sum of -log p(token | tokens before it) over tokens where mask is 1, how many there were).

    input_ids, mask: one sequence of T ids and T 0/1 flags. The first token is never scored
    (nothing predicts it).
    """
    import torch

    device = next(model.parameters()).device
    ids = torch.tensor([input_ids], device=device)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, :-1].float()
    targets = ids[0, 1:]
    weights = torch.tensor(mask[1:], device=device, dtype=torch.float32)
    nll = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    return float((nll * weights).sum()), int(weights.sum())


def sft_loss(comparer, model: str, rows: list[dict], max_length: int = 1024) -> dict:
    """Loss per trained token over SFT rows: {"loss", "perplexity", "sft_rows", "sft_tokens"}.

    Rows are cut to max_length tokens (keeping the start, as training does); a row left with no
    trained token is skipped.
    """
    from workbench.data.tokens import encode_row

    tokenizer = comparer.tokenizer(model)
    total, count, used = 0.0, 0, 0
    with comparer.variant(model) as module:
        for row in rows:
            encoded = encode_row(tokenizer, row)
            ids, mask = encoded["input_ids"][:max_length], encoded["assistant_masks"][:max_length]
            if not any(mask[1:]):
                continue
            nll, n = token_nll(module, ids, mask)
            total, count, used = total + nll, count + n, used + 1
    if not count:
        return {"loss": None, "perplexity": None, "sft_rows": 0, "sft_tokens": 0}
    loss = total / count
    return {"loss": loss, "perplexity": math.exp(min(loss, 700)), "sft_rows": used, "sft_tokens": count}


def _share_won(margins: list[float]) -> float:
    """The share of margins above 0; a tie (0) counts half, as in win_rates."""
    return (sum(m > 0 for m in margins) + sum(m == 0 for m in margins) / 2) / len(margins)


def preference_accuracy(comparer, model: str, rows: list[dict], max_length: int = 1024) -> dict:
    """How often log p(chosen | prompt) > log p(rejected | prompt), summed over answer tokens.

    Returns {"preference_accuracy", "preference_margin" (mean log-likelihood of chosen minus
    rejected, in nats), "preference_accuracy_per_token", "pairs"}. A tie counts half.
    The summed log-likelihood favours the shorter answer whatever the model learnt, so the same
    comparison of the mean log-likelihood per answer token is reported beside it.
    """
    from workbench.data.tokens import encode_preference

    tokenizer = comparer.tokenizer(model)
    margins, per_token = [], []
    with comparer.variant(model) as module:
        for row in rows:
            pair = encode_preference(tokenizer, row)
            prompt = pair["prompt_ids"]
            scored = []  # (summed log-likelihood, answer tokens) for chosen, then rejected
            for answer in (pair["chosen_ids"], pair["rejected_ids"]):
                ids = (prompt + answer)[:max_length]
                mask = ([0] * len(prompt) + [1] * len(answer))[:max_length]
                nll, n = token_nll(module, ids, mask)
                scored.append((-nll, max(n, 1)))
            (chosen, n_chosen), (rejected, n_rejected) = scored
            margins.append(chosen - rejected)
            per_token.append(chosen / n_chosen - rejected / n_rejected)
    if not margins:
        return {"preference_accuracy": None, "preference_margin": None,
                "preference_accuracy_per_token": None, "pairs": 0}
    return {"preference_accuracy": _share_won(margins), "preference_margin": statistics.fmean(margins),
            "preference_accuracy_per_token": _share_won(per_token), "pairs": len(margins)}


# ---------------------------------------------------------------- the evaluation

def _rows(source, task: str, max_rows: int | None) -> list[dict]:
    """Canonical rows from a file path, or rows / prompts given directly."""
    from workbench.evaluate.compare import as_messages

    if isinstance(source, (str, Path)):
        from workbench.data import load_rows
        rows = load_rows(source, task=task)
    elif task == "prompts":
        rows = [{"prompt": as_messages(item["prompt"] if isinstance(item, dict) else item)}
                for item in source]
    else:
        rows = list(source)
    return rows[:max_rows] if max_rows else rows


def score_answers(scorer, prompts: list, texts: list[str]) -> list[float]:
    """The reward of each (prompt messages, answer text), in order. Identical pairs are scored once,
    so they score identically (a tie in `win_rates`) whatever batch they would have landed in."""
    unique = list(dict.fromkeys((json.dumps(prompt), text) for prompt, text in zip(prompts, texts)))
    scored = dict(zip(unique, scorer.score_many([(json.loads(p), t) for p, t in unique])))
    return [float(scored[(json.dumps(prompt), text)]) for prompt, text in zip(prompts, texts)]


def _reward_results(comparer, scorer, prompts: list[dict], sampling: dict) -> tuple[dict, dict]:
    """Each variant's answers to `prompts` and their rewards: ({label: [rewards]}, {label: [rows]})."""
    rewards, generations = {}, {}
    seed = sampling.get("seed", 0)
    settings = {k: v for k, v in sampling.items() if k != "seed"}
    # Every variant's answer to a prompt in one batched call: they share each forward pass.
    per_prompt = [comparer.answers([(label, comparer.encode(row["prompt"], model=label), seed)
                                    for label in comparer.models], **settings) for row in prompts]
    for column, label in enumerate(comparer.models):
        answers = [answered[column] for answered in per_prompt]
        rewards[label] = score_answers(scorer, [row["prompt"] for row in prompts], [a.text for a in answers])
        generations[label] = [{"prompt": row["prompt"], "text": a.text, "tokens": a.tokens,
                               "reward": r} for row, a, r in zip(prompts, answers, rewards[label])]
    return rewards, generations


def evaluate_models(models, *, sft_data=None, preference_data=None, prompts=None,
                    reward_model: str | None = None, base: str | None = None, max_rows: int | None = 50,
                    seed: int = 0, max_new_tokens: int = 64, temperature: float = 0.0,
                    max_length: int = 1024, comparer=None, save: bool = True,
                    precision: str | None = None) -> dict:
    """Evaluate variants ("base", runs, models) on held-out data; see the module docstring.

    sft_data / preference_data: a file path or canonical rows. prompts: a file path (any file
    with prompts in it) or a list of prompts (strings or message lists); needs `reward_model`.
    max_rows: the first N rows of each source. Generations use `seed` and `temperature`
    (0 = greedy, the default, so a rerun gives the same answers) and at most `max_new_tokens`.
    comparer: an already loaded Comparer to reuse (its models are the ones evaluated).
    precision: "auto" | "fp32" | "bf16" for the models loaded here (None = auto).
    Returns (and, with save, writes) a JSON-ready dict:
      "id", "created_at", "runs" (the runs involved), "reward_model", "data", "settings";
      "models": {model: flat metrics, those that apply: "loss", "perplexity", "sft_rows",
                 "sft_tokens"; "preference_accuracy", "preference_margin",
                 "preference_accuracy_per_token", "pairs";
                 "mean_reward", "reward_std", "prompts"}, in the order given;
      "scores": {model: [reward per prompt]} (the input of `win_rates`);
      "win_rates": win_rates(scores); "generations": {model: [{"prompt", "text", "tokens", "reward"}]}.
    """
    from workbench.evaluate.compare import Comparer

    if sft_data is None and preference_data is None and prompts is None:
        raise ConfigError("nothing to evaluate on.",
                          hint="Give held-out SFT rows, preference pairs, or prompts (with a reward model).")
    if prompts is not None and not reward_model and getattr(comparer, "scorer", None) is None:
        raise ConfigError("scoring generations on prompts needs a reward model.",
                          hint="Train one with `workbench train reward`, then pass --reward-model RUN.")
    sft_rows = _rows(sft_data, "sft", max_rows) if sft_data is not None else None
    pairs = _rows(preference_data, "preference", max_rows) if preference_data is not None else None
    prompt_rows = _rows(prompts, "prompts", max_rows) if prompts is not None else None
    for name, rows in (("SFT", sft_rows), ("preference", pairs), ("prompts", prompt_rows)):
        if rows is not None and not rows:
            raise DataError(f"the {name} data has no rows to evaluate on")

    comparer = comparer or Comparer(models, base=base, reward_model=reward_model, precision=precision)
    scorer = comparer.scorer
    if scorer is None and reward_model:
        from workbench.models.score import RewardScorer
        scorer = RewardScorer(reward_model, precision=comparer.hardware.precision)
    metrics = {label: {} for label in comparer.models}
    for label in comparer.models:
        if sft_rows is not None:
            metrics[label].update(sft_loss(comparer, label, sft_rows, max_length))
        if pairs is not None:
            metrics[label].update(preference_accuracy(comparer, label, pairs, max_length))
    sampling = dict(seed=seed, temperature=temperature, max_new_tokens=max_new_tokens)
    rewards, generations = {}, {}
    if prompt_rows is not None:
        rewards, generations = _reward_results(comparer, scorer, prompt_rows, sampling)
        for label, values in rewards.items():
            metrics[label].update(mean_reward=statistics.fmean(values),
                                  reward_std=statistics.pstdev(values), prompts=len(values))

    record = {
        "id": None,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "runs": _run_names(comparer.models),
        "reward_model": getattr(scorer, "name", None),
        "data": {"sft": _describe(sft_data), "preference": _describe(preference_data),
                 "prompts": _describe(prompts)},
        "settings": {**sampling, "max_rows": max_rows, "max_length": max_length,
                     "precision": comparer.hardware.precision},
        "models": metrics,
        "scores": rewards,
        "win_rates": win_rates(rewards) if rewards else [],
        "generations": generations,
    }
    return save_eval(record) if save else record


def _describe(source) -> str | None:
    """A data source for the record: its path, or how many rows were given directly."""
    if source is None or isinstance(source, (str, Path)):
        return None if source is None else str(source)
    return f"{len(source)} rows given directly"


def _run_names(labels: list[str]) -> list[str]:
    from workbench.runs import runs_root
    return [label for label in labels if (runs_root() / label / "config.yaml").exists()]


# ---------------------------------------------------------------- saved results

def evals_dir() -> Path:
    return paths.home() / "evals"


def save_eval(record: dict) -> dict:
    """Give `record` an id and write it to evals/<id>.json and to every involved run's evals/."""
    from workbench.io import claim_id, write_json_atomic
    from workbench.runs import get_run

    folder = evals_dir()
    eval_id = claim_id(folder, "eval")
    record = {**record, "id": eval_id}
    write_json_atomic(folder / f"{eval_id}.json", record)
    involved = record["runs"] + ([record["reward_model"]] if record.get("reward_model") else [])
    for name in dict.fromkeys(involved):
        run_evals = get_run(name).path / "evals"
        run_evals.mkdir(exist_ok=True)
        write_json_atomic(run_evals / f"{eval_id}.json", record)
    return record


def list_evals(run: str | None = None) -> list[dict]:
    """Saved evaluation results, newest first; with `run`, those that involved that run."""
    if run is None:
        folder = evals_dir()
    else:
        from workbench.runs import get_run
        folder = get_run(run).path / "evals"
    records = []
    for path in sorted(folder.glob("eval-*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # an id claimed by a writer that has not finished
    return records


def data_task(path) -> str:
    """The task of a data file ("sft", "preference", "unpaired" or "prompts"), for `workbench eval`."""
    from workbench.data import inspect_file
    report = inspect_file(path)
    if not report.usable():
        raise DataError(report.errors[0].message if report.errors else "no usable rows", path=path,
                        hint=report.hint())
    return report.task


def evaluate_file(models, data, *, reward_model: str | None = None, **kw) -> dict:
    """`workbench eval`: the metrics that apply to `data`'s task.

    sft file -> loss/perplexity; preference file -> preference accuracy, plus its prompts for
    generation + reward when a reward model is given; prompts (or unpaired) file -> generation +
    reward (a reward model is required).
    """
    task = data_task(data)
    if task == "sft":
        return evaluate_models(models, sft_data=data, reward_model=reward_model, **kw)
    if task == "preference":
        return evaluate_models(models, preference_data=data, reward_model=reward_model,
                               prompts=data if reward_model else None, **kw)
    if not reward_model:
        raise ConfigError(f"{data} holds prompts without answers: evaluating on it means generating "
                          "answers and scoring them, which needs a reward model.",
                          hint="Pass --reward-model RUN (train one with `workbench train reward`).")
    return evaluate_models(models, prompts=data, reward_model=reward_model, **kw)
