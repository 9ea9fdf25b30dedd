"""GRPO: group relative policy optimisation, through TRL's GRPOTrainer (Shao et al. 2024,
DeepSeekMath; the RL of DeepSeek-R1).

For each prompt TRL samples a group of `num_generations` answers and scores them; an answer's
advantage is its score minus the group's mean, divided by the group's standard deviation (TRL's
scale_rewards="group"). No value model: the group is the baseline, as in RLOO. A KL penalty
(kl_coef, TRL's beta) keeps the policy near the reference; TRL defaults beta to 0, which loads no
reference and logs no `kl`, so ours defaults to 0.04 (the DeepSeekMath paper's value).

The score comes from exactly one of:
  --reward-model RUN   the reward run's model (`RewardScorer`), as RLOO and PPO;
  --reward-rule RULE   length, brevity or token:WORD (`workbench.rl.rewards.parse_reward_rule`);
  --reward-check exact|regex
                       a verifiable reward: 1 when the answer passes a check against the prompt
                       row's reference (the `--reference-field` column of the prompts file), else 0.
                       The rules are in `workbench.rl.rewards`.

As in RLOO, the reward callable subtracts the missing-EOS penalty from answers TRL cut off, logs the
plain mean score as `reward/mean` and appends sample answers to the run's samples.jsonl every
`sample_every` steps; TRL itself logs `reward` (after the penalty), `kl`, `entropy` and
`completions/mean_length`.

Memory: one base. TRL's reference is the policy's base with its adapter off (a fresh LoRA) or a
frozen "ref" copy of the SFT adapter (`--from`), never a second model; only a reward run adds a
second model (its own, loaded by `RewardScorer`).
"""

from __future__ import annotations

import dataclasses
import re

from workbench.errors import DataError
from workbench.models.score import check_same_tokenizer, reward_run_ref
from workbench.rl.rewards import parse_reward_rule
from workbench.runs import Run
from workbench.train.common import check_policy_run, model_source, training_rows
from workbench.train.config import GRPORunConfig
from workbench.train.online import reward_function, train_in_groups

__all__ = ["check_inputs", "train", "reward_function", "prompt_rows"]


def prompt_rows(config: GRPORunConfig) -> tuple[list[dict], list[dict]]:
    """(train, held-out) prompt rows, each with its reference under "reference" when a reward check
    is asked for. Raises DataError naming the file, line and field of a row without a usable one."""
    keep = (config.reference_field,) if config.reward_check else ()
    train_rows, eval_rows = training_rows(dataclasses.replace(config, data=config.prompts), task="prompts",
                                          keep=keep)
    if not config.reward_check:
        return train_rows, eval_rows
    for rows, path in ((train_rows, config.prompts), (eval_rows, config.eval_data or config.prompts)):
        for row in rows:
            row["reference"] = reference_of(config, row, path)
    return train_rows, eval_rows


def reference_of(config: GRPORunConfig, row: dict, path: str) -> str:
    """A row's reference as text (a JSON number becomes its digits); a regex must compile."""
    field = config.reference_field
    value = row.get(field)
    problem = ("is missing" if field not in row else
               "is not text or a number" if isinstance(value, (dict, list)) else
               "is empty" if value is None or str(value).strip() == "" else None)
    if problem:
        raise DataError(f"the reference answer {problem}; --reward-check {config.reward_check} checks each "
                        f"answer against it", path=path, line=row.get("_line"), field=field,
                        hint=f"Give every prompt row a '{field}' field, or name another one with "
                             "--reference-field.")
    reference = str(value)
    if config.reward_check == "regex":
        try:
            re.compile(reference)
        except re.error as error:
            raise DataError(f"'{reference}' is not a regular expression: {error}", path=path,
                            line=row.get("_line"), field=field,
                            hint="Escape special characters (. * + ? ( ) [ ]) with a backslash.") from None
    return reference


def check_inputs(config: GRPORunConfig) -> None:
    """Everything that can be checked before a job starts: reward, starting run, prompts and their
    references."""
    check_policy_run(config)
    base, _ = model_source(config)
    config.model = base
    if config.reward_rule:
        parse_reward_rule(config.reward_rule)
    elif config.reward_model:
        ref = reward_run_ref(config.reward_model)
        check_same_tokenizer(base, ref.base, config.reward_model)
    prompt_rows(config)


def train(config: GRPORunConfig, run: Run, resume_from=None) -> None:
    from trl import GRPOConfig, GRPOTrainer
    train_in_groups(GRPOTrainer, GRPOConfig, config, run, prompt_rows(config), resume_from, beta=config.kl_coef)
