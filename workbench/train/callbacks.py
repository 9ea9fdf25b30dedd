"""The one bridge between a trainer and its run folder: TRL / transformers `on_log` and step events.

Every stage (TRL's trainers and our PPO loop alike) reports through `RunFolderCallback`, so the
run folder gets the same rows, status and stop handling whatever trained the model.
"""

from __future__ import annotations

import time

from transformers import TrainerCallback

from workbench.runs import Run, now


class RunFolderCallback(TrainerCallback):
    """Writes metrics.jsonl rows and status.json progress, and honours a stop request.

    Only the main process (rank 0) writes, so a multi-process run has one set of files.
    """

    def __init__(self, run: Run):
        self.run = run
        self.started = time.monotonic()
        self.first_step = 0
        self.last_tokens: tuple[float, float] | None = None  # (time, num_tokens) at the last log
        self.stopped = False  # training ended on a stop request (every rank agrees)

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()
        self.first_step = state.global_step
        if state.is_world_process_zero:
            self.run.update_status(step=state.global_step, max_steps=state.max_steps)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), "time": now()}
        row.update({k: v for k, v in logs.items() if isinstance(v, (int, float, str))})
        if "num_tokens" in logs:
            t, tokens = time.monotonic(), float(logs["num_tokens"])
            if self.last_tokens and t > self.last_tokens[0] and tokens > self.last_tokens[1]:
                row["tokens_per_s"] = round((tokens - self.last_tokens[1]) / (t - self.last_tokens[0]), 2)
            self.last_tokens = (t, tokens)
        self.run.log_metrics(row)

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            done = state.global_step - self.first_step
            elapsed = time.monotonic() - self.started
            remaining = max(state.max_steps - state.global_step, 0)
            eta = round(elapsed / done * remaining, 1) if done else None
            self.run.update_status(step=state.global_step, max_steps=state.max_steps,
                                   elapsed_s=round(elapsed, 1), eta_s=eta)
        if self._agreed(self.run.stop_requested()):
            # Save where we are, then stop: a stop never loses the work done so far.
            self.stopped = True
            control.should_save = True
            control.should_training_stop = True
        return control

    @staticmethod
    def _agreed(flag: bool) -> bool:
        """True on every rank if any rank saw the flag: all processes must stop at the same step."""
        import torch.distributed as dist
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return flag
        import torch
        tensor = torch.tensor([int(flag)])
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())
