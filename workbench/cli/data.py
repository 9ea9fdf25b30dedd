"""The `data` commands: inspect a file, show a row's tokens."""

from __future__ import annotations

import json
import sys

from workbench.cli.common import EXIT_OK, EXIT_UNUSABLE, print_json
from workbench.errors import WorkbenchError
from workbench.present import data_summary, token_stats


def cmd_data_inspect(args) -> int:
    from workbench.data import inspect_file
    report = inspect_file(args.file, task=args.task, max_chars=args.max_chars)
    if args.json:
        print_json(report.to_json(sample=args.sample))
    else:
        summary, facts = report.to_json(sample=args.sample), data_summary(report)
        print(f"file:    {report.path}")
        print(f"format:  {facts.format}")
        print(f"task:    {facts.task}")
        print(f"rows:    {facts.rows} ({facts.usable} valid, {facts.problems} with problems)")
        if facts.train_with:
            print(f"train:   {facts.train_with.replace('`', '')}")
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
        for warning in facts.warnings:
            print(f"hint: {warning}")
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
    from workbench.data.tokens import length_stats, token_view
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
        print_json({"file": str(args.file), "row": args.row, "source_line": row.get("_line"),
                     "model": args.model, **view, "file_stats": stats})
        return EXIT_OK
    print(f"row {args.row} (line {row.get('_line')}) through {args.model}'s chat template;"
          f" trained tokens {'highlighted' if sys.stdout.isatty() else 'in [brackets]'}:\n")
    print(_highlight(view, sys.stdout.isatty()))
    facts = token_stats(view, args.row, row.get("_line"), args.model)
    print(f"\n{facts.tokens} tokens, {facts.trained} trained; {facts.cut}")
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


def add_parsers(commands) -> None:
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
