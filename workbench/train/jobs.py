"""Training jobs: each run trains in its own process, started as `python -m workbench.train.worker`.

The front ends call `start`, `stop`, `resume` and `wait`; they never import a trainer. A crash in
training (even out of memory) takes down the job process only, and the run folder records it.
One job trains at a time on a machine unless asked otherwise, so two runs never race for memory.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager

from workbench import paths
from workbench.errors import ConfigError, RunError
from workbench.privacy import OFFLINE_ENV
from workbench.runs import ACTIVE_STATES, Run, get_run, list_runs, new_run_folder, now, owner
from workbench.train.config import RunConfig, config_class


@contextmanager
def _job_lock():
    """Serialise 'is anything training? then start' between processes on this machine."""
    root = paths.runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def active_runs() -> list[Run]:
    return [run for run in list_runs() if run.status().get("state") in ACTIVE_STATES]


def _refuse_if_busy(allow_parallel: bool) -> None:
    busy = active_runs()
    if busy and not allow_parallel:
        run = busy[0]
        status = run.status()
        raise RunError(
            f"run '{run.name}' is training (step {status.get('step', 0)}/{status.get('max_steps') or '?'}); "
            "one job trains at a time on this machine so that two runs never compete for memory.",
            hint=f"Wait for it, or stop it with `workbench runs stop {run.name}`.")


def prepare_config(config: RunConfig) -> RunConfig:
    """Fill the hardware-dependent defaults and check everything a run needs before it starts.

    Checking here (data task, model name, starting runs) turns a bad request into one clear line
    for the user instead of a failed run folder.
    """
    from workbench.models import detect_hardware
    from workbench.train import stages
    hardware = detect_hardware(config.precision)
    # The run records the precision it trains in, so a resume elsewhere trains in the same one.
    config.precision = hardware.precision
    if config.method is None:
        config.method = hardware.default_method
    if getattr(config, "packing", False) is None:
        config.packing = hardware.packing
    if config.stage in ("sft", "reward", "dpo", "kto") and config.micro_batch is None:
        config.micro_batch = default_micro_batch(config, hardware)
    config.validate()
    if paths.is_shared():
        _refuse_machine_fields(config)
    # Absolute paths, so a resume from another folder (or the GUI) finds the same files; in a
    # shared app, only files inside its own folders.
    for name in (*config.file_fields(), "accelerate_config"):
        if getattr(config, name):
            setattr(config, name, str(paths.readable_path(getattr(config, name))))
    stages.check_inputs(config)
    return config


def _refuse_machine_fields(config: RunConfig) -> None:
    """A shared app's users train with the defaults of how this machine runs a job: processes and
    an Accelerate file are the operator's choice (the form hides them; this refuses them)."""
    defaults = type(config)()
    for name in config.MACHINE_FIELDS:
        if getattr(config, name) != getattr(defaults, name):
            raise ConfigError(f"{name} cannot be set through a shared workbench",
                              hint="Whoever runs the app sets it, with `workbench train` on that machine.")


def default_micro_batch(config: RunConfig, hardware) -> int:
    """Rows per forward pass: a divisor of batch_size. Padding-free SFT takes the hardware's
    sft_micro_batch, or fewer where they would not fit its token budget at max_length; stages
    that pad take the hardware's micro_batch. KTO takes at least 2: TRL's KTOTrainer estimates its
    KL term from the rows of one forward pass, each prompt with another row's answer."""
    if config.stage == "sft" and not config.packing:
        limit = max(1, min(hardware.sft_micro_batch, hardware.forward_tokens // config.max_length))
    else:
        limit = hardware.micro_batch
    if config.stage == "kto":
        micro = min(max(2, limit), config.batch_size)
        while config.batch_size % micro:
            micro += 1  # up to a divisor: never below 2
        return micro
    micro = min(limit, config.batch_size)
    while config.batch_size % micro:
        micro -= 1
    return micro


def job_env() -> dict:
    env = dict(os.environ)
    env.update(OFFLINE_ENV)
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def job_command(run: Run, config: RunConfig, resume: bool) -> list[str]:
    """The job's command line: the worker module, under `accelerate launch` when asked.

    On a machine without GPUs, Accelerate's torchrun path (`--multi_gpu`) with the trainers'
    `use_cpu=True` gives CPU processes talking over gloo; with a config file, Accelerate's own
    settings (FSDP, DeepSpeed, several machines) apply.
    """
    worker = ["-m", "workbench.train.worker", str(run.path)] + (["--resume"] if resume else [])
    if config.launcher != "accelerate":
        return [sys.executable, *worker]
    launch = [sys.executable, "-m", "accelerate.commands.launch"]
    if config.accelerate_config:
        launch += ["--config_file", str(config.accelerate_config)]
        if config.num_processes > 1:
            launch += ["--num_processes", str(config.num_processes)]
    else:
        launch += ["--multi_gpu", "--num_processes", str(config.num_processes), "--num_machines", "1",
                   "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--main_process_port", str(_free_port())]
    return [*launch, *worker]


def _spawn(run: Run, resume: bool) -> None:
    command = job_command(run, load_config(run), resume)
    with open(run.log_path, "a", encoding="utf-8") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=job_env(), start_new_session=True, cwd=str(paths.repo_root()))
    # Recorded before the worker starts, so a process that dies at once is still noticed.
    run.update_status(state="running", error=None, **owner(process.pid))


def _spawn_or_fail(run: Run, resume: bool) -> None:
    """Start the job process; if that fails, the run is recorded as failed (never left queued,
    which would block every later start)."""
    try:
        _spawn(run, resume)
    except Exception as error:  # noqa: BLE001  (any failure to start must end in a readable state)
        run.update_status(state="failed", pid=None, error=f"the job process could not start: {error}")
        raise RunError(f"run '{run.name}' could not start its job process: {error}",
                       hint=f"See {run.log_path}.") from error


def start(config: RunConfig, *, allow_parallel: bool = False, wait: bool = False) -> Run:
    """Create the run folder, save its config, and start the job process. Returns the run."""
    prepare_config(config)
    with _job_lock():
        _refuse_if_busy(allow_parallel)
        run = new_run_folder(config.stage, config.name)
        config.name = run.name
        # status.json before config.yaml (which makes the folder a run): a run is never without
        # a status naming its owner, this process, until its job takes over.
        try:
            run.update_status(state="queued", step=0, max_steps=config.max_steps,
                              created_at=now(), stage=config.stage, **owner())
            config.save(run.config_path)
        except BaseException:
            shutil.rmtree(run.path, ignore_errors=True)  # the folder was made just now, and is empty
            raise
        _spawn_or_fail(run, resume=False)
    return wait_for(run) if wait else run


def stop(name: str) -> dict:
    """Ask a run to stop after its current step; it saves a checkpoint first."""
    run = get_run(name)
    status = run.status()
    if status.get("state") not in ACTIVE_STATES:
        raise RunError(f"run '{run.name}' is not training (it is {status.get('state')})")
    run.stop_path.touch()
    return status


def resume(name: str, *, allow_parallel: bool = False, wait: bool = False) -> Run:
    """Continue a stopped or failed run from its last checkpoint, same config and data order."""
    run = get_run(name)
    status = run.status()
    if status.get("state") in ACTIVE_STATES:
        raise RunError(f"run '{run.name}' is already {status['state']}")
    if status.get("state") == "completed":
        raise RunError(f"run '{run.name}' has completed; there is nothing to resume",
                       hint="Start a new run with more steps, e.g. `workbench train ... --config "
                            f"{run.config_path} --max-steps N --name NEW`.")
    with _job_lock():
        _refuse_if_busy(allow_parallel)
        run.stop_path.unlink(missing_ok=True)
        _spawn_or_fail(run, resume=True)
    return wait_for(run) if wait else run


def wait_for(run: Run, *, poll_s: float = 0.5, on_progress=None, timeout_s: float | None = None) -> Run:
    """Block until the run leaves the active states; `on_progress(status)` is called on each poll."""
    deadline = time.monotonic() + timeout_s if timeout_s else None
    while True:
        status = run.status()
        if on_progress:
            on_progress(status)
        if status.get("state") not in ACTIVE_STATES:
            return run
        if deadline and time.monotonic() > deadline:
            raise RunError(f"run '{run.name}' is still {status.get('state')} after {timeout_s} s")
        time.sleep(poll_s)


def load_config(run: Run) -> RunConfig:
    values = run.config()
    return config_class(values.get("stage", "")).from_dict(values, source=str(run.config_path))
