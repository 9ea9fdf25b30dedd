"""Direct preference optimisation: TRL's DPOTrainer, starting from an SFT run's adapter.

Memory holds one base. The policy is the base with the SFT adapter (trainable); TRL copies that
adapter into a frozen "ref" adapter, so the reference is the SFT model itself, not a second copy
of the base. Started from the base (no SFT run), the reference is the base with adapters off. A
full fine-tune from a LoRA SFT run folds the adapter in, and its reference is the folded SFT model
(`common.policy_and_reference`).
"""

from __future__ import annotations

import time

from workbench.models.hardware import PEFT_METHODS
from workbench.runs import Run
from workbench.train.common import (eval_interval, finish, model_source, planned_steps, policy_and_reference,
                                    report_cut, training_rows, trl_arguments)
from workbench.train.config import DPORunConfig


def check_inputs(config: DPORunConfig) -> None:
    base, _ = model_source(config)
    config.model = base
    training_rows(config, task="preference")


def encode_pairs(tokenizer, rows: list[dict], max_length: int, split: str, path):
    """TRL's tokenized preference columns {"prompt_ids", "chosen_ids", "rejected_ids"}, cut to max_length.

    TRL 1.16 cuts prompt+answer keeping the start (its `keep_end` is deprecated), which cuts the
    answers, and drops the rows whose prompt alone fills max_length. Here the prompt loses its start
    and the answers stay whole (`workbench.data.tokens.cut_prompt`), the same ids the reward stage
    and the token view use; rows that cannot fit are counted in train.log.
    """
    from datasets import Dataset
    from workbench.data.tokens import encode_preference_rows
    pairs, cut, dropped = encode_preference_rows(tokenizer, rows, max_length)
    report_cut("DPO", split, path, len(rows), cut, dropped, max_length)
    return Dataset.from_list(pairs)


# A pair's reference log-probs computed before training (TRL's precompute_ref_log_probs, 4 pairs a
# padded pass) cost about 1.3 times what the same pair's reference pass costs inside a step:
# 300 against 382 tokens/s, SmolLM2-135M, bf16, 2 cores, `make bench` on 2026-12-03.
PRECOMPUTE_COST = 1.3


def precompute_reference(config: DPORunConfig, train_pairs: int, eval_pairs: int) -> bool:
    """Whether to compute the frozen reference's log-probs once, before the first step, instead
    of in every step and every evaluation: when the reference passes that saves (every training
    pair read more than once, the held-out pairs at every evaluation) outweigh its cost."""
    steps = planned_steps(config, train_pairs)
    reads = steps * config.batch_size * config.grad_accum
    evaluations = 1 + steps // eval_interval(config, steps) if eval_pairs else 0
    in_steps = reads + evaluations * eval_pairs
    return PRECOMPUTE_COST * (train_pairs + eval_pairs) < in_steps


def pretokenized_trainer():
    """TRL's DPOTrainer on rows this stage tokenized and cut itself.

    DPOTrainer always renders and tokenizes the rows itself (`_prepare_dataset`) and has no way to
    take token ids; skipping that step hands it ours. They fit max_length, so TRL's collator,
    which cuts at max_length, leaves them whole.
    """
    from trl import DPOTrainer

    class PretokenizedDPOTrainer(DPOTrainer):
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset

    return PretokenizedDPOTrainer


def train(config: DPORunConfig, run: Run, resume_from=None) -> None:
    from trl import DPOConfig

    from workbench.models import detect_hardware, load_tokenizer
    from workbench.train.callbacks import RunFolderCallback
    from workbench.train.worker import is_main_process

    hardware = detect_hardware(config.precision)
    base, adapter = model_source(config)
    train_rows, eval_rows = training_rows(config, task="preference")
    tokenizer = load_tokenizer(base)
    train_set = encode_pairs(tokenizer, train_rows, config.max_length, "training", config.data)
    eval_set = (encode_pairs(tokenizer, eval_rows, config.max_length, "held-out", config.eval_data or config.data)
                if eval_rows else None)
    model, peft, reference = policy_and_reference(config, base, adapter, hardware)
    is_peft = config.method in PEFT_METHODS
    precompute = precompute_reference(config, len(train_set), len(eval_set) if eval_set is not None else 0)
    args = DPOConfig(**trl_arguments(config, run, hardware, len(train_set), eval_set is not None),
                     beta=config.beta, dataset_num_proc=None, precompute_ref_log_probs=precompute,
                     precompute_ref_batch_size=config.batch_size)
    main = is_main_process()
    started = time.monotonic()
    if precompute and main:
        held_out = f" and {len(eval_set)} held-out" if eval_set is not None else ""
        print(f"DPO: the reference's log-probs of {len(train_set)} training{held_out} pairs, computed once "
              "before the first step", flush=True)
    trainer = pretokenized_trainer()(model=model, ref_model=reference, args=args, train_dataset=train_set,
                                     eval_dataset=eval_set, processing_class=tokenizer, peft_config=peft,
                                     callbacks=[RunFolderCallback(run)])
    if precompute and main:
        seconds = round(time.monotonic() - started, 1)
        print(f"DPO: reference log-probs done in {seconds} s", flush=True)
        run.update_status(reference_logps_s=seconds)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finish(trainer, run, is_peft)
