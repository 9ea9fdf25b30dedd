"""What the front ends say about a feedback dataset and a rating session.

`feedback_facts` are the counts every front end prints (the GUI's and the widget's counter, the
CLI's `feedback list` and `show`); `session_counter` adds what a rating session knows.
"""

from __future__ import annotations

from dataclasses import dataclass


def feedback_facts(stats: dict) -> list[str]:
    """The counts of `workbench.feedback.feedback_stats` (or `Session.counts()`) as phrases."""
    return [f"{stats['pairs']} pairs for training", f"{stats['ties']} ties",
            f"{stats['thumbs_up']} thumbs up, {stats['thumbs_down']} down", f"{stats['retracted']} retracted"]


@dataclass
class Counter:
    """The counter under a rating session's answers: the dataset's name, then its facts."""

    name: str
    facts: list[str]


def session_counter(session) -> Counter:
    """The dataset's counts, this session's, what is left, and the reward model's agreement."""
    counts = session.counts()
    facts = feedback_facts(counts) + [f"{counts['session']} judged in this session",
                                      f"{session.left()} prompts left"]
    agreement = counts.get("reward_agreement")
    if agreement and agreement["n"]:
        facts.append(f"reward model {agreement['model']} agrees on {agreement['agree']}/{agreement['n']} "
                     f"({agreement['share']:.0%})")
    return Counter(counts["name"], facts)
