"""Verifiable rewards: an answer checked against a reference, 1.0 if it passes and 0.0 if not.

The RL-with-verifiable-rewards setting (Tülu 3, DeepSeek-R1): each prompt row carries a reference
(a number, a word, a pattern) and the reward is whether the answer agrees with it, so a user can
check every score by hand. Pure functions of strings; `workbench.train.grpo` calls them.

The exact check, step by step:

  1. The answer's final part: the text after the last "answer:", "answer =", "answer is" (any
     case) or "####" (GSM8K's marker), up to the end of that line; without a marker, the whole
     answer.
  2. A numeric reference ("42", "-3.5", "1,000"): the answer's number, compared as a number, so
     "42.0" and "1,000" equal "42" and "1000" (within 1e-9 relative). That number is the first
     one after the marker ("Answer: 7 apples at 3 each" gives 7), or without a marker the last
     one in the answer ("3 + 4 = 7" gives 7).
  3. Any other reference: the part and the reference normalised (`normalise_answer`: strip,
     lowercase, collapse whitespace, drop surrounding quotes and trailing punctuation) and compared
     as strings.

The regex check: the reference is a regular expression searched for anywhere in the whole answer
(`re.search`, case-sensitive); anchor it (`^...$`) to require the whole answer.
"""

from __future__ import annotations

import math
import re
from typing import Callable

from workbench.errors import ConfigError

REWARD_CHECKS = ("exact", "regex")

# "answer: 42", "The answer is Paris", "#### 18": the last marker wins.
_MARKER = re.compile(r"\banswer\s*(?:[:=]|is\b)|####", re.IGNORECASE)
# An integer or decimal, optionally signed, with optional thousands commas ("1,000,000").
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+")
_TRAILING = ".,;:!?。"
_QUOTES = "\"'`“”‘’"


def normalise_answer(text: str) -> str:
    """Strip, lowercase, collapse whitespace, drop surrounding quotes and trailing punctuation."""
    text = " ".join(str(text).split()).lower()
    previous = None
    while text != previous:  # "'Paris.'" -> "paris"
        previous = text
        text = text.rstrip(_TRAILING).strip().strip(_QUOTES).strip()
    return text


def answer_number(text: str) -> float | None:
    """The number an answer gives (see the module docstring, step 2), or None when it has none."""
    part = final_answer(text)
    numbers = _NUMBER.findall(part)
    if not numbers:
        return None
    chosen = numbers[0] if _MARKER.search(text) else numbers[-1]
    return float(chosen.replace(",", ""))


def final_answer(text: str) -> str:
    """The part of an answer the exact check reads: after the last marker ("answer:", "answer =",
    "answer is", "####"), up to the end of that line; the whole text when there is no marker."""
    markers = list(_MARKER.finditer(text))
    if not markers:
        return text.strip()
    return text[markers[-1].end():].strip().split("\n", 1)[0].strip()


def as_number(text: str) -> float | None:
    """The value of a text that is one number ("42", " -3.5 ", "1,000", "42."), else None."""
    text = normalise_answer(text)
    match = _NUMBER.fullmatch(text)
    return float(match.group().replace(",", "")) if match else None


def exact_match(answer: str, reference) -> bool:
    """Whether `answer` gives `reference` (see the module docstring: final part, numbers compared
    as numbers, other text normalised)."""
    target = as_number(str(reference))
    if target is not None:
        found = answer_number(answer)
        return found is not None and math.isclose(found, target, rel_tol=1e-9, abs_tol=1e-12)
    return normalise_answer(final_answer(answer)) == normalise_answer(str(reference))


def regex_match(answer: str, pattern: re.Pattern | str) -> bool:
    """Whether the regular expression `pattern` is found anywhere in `answer`."""
    return re.search(pattern, answer) is not None


def check_reward(check: str, answer: str, reference) -> float:
    """1.0 when `answer` passes `check` ("exact" or "regex") against `reference`, else 0.0."""
    if check == "exact":
        return float(exact_match(answer, reference))
    if check == "regex":
        return float(regex_match(answer, reference))
    raise ValueError(f"unknown reward check '{check}'; known: {', '.join(REWARD_CHECKS)}")


def parse_reward_rule(rule: str) -> Callable[[str], float]:
    """The scoring function of a reward rule: answer text -> score. Raises ConfigError."""
    rule = rule.strip()
    if rule == "length":
        return lambda text: 0.1 * len(text.split())
    if rule == "brevity":
        return lambda text: -0.1 * len(text.split())
    if rule.startswith("token:") and rule[6:].strip():
        word = re.compile(rf"(?<!\w){re.escape(rule[6:].strip())}(?!\w)", re.IGNORECASE)
        return lambda text: float(len(word.findall(text)))
    raise ConfigError(f"unknown reward rule '{rule}'",
                      hint="Use length, brevity or token:WORD (for example token:Arr).")
