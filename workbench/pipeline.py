"""Pipelines: several stages in one go, each feeding the next (SFT, then a reward model, then DPO or
PPO from the SFT run), started with one command and resumable.

A pipeline is a small YAML file:

    name: captain                  # its folder: $WORKBENCH_HOME/pipelines/captain
    defaults:                      # fields every step takes unless it sets them
      model: smollm2-135m
      max_length: 256
    steps:
      - {name: sft, stage: sft, data: sft.jsonl, max_steps: 12}
      - {name: reward, stage: reward, data: preference.jsonl, max_steps: 10}
      - {name: dpo, stage: dpo, data: preference.jsonl, from: sft}
      - {name: ppo, stage: ppo, prompts: prompts.jsonl, from: sft, reward_model: reward}
      - {name: eval, stage: eval, models: [base, sft, dpo, ppo], reward_model: reward,
         sft_data: sft_eval.jsonl, preference_data: preference_eval.jsonl, prompts: prompts.jsonl}

A training step is an ordinary run (its own folder, metrics and checkpoints) named `<pipeline>-<step>`, with
the fields of its stage's config; `from` (or `from_run`) and `reward_model` may name an earlier
step, which stands for that step's run. Files are relative to the pipeline file. An `eval` step
evaluates the models it lists (steps, runs or "base") on held-out files, as `workbench eval` does
(`workbench.evaluate.evaluate_models`, its keyword arguments as fields), in the runner's own process;
its result is saved with the other evaluations and named in the state. A `report` step takes the
same fields (and `samples`, `examples`) and writes the report of what each method did
(`workbench.report.make_report`) as report.html and report.json in the pipeline's folder.

The pipeline's folder holds `pipeline.yaml` (the file as run, paths made absolute) and
`state.json`: its state, the run each step made and, once it failed, which step failed and why.
A runner process (`python -m workbench.pipeline FOLDER`) takes the steps in order: a
completed step is skipped, a stopped or failed one resumed from its checkpoint, a new one started,
and each is waited for. A stop request stops the running step after its current training step
(which keeps its checkpoint) and then the pipeline; `resume` starts the runner again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench import paths
from workbench.errors import ConfigError, DataError, RunError, WorkbenchError
from workbench.io import write_json_atomic
from workbench.runs import owner_alive, process_start

ACTIVE = ("starting", "running")


@dataclass
class Step:
    name: str
    stage: str
    values: dict          # the step's config fields, references to other steps still by step name


@dataclass
class Pipeline:
    """A pipeline's folder: its steps (from pipeline.yaml) and its state (state.json)."""

    folder: Path
    _steps: list[Step] | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def spec_path(self) -> Path:
        return self.folder / "pipeline.yaml"

    @property
    def state_path(self) -> Path:
        return self.folder / "state.json"

    @property
    def stop_path(self) -> Path:
        return self.folder / "stop"

    @property
    def log_path(self) -> Path:
        return self.folder / "pipeline.log"

    def steps(self) -> list[Step]:
        """The steps of pipeline.yaml, read and checked once: the file is written when the
        pipeline is created and never changes (a status poll asks for them every second)."""
        if self._steps is None:
            self._steps = read_steps(self.spec_path)[1]
        return self._steps

    def state(self) -> dict:
        import json
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {"state": "?", "runs": {}}

    def update(self, **changes) -> dict:
        state = {**self.state(), **changes, "updated_at": round(time.time(), 3)}
        write_json_atomic(self.state_path, state)
        return state

    def run_name(self, step: str) -> str:
        return f"{self.name}-{step}"

    def summary(self) -> list[dict]:
        """One row per step: step, stage, run, the run's state and step count ("" before it starts)."""
        from workbench.runs import get_run
        runs = self.state().get("runs", {})
        rows = []
        for step in self.steps():
            row = {"step": step.name, "stage": step.stage, "run": runs.get(step.name, ""), "state": "waiting",
                   "progress": ""}
            if row["run"] and step.stage in MEASURES:
                row["state"] = "completed"
            elif row["run"]:
                try:
                    status = get_run(row["run"]).status()
                except RunError:
                    status = {"state": "missing"}
                row["state"] = status.get("state", "?")
                row["progress"] = f"{status.get('step', 0)}/{status.get('max_steps') or '?'}"
            rows.append(row)
        return rows


# ---------------------------------------------------------------- reading a pipeline file

def read_steps(path: Path, text: str | None = None) -> tuple[dict, list[Step]]:
    """(the file's top-level values, its steps), each step's config checked field by field.
    text: the file's content as edited (the GUI's editor), read as if it were `path`'s: its
    relative files are beside `path`. Raises ConfigError naming the file, the step and the field."""
    import yaml

    from workbench.train.config import STAGE_CONFIGS, config_class
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8") if text is None else text)
    except OSError as error:
        raise DataError(f"cannot read the pipeline file: {error.strerror or error}", path=path) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})",
                          hint="A pipeline is a YAML mapping with `steps:`; see sample_data/pipeline.yaml.") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("steps"), list) or not spec["steps"]:
        raise ConfigError(f"{path}: a pipeline is a mapping with a non-empty list `steps:`",
                          hint="See sample_data/pipeline.yaml.")
    unknown = set(spec) - {"name", "defaults", "steps"}
    if unknown:
        raise ConfigError(f"{path}: unknown key '{sorted(unknown)[0]}'", hint="A pipeline has name, defaults and steps.")
    defaults = spec.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: `defaults:` is a mapping of config fields")
    steps, seen = [], set()
    for number, item in enumerate(spec["steps"], 1):
        where = f"{path}, step {number}"
        if not isinstance(item, dict) or not item.get("name") or item.get("stage") not in (*STAGE_CONFIGS, *MEASURES):
            raise ConfigError(f"{where}: each step needs a `name` and a `stage` "
                              f"({', '.join(STAGE_CONFIGS)}, eval or report)")
        name, stage = str(item["name"]), item["stage"]
        if name in seen:
            raise ConfigError(f"{where}: the step name '{name}' is used twice", hint="Name each step once.")
        if stage in MEASURES:
            steps.append(Step(name, stage, eval_values(item, path, f"{where} ('{name}')")))
            seen.add(name)
            continue
        # A default applies to the steps whose stage has that field (`data` is not PPO's); a step's
        # own unknown field is an error, named by the config.
        known = {f.name for f in config_class(stage).knobs()}
        values = {**{k: v for k, v in defaults.items() if k in known},
                  **{("from_run" if k == "from" else k): v for k, v in item.items() if k not in ("name", "stage")}}
        for key in config_class(stage)().file_fields():
            if values.get(key):
                values[key] = str((path.parent / str(values[key])).expanduser().resolve())
        where = f"{where} ('{name}')"
        try:  # the fields alone: whether a named run exists is checked when the step starts
            config_class(stage).from_dict({**values, "stage": stage}, source=where).validate()
        except WorkbenchError as error:  # every message names the file and the step
            if not error.message.startswith(where):
                error.message = f"{where}: {error.message}"
                error.args = (error.message,)
            raise
        steps.append(Step(name, stage, values))
        seen.add(name)
    return spec, steps


# The steps that measure runs rather than train one, and the fields each takes.
MEASURES = ("eval", "report")
EVAL_FIELDS = ("models", "sft_data", "preference_data", "prompts", "reward_model", "base", "max_rows", "seed",
               "max_new_tokens", "temperature", "max_length", "precision")
FIELDS = {"eval": EVAL_FIELDS, "report": (*EVAL_FIELDS, "samples", "examples")}
EVAL_FILES = ("sft_data", "preference_data", "prompts")


def eval_values(item: dict, path: Path, where: str) -> dict:
    """An eval or report step's arguments (`evaluate_models`' or `make_report`'s), files made
    absolute. Raises ConfigError for an unknown field, no models, or nothing to evaluate on."""
    import difflib
    values = {k: v for k, v in item.items() if k not in ("name", "stage")}
    fields = FIELDS[item["stage"]]
    for key in values:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            raise ConfigError(f"{where}: unknown key '{key}' for {'an eval' if item['stage'] == 'eval' else 'a report'} step",
                              hint=f"Did you mean '{close[0]}'?" if close else f"Known keys: {', '.join(fields)}.")
    models = values.get("models")
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    if not models or not all(isinstance(m, str) for m in models):
        raise ConfigError(f"{where}: an eval step lists its `models` (steps, runs or base)")
    if not any(values.get(k) for k in EVAL_FILES):
        raise ConfigError(f"{where}: nothing to evaluate on", hint=f"Give one of {', '.join(EVAL_FILES)}.")
    for key in EVAL_FILES:
        if values.get(key):
            values[key] = str((path.parent / str(values[key])).expanduser().resolve())
    return {**values, "models": models}


def run_eval_step(step: Step, runs: dict, folder: Path | None = None) -> str:
    """Evaluate an eval step's models, or report on a report step's (step names stand for their
    runs; a report is written into `folder` too); returns the saved evaluation's or report's id."""
    values = dict(step.values)
    values["models"] = [runs.get(m, m) for m in values["models"]]
    if values.get("reward_model"):
        values["reward_model"] = runs.get(values["reward_model"], values["reward_model"])
    models = values.pop("models")
    if step.stage == "report":
        from workbench.report import make_report
        return make_report(models, out=None if folder is None else folder / "report.html", **values)["id"]
    from workbench.evaluate import evaluate_models
    return evaluate_models(models, save=True, **values)["id"]


def report_arguments(pipeline: Pipeline) -> dict:
    """`make_report`'s arguments for a pipeline's runs: its last eval or report step's (steps
    standing for their runs), else every trained run but the reward model, scored by it."""
    runs = pipeline.state().get("runs", {})
    measured = [step for step in pipeline.steps() if step.stage in MEASURES]
    if measured:
        values = dict(measured[-1].values)
        values["models"] = [runs.get(m, m) for m in values["models"]]
        if values.get("reward_model"):
            values["reward_model"] = runs.get(values["reward_model"], values["reward_model"])
        return {k: v for k, v in values.items() if k in FIELDS["report"]}
    trained = [step for step in pipeline.steps() if step.name in runs]
    if not trained:
        raise ConfigError(f"pipeline '{pipeline.name}' has no run yet to report on",
                          hint=f"Run it first: workbench pipeline resume {pipeline.name}.")
    reward = next((runs[s.name] for s in trained if s.stage == "reward"), None)
    return {"models": [runs[s.name] for s in trained if s.stage != "reward"], "reward_model": reward}


# ---------------------------------------------------------------- the front ends' calls

def pipelines_dir() -> Path:
    return paths.home() / "pipelines"


def get_pipeline(name: str) -> Pipeline:
    folder = pipelines_dir() / str(name)
    if not name or not (folder / "pipeline.yaml").is_file():
        known = ", ".join(p.name for p in list_pipelines()) or "none yet"
        raise RunError(f"no pipeline named '{name}'", hint=f"Pipelines here: {known}.")
    return Pipeline(folder)


def list_pipelines() -> list[Pipeline]:
    root = pipelines_dir()
    if not root.is_dir():
        return []
    found = [Pipeline(p) for p in root.iterdir() if (p / "pipeline.yaml").is_file()]
    return sorted(found, key=lambda p: p.spec_path.stat().st_mtime, reverse=True)


def run_pipeline(path, *, text: str | None = None, name: str | None = None, wait: bool = False) -> Pipeline:
    """Check the pipeline file, create its folder and start its runner. text: the file's content
    as edited, in place of what `path` holds (see `read_steps`). name: the folder's name (default:
    the file's `name`, else the file's stem). A pipeline of that name must not exist: resume it
    instead."""
    import yaml

    from workbench.runs import check_name
    spec, steps = read_steps(Path(path), text)
    name = str(name or spec.get("name") or Path(path).stem)
    check_name(name)
    folder = pipelines_dir() / name
    if folder.exists():
        raise RunError(f"a pipeline named '{name}' exists already",
                       hint=f"`workbench pipeline resume {name}` continues it; --name starts another.")
    folder.mkdir(parents=True)
    pipeline = Pipeline(folder)
    resolved = {"name": name, "steps": [{"name": s.name, "stage": s.stage, **s.values} for s in steps]}
    pipeline.spec_path.write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
    pipeline.update(state="starting", runs={}, created_at=round(time.time(), 3), source=str(Path(path).resolve()))
    _spawn(pipeline)
    return wait_pipeline(pipeline) if wait else pipeline


def stop_pipeline(name: str) -> Pipeline:
    """Ask the pipeline to stop: its running step stops after its current training step (keeping a
    checkpoint), and no later step starts."""
    pipeline = get_pipeline(name)
    state = pipeline.state().get("state")
    if state not in ACTIVE:
        raise RunError(f"pipeline '{name}' is not running (it is {state})")
    pipeline.stop_path.touch()
    if not owner_alive(pipeline.state()):  # its runner is gone: nobody else will record it
        pipeline.update(state="stopped", pid=None)
    return pipeline


def resume_pipeline(name: str, *, wait: bool = False) -> Pipeline:
    """Continue a stopped or failed pipeline: finished steps are skipped, the stopped or failed one
    resumes from its checkpoint, the rest start in turn."""
    pipeline = get_pipeline(name)
    state = pipeline.state()
    if state.get("state") in ACTIVE and owner_alive(state):
        raise RunError(f"pipeline '{name}' is already running")
    if state.get("state") == "completed":
        raise RunError(f"pipeline '{name}' has completed; there is nothing to resume")
    pipeline.stop_path.unlink(missing_ok=True)
    pipeline.update(state="starting", error=None, failed_step=None)
    _spawn(pipeline)
    return wait_pipeline(pipeline) if wait else pipeline


def wait_pipeline(pipeline: Pipeline, *, poll_s: float = 0.5, on_progress=None) -> Pipeline:
    """Block until the pipeline's runner has finished (completed, stopped or failed)."""
    while True:
        state = pipeline.state()
        if on_progress:
            on_progress(state)
        if state.get("state") not in ACTIVE:
            return pipeline
        if state.get("state") == "running" and not owner_alive(state):
            pipeline.update(state="failed", pid=None, error="the pipeline's runner process ended unexpectedly "
                                                            f"(see {pipeline.log_path})")
            return pipeline
        time.sleep(poll_s)


def _spawn(pipeline: Pipeline) -> None:
    from workbench.train.jobs import job_env
    with open(pipeline.log_path, "a", encoding="utf-8") as log:
        process = subprocess.Popen([sys.executable, "-m", "workbench.pipeline", str(pipeline.folder)],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=job_env(),
                                   start_new_session=True, cwd=str(paths.repo_root()))
    pipeline.update(pid=process.pid, pid_start=process_start(process.pid))


# ---------------------------------------------------------------- the runner

def run_steps(pipeline: Pipeline) -> str:
    """Take the steps in order (see the module docstring). Returns the pipeline's final state."""
    from workbench.runs import get_run
    from workbench.train import jobs
    from workbench.train.config import config_class

    pipeline.update(state="running", pid=os.getpid(), pid_start=process_start(os.getpid()))
    runs: dict = dict(pipeline.state().get("runs", {}))
    for step in pipeline.steps():
        if pipeline.stop_path.exists():
            return _stopped(pipeline, step.name)
        if step.stage in MEASURES:
            if step.name in runs:
                print(f"step '{step.name}': {step.stage} {runs[step.name]} done before; skipped", flush=True)
                continue
            pipeline.update(current=step.name)
            print(f"step '{step.name}': {'evaluating' if step.stage == 'eval' else 'reporting on'} "
                  f"{', '.join(step.values['models'])}", flush=True)
            try:
                runs[step.name] = run_eval_step(step, runs, pipeline.folder)
            except WorkbenchError as error:
                return _failed(pipeline, step.name, str(error))
            pipeline.update(runs=runs)
            continue
        try:
            run = get_run(runs[step.name]) if step.name in runs else None
            state = run.status().get("state") if run else None
            if state == "completed":
                print(f"step '{step.name}': run '{run.name}' completed before; skipped", flush=True)
                continue
            if run is None:
                values = {k: runs.get(v, v) if k in ("from_run", "reward_model") else v for k, v in step.values.items()}
                config = config_class(step.stage).from_dict({**values, "stage": step.stage, "name": None},
                                                            source=f"step '{step.name}'")
                config.name = pipeline.run_name(step.name)
                print(f"step '{step.name}': starting run '{config.name}'", flush=True)
                run = jobs.start(config)
                runs[step.name] = run.name
                pipeline.update(runs=runs, current=step.name)
            elif state not in ("running", "queued"):
                print(f"step '{step.name}': resuming run '{run.name}' ({state})", flush=True)
                pipeline.update(current=step.name)
                jobs.resume(run.name)
        except WorkbenchError as error:
            return _failed(pipeline, step.name, str(error))
        asked = []

        def forward_stop(status, run=run):
            if pipeline.stop_path.exists() and not asked and status.get("state") == "running":
                asked.append(True)
                try:
                    jobs.stop(run.name)
                except RunError:
                    pass  # it ended meanwhile

        state = jobs.wait_for(run, on_progress=forward_stop).status()
        if state.get("state") == "failed":
            return _failed(pipeline, step.name, f"run '{run.name}' failed: {state.get('error') or 'no reason recorded'}")
        if state.get("state") != "completed":
            return _stopped(pipeline, step.name)
    pipeline.update(state="completed", current=None, pid=None)
    print("pipeline completed", flush=True)
    return "completed"


def _stopped(pipeline: Pipeline, step: str) -> str:
    pipeline.stop_path.unlink(missing_ok=True)
    pipeline.update(state="stopped", current=step, pid=None)
    print(f"pipeline stopped at step '{step}'", flush=True)
    return "stopped"


def _failed(pipeline: Pipeline, step: str, why: str) -> str:
    pipeline.update(state="failed", failed_step=step, error=f"step '{step}': {why}", pid=None)
    print(f"pipeline failed at step '{step}': {why}", flush=True)
    return "failed"


def main(argv=None) -> int:
    folder = Path((argv or sys.argv[1:])[0])
    pipeline = Pipeline(folder)
    try:
        return 0 if run_steps(pipeline) != "failed" else 1
    except BaseException as error:  # the state must never be left "running" by a crash
        pipeline.update(state="failed", pid=None, error=f"the pipeline runner crashed: {type(error).__name__}: {error}")
        raise


if __name__ == "__main__":
    raise SystemExit(main())
