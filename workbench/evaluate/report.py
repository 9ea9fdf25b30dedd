"""What each method did to a model, measured on held-out data: the numbers of `workbench report`.

Per model (base, SFT, DPO, PPO, ...; all served by one `Comparer`, the base always among them):
  - held-out loss on SFT rows and preference accuracy on pairs, as `evaluate_models` measures them;
  - reward: the reward model's mean score of the model's greedy answers to held-out prompts, and
    each pair's win rate with its Wilson interval (`win_rates`);
  - diversity, from `samples` sampled answers per prompt (temperature `temperature`):
      distinct-n   unique word n-grams / all word n-grams among one prompt's samples (n = 1, 2),
                   averaged over prompts; 1 = no n-gram repeated, lower = more repetition;
      self-BLEU    each sample's BLEU against the prompt's other samples (sacrebleu, 0-100),
                   averaged: 100 = every sample the same answer, 0 = nothing shared;
      mean length  answer tokens; ended share: answers that ended by themselves (end-of-turn
                   token) rather than being cut at max_new_tokens;
  - fidelity to references, for SFT rows (their last assistant turn is the reference): ROUGE-L F1
    (Google's rouge-score, 0-1) and corpus BLEU (sacrebleu, 0-100) of the greedy answers;
  - drift: KL(model || base) in nats per answer token, on the model's own greedy answers to the
    held-out prompts, summed over the whole vocabulary at each position (not a one-sample estimate);
and a few held-out prompts with every model's greedy answer.

Words are sacrebleu's 13a tokens (its BLEU's own tokenizer), so distinct-n and BLEU count the same units.
"""

from __future__ import annotations

import json
import statistics
import time

from workbench.errors import ConfigError, DataError

# (key, label, which way is better: "higher" | "lower" | None, what it is), in the report's order.
METRICS = (
    ("loss", "held-out loss", "lower", "mean loss per answer token on held-out SFT rows"),
    ("preference_accuracy", "preference accuracy", "higher",
     "share of held-out pairs where the chosen answer is more likely than the rejected one "
     "(summed log-likelihood: favours the shorter answer, whatever the model learnt)"),
    ("preference_accuracy_per_token", "preference accuracy per token", "higher",
     "the same comparison per answer token, which length does not decide"),
    ("mean_reward", "mean reward", "higher", "the reward model's mean score of the greedy answers"),
    ("rouge_l", "ROUGE-L", "higher", "ROUGE-L F1 of the greedy answers against the reference answers (0-1)"),
    ("bleu", "BLEU", "higher", "corpus BLEU of the greedy answers against the reference answers (0-100)"),
    ("distinct_1", "distinct-1", "higher", "unique words / words among one prompt's samples"),
    ("distinct_2", "distinct-2", "higher", "unique word pairs / word pairs among one prompt's samples"),
    ("self_bleu", "self-BLEU", "lower", "BLEU of each sample against the prompt's other samples (0-100)"),
    ("mean_length", "mean length", None, "answer tokens, over the samples"),
    ("ended_share", "ended by itself", None, "share of samples that ended before max_new_tokens"),
    ("kl_to_base", "KL to base", "lower", "KL(model || base) in nats per answer token, on its greedy answers"),
)


# ---------------------------------------------------------------- the text metrics (pure)

def words(text: str) -> list[str]:
    """sacrebleu's 13a tokens of `text` (punctuation split off), the unit of distinct-n and BLEU."""
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    return Tokenizer13a()(text).split()


def distinct_n(texts: list[str], n: int) -> float | None:
    """Unique word n-grams / all word n-grams over `texts` together (None: no n-gram at all)."""
    from collections import Counter

    from sacrebleu.metrics.helpers import extract_word_ngrams
    grams = Counter()
    for text in texts:
        grams.update(extract_word_ngrams(words(text), n))
    total = sum(grams.values())
    return len(grams) / total if total else None


def self_bleu(texts: list[str]) -> float | None:
    """Mean sentence BLEU (sacrebleu, 0-100, its default exponential smoothing) of each text against
    all the others as references; None with fewer than two texts."""
    import sacrebleu
    if len(texts) < 2:
        return None
    return statistics.fmean(sacrebleu.sentence_bleu(text, texts[:i] + texts[i + 1:]).score
                            for i, text in enumerate(texts))


def rouge_l(answers: list[str], references: list[str]) -> float | None:
    """Mean ROUGE-L F1 (rouge-score, 0-1) of each answer against its reference."""
    from rouge_score import rouge_scorer
    if not answers:
        return None
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    return statistics.fmean(scorer.score(ref, ans)["rougeL"].fmeasure for ans, ref in zip(answers, references))


def corpus_bleu(answers: list[str], references: list[str]) -> float | None:
    """sacrebleu's corpus BLEU (0-100) of the answers against one reference each."""
    import sacrebleu
    if not answers:
        return None
    return sacrebleu.corpus_bleu(answers, [references]).score


def kl_per_token(logits, base_logits):
    """KL(p || q) at each position, summed over the vocabulary, in nats.

    logits, base_logits: [T, V] next-token logits of the model (p) and of the base (q) at the same
    T positions. Returns a [T] tensor (float32).
    """
    import torch
    log_p = torch.log_softmax(logits.float(), dim=-1)
    log_q = torch.log_softmax(base_logits.float(), dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def diversity(samples: list[list]) -> dict:
    """Diversity of one model's sampled answers: samples[prompt] = that prompt's Answers.

    distinct-n and self-BLEU are taken per prompt and averaged over prompts (a prompt whose samples
    hold no n-gram is left out of that mean); length and ended share over every sample."""
    def mean(values):
        values = [v for v in values if v is not None]
        return statistics.fmean(values) if values else None

    texts = [[answer.text for answer in answers] for answers in samples]
    every = [answer for answers in samples for answer in answers]
    return {"distinct_1": mean(distinct_n(t, 1) for t in texts),
            "distinct_2": mean(distinct_n(t, 2) for t in texts),
            "self_bleu": mean(self_bleu(t) for t in texts),
            "mean_length": statistics.fmean(a.tokens for a in every) if every else None,
            "ended_share": sum(a.finish_reason == "stop" for a in every) / len(every) if every else None,
            "samples": len(every)}


# ---------------------------------------------------------------- held-out prompts

def prompt_and_reference(row: dict) -> tuple[list[dict], str | None] | None:
    """(prompt messages, reference answer or None) of a canonical row: an SFT conversation up to its
    last assistant turn, which is the reference; a preference, unpaired or prompts row's prompt.
    None for a row with no prompt (plain text, or a conversation with no assistant turn)."""
    if "messages" in row:
        messages = row["messages"]
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
        if not last:  # no assistant turn, or nothing before it
            return None
        return messages[:last], messages[last]["content"]
    if row.get("prompt"):
        return list(row["prompt"]), None
    return None


def _prompts(rows: list[dict], keep_reference: bool) -> list[dict]:
    items = []
    for row in rows:
        found = prompt_and_reference(row)
        if found:
            items.append({"prompt": found[0], "reference": found[1] if keep_reference else None})
    return items


# ---------------------------------------------------------------- measuring

# Rows decoded together: one forward pass a token serves them all, so the answers of every model to
# every prompt cost a few passes, not one per prompt (on the default model in bf16, one batch of 48
# rows took 15-20 s where twelve batches of 4 took 86-95 s: 5-6 times faster).
BATCH_ROWS = 48


def _answer_all(comparer, requests: list[tuple[str, list, int]], *, temperature: float,
                max_new_tokens: int) -> list:
    """Answers to (model, prompt messages, seed) requests, in order, decoded BATCH_ROWS at a time."""
    encoded = [(label, comparer.encode(prompt, model=label), seed) for label, prompt, seed in requests]
    answers = []
    for start in range(0, len(encoded), BATCH_ROWS):
        answers += comparer.answers(encoded[start:start + BATCH_ROWS], temperature=temperature,
                                    max_new_tokens=max_new_tokens)
    return answers


def _greedy(comparer, items: list[dict], max_new_tokens: int) -> dict[str, list]:
    """Every model's greedy Answer to each item's prompt: {model: [Answer per item]}."""
    requests = [(label, item["prompt"], 0) for item in items for label in comparer.models]
    answers = _answer_all(comparer, requests, temperature=0.0, max_new_tokens=max_new_tokens)
    per_model = len(comparer.models)
    return {label: answers[m::per_model] for m, label in enumerate(comparer.models)}


def _sampled(comparer, items: list[dict], samples: int, temperature: float, max_new_tokens: int,
             seed: int) -> dict[str, list[list]]:
    """`samples` answers per prompt per model (seeds seed .. seed+samples-1): {model: [[Answer]]}."""
    requests = [(label, item["prompt"], seed + k) for item in items for label in comparer.models
                for k in range(samples)]
    answers = _answer_all(comparer, requests, temperature=temperature, max_new_tokens=max_new_tokens)
    out = {label: [] for label in comparer.models}
    per_item = len(comparer.models) * samples
    for i in range(len(items)):
        row = answers[i * per_item:(i + 1) * per_item]
        for m, label in enumerate(comparer.models):
            out[label].append(row[m * samples:(m + 1) * samples])
    return out


def _logits(comparer, model: str, ids: list[int], answer_start: int):
    """The model's next-token logits at the positions that predict ids[answer_start:]: [A, V]."""
    import torch
    with comparer.variant(model) as module:
        device = next(module.parameters()).device
        tensor = torch.tensor([ids], device=device)
        with torch.no_grad():
            logits = module(input_ids=tensor, attention_mask=torch.ones_like(tensor)).logits[0]
    return logits[answer_start - 1:-1]


def drift(comparer, model: str, items: list[dict], answers: list, base: str = "base") -> float | None:
    """KL(model || base) in nats per answer token over the model's answers to `items`' prompts."""
    if model == base:
        return 0.0
    if comparer.tokenizer(model).get_vocab() != comparer.tokenizer(base).get_vocab():
        return None  # different vocabularies: no common distribution to compare
    total, count = 0.0, 0
    for item, answer in zip(items, answers):
        if not answer.ids:
            continue
        prompt_ids = comparer.encode(item["prompt"], model=model)
        ids = prompt_ids + answer.ids
        kl = kl_per_token(_logits(comparer, model, ids, len(prompt_ids)),
                          _logits(comparer, base, ids, len(prompt_ids)))
        total, count = total + float(kl.sum()), count + len(answer.ids)
    return total / count if count else None


def _stage(label: str) -> str:
    from workbench.models.variants import model_ref
    if label == "base":
        return "base"
    return model_ref(label).stage or "model"


def measure_report(models, *, sft_data=None, preference_data=None, prompts=None, reward_model: str | None = None,
                   base: str | None = None, max_rows: int | None = 16, samples: int = 4, temperature: float = 0.7,
                   max_new_tokens: int = 64, examples: int = 4, seed: int = 0, max_length: int = 1024,
                   precision: str | None = None, comparer=None, on_progress=None) -> dict:
    """The report's numbers for `models` (runs, model names, "base"; "base" is added first when
    missing, since drift is measured from it). Data as in `evaluate_models`: file paths or rows.

    Prompts for generation are the `prompts` file's, else the preference file's, else the SFT
    file's; fidelity uses the SFT rows' prompts and references. on_progress(text) tells each phase.
    Returns a JSON-ready dict: "created_at", "wall_s", "models" (labels in order), "stages"
    ({label: its stage, or "base"}), "reward_model", "data", "settings", "metrics" ({label: the
    METRICS keys that apply, plus "sft_rows", "pairs", "prompts", "samples"}), "scores",
    "win_rates", "examples" ([{"prompt", "reference", "answers": {label: text}}]).
    """
    from workbench.evaluate.compare import Comparer, parse_models
    from workbench.evaluate.evaluate import (
        _describe, _rows, _run_names, preference_accuracy, score_answers, sft_loss, win_rates,
    )

    started = time.perf_counter()
    tell = on_progress or (lambda text: None)
    if samples < 2:
        raise ConfigError(f"samples must be at least 2 (diversity compares a prompt's samples), not {samples}.")
    if sft_data is None and preference_data is None and prompts is None:
        raise ConfigError("nothing to report on.",
                          hint="Give held-out SFT rows, preference pairs or prompts (--data FILE).")
    labels = parse_models(models)
    labels = labels if "base" in labels else ["base", *labels]
    sft_rows = _rows(sft_data, "sft", max_rows) if sft_data is not None else None
    pairs = _rows(preference_data, "preference", max_rows) if preference_data is not None else None
    prompt_rows = _rows(prompts, "prompts", max_rows) if prompts is not None else None
    fidelity_items = _prompts(sft_rows, keep_reference=True) if sft_rows else []
    items = _prompts(prompt_rows or pairs or [], keep_reference=False) or fidelity_items
    if not items:
        raise DataError("the held-out data has no prompts to answer",
                        hint="Give a prompts or preference file, or SFT rows with an assistant turn.")

    if comparer is not None and "base" not in comparer.models:
        raise ConfigError("the report measures drift from the base: the Comparer given must serve 'base'.",
                          hint="Create it with 'base' among its models, or let the report load its own.")
    tell("loading " + ", ".join(labels))
    comparer = comparer or Comparer(labels, base=base, reward_model=reward_model, precision=precision)
    labels = comparer.models
    scorer = comparer.scorer
    if scorer is None and reward_model:
        from workbench.models.score import RewardScorer
        scorer = RewardScorer(reward_model, precision=comparer.hardware.precision)
    metrics = {label: {} for label in labels}
    for label in labels:
        if sft_rows:
            tell(f"held-out loss of {label}")
            metrics[label].update(sft_loss(comparer, label, sft_rows, max_length))
        if pairs:
            tell(f"preference accuracy of {label}")
            metrics[label].update(preference_accuracy(comparer, label, pairs, max_length))

    tell(f"greedy answers to {len(items)} prompts")
    greedy = _greedy(comparer, items, max_new_tokens)
    scores = {}
    if scorer is not None:
        tell("scoring the answers with the reward model")
        for label in labels:
            scores[label] = score_answers(scorer, [item["prompt"] for item in items],
                                          [a.text for a in greedy[label]])
            metrics[label].update(mean_reward=statistics.fmean(scores[label]),
                                  reward_std=statistics.pstdev(scores[label]), prompts=len(items))
    tell(f"{samples} samples per prompt, for diversity")
    sampled = _sampled(comparer, items, samples, temperature, max_new_tokens, seed)
    for label in labels:
        metrics[label].update(diversity(sampled[label]))
    if fidelity_items:
        tell(f"answers to {len(fidelity_items)} SFT prompts, against their references")
        answers = greedy if fidelity_items is items else _greedy(comparer, fidelity_items, max_new_tokens)
        references = [item["reference"] for item in fidelity_items]
        for label in labels:
            texts = [a.text for a in answers[label]]
            metrics[label].update(rouge_l=rouge_l(texts, references), bleu=corpus_bleu(texts, references))
    tell("KL to the base")
    for label in labels:
        metrics[label]["kl_to_base"] = drift(comparer, label, items, greedy[label])

    shown = items[:examples]
    return {
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "wall_s": round(time.perf_counter() - started, 1),
        "models": labels,
        "stages": {label: _stage(label) for label in labels},
        "runs": _run_names(labels),
        "reward_model": getattr(scorer, "name", None),
        "data": {"sft": _describe(sft_data), "preference": _describe(preference_data), "prompts": _describe(prompts)},
        "settings": {"max_rows": max_rows, "samples": samples, "temperature": temperature, "seed": seed,
                     "max_new_tokens": max_new_tokens, "max_length": max_length,
                     "precision": comparer.hardware.precision},
        "metrics": metrics,
        "scores": scores,
        "win_rates": win_rates(scores) if scores else [],
        "examples": [{"prompt": item["prompt"], "reference": item["reference"],
                      "answers": {label: greedy[label][i].text for label in labels}}
                     for i, item in enumerate(shown)],
    }


# ---------------------------------------------------------------- what moved

def changes_from_base(record: dict) -> list[dict]:
    """Per model other than the base: how each measured number moved from the base's.

    Returns [{"model", "stage", "changes": [{"key", "label", "base", "value", "delta", "better"}],
    "win_rate_vs_base": the win_rates row against the base, or None}]; better is True / False when
    the metric has a direction and moved, None otherwise."""
    base = record["metrics"].get("base", {})
    out = []
    for label in record["models"]:
        if label == "base":
            continue
        values = record["metrics"][label]
        changes = []
        for key, name, direction, _ in METRICS:
            if values.get(key) is None or base.get(key) is None or key == "kl_to_base":
                continue
            delta = values[key] - base[key]
            better = None if direction is None or delta == 0 else (delta > 0) == (direction == "higher")
            changes.append({"key": key, "label": name, "base": base[key], "value": values[key],
                            "delta": delta, "better": better})
        versus = next((facing(row, label) for row in record.get("win_rates", [])
                       if {row["model"], row["opponent"]} == {label, "base"}), None)
        out.append({"model": label, "stage": record["stages"].get(label), "changes": changes,
                    "kl_to_base": values.get("kl_to_base"), "win_rate_vs_base": versus})
    return out


def facing(row: dict, model: str) -> dict:
    """A win_rates row seen from `model`'s side (the opponent's rate is 1 - rate)."""
    if row["model"] == model or row["win_rate"] is None:
        return row
    return {**row, "model": row["opponent"], "opponent": row["model"], "wins": row["losses"],
            "losses": row["wins"], "win_rate": 1 - row["win_rate"], "ci_low": 1 - row["ci_high"],
            "ci_high": 1 - row["ci_low"]}


def load_report(path) -> dict:
    """A report's numbers from its JSON file."""
    from pathlib import Path
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read the report: {error}", path=path) from None


__all__ = ["METRICS", "changes_from_base", "corpus_bleu", "distinct_n", "diversity", "drift", "facing", "kl_per_token",
           "load_report", "measure_report", "prompt_and_reference", "rouge_l", "self_bleu", "words"]
