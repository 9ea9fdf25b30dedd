"""Supervised fine-tuning: TRL's SFTTrainer on rows tokenized by the token view's own code.

The rows are encoded with `workbench.data.tokens.encode_row`, the function the tokenization view
shows, so the loss mask the user inspected is the one trained. No compute is spent on padding:
a GPU packs rows best-fit into max_length sequences; elsewhere the rows of a micro-batch are
concatenated into one sequence (TRL's padding-free collator), with position ids restarting at
each row so that every row attends only to itself.
"""

from __future__ import annotations

from workbench.models.hardware import PEFT_METHODS
from workbench.runs import Run
from workbench.train.common import finish, lora_config, training_rows, trl_arguments
from workbench.train.config import SFTRunConfig


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


# Above this many trained tokens in one pass, [tokens, vocab] fp32 logits (and their gradient)
# would cost more memory than TRL's tiled head saves in time: 1024 x 49152 x 4 bytes = 200 MB.
MAX_HEAD_TOKENS = 1024


def head_where_trained_trainer():
    """TRL's SFTTrainer, with a loss that projects onto the vocabulary only where it trains.

    TRL's fused LM head does the same with Triton on a GPU. On a CPU its torch fallback
    recomputes every logit tile in the backward pass and makes several elementwise passes over
    each: a quarter of a LoRA step on the default model, measured. Here the head runs once, on
    the trained positions (the model's own `logits_to_keep`), and torch's cross-entropy does the
    rest. The metrics TRL logs (entropy, mean_token_accuracy, num_tokens) are kept.
    """
    import torch
    import torch.nn.functional as F
    from trl import SFTTrainer

    class HeadWhereTrainedSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            mode = "train" if self.model.training else "eval"
            labels = inputs["labels"]  # [B, T]; -100 where no loss is taken
            keep = torch.zeros_like(labels, dtype=torch.bool)
            keep[:, :-1] = labels[:, 1:] != -100  # position t predicts token t + 1
            if int(keep.sum()) > MAX_HEAD_TOKENS:  # the logits would not be small: TRL's tiles
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            targets = labels[:, 1:][labels[:, 1:] != -100]  # [N], in the order of the kept positions
            outputs = model(**{k: v for k, v in inputs.items() if k != "labels"}, use_cache=False,
                            logits_to_keep=keep)
            logits = outputs.logits.float()  # [N, V]
            count = num_items_in_batch if num_items_in_batch is not None else targets.numel()
            loss = F.cross_entropy(logits, targets, reduction="sum") / torch.as_tensor(count).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes  # DDP averages the gradients across ranks
            with torch.no_grad():
                log_p = logits.log_softmax(-1)
                entropy = -(log_p.exp() * log_p).sum()
                correct = (logits.argmax(-1) == targets).sum()
                n = self.accelerator.gather_for_metrics(torch.tensor(targets.numel())).sum()
                entropy = self.accelerator.gather_for_metrics(entropy).sum()
                correct = self.accelerator.gather_for_metrics(correct).sum()
            self._metrics[mode]["entropy"].append((entropy / n).item() if n > 0 else 0.0)
            self._metrics[mode]["mean_token_accuracy"].append((correct / n).item() if n > 0 else 0.0)
            if mode == "train":
                tokens = inputs["attention_mask"].sum() if "attention_mask" in inputs else \
                    torch.tensor(inputs["input_ids"].size(1))
                self._total_train_tokens += self.accelerator.gather_for_metrics(tokens).sum().item()
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return (loss, outputs) if return_outputs else loss

    return HeadWhereTrainedSFTTrainer


def train(config: SFTRunConfig, run: Run, resume_from=None) -> None:
    from trl import SFTConfig, SFTTrainer

    from workbench.models import detect_hardware, load_causal_lm, load_tokenizer
    from workbench.train.callbacks import RunFolderCallback

    hardware = detect_hardware(config.precision)
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
    is_peft = config.method in PEFT_METHODS
    # A GPU keeps TRL's fused head (Triton, and no [tokens, vocab] logits in memory).
    trainer_class = SFTTrainer if hardware.device == "cuda" else head_where_trained_trainer()
    trainer = trainer_class(model=model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                         processing_class=tokenizer, peft_config=lora_config(config) if is_peft else None,
                         callbacks=[RunFolderCallback(run)])
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finish(trainer, run, is_peft)
