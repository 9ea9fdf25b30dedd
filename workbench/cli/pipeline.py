"""The `pipeline` commands: run a YAML pipeline of stages in one go, show it, stop and resume it
(`workbench.pipeline`)."""

from __future__ import annotations

import sys

from workbench.cli.common import EXIT_OK, EXIT_UNUSABLE, print_json


def _report(pipeline, as_json: bool) -> int:
    state = pipeline.state()
    rows = pipeline.summary()
    if as_json:
        print_json({"name": pipeline.name, **{k: state.get(k) for k in ("state", "current", "failed_step", "error")},
                    "steps": rows})
    else:
        print(f"pipeline {pipeline.name}: {state.get('state')}" + (f" ({state['error']})" if state.get("error") else ""))
        for row in rows:
            print(f"  {row['step']:<12} {row['stage']:<7} {row['state']:<10} {row['progress']:>9}  {row['run']}")
    return EXIT_OK if state.get("state") in ("completed", "stopped", "running", "starting") else EXIT_UNUSABLE


def _follow(pipeline, as_json: bool) -> int:
    """Wait for the pipeline, one progress line; Ctrl-C asks it to stop (the running step keeps a
    checkpoint)."""
    from workbench.pipeline import stop_pipeline, wait_pipeline

    last = []

    def show(state):
        step = next((row for row in pipeline.summary() if row["step"] == state.get("current")), None)
        where = f" step '{step['step']}' ({step['run']}) {step['progress']}" if step and step["run"] else ""
        line = f"\rpipeline {pipeline.name}: {state.get('state')}{where}".ljust(70)
        if not last or line != last[-1]:
            sys.stderr.write(line)
            sys.stderr.flush()
            last.append(line)
    try:
        wait_pipeline(pipeline, on_progress=show)
    except KeyboardInterrupt:
        sys.stderr.write("\nstopping after the running step's current step (a checkpoint is saved)...\n")
        stop_pipeline(pipeline.name)
        wait_pipeline(pipeline, on_progress=show)
    sys.stderr.write("\n")
    return _report(pipeline, as_json)


def cmd_run(args) -> int:
    from workbench.pipeline import run_pipeline
    pipeline = run_pipeline(args.file, name=args.name)
    print(f"pipeline {pipeline.name} started: {pipeline.folder}", file=sys.stderr)
    return _report(pipeline, args.json) if args.detach else _follow(pipeline, args.json)


def cmd_show(args) -> int:
    from workbench.pipeline import get_pipeline, list_pipelines
    if not args.pipeline:
        found = list_pipelines()
        if args.json:
            print_json([{"name": p.name, "state": p.state().get("state")} for p in found])
        for p in [] if args.json else found:
            print(f"{p.name:<24} {p.state().get('state')}")
        if not found and not args.json:
            print("no pipelines yet: `workbench pipeline run sample_data/pipeline.yaml`")
        return EXIT_OK
    return _report(get_pipeline(args.pipeline), args.json)


def cmd_stop(args) -> int:
    from workbench.pipeline import stop_pipeline, wait_pipeline
    pipeline = stop_pipeline(args.pipeline)
    if args.wait:
        wait_pipeline(pipeline)
    return _report(pipeline, False)


def cmd_resume(args) -> int:
    from workbench.pipeline import resume_pipeline
    pipeline = resume_pipeline(args.pipeline)
    return _report(pipeline, args.json) if args.detach else _follow(pipeline, args.json)


def add_parsers(commands) -> None:
    parser = commands.add_parser("pipeline", help="run several stages in one go from a YAML file; show, stop, resume")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("run", help="start a pipeline file (see sample_data/pipeline.yaml) and follow it")
    p.add_argument("file")
    p.add_argument("--name", help="the pipeline's name (default: the file's `name`)")
    p.add_argument("--detach", action="store_true", help="start it and return at once")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("show", help="a pipeline's steps and their runs; without a name, every pipeline")
    p.add_argument("pipeline", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("stop", help="stop the running step after its current training step, then the pipeline")
    p.add_argument("pipeline")
    p.add_argument("--wait", action="store_true", help="wait until it has stopped")
    p.set_defaults(func=cmd_stop)
    p = sub.add_parser("resume", help="continue a stopped or failed pipeline: finished steps are skipped")
    p.add_argument("pipeline")
    p.add_argument("--detach", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_resume)
