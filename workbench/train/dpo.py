"""Direct preference optimisation: TRL's DPOTrainer, starting from an SFT run's adapter.

Memory holds one base. The policy is the base with the SFT adapter (trainable); TRL copies that
adapter into a frozen "ref" adapter, so the reference is the SFT model itself, not a second copy
of the base. Started from the base (no SFT run), the reference is the base with adapters off.
"""

from __future__ import annotations

from workbench.train.common import finish, lora_config, model_source, training_rows, trl_arguments
from workbench.train.config import DPORunConfig
from workbench.train.runfolder import Run


def check_inputs(config: DPORunConfig) -> None:
    base, _ = model_source(config)
    config.model = base
    training_rows(config, task="preference")


def conversational_pairs(rows: list[dict]):
    """TRL's conversational preference form; TRL renders it with the same chat template."""
    from datasets import Dataset
    return Dataset.from_list([{
        "prompt": [{"role": m["role"], "content": m["content"]} for m in row["prompt"]],
        "chosen": [{"role": "assistant", "content": row["chosen"]}],
        "rejected": [{"role": "assistant", "content": row["rejected"]}],
    } for row in rows])


def train(config: DPORunConfig, run: Run, resume_from=None) -> None:
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    from workbench.models import detect_hardware, load_causal_lm, load_tokenizer
    from workbench.train.callbacks import RunFolderCallback

    hardware = detect_hardware(config.precision)
    base, adapter = model_source(config)
    train_rows, eval_rows = training_rows(config, task="preference")
    tokenizer = load_tokenizer(base)
    train_set = conversational_pairs(train_rows)
    eval_set = conversational_pairs(eval_rows) if eval_rows else None
    model = load_causal_lm(base, method=config.method, hardware=hardware)
    is_peft = config.method in ("lora", "qlora")
    peft = None
    if adapter is not None and is_peft:
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
    elif adapter is not None:  # full fine-tune from a LoRA SFT run: fold the adapter in first
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    elif is_peft:
        peft = lora_config(config)
    args = DPOConfig(**trl_arguments(config, run, hardware, len(train_rows), eval_set is not None),
                     beta=config.beta, dataset_num_proc=None)
    trainer = DPOTrainer(model=model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                         processing_class=tokenizer, peft_config=peft, callbacks=[RunFolderCallback(run)])
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finish(trainer, run, is_peft)
