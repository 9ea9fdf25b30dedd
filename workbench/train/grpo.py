"""GRPO: group relative policy optimisation, through TRL's GRPOTrainer (Shao et al. 2024,
DeepSeekMath; the RL of DeepSeek-R1).

For each prompt TRL samples a group of `num_generations` answers and scores them; an answer's
advantage is its score minus the group's mean, divided by the group's standard deviation (TRL's
scale_rewards="group"). No value model: the group is the baseline, as in RLOO. A KL penalty
(kl_coef, TRL's beta) keeps the policy near the reference; TRL defaults beta to 0, which loads no
reference and logs no `kl`, so ours defaults to 0.04 (the DeepSeekMath paper's value).

The score comes from exactly one of:
  --reward-model RUN   the reward run's model (`RewardScorer`), as RLOO and PPO;
  --reward-rule RULE   length, brevity or token:WORD (`workbench.train.ppo.parse_reward_rule`);
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
from workbench.rl.rewards import check_reward
from workbench.train.common import check_policy_run, finish, lora_config, model_source, training_rows, trl_arguments
from workbench.train.config import GRPORunConfig
from workbench.train.ppo import check_same_tokenizer, parse_reward_rule, reward_run_ref
from workbench.train.runfolder import Run

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


def text_scorer(config: GRPORunConfig):
    """(prompts, answer texts, references or None) -> scores, from the config's reward source."""
    if config.reward_check:
        patterns: dict[str, re.Pattern] = {}

        def check(prompts, texts, references):
            if config.reward_check == "regex":
                references = [patterns.setdefault(r, re.compile(r)) for r in references]
            return [check_reward(config.reward_check, text, reference)
                    for text, reference in zip(texts, references)]
        return check
    if config.reward_rule:
        rule = parse_reward_rule(config.reward_rule)
        return lambda prompts, texts, references: [rule(text) for text in texts]
    from workbench.evaluate.score import RewardScorer
    scorer = RewardScorer(config.reward_model, precision=config.precision)
    return lambda prompts, texts, references: scorer.score_many(list(zip(prompts, texts)))


def reward_function(config: GRPORunConfig, run: Run, eos_token_ids: set[int], policy=None):
    """The callable TRL scores answers with: (prompts, completions, completion_ids, reference?, ...)
    -> scores. TRL passes each extra dataset column as a keyword (here "reference"), one value per
    answer (grpo_trainer.py `_calculate_rewards`). An answer that does not end in one of
    `eos_token_ids` was cut off at max_new_tokens and loses missing_eos_penalty. Samples are
    training answers only: none while `policy` is in eval mode (TRL's held-out evaluation)."""
    score_texts = text_scorer(config)
    logged_steps: set[int] = set()

    def reward(prompts, completions, completion_ids, reference=None, trainer_state=None, log_metric=None, **_):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        scores = [float(s) for s in score_texts(prompts, texts, reference)]
        if log_metric is not None:
            log_metric("reward/mean", sum(scores) / len(scores))
        step = trainer_state.global_step + 1 if trainer_state is not None else 0
        training = policy is None or policy.training
        if training and (step == 1 or step % config.sample_every == 0) and step not in logged_steps:
            logged_steps.add(step)
            for prompt, text, score in list(zip(prompts, texts, scores))[:4]:
                user = next((m["content"] for m in reversed(prompt) if m["role"] == "user"), "") \
                    if isinstance(prompt, list) else prompt
                run.append_jsonl(run.samples_path, {"step": step, "prompt": user, "response": text,
                                                    "score": round(score, 4)})
        penalty = config.missing_eos_penalty
        ended = [bool(ids) and ids[-1] in eos_token_ids for ids in completion_ids]
        return [s if done or penalty is None else s - penalty for s, done in zip(scores, ended)]
    reward.__name__ = "reward"  # TRL names its per-function metrics after it: rewards/reward/mean
    return reward


def prompts_dataset(rows: list[dict]):
    """TRL's conversational prompt-only form, with the reference column when the rows have one."""
    from datasets import Dataset
    return Dataset.from_list([{"prompt": [{"role": m["role"], "content": m["content"]} for m in row["prompt"]],
                               **({"reference": row["reference"]} if "reference" in row else {})}
                              for row in rows])


def train(config: GRPORunConfig, run: Run, resume_from=None) -> None:
    from peft import PeftModel
    from trl import GRPOConfig, GRPOTrainer

    from workbench.models import detect_hardware, load_causal_lm, load_tokenizer
    from workbench.models.sampling import generation_config, model_defaults
    from workbench.train.callbacks import RunFolderCallback

    hardware = detect_hardware(config.precision)
    base, adapter = model_source(config)
    train_rows, eval_rows = prompt_rows(config)
    tokenizer = load_tokenizer(base, padding_side="left")
    model = load_causal_lm(base, method=config.method, hardware=hardware)
    peft = None
    if adapter is not None:  # TRL copies it into a frozen "ref" adapter: the reference is the SFT policy
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
    else:  # TRL's reference is then the base with the adapter off
        peft = lora_config(config)
    arguments = trl_arguments(config, run, hardware, len(train_rows), bool(eval_rows))
    arguments.pop("max_length")  # GRPO bounds answers with max_completion_length instead
    # TRL evaluates whole groups: its eval batch must hold a multiple of num_generations answers.
    group = config.num_generations
    arguments["per_device_eval_batch_size"] = group * max(1, arguments["per_device_eval_batch_size"] // group)
    args = GRPOConfig(**arguments, num_generations=group, beta=config.kl_coef,
                      max_completion_length=config.max_new_tokens, temperature=config.temperature,
                      log_completions=False)
    # As in RLOO: TRL's GenerationConfig leaves fields unset that transformers then fills from the
    # model's generation_config.json, so sampling runs with a complete neutral config as the model's.
    own = model.generation_config  # a PeftModel forwards it from its base model
    neutral = generation_config(temperature=config.temperature, max_new_tokens=config.max_new_tokens,
                                eos_token_id=own.eos_token_id, bos_token_id=own.bos_token_id,
                                pad_token_id=tokenizer.pad_token_id)
    # TRL ends an answer at every eos id the model declares, and at the tokenizer's
    ends = {tokenizer.eos_token_id, *([own.eos_token_id] if isinstance(own.eos_token_id, int)
                                      else own.eos_token_id or [])}
    with model_defaults(model, neutral):
        trainer = GRPOTrainer(model=model, reward_funcs=reward_function(config, run, ends, policy=model),
                              args=args, train_dataset=prompts_dataset(train_rows),
                              eval_dataset=prompts_dataset(eval_rows) if eval_rows else None,
                              processing_class=tokenizer, peft_config=peft,
                              callbacks=[RunFolderCallback(run)])
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        finish(trainer, run, is_peft=True)
