"""RLOO: online RLHF without a value model, through TRL's RLOOTrainer (Ahmadian et al. 2024).

For each prompt TRL samples `num_generations` answers; each answer's advantage is its score minus
the mean score of the other answers to the same prompt, and a KL penalty (kl_coef, TRL's beta)
keeps the policy near the reference. It needs no value function and no GAE: the modern,
critic-free alternative to PPO (`workbench.train.ppo`).

The reward is ours: a callable that TRL calls with the prompts and the answer texts, which scores
them with the reward run's model (`RewardScorer`) or a reward rule, subtracts the missing-EOS
penalty from answers TRL cut off, logs the plain mean score as `reward/mean` (the key PPO logs)
and appends sample answers to the run's samples.jsonl every `sample_every` steps.

Memory: TRL keeps the reference as the policy's base with its adapter off (a fresh LoRA), or as a
frozen "ref" copy of the SFT adapter (`--from`). The reward model is a second model in memory
here, loaded by `RewardScorer`; TRL owns the policy's adapters, so it is not slotted in beside them
as PPO does.
"""

from __future__ import annotations

from workbench.runs import Run
from workbench.train.config import RLOORunConfig
from workbench.train.online import reward_function, train_in_groups
from workbench.train.ppo import check_inputs, prompt_rows

__all__ = ["check_inputs", "train", "reward_function"]


def train(config: RLOORunConfig, run: Run, resume_from=None) -> None:
    from trl import RLOOConfig, RLOOTrainer
    train_in_groups(RLOOTrainer, RLOOConfig, config, run, prompt_rows(config), resume_from, beta=config.kl_coef)
