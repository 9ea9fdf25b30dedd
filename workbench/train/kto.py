"""Kahneman-Tversky optimisation: TRL's KTOTrainer on unpaired feedback, from an SFT run's adapter.

Each row is one answer to a prompt with a label: desirable (true) or undesirable (false); no second
answer to compare it with. KTO raises the policy's log-ratio to the reference on desirable answers
and lowers it on undesirable ones, each measured against a reference point: the KL between policy
and reference, estimated from the batch's prompts paired with other rows' answers. That estimate is
why a forward pass needs at least two rows, and why TRL reads the rows in order.

Memory holds one base, as in DPO: the policy is the base with the SFT adapter (trainable); TRL copies
that adapter into a frozen "ref" adapter, so the reference is the SFT model itself. Started from the
base (no SFT run), the reference is the base with adapters off.
"""

from __future__ import annotations

import random

from workbench.models.hardware import PEFT_METHODS
from workbench.runs import Run
from workbench.train.common import (check_policy_run, finish, model_source, policy_and_reference, report_cut,
                                    training_rows, trl_arguments)
from workbench.train.config import KTORunConfig


def check_inputs(config: KTORunConfig) -> None:
    check_policy_run(config)
    base, _ = model_source(config)
    config.model = base
    training_rows(config, task="unpaired")


def unpaired_rows(rows: list[dict]):
    """TRL's conversational unpaired-preference form; TRL renders it with the same chat template."""
    from datasets import Dataset
    return Dataset.from_list([{
        "prompt": [{"role": m["role"], "content": m["content"]} for m in row["prompt"]],
        "completion": [{"role": "assistant", "content": row["completion"]}],
        "label": row["label"],
    } for row in rows])


def keep_answers_trainer():
    """TRL's KTOTrainer, with the rows cut as every preference stage cuts them.

    KTOTrainer 1.16 cuts prompt+completion keeping the start, which cuts the answer, and drops the
    rows whose prompt alone fills max_length (kto_trainer.py `_prepare_dataset`, "Drop examples
    whose prompt alone fills `max_length`"); it has no other truncation mode. Here TRL tokenizes
    the rows and builds its KL pairs with max_length off, then each prompt loses its start so that
    its completion stays whole (`workbench.data.tokens.cut_prompt`), and a row whose completion
    alone does not fit is left out. TRL's collator still cuts the KL sequences (a prompt with
    another row's completion) at max_length, keeping their start, as it always did.
    `cut_counts[split]` = (rows given, prompts cut, rows left out), for train.log.
    """
    import copy

    from trl import KTOTrainer

    from workbench.data.tokens import cut_prompt

    class KeepAnswersKTOTrainer(KTOTrainer):
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            uncut = copy.copy(args)
            uncut.max_length = None
            dataset = super()._prepare_dataset(dataset, processing_class, uncut, dataset_name)
            limit = args.max_length
            if limit is None:
                return dataset
            kept = [cut_prompt(row["prompt_ids"], [row["completion_ids"]], limit) for row in dataset]
            given = len(dataset)
            cut = sum(k is not None and len(k) < len(prompt) for k, prompt in zip(kept, dataset["prompt_ids"]))
            fits = [k for k in kept if k is not None]
            dataset = dataset.select([i for i, k in enumerate(kept) if k is not None])
            dataset = dataset.map(lambda row, i: {"prompt_ids": fits[i]}, with_indices=True)
            if not hasattr(self, "cut_counts"):
                self.cut_counts = {}
            self.cut_counts[dataset_name] = (given, cut, given - len(dataset))
            return dataset

    return KeepAnswersKTOTrainer


def report_kept_rows(config: KTORunConfig, trainer) -> None:
    """Say in train.log how many rows max_length cut or left out; refuse a split left with no row."""
    paths = {"train": ("training", config.data), "eval": ("held-out", config.eval_data or config.data)}
    for name, (given, cut, dropped) in getattr(trainer, "cut_counts", {}).items():
        split, path = paths.get(name, (name, config.data))
        report_cut("KTO", split, path, given, cut, dropped, config.max_length)


def train(config: KTORunConfig, run: Run, resume_from=None) -> None:
    from trl import KTOConfig

    from workbench.models import detect_hardware, load_tokenizer
    from workbench.train.callbacks import RunFolderCallback

    hardware = detect_hardware(config.precision)
    base, adapter = model_source(config)
    train_rows, eval_rows = training_rows(config, task="unpaired")
    # TRL samples KTO's rows in order (its KL pairs are fixed per batch), where the other trainers
    # shuffle: a file of all good answers and then all bad ones would give one-label batches. One
    # seeded shuffle here mixes them, and a resume sees the same order.
    train_rows = list(train_rows)
    random.Random(config.seed).shuffle(train_rows)
    tokenizer = load_tokenizer(base)
    train_set = unpaired_rows(train_rows)
    eval_set = unpaired_rows(eval_rows) if eval_rows else None
    model, peft, reference = policy_and_reference(config, base, adapter, hardware)
    is_peft = config.method in PEFT_METHODS
    args = KTOConfig(**trl_arguments(config, run, hardware, len(train_rows), eval_set is not None),
                     beta=config.beta, desirable_weight=config.desirable_weight,
                     undesirable_weight=config.undesirable_weight, dataset_num_proc=None)
    trainer = keep_answers_trainer()(model=model, ref_model=reference, args=args, train_dataset=train_set,
                                     eval_dataset=eval_set, processing_class=tokenizer, peft_config=peft,
                                     callbacks=[RunFolderCallback(run)])
    report_kept_rows(config, trainer)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finish(trainer, run, is_peft)
