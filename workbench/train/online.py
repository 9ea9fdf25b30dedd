"""What the TRL stages that sample a group of answers per prompt (RLOO, GRPO) share: the prompts
as TRL takes them, the reward callable TRL calls, and the trainer set-up around both.

The two differ only in how TRL turns a group's scores into advantages (leave-one-out mean for
RLOO; the group's mean and standard deviation for GRPO) and in the reward sources they offer.
"""

from __future__ import annotations

import re

from workbench.rl.rewards import check_reward, parse_reward_rule
from workbench.runs import Run
from workbench.train.common import finish, lora_config, model_source, trl_arguments
from workbench.train.config import OnlineRunConfig


def text_scorer(config: OnlineRunConfig):
    """(prompts, answer texts, references or None) -> scores, from the config's reward source."""
    check = getattr(config, "reward_check", None)  # GRPO's verifiable rewards
    if check:
        patterns: dict[str, re.Pattern] = {}

        def score(prompts, texts, references):
            if check == "regex":
                references = [patterns.setdefault(r, re.compile(r)) for r in references]
            return [check_reward(check, text, reference) for text, reference in zip(texts, references)]
        return score
    if config.reward_rule:
        rule = parse_reward_rule(config.reward_rule)
        return lambda prompts, texts, references: [rule(text) for text in texts]
    from workbench.models.score import RewardScorer
    scorer = RewardScorer(config.reward_model, precision=config.precision)
    return lambda prompts, texts, references: scorer.score_many(list(zip(prompts, texts)))


def reward_function(config: OnlineRunConfig, run: Run, eos_token_ids: set[int], policy=None):
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


def train_in_groups(trainer_class, args_class, config: OnlineRunConfig, run: Run, rows, resume_from=None,
                    **stage_args) -> None:
    """Train `config` with TRL's `trainer_class` (RLOOTrainer, GRPOTrainer) and its `args_class`
    (RLOOConfig, GRPOConfig) on `rows` = (train, held-out) prompt rows. stage_args: the args
    class's own settings (beta, ...). The policy starts from the SFT run's adapter (`--from`), whose
    frozen copy TRL keeps as the reference, or from a fresh LoRA, whose reference is the base with
    the adapter off: one base in memory either way."""
    from peft import PeftModel

    from workbench.models import detect_hardware, load_causal_lm, load_tokenizer
    from workbench.models.sampling import generation_config, model_defaults
    from workbench.train.callbacks import RunFolderCallback

    hardware = detect_hardware(config.precision)
    base, adapter = model_source(config)
    train_rows, eval_rows = rows
    tokenizer = load_tokenizer(base, padding_side="left")
    model = load_causal_lm(base, method=config.method, hardware=hardware)
    peft = None
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
    else:
        peft = lora_config(config)
    arguments = trl_arguments(config, run, hardware, len(train_rows), bool(eval_rows))
    arguments.pop("max_length")  # answers are bounded by max_completion_length instead
    # TRL evaluates whole groups: its eval batch must hold a multiple of num_generations answers.
    group = config.num_generations
    arguments["per_device_eval_batch_size"] = group * max(1, arguments["per_device_eval_batch_size"] // group)
    args = args_class(**arguments, num_generations=group, max_completion_length=config.max_new_tokens,
                      temperature=config.temperature, log_completions=False, **stage_args)
    # TRL's GenerationConfig sets temperature, top_p, top_k, min_p and repetition_penalty; transformers
    # fills the rest from the model's generation_config.json (no_repeat_ngram_size, suppress_tokens,
    # a shipped min_p, ...), and TRL's log-probs would score another distribution than it sampled. So
    # sampling runs with a complete neutral config as the model's, keeping the model's eos ids.
    own = model.generation_config  # a PeftModel forwards it from its base model
    neutral = generation_config(temperature=config.temperature, max_new_tokens=config.max_new_tokens,
                                eos_token_id=own.eos_token_id, bos_token_id=own.bos_token_id,
                                pad_token_id=tokenizer.pad_token_id)
    # TRL ends an answer at every eos id the model declares, and at the tokenizer's
    ends = {tokenizer.eos_token_id, *([own.eos_token_id] if isinstance(own.eos_token_id, int)
                                      else own.eos_token_id or [])}
    with model_defaults(model, neutral):
        trainer = trainer_class(model=model, reward_funcs=reward_function(config, run, ends, policy=model),
                                args=args, train_dataset=prompts_dataset(train_rows),
                                eval_dataset=prompts_dataset(eval_rows) if eval_rows else None,
                                processing_class=tokenizer, peft_config=peft,
                                callbacks=[RunFolderCallback(run)])
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        finish(trainer, run, is_peft=True)
