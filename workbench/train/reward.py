"""Reward model: TRL's RewardTrainer, a scalar head on the base trained so chosen beats rejected.

With LoRA the new `score` head is fully trained (`modules_to_save`), the body through the adapter.
The final held-out accuracy (how often chosen scores above rejected on pairs never trained on)
is recorded in status.json.
"""

from __future__ import annotations

from workbench.models.hardware import PEFT_METHODS
from workbench.runs import Run
from workbench.train.common import finish, lora_config, report_cut, training_rows, trl_arguments
from workbench.train.config import RewardRunConfig


def check_inputs(config: RewardRunConfig) -> None:
    training_rows(config, task="preference")


def encode_pairs(tokenizer, rows: list[dict], max_length: int, split: str, path):
    """TRL's processed reward columns: the whole conversation for each side, cut to max_length.

    TRL's RewardTrainer silently drops every pair longer than max_length (reward_trainer.py, "Filter
    samples that are longer than `max_length`"), so the pairs are cut here the way every preference
    stage cuts them: the prompt loses its start, the answers stay whole. Pairs that cannot fit even
    so are counted in train.log, and none left is a DataError.
    """
    from datasets import Dataset
    from workbench.data.tokens import encode_preference_rows
    pairs, cut, dropped = encode_preference_rows(tokenizer, rows, max_length)
    report_cut("reward", split, path, len(rows), cut, dropped, max_length)
    return Dataset.from_list([{"chosen_ids": pair["prompt_ids"] + pair["chosen_ids"],
                               "rejected_ids": pair["prompt_ids"] + pair["rejected_ids"]} for pair in pairs])


def train(config: RewardRunConfig, run: Run, resume_from=None) -> None:
    from trl import RewardConfig, RewardTrainer

    from workbench.models import detect_hardware, load_reward_model, load_tokenizer
    from workbench.train.callbacks import RunFolderCallback

    hardware = detect_hardware(config.precision)
    train_rows, eval_rows = training_rows(config, task="preference")
    tokenizer = load_tokenizer(config.model)
    train_set = encode_pairs(tokenizer, train_rows, config.max_length, "training", config.data)
    eval_set = (encode_pairs(tokenizer, eval_rows, config.max_length, "held-out", config.eval_data or config.data)
                if eval_rows else None)
    model = load_reward_model(config.model, method=config.method, hardware=hardware)
    args = RewardConfig(**trl_arguments(config, run, hardware, len(train_set), eval_set is not None),
                        dataset_num_proc=None)
    is_peft = config.method in PEFT_METHODS
    peft = lora_config(config, task_type="SEQ_CLS", modules_to_save=["score"]) if is_peft else None
    trainer = RewardTrainer(model=model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                            processing_class=tokenizer, peft_config=peft, callbacks=[RunFolderCallback(run)])
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finish(trainer, run, is_peft, final={"eval_pairs": len(eval_set) if eval_set is not None else 0})
