"""Prompts to rate and the pair of answers a rater sees."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from workbench.errors import ConfigError, DataError


def prompts_from(text: str | None = None, file=None) -> list[list[dict]]:
    """Prompts as message lists: typed ones (one per line; blank lines ignored), else the prompts
    of `file` (a prompts file, or any dataset with prompts: preference, SFT, ...)."""
    from workbench.data import load_rows
    typed = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if typed:
        return [[{"role": "user", "content": line}] for line in typed]
    if file:
        return [row["prompt"] for row in load_rows(file, task="prompts")]
    raise DataError("no prompts given", hint="Type prompts (one per line) or choose a file with prompts, "
                                              "e.g. sample_data/prompts.jsonl.")


@dataclass
class Candidate:
    """One answer shown to the rater: which model wrote it with which sampling seed."""

    model: str
    seed: int
    text: str


@dataclass
class Pair:
    """Two answers to one prompt, as shown: `left` is answer A, `right` answer B."""

    prompt: list[dict]
    left: Candidate
    right: Candidate
    settings: dict = field(default_factory=dict)  # temperature, top_p, max_new_tokens


def make_pair(comparer, prompt, models: list[str], rng: random.Random, *, temperature: float = 0.8,
              top_p: float = 1.0, max_new_tokens: int = 96) -> Pair:
    """Two answers to `prompt`, placed left/right at random.

    models: one model (two answers with two seeds drawn from `rng`) or two (one answer each,
    with the same seed, so only the model differs). comparer: a `workbench.evaluate.Comparer`
    holding the models. rng decides the seeds and the sides, so a seeded rng repeats a session.
    """
    from workbench.evaluate import as_messages
    check_sampling(models, temperature)
    messages = as_messages(prompt)
    seed = rng.randrange(2**31)
    other = seed if len(models) == 2 else (seed + 1 + rng.randrange(2**31 - 1)) % 2**31
    sampling = dict(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
    first, second = models[0], models[-1]
    # One batched call: the two answers share every forward pass (`Comparer.answers`).
    answers = comparer.answers([(first, comparer.encode(messages, model=first), seed),
                                (second, comparer.encode(messages, model=second), other)], **sampling)
    a, b = Candidate(first, seed, answers[0].text), Candidate(second, other, answers[1].text)
    left, right = (b, a) if rng.random() < 0.5 else (a, b)
    return Pair(messages, left, right, sampling)


def check_sampling(models: list[str], temperature: float) -> None:
    """Raise ConfigError unless the settings can give two different answers to compare."""
    if len(models) not in (1, 2):
        raise ConfigError(f"feedback compares the answers of one or two models, not {len(models)}",
                          hint="Pick one model (two answers with different seeds) or two.")
    if len(models) == 1 and temperature <= 0:
        raise ConfigError("temperature 0 (greedy) gives the same answer for every seed",
                          hint="Raise the temperature, or pick a second model to compare with.")
