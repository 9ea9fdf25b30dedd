"""The job process: `python -m workbench.train.worker RUN_DIR [--resume]`.

It owns the run folder while it lives. Whatever happens, status.json ends in a state that says
what happened: completed, stopped, or failed with a readable reason (the traceback goes to
train.log). Checkpoints and metrics are never removed here.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path

from workbench import privacy  # noqa: F401  (telemetry off in the job process too)
from workbench.errors import WorkbenchError
from workbench.runs import Run, now, owner


def failure_message(error: BaseException) -> str:
    if isinstance(error, WorkbenchError):
        return str(error)
    if isinstance(error, MemoryError) or "out of memory" in str(error).lower():
        return ("out of memory: lower --batch-size or --max-length, use --method lora (or qlora on a GPU), "
                "or a smaller model. Checkpoints so far are kept.")
    return f"{type(error).__name__}: {error} (full traceback in train.log)"


def is_main_process() -> bool:
    """Rank 0 (or the only process) owns status.json; other ranks only train."""
    return int(os.environ.get("RANK", "0")) == 0


def run_job(run_dir: str | Path, resume: bool = False) -> int:
    from workbench.train.jobs import load_config
    from workbench.train.stages import train_stage

    run = Run(Path(run_dir))
    main = is_main_process()
    if main:
        # A polite kill (closing the app, `kill PID`) becomes a stop: checkpoint, then exit.
        signal.signal(signal.SIGTERM, lambda *_: run.stop_path.touch())
        run.update_status(state="running", error=None, **owner(),
                          **({"resumed_at": now()} if resume else {"started_at": now()}))
    try:
        config = load_config(run)
        resume_from = run.last_checkpoint() if resume else None
        if resume and main:
            print(f"resuming from {resume_from or 'the start (no checkpoint was saved)'}", flush=True)
        train_stage(config, run, resume_from=resume_from)
    except BaseException as error:  # noqa: BLE001  (every ending must be recorded)
        if not main:
            raise
        traceback.print_exc()
        state = "stopped" if isinstance(error, KeyboardInterrupt) else "failed"
        run.update_status(state=state, error=failure_message(error), pid=None, finished_at=now())
        return 1
    if main and run.raw_status().get("state") == "running":  # a stage that did not record its end
        run.update_status(state="completed", pid=None, finished_at=now())
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.train.worker", allow_abbrev=False)
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    return run_job(args.run_dir, resume=args.resume)


if __name__ == "__main__":
    sys.exit(main())
