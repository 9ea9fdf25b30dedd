"""Supervised fine-tuning: TRL's SFTTrainer on rows tokenized by the token view's own code.

The rows are encoded with `workbench.data.tokens.encode_row`, the function the tokenization view
shows, so the loss mask the user inspected is the one trained. No compute is spent on padding:
a GPU packs rows best-fit into max_length sequences; elsewhere the rows of a micro-batch are
concatenated into one sequence (TRL's padding-free collator), with position ids restarting at
each row so that every row attends only to itself.
"""

from __future__ import annotations

from workbench.train.common import finish, lora_config, training_rows, trl_arguments
from workbench.train.config import SFTRunConfig
from workbench.train.runfolder import Run


def check_inputs(config: SFTRunConfig) -> None:
    training_rows(config, task="sft")


def encode_rows(tokenizer, rows: list[dict], assistant_only: bool, max_length: int | None = None):
    """A Dataset of {"input_ids", "assistant_masks"}, each cut to max_length (keeping the start,
    as the token view shows it)."""
    from datasets import Dataset
    from workbench.data.tokens import encode_row
    encoded = [encode_row(tokenizer, row, assistant_only=assistant_only) for row in rows]
    if max_length:
        encoded = [{key: values[:max_length] for key, values in row.items()} for row in encoded]
    return Dataset.from_list(encoded)


def train(config: SFTRunConfig, run: Run, resume_from=None) -> None:
    from trl import SFTConfig, SFTTrainer

    from workbench.models import detect_hardware, load_causal_lm, load_tokenizer
    from workbench.train.callbacks import RunFolderCallback

    hardware = detect_hardware()
    train_rows, eval_rows = training_rows(config, task="sft")
    tokenizer = load_tokenizer(config.model)
    train_set = encode_rows(tokenizer, train_rows, config.assistant_only_loss, config.max_length)
    eval_set = (encode_rows(tokenizer, eval_rows, config.assistant_only_loss, config.max_length)
                if eval_rows else None)
    model = load_causal_lm(config.model, method=config.method, hardware=hardware)
    arguments = trl_arguments(config, run, hardware, len(train_rows), eval_set is not None)
    if not config.packing:
        arguments["max_length"] = None  # the rows are cut above; TRL refuses to cut padding-free rows
    args = SFTConfig(
        **arguments,
        packing=config.packing,
        packing_strategy="bfd",
        padding_free=True,
        assistant_only_loss=False,  # the mask is already in the rows (assistant_masks)
        dataset_num_proc=None,
    )
    is_peft = config.method in ("lora", "qlora")
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                         processing_class=tokenizer, peft_config=lora_config(config) if is_peft else None,
                         callbacks=[RunFolderCallback(run)])
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finish(trainer, run, is_peft)
