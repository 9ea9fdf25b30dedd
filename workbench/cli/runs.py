"""The `train` and `runs` commands: start a stage as a job, follow it, list, show, stop, resume and
delete runs. `train`'s options are the stage config's fields, one option each.
"""

from __future__ import annotations

import argparse
import sys

from workbench.cli.common import EXIT_OK, EXIT_UNUSABLE, print_json
from workbench.errors import WorkbenchError
from workbench.present import run_status


def _add_config_options(parser: argparse.ArgumentParser, cls) -> None:
    """One option per config field, documented and typed from the field: the config is the CLI.
    Options not given stay out of the namespace, so `RunConfig.from_args` keeps `--config`'s values."""
    default = cls()
    for f in cls.knobs():
        flags = ["--" + f.name.replace("_", "-")] + (["--from"] if f.name == "from_run" else [])
        kind, value = f.metadata["kind"], getattr(default, f.name)
        help_text = f.metadata["help"] + (f" (default: {value})" if value not in (None, "") else "")
        if kind == "bool":  # --packing / --no-packing, as `to_command` writes them
            parser.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=help_text)
            continue
        choices = f.metadata["choices"] or None
        parser.add_argument(*flags, dest=f.name, type={"int": int, "float": float}.get(kind, str),
                            default=argparse.SUPPRESS, choices=choices,
                            metavar=None if choices else f.name.upper(), help=help_text)


def progress_line(name: str, status: dict, width: int = 30) -> str:
    """A run's progress as one terminal line: a bar, step/total, state, ETA."""
    s = run_status(name, status)
    filled = int(width * s.done)
    return f"[{'#' * filled}{'.' * (width - filled)}] {s.steps} {s.state}" + (f"  {s.eta}" if s.eta else "")


def _progress_printer(name: str):
    """A one-line progress bar for a run, fed with status dicts."""
    state = {"last": None}

    def show(status: dict) -> None:
        line = "\r" + progress_line(name, status)
        if line != state["last"]:
            sys.stderr.write(line.ljust(70))
            sys.stderr.flush()
            state["last"] = line
    return show


def cmd_train(args) -> int:
    from workbench.train import jobs
    from workbench.train.config import RunConfig
    config = RunConfig.from_args(args)
    if args.print_command:
        jobs.prepare_config(config)
        print(config.to_command())
        return EXIT_OK
    run = jobs.start(config, allow_parallel=args.allow_parallel)
    print(f"run {run.name} started: {run.path}", file=sys.stderr)
    print(f"  same as: {jobs.load_config(run).to_command()}", file=sys.stderr)
    if args.detach:
        if args.json:
            print_json(run.summary())
        return EXIT_OK
    return follow(run, args.json)


def follow(run, as_json: bool) -> int:
    """Show progress until the run ends; Ctrl-C asks for a stop (it checkpoints first)."""
    from workbench.train import jobs
    show = _progress_printer(run.name)
    try:
        jobs.wait_for(run, on_progress=show)
    except KeyboardInterrupt:
        sys.stderr.write("\nstopping after the current step (a checkpoint is saved)...\n")
        run.stop_path.touch()
        jobs.wait_for(run, on_progress=show)
    sys.stderr.write("\n")
    summary = run.summary()
    if as_json:
        print_json(summary)
    else:
        _print_run(summary)
    return EXIT_OK if summary["state"] in ("completed", "stopped") else EXIT_UNUSABLE


def _print_run(summary: dict) -> None:
    s = run_status(summary["name"], summary)
    print(f"run {s.name}: {s.state} at step {s.steps}" + (f", {s.eta}" if s.eta else ""))
    if s.error:
        print(f"  error: {s.error}")
    for key, value in s.metrics:
        print(f"  {key}: {value}")


def cmd_runs_list(args) -> int:
    from workbench.runs import list_runs
    summaries = [run.summary() for run in list_runs()]
    if args.json:
        print_json(summaries)
        return EXIT_OK
    if not summaries:
        print("no runs yet: start one with `workbench train sft --data FILE`")
    for s in summaries:
        loss = s["last_metrics"].get("loss")
        print(f"{s['name']:<32} {s['stage'] or '?':<7} {s['state']:<10} {s['step']:>5}/{s['max_steps'] or '?':<5} "
              f"{s['model'] or '':<16}" + (f" loss {loss:.4f}" if isinstance(loss, float) else ""))
    return EXIT_OK


def cmd_runs_show(args) -> int:
    from workbench.runs import get_run
    run = get_run(args.run)
    summary = run.summary()
    if args.json:
        summary["config"] = run.config()
        summary["metrics"] = run.metrics()[-args.metrics:] if args.metrics else []
        summary["path"] = str(run.path)
        summary["checkpoints"] = [str(p) for p in run.checkpoints()]
        print_json(summary)
        return EXIT_OK
    _print_run(summary)
    config = run.config()
    print(f"  trained: {config.get('model')}, {config.get('method') or 'auto'}, "
          f"precision {config.get('precision', 'auto')}")
    print(f"  folder: {run.path}")
    print(f"  checkpoints: {', '.join(p.name for p in run.checkpoints()) or 'none'}")
    for key, value in sorted(summary["last_metrics"].items()):
        print(f"  last {key}: {value:.4g}" if isinstance(value, float) else f"  last {key}: {value}")
    return EXIT_OK


def cmd_runs_stop(args) -> int:
    from workbench.runs import get_run
    from workbench.train import jobs
    jobs.stop(args.run)
    print(f"stop requested: {args.run} saves a checkpoint after its current step")
    if args.wait:
        jobs.wait_for(get_run(args.run))
        _print_run(get_run(args.run).summary())
    return EXIT_OK


def cmd_runs_resume(args) -> int:
    from workbench.train import jobs
    run = jobs.resume(args.run, allow_parallel=args.allow_parallel)
    print(f"run {run.name} resumed from {run.last_checkpoint() or 'the start'}", file=sys.stderr)
    if args.detach:
        return EXIT_OK
    return follow(run, args.json)


def cmd_runs_delete(args) -> int:
    from workbench.runs import delete_run
    if not args.yes:
        raise WorkbenchError(f"deleting run '{args.run}' removes its checkpoints and metrics for good",
                             hint="Add --yes to confirm.")
    delete_run(args.run)
    print(f"deleted run {args.run}")
    return EXIT_OK


def add_parsers(commands) -> None:
    train = commands.add_parser("train", help="train a stage (sft, reward, dpo, kto, ppo, rloo, grpo) as a job in its own process")
    train_sub = train.add_subparsers(dest="stage", metavar="STAGE", required=True)
    from workbench.train.config import STAGE_CONFIGS
    for stage, cls in STAGE_CONFIGS.items():
        p = train_sub.add_parser(stage, help=(cls.__doc__ or "").strip().splitlines()[0],
                                 description=(cls.__doc__ or "").strip())
        _add_config_options(p, cls)
        p.add_argument("--config", help="a saved config.yaml to start from; options given here override it")
        p.add_argument("--print-command", action="store_true", help="print the command these settings equal, and exit")
        p.add_argument("--detach", action="store_true", help="start the job and return at once")
        p.add_argument("--allow-parallel", action="store_true", help="start even if another job is training")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=cmd_train)

    runs = commands.add_parser("runs", help="list, show, stop, resume and delete training runs")
    runs_sub = runs.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = runs_sub.add_parser("list", help="all runs, newest first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs_list)
    p = runs_sub.add_parser("show", help="one run's state, config, checkpoints and latest metrics")
    p.add_argument("run")
    p.add_argument("--metrics", type=int, default=20, help="with --json: how many last metric rows")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs_show)
    p = runs_sub.add_parser("stop", help="stop after the current step, keeping a checkpoint")
    p.add_argument("run")
    p.add_argument("--wait", action="store_true", help="wait until it has stopped")
    p.set_defaults(func=cmd_runs_stop)
    p = runs_sub.add_parser("resume", help="continue a stopped or failed run from its last checkpoint")
    p.add_argument("run")
    p.add_argument("--detach", action="store_true")
    p.add_argument("--allow-parallel", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs_resume)
    p = runs_sub.add_parser("delete", help="delete a run folder (asks for --yes)")
    p.add_argument("run")
    p.add_argument("--yes", action="store_true")
    p.set_defaults(func=cmd_runs_delete)
