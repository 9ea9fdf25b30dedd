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

from workbench.train.common import finish, lora_config, model_source, trl_arguments
from workbench.train.config import RLOORunConfig
from workbench.train.ppo import check_inputs, parse_reward_rule, prompt_rows
from workbench.train.runfolder import Run

__all__ = ["check_inputs", "train", "reward_function"]


def reward_function(config: RLOORunConfig, run: Run, eos_token_id: int):
    """The callable TRL scores answers with: (prompts, completions, completion_ids, ...) -> scores."""
    if config.reward_rule:
        rule = parse_reward_rule(config.reward_rule)

        def score_texts(pairs):
            return [rule(text) for _, text in pairs]
    else:
        from workbench.evaluate.score import RewardScorer
        score_texts = RewardScorer(config.reward_model, precision=config.precision).score_many
    logged_steps: set[int] = set()

    def reward_model(prompts, completions, completion_ids, trainer_state=None, log_metric=None, **_):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        scores = score_texts(list(zip(prompts, texts)))
        if log_metric is not None:
            log_metric("reward/mean", sum(scores) / len(scores))
        step = trainer_state.global_step + 1 if trainer_state is not None else 0
        if (step == 1 or step % config.sample_every == 0) and step not in logged_steps:
            logged_steps.add(step)
            for prompt, text, score in list(zip(prompts, texts, scores))[:4]:
                user = next((m["content"] for m in reversed(prompt) if m["role"] == "user"), "") \
                    if isinstance(prompt, list) else prompt
                run.append_jsonl(run.samples_path, {"step": step, "prompt": user, "response": text,
                                                    "score": round(float(score), 4)})
        penalty = config.missing_eos_penalty
        ended = [bool(ids) and ids[-1] == eos_token_id for ids in completion_ids]
        return [s if done or penalty is None else s - penalty for s, done in zip(scores, ended)]
    return reward_model


def prompts_dataset(rows: list[dict]):
    """TRL's conversational prompt-only form."""
    from datasets import Dataset
    return Dataset.from_list([{"prompt": [{"role": m["role"], "content": m["content"]} for m in row["prompt"]]}
                              for row in rows])


def train(config: RLOORunConfig, run: Run, resume_from=None) -> None:
    from peft import PeftModel
    from trl import RLOOConfig, RLOOTrainer

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
    else:
        peft = lora_config(config)
    arguments = trl_arguments(config, run, hardware, len(train_rows), bool(eval_rows))
    arguments.pop("max_length")  # RLOO bounds answers with max_completion_length instead
    args = RLOOConfig(**arguments, num_generations=config.num_generations, beta=config.kl_coef,
                      max_completion_length=config.max_new_tokens, temperature=config.temperature,
                      log_completions=False)
    # TRL's GenerationConfig sets temperature, top_p, top_k, min_p and repetition_penalty; transformers
    # fills the rest from the model's generation_config.json (no_repeat_ngram_size, suppress_tokens,
    # a shipped min_p, ...), and TRL's log-probs would score another distribution than it sampled.
    # Its eos ids stay: TRL ends answers at every eos id the model declares.
    own = model.generation_config  # a PeftModel forwards it from its base model
    neutral = generation_config(temperature=config.temperature, max_new_tokens=config.max_new_tokens,
                                eos_token_id=own.eos_token_id, bos_token_id=own.bos_token_id,
                                pad_token_id=tokenizer.pad_token_id)
    with model_defaults(model, neutral):
        trainer = RLOOTrainer(model=model, reward_funcs=reward_function(config, run, tokenizer.eos_token_id),
                              args=args, train_dataset=prompts_dataset(train_rows),
                              eval_dataset=prompts_dataset(eval_rows) if eval_rows else None,
                              processing_class=tokenizer, peft_config=peft,
                              callbacks=[RunFolderCallback(run)])
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        finish(trainer, run, is_peft=True)
