"""The `feedback` commands: list, show, merge and train from human-feedback datasets."""

from __future__ import annotations

import sys

from workbench.cli.common import EXIT_OK, print_json
from workbench.cli.runs import follow
from workbench.present import feedback_facts


def _print_feedback(stats: dict) -> None:
    raters = ", ".join(f"{name} {n}" for name, n in stats["raters"].items()) or "none"
    facts = feedback_facts(stats) + [f"{stats['corrected']} corrected"]
    print(f"{stats['name']}: {', '.join(facts)}; raters: {raters}")


def cmd_feedback_list(args) -> int:
    from workbench.feedback import list_feedback
    datasets = list_feedback()
    if args.json:
        print_json(datasets)
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
        print_json(stats)
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
        print_json(result)
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
    return follow(run, args.json)


def add_parsers(commands) -> None:
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
