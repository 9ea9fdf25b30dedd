"""The run folder: the single source of truth for a training run.

    $WORKBENCH_HOME/runs/<name>/
        config.yaml      the stage's full config; `workbench train STAGE --config` repeats the run
        status.json      state, step, max_steps, started_at, updated_at, eta_s, error; written atomically
        metrics.jsonl    one JSON object per logged step, appended and flushed as training goes
        samples.jsonl    sample generations (PPO / RLOO), appended
        checkpoints/     trainer checkpoints (resume starts from the newest)
        adapter/ | model/  the final PEFT adapter, or the full model
        train.log        the job process's stdout and stderr
        stop             present while a stop is requested

Every front end reads runs through these functions; none of them parses the files itself. The job
process is the only writer of status.json and metrics.jsonl while it lives. An active status names
its owner: the process creating the run (`queued`) or the job process (`running`), by pid and that
process's start (`pid_start`), since a pid is reused after it ends or the machine restarts. A
reader that finds an active status whose owner is gone records the run as failed, keeping
everything else, so a crash never leaves a run that blocks every later job.

A run is named by its folder's name; a name never reaches outside $WORKBENCH_HOME/runs/.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from workbench import paths
from workbench.errors import RunError
from workbench.io import append_jsonl, read_jsonl_tolerant, write_json_atomic

ACTIVE_STATES = ("queued", "running")
RUN_STATES = (*ACTIVE_STATES, "completed", "stopped", "failed", "broken")  # "broken": its config.yaml cannot be read


def now() -> float:
    return round(time.time(), 3)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child that exited, not yet reaped) is not alive.
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def process_start(pid: int | None) -> str | None:
    """What tells process `pid` apart from a later one given the same pid: its start time in
    clock ticks since boot (/proc/PID/stat field 22) and the boot's id; None when it is gone."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            started = handle.read().rsplit(")", 1)[-1].split()[19]  # fields 3.. follow the name
        with open("/proc/sys/kernel/random/boot_id", encoding="utf-8") as handle:
            return f"{handle.read().strip()}:{started}"
    except (OSError, IndexError):
        pass
    import psutil  # no /proc (macOS): the start time in seconds, precise to ticks
    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        return None


def owner(pid: int | None = None) -> dict:
    """The status fields naming the process that owns an active run (this one by default)."""
    pid = pid or os.getpid()
    return {"pid": pid, "pid_start": process_start(pid)}


def owner_alive(status: dict) -> bool:
    """Whether the process a status names still runs (and is the same process, not a reuse of its
    pid). A status from before pid_start was recorded is judged by its pid alone."""
    pid = status.get("pid")
    if not pid_alive(pid):
        return False
    return status.get("pid_start") is None or process_start(pid) == status["pid_start"]


def check_name(name: str) -> str:
    if not paths.is_name(name):
        raise RunError(f"'{name}' is not a usable run name", hint=f"{paths.NAME_HINT}.")
    return name


@dataclass
class Run:
    """A run folder on disk. Cheap to create; every read goes to the files."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    # paths
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def samples_path(self) -> Path:
        return self.path / "samples.jsonl"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def log_path(self) -> Path:
        return self.path / "train.log"

    @property
    def stop_path(self) -> Path:
        return self.path / "stop"

    @property
    def adapter_dir(self) -> Path:
        return self.path / "adapter"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    # status
    def raw_status(self) -> dict:
        """status.json as written; a missing or unreadable one reads as a failed run (the start
        writes it before config.yaml, so a run without one was cut off while being created)."""
        try:
            status = json.loads(self.status_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"state": "failed", "step": 0, "error": "status.json is missing: the run was cut off while "
                    "being created (a crash or a full disk) and never started. " + self._way_out()}
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            status = None
        if not isinstance(status, dict):
            return {"state": "failed", "step": 0, "error": "status.json is unreadable. " + self._way_out()}
        return status

    def _way_out(self) -> str:
        return (f"`workbench runs resume {self.name}` starts it from its last checkpoint; "
                f"`workbench runs delete {self.name} --yes` removes it.")

    def status(self) -> dict:
        """The run's status, with a dead owner recognised and recorded as a failure."""
        status = self.raw_status()
        if status.get("state") in ACTIVE_STATES and not owner_alive(status):
            reason = (self._death_reason(status.get("pid")) if status["state"] == "running" else
                      f"the run never started: the process creating it (pid {status.get('pid')}) ended "
                      "before starting its job. " + self._way_out())
            status = self.update_status(state="failed", pid=None, error=reason)
        return status

    def _death_reason(self, pid) -> str:
        last_error = ""
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
            if any(line.startswith("Traceback") for line in lines):
                last_error = next((l for l in reversed(lines) if l.strip() and not l.startswith(" ")), "")
        except FileNotFoundError:
            pass
        if last_error:
            return f"the job process (pid {pid}) crashed: {last_error} (see train.log)"
        return (f"the job process (pid {pid}) ended without reporting: it was killed (kill -9, or the "
                "system ran out of memory). Checkpoints and metrics are kept; "
                f"`workbench runs resume {self.name}` continues from the last checkpoint.")

    def update_status(self, **changes) -> dict:
        status = self.raw_status()
        status.update(changes)
        status["updated_at"] = now()
        write_json_atomic(self.status_path, status)
        return status

    # metrics and samples
    def append_jsonl(self, path: Path, row: dict) -> None:
        append_jsonl(path, row)

    def log_metrics(self, row: dict) -> None:
        self.append_jsonl(self.metrics_path, row)

    def metrics(self) -> list[dict]:
        return read_jsonl_tolerant(self.metrics_path)

    def samples(self) -> list[dict]:
        return read_jsonl_tolerant(self.samples_path)

    def config(self) -> dict:
        """config.yaml as a dict ({} where there is none); raises RunError naming the file when
        it is not a readable YAML mapping."""
        import yaml
        try:
            config = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as error:
            reason = (str(error).strip().splitlines() or ["unreadable"])[0]
            raise RunError(f"run '{self.name}' is broken: {self.config_path} is not readable YAML ({reason})",
                           hint=self._way_out()) from None
        if config is None:
            return {}
        if not isinstance(config, dict):
            raise RunError(f"run '{self.name}' is broken: {self.config_path} holds "
                           f"{type(config).__name__}, not a mapping of settings", hint=self._way_out())
        return config

    # checkpoints and outputs
    def checkpoints(self) -> list[Path]:
        """Checkpoint folders, oldest first."""
        if not self.checkpoints_dir.is_dir():
            return []
        # trainer_state.json is written last: a checkpoint without it was cut off mid-save.
        found = [p for p in self.checkpoints_dir.glob("checkpoint-*")
                 if p.is_dir() and (p / "trainer_state.json").exists()]
        return sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[-1]))

    def last_checkpoint(self) -> Path | None:
        checkpoints = self.checkpoints()
        return checkpoints[-1] if checkpoints else None

    def output_dir(self) -> Path | None:
        """The final adapter or model folder, if training finished writing one."""
        for folder in (self.adapter_dir, self.model_dir):
            if folder.is_dir():
                return folder
        return None

    def finished_output(self) -> Path:
        """The adapter/ or model/ folder of a completed run: what comparing, exporting or starting
        a stage from this run uses. Raises RunError naming the run's state for any other run."""
        state = self.status().get("state")
        output = self.output_dir()
        if state != "completed" or output is None:
            raise RunError(f"run '{self.name}' has not completed (it is {state}), so it has no trained "
                           "adapter or model yet",
                           hint=f"Wait for it to complete, or resume it: `workbench runs resume {self.name}`.")
        return output

    def stop_requested(self) -> bool:
        return self.stop_path.exists()

    def summary(self) -> dict:
        """One line of the runs table: name, stage, base, state, step, ETA and the latest metrics.
        A run whose config.yaml cannot be read is "broken", with the reason as its error."""
        status = self.status()
        try:
            config = self.config()
        except RunError as error:
            config, status = {}, {**status, "state": "broken", "error": str(error)}
        last = {}
        for row in self.metrics():
            last.update({k: v for k, v in row.items() if isinstance(v, (int, float))})
        return {
            "name": self.name,
            "stage": config.get("stage"),
            "model": config.get("model"),
            "from_run": config.get("from_run"),
            "method": config.get("method"),
            "state": status.get("state"),
            "step": status.get("step", 0),
            "max_steps": status.get("max_steps"),
            "eta_s": status.get("eta_s"),
            "created_at": status.get("created_at"),
            "started_at": status.get("started_at"),
            "finished_at": status.get("finished_at"),
            "updated_at": status.get("updated_at"),
            "error": status.get("error"),
            "final": status.get("final", {}),
            "last_metrics": last,
        }


def runs_root() -> Path:
    return paths.runs_dir()


def get_run(name: str) -> Run:
    """The run named `name`: the folder $WORKBENCH_HOME/runs/<name>. Never a folder elsewhere,
    even where one of that name (a backup copy, ./sft-1) holds a config.yaml."""
    folder = runs_root() / str(name)
    if not paths.is_name(str(name)) or not (folder / "config.yaml").is_file():
        known = ", ".join(r.name for r in list_runs()[:8]) or "none yet"
        raise RunError(f"no run named '{name}' in {runs_root()}",
                       hint=f"Known runs: {known}. `workbench runs list` shows them all."
                            + ("" if paths.is_name(str(name)) else " Runs are named, not given as paths."))
    return Run(folder)


def list_runs() -> list[Run]:
    """Runs, newest first."""
    root = runs_root()
    if not root.is_dir():
        return []
    runs = [Run(p) for p in root.iterdir() if p.is_dir() and (p / "config.yaml").is_file()]
    return sorted(runs, key=lambda r: r.config_path.stat().st_mtime, reverse=True)


def run_names() -> list[str]:
    """Every run's name, newest first (what a picker of runs to look at lists; the pickers of
    runs to load are `workbench.present.run_choices`)."""
    return [run.name for run in list_runs()]


def new_run_folder(stage: str, name: str | None) -> Run:
    """Create a fresh run folder; a given name must be new, a missing one is made from the stage."""
    root = runs_root()
    root.mkdir(parents=True, exist_ok=True)
    if name:
        check_name(name)
        folder = root / name
        if folder.exists():
            raise RunError(f"a run named '{name}' already exists",
                           hint=f"Choose another --name, or `workbench runs resume {name}` to continue it.")
        folder.mkdir()
        return Run(folder)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1000):
        folder = root / (f"{stage}-{stamp}" + (f"-{attempt}" if attempt else ""))
        try:
            folder.mkdir()
            return Run(folder)
        except FileExistsError:
            continue
    raise RunError("could not create a run folder", hint=f"Check that {root} is writable.")


def delete_run(name: str) -> None:
    """Delete the run named `name` (in $WORKBENCH_HOME/runs only), unless it is training."""
    run = get_run(name)
    state = run.status().get("state")
    if state in ACTIVE_STATES:
        raise RunError(f"run '{name}' is still {state}",
                       hint=f"Stop it first: `workbench runs stop {name}`.")
    shutil.rmtree(run.path)
