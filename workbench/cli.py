"""The `workbench` command line: a thin front end over the engine's public functions.

Every command prints something readable by default and JSON with `--json`. Errors the user can
act on (`WorkbenchError`) print as one line on stderr with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from workbench import paths
from workbench.errors import WorkbenchError

# Exit statuses: 0 done, 2 the input or request cannot be used (the message says why).
EXIT_OK, EXIT_UNUSABLE = 0, 2


def _print_json(value) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


# ---------------------------------------------------------------- models

def cmd_models_prepare(args) -> int:
    from workbench.models import build_tiny_model, prepare_default_model
    path = build_tiny_model() if args.name == "tiny" else prepare_default_model(force=args.force)
    if args.json:
        _print_json({"model": args.name, "path": str(path)})
    else:
        print(f"{args.name} is ready at {path}")
    return EXIT_OK


def cmd_models_list(args) -> int:
    from workbench.models import detect_hardware, list_models
    from workbench.models.hardware import describe_precision
    models = list_models()
    hardware = detect_hardware()
    if args.json:
        _print_json({"models": [m.__dict__ for m in models],
                     "hardware": {**hardware.to_dict(), "precision": hardware.precision}})
        return EXIT_OK
    for m in models:
        state = "ready" if m.prepared else "not prepared"
        print(f"{m.name:<22} {m.kind:<8} {state:<13} {m.params or '':>8}  {m.description}")
    print(f"\nhardware: {hardware.device}, {hardware.dtype}, default method {hardware.default_method}"
          f"\n  {hardware.reason}"
          f"\n  auto = {describe_precision(hardware)}"
          "\n  Choose with --precision fp32|bf16 on train, compare, score and eval, or "
          "WORKBENCH_PRECISION for every command.")
    return EXIT_OK


# ---------------------------------------------------------------- data

def cmd_data_inspect(args) -> int:
    from workbench.data import inspect_file
    report = inspect_file(args.file, task=args.task, max_chars=args.max_chars)
    if args.json:
        _print_json(report.to_json(sample=args.sample))
    else:
        summary = report.to_json(sample=args.sample)
        print(f"file:    {report.path}")
        print(f"format:  {report.format or 'not recognised'}")
        print(f"task:    {report.task or '-'}")
        print(f"rows:    {report.rows} ({report.valid_rows} valid, {len(report.errors)} with problems)")
        if report.train_with() and not report.task_problem:
            print(f"train:   {report.train_with().replace('`', '')}")
        if report.feedback:
            fb = report.feedback
            print(f"feedback: {fb['judgements']} judgements ({fb['pairs']} pairs, {fb['ties']} ties), "
                  f"{fb['retracted']} retracted; thumbs {fb['thumbs_up']} up, {fb['thumbs_down']} down")
        for error in report.errors[: args.show_errors]:
            field = f" field '{error.field}'" if error.field else ""
            print(f"  line {error.line}{field}: {error.message}")
        if len(report.errors) > args.show_errors:
            print(f"  ... {len(report.errors) - args.show_errors} more (use --json for all)")
        if summary.get("sample"):
            print("first row, canonical form:")
            print("  " + json.dumps(summary["sample"][0], ensure_ascii=False)[:600])
        if not report.usable() and summary.get("hint"):
            print(f"hint: {summary['hint']}")
    return EXIT_OK if report.usable() else EXIT_UNUSABLE


def _highlight(view: dict, color: bool) -> str:
    """The rendered text with trained tokens marked: green in a terminal, [brackets] elsewhere."""
    parts = []
    for token in view["tokens"]:
        text = token["text"]
        at_cut = token["index"] == view["cut_at"] or (token["index"] == view["cut_before"] and not view["left_out"])
        if at_cut and token["index"] != 0:
            parts.append("\x1b[41m✂ max_length\x1b[0m" if color else "✂[max_length]✂")
        if token["trained"]:
            text = f"\x1b[42;30m{text}\x1b[0m" if color else f"[{text}]"
        elif token["truncated"] and color:
            text = f"\x1b[2m{text}\x1b[0m"
        parts.append(text)
    return "".join(parts)


def cmd_data_tokens(args) -> int:
    from workbench.data import load_rows
    from workbench.data.tokens import cut_summary, length_stats, token_view
    from workbench.models import load_tokenizer
    rows = load_rows(args.file, max_chars=args.max_chars)
    if not 1 <= args.row <= len(rows):
        raise WorkbenchError(f"--row {args.row} is out of range: {args.file} has {len(rows)} valid rows",
                             hint="Rows are numbered from 1, in the order of the valid rows.")
    tokenizer = load_tokenizer(args.model)
    row = rows[args.row - 1]
    view = token_view(tokenizer, row, max_length=args.max_length,
                      assistant_only=not args.all_tokens)
    stats = length_stats(tokenizer, rows, max_length=args.max_length)
    stats.pop("lengths", None)
    if args.json:
        _print_json({"file": str(args.file), "row": args.row, "source_line": row.get("_line"),
                     "model": args.model, **view, "file_stats": stats})
        return EXIT_OK
    print(f"row {args.row} (line {row.get('_line')}) through {args.model}'s chat template;"
          f" trained tokens {'highlighted' if sys.stdout.isatty() else 'in [brackets]'}:\n")
    print(_highlight(view, sys.stdout.isatty()))
    print(f"\n{view['n_tokens']} tokens, {view['n_trained']} trained; {cut_summary(view)}")
    if args.show_ids:
        for token in view["tokens"]:
            flag = "T" if token["trained"] else "-"
            cut = " (cut)" if token["truncated"] else ""
            print(f"{token['index']:>5} {token['id']:>6} {flag} {token['text']!r}{cut}")
    print(f"\nwhole file: {stats['rows']} rows, tokens min {stats['min']}, median {stats['median']}, "
          f"p95 {stats['p95']}, max {stats['max']}; {stats['truncated_rows']} rows longer than "
          f"max_length {args.max_length}")
    if stats["pairs_cut"] or stats["pairs_dropped"]:
        print(f"preference stages (reward, DPO, KTO): {stats['pairs_cut']} rows have their prompt cut from the "
              f"start, {stats['pairs_dropped']} are left out (an answer alone does not fit)")
    return EXIT_OK



# ---------------------------------------------------------------- train and runs

def _add_config_options(parser: argparse.ArgumentParser, cls) -> None:
    """One option per config field, documented from the field: the config is the CLI."""
    from dataclasses import fields

    from workbench.models.hardware import METHODS
    default = cls()
    for f in fields(cls):
        if f.name == "stage":
            continue
        flags = ["--" + f.name.replace("_", "-")]
        if f.name == "from_run":
            flags.append("--from")
        value = getattr(default, f.name)
        help_text = f.metadata.get("help", "")
        help_text += f" (default: {value})" if value not in (None, "") else ""
        if isinstance(value, bool):
            parser.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=help_text)
            continue
        kind = str(f.type)
        convert = int if kind.startswith("int") else float if kind.startswith("float") else str
        choices = METHODS if f.name == "method" else None
        parser.add_argument(*flags, dest=f.name, type=convert, default=argparse.SUPPRESS, choices=choices,
                            metavar=None if choices else f.name.upper(), help=help_text)


def _progress_printer():
    """A one-line progress bar for a run, fed with status dicts."""
    state = {"last": None}

    def show(status: dict) -> None:
        step, total = status.get("step") or 0, status.get("max_steps") or 0
        width = 30
        filled = int(width * step / total) if total else 0
        eta = status.get("eta_s")
        line = (f"\r[{'#' * filled}{'.' * (width - filled)}] {step}/{total or '?'} "
                f"{status.get('state', '')}" + (f"  ETA {eta:.0f}s" if eta else ""))
        if line != state["last"]:
            sys.stderr.write(line.ljust(70))
            sys.stderr.flush()
            state["last"] = line
    return show


def cmd_train(args) -> int:
    from workbench.train import jobs
    from workbench.train.config import config_class, merge_config
    fields = set(config_class(args.stage)().to_dict()) - {"stage"}
    settings = {k: v for k, v in vars(args).items() if k in fields}
    config = merge_config(args.stage, settings, args.config, source="command line")
    if args.print_command:
        jobs.prepare_config(config)
        print(config.to_command())
        return EXIT_OK
    run = jobs.start(config, allow_parallel=args.allow_parallel)
    print(f"run {run.name} started: {run.path}", file=sys.stderr)
    print(f"  same as: {jobs.load_config(run).to_command()}", file=sys.stderr)
    if args.detach:
        if args.json:
            _print_json(run.summary())
        return EXIT_OK
    return _follow(run, args.json)


def _follow(run, as_json: bool) -> int:
    """Show progress until the run ends; Ctrl-C asks for a stop (it checkpoints first)."""
    from workbench.train import jobs
    show = _progress_printer()
    try:
        jobs.wait_for(run, on_progress=show)
    except KeyboardInterrupt:
        sys.stderr.write("\nstopping after the current step (a checkpoint is saved)...\n")
        run.stop_path.touch()
        jobs.wait_for(run, on_progress=show)
    sys.stderr.write("\n")
    summary = run.summary()
    if as_json:
        _print_json(summary)
    else:
        _print_run(summary)
    return EXIT_OK if summary["state"] in ("completed", "stopped") else EXIT_UNUSABLE


def _print_run(summary: dict) -> None:
    print(f"run {summary['name']}: {summary['state']} at step {summary['step']}/{summary['max_steps']}")
    if summary.get("error"):
        print(f"  error: {summary['error']}")
    for key, value in sorted((summary.get("final") or {}).items()):
        print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")


def cmd_runs_list(args) -> int:
    from workbench.runs import list_runs
    summaries = [run.summary() for run in list_runs()]
    if args.json:
        _print_json(summaries)
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
        _print_json(summary)
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
    return _follow(run, args.json)


def cmd_runs_delete(args) -> int:
    from workbench.runs import delete_run
    if not args.yes:
        raise WorkbenchError(f"deleting run '{args.run}' removes its checkpoints and metrics for good",
                             hint="Add --yes to confirm.")
    delete_run(args.run)
    print(f"deleted run {args.run}")
    return EXIT_OK


# ---------------------------------------------------------------- compare, score, eval, export

def _sampling(args) -> dict:
    return dict(seed=args.seed, temperature=args.temperature, top_p=args.top_p,
                max_new_tokens=args.max_new_tokens)


def cmd_compare(args) -> int:
    from workbench.evaluate import Comparer, as_messages
    messages = as_messages(args.prompt, system=args.system)
    print(f"loading {args.models} ...", file=sys.stderr)
    comparer = Comparer(args.models, base=args.base, reward_model=args.reward_model, precision=args.precision)
    if args.json:
        _print_json([answer.to_dict() for answer in comparer.compare(messages, **_sampling(args))])
        return EXIT_OK
    for label in comparer.models:
        print(f"=== {label}")
        shown = ""
        for text in comparer.stream(messages, model=label, **_sampling(args)):
            sys.stdout.write(text[len(shown):] if text.startswith(shown) else "\n" + text)
            sys.stdout.flush()
            shown = text
        answer = comparer.last_answers[label]
        reward = comparer.score(messages, answer.text)
        print(f"\n--- {answer.tokens} tokens in {answer.seconds:.1f} s"
              + (f", reward {reward:.3f}" if reward is not None else "") + "\n")
    return EXIT_OK


def cmd_score(args) -> int:
    from workbench.evaluate import as_messages
    from workbench.models.score import RewardScorer
    score = RewardScorer(args.reward_model, precision=args.precision).score(as_messages(args.prompt, system=args.system),
                                                  args.response)
    if args.json:
        _print_json({"reward_model": args.reward_model, "score": score})
    else:
        print(f"{score:.4f}")
    return EXIT_OK


def _fmt(value, spec=".4g") -> str:
    return "-" if value is None else format(value, spec)


def cmd_eval(args) -> int:
    from workbench.evaluate import evaluate_file
    from workbench.evaluate.evaluate import evals_dir
    record = evaluate_file(args.models, args.data, reward_model=args.reward_model, base=args.base,
                           max_rows=args.max_rows, seed=args.seed, max_new_tokens=args.max_new_tokens,
                           temperature=args.temperature, precision=args.precision)
    if args.json:
        _print_json(record)
        return EXIT_OK
    print(f"{'model':<28} {'loss':>8} {'ppl':>9} {'pref acc':>9} {'per tok':>8} {'reward':>8}")
    for label, m in record["models"].items():
        print(f"{label:<28} {_fmt(m.get('loss')):>8} {_fmt(m.get('perplexity')):>9} "
              f"{_fmt(m.get('preference_accuracy'), '.3f'):>9} "
              f"{_fmt(m.get('preference_accuracy_per_token'), '.3f'):>8} "
              f"{_fmt(m.get('mean_reward'), '.3f'):>8}")
    if any("preference_accuracy" in m for m in record["models"].values()):
        print("pref acc: chosen more likely than rejected (summed log-likelihood, favours short answers); "
              "per tok: the same per answer token")
    if record["win_rates"]:
        print("\nwin rates by reward score (ties count half; 95% Wilson interval):")
    for row in record["win_rates"]:
        print(f"  {row['model']} vs {row['opponent']}: {row['win_rate']:.2f} "
              f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]  ({row['wins']} won, {row['losses']} lost, "
              f"{row['ties']} tied of n={row['n']} prompts)")
    print(f"\nsaved: {evals_dir() / (record['id'] + '.json')} (and in each run's evals/)")
    return EXIT_OK


def cmd_export(args) -> int:
    from workbench.evaluate import export_run
    result = export_run(args.run, args.out, merge=args.merge, force=args.force, dtype=args.dtype)
    if args.json:
        _print_json(result)
    else:
        saved = f", {result['dtype']} merged in fp32" if result.get("dtype") else ""
        print(f"exported run {result['run']} ({result['kind']}{saved}, base {result['base']}) to {result['path']}: "
              + ", ".join(result["files"]))
    return EXIT_OK


def _add_precision_option(p) -> None:
    from workbench.models.hardware import PRECISIONS
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="the dtype the models compute in; auto = $WORKBENCH_PRECISION if set, else "
                        "bf16 where this machine runs it in hardware, else fp32 (see `models list`)")


def _add_sampling_options(p) -> None:
    p.add_argument("--seed", type=int, default=0, help="sampling seed; the same seed gives the same answer")
    p.add_argument("--temperature", type=float, default=0.7, help="0 = greedy (default: 0.7)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling cut (default: 1.0, off)")
    p.add_argument("--max-new-tokens", type=int, default=128, help="answer length limit (default: 128)")


def _add_evaluate_parsers(commands) -> None:
    """compare, score, eval and export."""
    models_help = "comma-separated: base, run names, model names (e.g. base,sft-1,dpo-2)"
    p = commands.add_parser("compare", help="answer one prompt with several models side by side")
    p.add_argument("--prompt", required=True, help="the user's message")
    p.add_argument("--models", required=True, help=models_help)
    p.add_argument("--system", help="an optional system message")
    p.add_argument("--base", help="what 'base' means (default: the base of the runs listed)")
    p.add_argument("--reward-model", help="a reward run that scores every answer")
    _add_sampling_options(p)
    _add_precision_option(p)
    p.add_argument("--json", action="store_true",
                   help='print [{"model", "text", "tokens", "seconds", "reward"}]')
    p.set_defaults(func=cmd_compare, loads_models=True)

    p = commands.add_parser("score", help="a reward model's score of one answer to one prompt")
    p.add_argument("--reward-model", required=True, help="a reward run")
    p.add_argument("--prompt", required=True)
    p.add_argument("--response", required=True)
    p.add_argument("--system", help="an optional system message")
    _add_precision_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_score, loads_models=True)

    p = commands.add_parser("eval", help="held-out loss, preference accuracy, reward and win rates")
    p.add_argument("--models", required=True, help=models_help)
    p.add_argument("--data", required=True,
                   help="held-out file: sft -> loss; preference -> preference accuracy (and reward "
                        "with --reward-model); prompts -> reward (needs --reward-model)")
    p.add_argument("--reward-model", help="a reward run that scores each model's own answers")
    p.add_argument("--base", help="what 'base' means (default: the base of the runs listed)")
    p.add_argument("--max-rows", type=int, default=50, help="first N rows of the file (default: 50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=0.0, help="for the generations; 0 = greedy (default)")
    p.add_argument("--max-new-tokens", type=int, default=64, help="answer length limit (default: 64)")
    _add_precision_option(p)
    p.add_argument("--json", action="store_true", help="print the whole saved result")
    p.set_defaults(func=cmd_eval, loads_models=True)

    p = commands.add_parser("export", help="write a run's adapter, or a merged standalone model folder")
    p.add_argument("run")
    p.add_argument("--out", required=True, help="target folder (must be empty or new)")
    p.add_argument("--merge", action="store_true",
                   help="fold the adapter into the base: a transformers folder that needs no peft")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    from workbench.evaluate.export import EXPORT_DTYPES
    p.add_argument("--dtype", choices=list(EXPORT_DTYPES), default="auto",
                   help="what a --merge export is saved in (the merge itself is computed in fp32); "
                        "auto = the dtype the base model is stored in")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export, loads_models=True)


# ---------------------------------------------------------------- human feedback

def _print_feedback(stats: dict) -> None:
    raters = ", ".join(f"{name} {n}" for name, n in stats["raters"].items()) or "none"
    print(f"{stats['name']}: {stats['pairs']} pairs for training, {stats['ties']} ties, "
          f"{stats['thumbs_up']} thumbs up, {stats['thumbs_down']} down, "
          f"{stats['retracted']} retracted, {stats['corrected']} corrected; raters: {raters}")


def cmd_feedback_list(args) -> int:
    from workbench.feedback import list_feedback
    datasets = list_feedback()
    if args.json:
        _print_json(datasets)
    elif not datasets:
        print("no feedback yet: rate answers in the GUI's Feedback tab (`workbench launch`)")
    for stats in [] if args.json else datasets:
        _print_feedback(stats)
    return EXIT_OK


def cmd_feedback_show(args) -> int:
    from workbench.feedback import feedback_stats, read_feedback
    read_feedback(args.name)  # a missing dataset is an error here, not zero counts
    stats = feedback_stats(args.name)
    if args.json:
        _print_json(stats)
    else:
        _print_feedback(stats)
        print(f"  file: {stats['path']}")
    return EXIT_OK


def _kappa(value) -> str:
    return "undefined (one label only)" if value is None else f"{value:.3f}"


def cmd_feedback_merge(args) -> int:
    from workbench.feedback import merge_feedback
    result = merge_feedback(args.sources, args.out)
    if args.json:
        _print_json(result)
        return EXIT_OK
    _print_feedback(result)
    agreement = result["agreement"]
    print(f"  written to {result['path']}")
    if not agreement["pairs"]:
        print("  agreement: no prompt and pair of answers was judged by two raters")
    for pair in agreement["pairs"]:
        print(f"  agreement {' vs '.join(pair['raters'])}: {pair['agree']}/{pair['items']} "
              f"({pair['raw']:.0%}), Cohen's kappa {_kappa(pair['kappa'])}")
    if len(agreement["pairs"]) > 1:
        print(f"  mean over rater pairs: {agreement['raw']:.0%}, kappa {_kappa(agreement['kappa'])}")
    return EXIT_OK


def cmd_feedback_train(args) -> int:
    from workbench.feedback import train_from_feedback
    settings = {k: v for k, v in (("model", args.model), ("from_run", args.from_run),
                                  ("max_steps", args.max_steps), ("max_length", args.max_length),
                                  ("batch_size", args.batch_size), ("name", args.run_name)) if v is not None}
    run = train_from_feedback(args.name, args.stage, **settings)
    print(f"run {run.name} started on feedback '{args.name}': {run.path}", file=sys.stderr)
    if args.detach:
        return EXIT_OK
    return _follow(run, args.json)


def _add_feedback_parsers(commands) -> None:
    from workbench.feedback import STAGES
    feedback = commands.add_parser("feedback", help="human feedback datasets: list, show, merge, train")
    sub = feedback.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="feedback datasets in $WORKBENCH_HOME/feedback, newest first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feedback_list)
    p = sub.add_parser("show", help="one dataset's counts: pairs, ties, thumbs up/down, retracted, raters")
    p.add_argument("name", help="a dataset name or a feedback .jsonl path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feedback_show)
    p = sub.add_parser("merge", help="merge several raters' datasets and report their agreement")
    p.add_argument("sources", nargs="+", help="dataset names or paths")
    p.add_argument("--out", required=True, help="name of the new merged dataset")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feedback_merge)
    p = sub.add_parser("train", help="train a reward model, DPO or KTO on a feedback dataset")
    p.add_argument("name")
    p.add_argument("--stage", choices=list(STAGES), default="reward",
                   help="reward/dpo: the pair judgements; kto: the thumbs up/down, and each pair as "
                        "two rows (chosen up, rejected down)")
    p.add_argument("--model", help="base model (default: the stage's default)")
    p.add_argument("--from", dest="from_run", help="dpo/kto: the SFT run whose adapter the stage starts from")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--max-length", type=int, help="tokens per row (default: the stage's)")
    p.add_argument("--batch-size", type=int, help="rows per step (kto: at least 2)")
    p.add_argument("--run-name", help="the run's name (default: made from the stage and time)")
    p.add_argument("--detach", action="store_true", help="start the job and return at once")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_feedback_train)


# ---------------------------------------------------------------- launch

def cmd_launch(args) -> int:
    from ui.app import launch
    from workbench.models.hardware import PRECISION_ENV
    if args.precision != "auto":  # the app's compare, score and eval, and the form's "auto"
        os.environ[PRECISION_ENV] = args.precision
    launch(args.host, args.port, share=args.share, auth=args.auth, open_browser=not args.no_browser)
    return EXIT_OK


# ---------------------------------------------------------------- parser

class Parser(argparse.ArgumentParser):
    """A parser that takes only whole option names: with abbreviations, `compare --models a,b
    --model c` would silently run `--models c`. Subcommands' parsers are this class too."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="workbench",
        description="SFT <-> RLHF workbench: inspect data and tokens, train SFT / reward / DPO / KTO / PPO, "
                    "compare models side by side.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    models = commands.add_parser("models", help="prepare and list models")
    models_sub = models.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = models_sub.add_parser("prepare", help="convert the default model once into a cached safetensors folder")
    p.add_argument("name", nargs="?", default="smollm2-135m", choices=["smollm2-135m", "tiny"])
    p.add_argument("--force", action="store_true", help="convert again even if the cache is ready")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models_prepare, loads_models=True)
    p = models_sub.add_parser("list", help="models available here, and the hardware's defaults")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models_list, loads_models=True)

    data = commands.add_parser("data", help="inspect data files and their tokenization")
    data_sub = data.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = data_sub.add_parser("inspect", help="detect the format, validate every row, show the canonical form")
    p.add_argument("file")
    p.add_argument("--task", choices=["sft", "preference", "unpaired", "prompts"],
                   help="the task you expect (reported if it differs)")
    p.add_argument("--max-chars", type=int, default=20000, help="longest row accepted, in characters")
    p.add_argument("--sample", type=int, default=3, help="canonical rows to show")
    p.add_argument("--show-errors", type=int, default=20, help="problem lines to print")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data_inspect)
    from workbench.train.config import DEFAULT_MAX_LENGTH
    p = data_sub.add_parser("tokens", help="show a row's tokens and which are trained on")
    p.add_argument("file")
    p.add_argument("--row", type=int, default=1, help="which valid row, from 1")
    p.add_argument("--model", default="smollm2-135m", help="model whose tokenizer and chat template to use")
    p.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH,
                   help=f"where the trainer truncates (default: {DEFAULT_MAX_LENGTH}, as training does)")
    p.add_argument("--all-tokens", action="store_true", help="train on the whole sequence, not only assistant turns")
    p.add_argument("--show-ids", action="store_true", help="also list every token with its id")
    p.add_argument("--max-chars", type=int, default=20000)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data_tokens, loads_models=True)

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

    p = commands.add_parser("launch", help="open the GUI (a Gradio app served on 127.0.0.1)")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to bind; anything but loopback needs --auth (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument("--share", action="store_true", help="also make a public gradio.live link (needs --auth)")
    p.add_argument("--auth", default=os.environ.get("WORKBENCH_AUTH"), metavar="USER:PASSWORD",
                   help="require this login; read from $WORKBENCH_AUTH when not given")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    _add_precision_option(p)
    p.set_defaults(func=cmd_launch)

    _add_evaluate_parsers(commands)
    _add_feedback_parsers(commands)
    return parser


def keep_noise_in_log(loads_models: bool) -> None:
    """Third-party warnings and log records (bitsandbytes' kernel notices, transformers'
    FutureWarnings, its weight-loading bars) go to $WORKBENCH_HOME/logs/cli.log, not the terminal:
    a user reads our messages. Done once per process. loads_models: also take over transformers'
    own handler, which writes to stderr (importing transformers costs seconds, so only commands
    that load it anyway do)."""
    root = logging.getLogger()
    if not any(getattr(handler, "workbench_log", False) for handler in root.handlers):
        log_file = paths.logs_dir() / "cli.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.workbench_log = True
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
        logging.captureWarnings(True)
    if loads_models:
        from transformers.utils import logging as transformers_logging
        transformers_logging.disable_default_handler()
        transformers_logging.enable_propagation()
        transformers_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_noise_in_log(getattr(args, "loads_models", False))
    try:
        return args.func(args)
    except WorkbenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `workbench runs show X | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
