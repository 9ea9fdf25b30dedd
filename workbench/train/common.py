"""What every stage does the same way: rows and split, LoRA settings, TRL arguments chosen from
the hardware, and writing the final output without ever leaving half a folder behind."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from workbench.data import load_rows, split_rows
from workbench.errors import ConfigError, DataError
from workbench.io import move_into_place
from workbench.models.hardware import PEFT_METHODS
from workbench.runs import Run, get_run, now
from workbench.train.config import RunConfig


def training_rows(config: RunConfig, task: str, keep: tuple[str, ...] = ()) -> tuple[list[dict], list[dict]]:
    """(train, eval) canonical rows: eval from `eval_data`, or a seeded split of `data`. Rows keep
    the source fields named in `keep` where they have them (`load_rows`)."""
    rows = load_rows(config.data, task=task, keep=keep)
    if config.max_rows:
        rows = rows[: config.max_rows]
    if config.eval_data:
        return rows, load_rows(config.eval_data, task=task, keep=keep)
    train, held_out = split_rows(rows, val_fraction=config.val_fraction, seed=config.seed)
    if not train:
        raise DataError(f"{config.data} leaves no training rows after holding out "
                        f"{config.val_fraction:.0%} for evaluation", path=config.data,
                        hint="Add rows, lower --val-fraction, or give --eval-data.")
    return train, held_out


def report_cut(stage: str, split: str, path, given: int, cut: int, dropped: int, max_length: int) -> None:
    """Say in train.log (the job's stdout) what max_length did to a split of preference or unpaired
    rows: how many prompts lost their start, how many rows were left out because an answer alone
    does not fit (`workbench.data.tokens.cut_prompt`). A split left with no row is a DataError."""
    if given and dropped == given:
        raise DataError(f"none of its {given} {split} rows fits in max_length ({max_length} tokens): "
                        f"an answer alone leaves no room for its prompt", path=path,
                        hint="Raise --max-length, or give rows with shorter answers.")
    if cut:
        print(f"{stage}: {cut} of {given} {split} rows had their prompt cut from the start to fit "
              f"max_length ({max_length} tokens); the answers are kept whole", flush=True)
    if dropped:
        print(f"{stage}: {dropped} of {given} {split} rows left out: an answer alone does not fit "
              f"max_length ({max_length} tokens) with any of its prompt", flush=True)


def planned_steps(config: RunConfig, n_train: int) -> int:
    if config.max_steps:
        return config.max_steps
    per_epoch = math.ceil(n_train / (config.batch_size * config.grad_accum))
    return max(1, math.ceil(per_epoch * config.epochs))


def lora_config(config: RunConfig, task_type: str = "CAUSAL_LM", modules_to_save=None):
    from peft import LoraConfig
    targets = config.lora_targets
    if targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, task_type=task_type, modules_to_save=modules_to_save)


def eval_interval(config: RunConfig, total_steps: int) -> int:
    """Steps between evaluations: the config's, else about ten evaluations per run but never more
    often than every 5 steps (on a CPU an evaluation can cost as much as several training steps)."""
    return config.eval_steps or max(5, total_steps // 10)


def trl_arguments(config: RunConfig, run: Run, hardware, n_train: int, has_eval: bool) -> dict:
    """Keyword arguments shared by TRL's SFTConfig, RewardConfig, DPOConfig and KTOConfig.

    TRL defaults to bf16 and gradient checkpointing; on a CPU without native bf16 that is about
    200x slower matrix work and a second forward pass per step, so both follow the hardware.
    """
    total = planned_steps(config, n_train)
    eval_steps = eval_interval(config, total)
    micro = config.micro_batch or config.batch_size  # rows per forward; the rest is accumulated
    return dict(
        output_dir=str(run.checkpoints_dir),
        max_steps=config.max_steps or -1,
        num_train_epochs=config.epochs,
        per_device_train_batch_size=micro,
        per_device_eval_batch_size=micro,
        gradient_accumulation_steps=config.grad_accum * (config.batch_size // micro),
        learning_rate=config.resolved_learning_rate(),
        logging_steps=config.logging_steps,
        logging_first_step=True,
        eval_strategy="steps" if has_eval else "no",
        # The curve's first point is the untrained model, so every chart shows what training changed.
        eval_on_start=has_eval,
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        use_cpu=hardware.device == "cpu",
        bf16=hardware.dtype == "bfloat16",
        fp16=hardware.dtype == "float16",
        gradient_checkpointing=hardware.gradient_checkpointing,
        dataloader_num_workers=0,
        max_length=config.max_length,
        # Evaluation needs the loss and the metrics computed with it, never all the logits kept.
        prediction_loss_only=True,
    )


def check_policy_run(config: RunConfig) -> None:
    """`from_run`, when given, names a run of a stage its field takes (a policy, not a reward model)."""
    from_run = getattr(config, "from_run", None)
    if not from_run:
        return
    stage = get_run(from_run).config().get("stage")
    stages = config.run_fields()["from_run"]
    if stage not in stages:
        raise ConfigError(f"run '{from_run}' is a {stage} run; the policy starts from a "
                          f"{', '.join(stages)} run", hint="Give an SFT run with --from.")


def model_source(config: RunConfig) -> tuple[str, Path | None]:
    """(base model, adapter folder to start from): DPO, KTO and PPO start from an SFT run's adapter."""
    from_run = getattr(config, "from_run", None)
    if not from_run:
        return config.model, None
    run = get_run(from_run)
    output = run.finished_output()
    base = run.config().get("model", config.model)
    if output.name == "model":  # a full fine-tune: its folder is the new base
        return str(output), None
    return base, output


def policy_and_reference(config: RunConfig, base: str, adapter: Path | None, hardware):
    """(policy model, PEFT config for the trainer or None, reference model or None) for the stages
    that learn against a frozen reference (DPO, KTO), so that the reference is where the policy
    starts:

      LoRA from an SFT run   the SFT adapter, trainable; TRL keeps a frozen "ref" copy of it
      full from a LoRA run   the adapter folded into the base, every weight trainable (PEFT froze
                             them on loading), and a second folded copy as the reference: left
                             to itself TRL would load the reference from the base's folder
      from the base          a fresh LoRA (the reference is the base, adapter off), or the base
    """
    from peft import PeftModel

    from workbench.models import load_causal_lm

    model = load_causal_lm(base, method=config.method, hardware=hardware)
    is_peft = config.method in PEFT_METHODS
    if adapter is None:
        return model, lora_config(config) if is_peft else None, None
    if is_peft:
        return PeftModel.from_pretrained(model, str(adapter), is_trainable=True), None, None
    model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload().requires_grad_(True)
    reference = PeftModel.from_pretrained(
        load_causal_lm(base, method=config.method, hardware=hardware), str(adapter)).merge_and_unload()
    return model, None, reference.eval().requires_grad_(False)


def save_output(trainer, run: Run, is_peft: bool) -> Path:
    """Save the final adapter (PEFT) or model into the run folder, atomically.

    Every rank calls this (FSDP and DeepSpeed gather weights collectively); only the main
    process writes the files and moves the folder into place.
    """
    target = run.adapter_dir if is_peft else run.model_dir
    tmp = target.with_name(f".{target.name}.tmp")
    main = trainer.is_world_process_zero()
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))
    if main:
        if trainer.processing_class is not None:
            trainer.processing_class.save_pretrained(str(tmp))
        move_into_place(tmp, target)
    return target


def stopped_on_request(trainer) -> bool:
    from workbench.train.callbacks import RunFolderCallback
    return any(isinstance(cb, RunFolderCallback) and cb.stopped
               for cb in trainer.callback_handler.callbacks)


def finish(trainer, run: Run, is_peft: bool, final: dict | None = None) -> None:
    """Record how training ended: stopped on request (checkpoint kept) or completed with its output."""
    main = trainer.is_world_process_zero()
    if stopped_on_request(trainer):
        if main:
            run.stop_path.unlink(missing_ok=True)
            run.update_status(state="stopped", stopped_at=now(), pid=None,
                              last_checkpoint=str(run.last_checkpoint() or ""))
        return
    final = dict(final or {})
    if trainer.eval_dataset is not None:
        final.update(_final_eval(trainer))
    output = save_output(trainer, run, is_peft)
    if main:
        run.update_status(state="completed", finished_at=now(), final=final, output=str(output), pid=None,
                          eta_s=0)


def _final_eval(trainer) -> dict:
    """Eval metrics at the last step: reuse the evaluation that just ran there, else run one."""
    step = trainer.state.global_step
    for row in reversed(trainer.state.log_history):
        if row.get("step") == step and any(k.startswith("eval_") for k in row):
            return {k: v for k, v in row.items() if k.startswith("eval_") and isinstance(v, (int, float))}
    return {k: v for k, v in trainer.evaluate().items() if isinstance(v, (int, float))}
