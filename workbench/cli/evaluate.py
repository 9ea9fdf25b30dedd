"""The `compare`, `score`, `eval`, `report` and `export` commands."""

from __future__ import annotations

import sys

from workbench.cli.common import EXIT_OK, add_precision_option, print_json
from workbench.errors import WorkbenchError


def _sampling(args) -> dict:
    return dict(seed=args.seed, temperature=args.temperature, top_p=args.top_p,
                max_new_tokens=args.max_new_tokens)


def cmd_compare(args) -> int:
    from workbench.evaluate import Comparer, as_messages
    messages = as_messages(args.prompt, system=args.system)
    print(f"loading {args.models} ...", file=sys.stderr)
    comparer = Comparer(args.models, base=args.base, reward_model=args.reward_model, precision=args.precision)
    if args.json:
        print_json([answer.to_dict() for answer in comparer.compare(messages, **_sampling(args))])
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
        print_json({"reward_model": args.reward_model, "score": score})
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
        print_json(record)
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


def cmd_report(args) -> int:
    from workbench import report as reports
    if args.list:
        saved = reports.list_reports()
        if args.json:
            print_json(saved)
        for row in [] if args.json else saved:
            print(f"{row['id']}  {row['created_at']}  {', '.join(row['models'])}  {row['html']}")
        if not saved and not args.json:
            print("no reports yet: workbench report RUN [RUN ...] --data HELD_OUT")
        return EXIT_OK
    values: dict = {}
    if args.pipeline:
        from workbench.pipeline import get_pipeline, report_arguments
        values = report_arguments(get_pipeline(args.pipeline))
    models = args.models or values.pop("models", None)
    values.pop("models", None)
    if not models:
        raise WorkbenchError("name the models to report on.",
                             hint="e.g. workbench report base sft-1 dpo-1 --data held_out.jsonl, "
                                  "or --pipeline NAME for a pipeline's runs.")
    if args.data:
        for key in reports.KIND_ARGUMENT.values():
            values.pop(key, None)
        values.update(reports.data_arguments(args.data))
    for key in ("reward_model", "base", "max_rows", "samples", "temperature", "max_new_tokens", "examples", "seed"):
        given = getattr(args, key)
        if given is not None:
            values[key] = given
    values["precision"] = args.precision
    record = reports.make_report(models, out=args.out,
                                 on_progress=None if args.json else lambda text: print(f"... {text}", file=sys.stderr),
                                 **values)
    if args.json:
        print_json(record)
        return EXIT_OK
    header, rows = reports.report_table(record)
    first, width = max(len(row[0]) for row in [header, *rows]) + 2, max(len(h) for h in header[1:]) + 2
    for row in [header, *rows]:
        print(f"{row[0]:<{first}}" + "".join(f"{cell:>{width}}" for cell in row[1:]))
    print()
    for line in reports.summary_lines(record):
        print(f"- {line}")
    print(f"\nmeasured in {record['wall_s']:.0f} s; report: {record['html']} (numbers: {record['json']})")
    return EXIT_OK


def cmd_export(args) -> int:
    from workbench.evaluate import export_run
    if args.gguf_type and not args.gguf:
        raise WorkbenchError("--gguf-type applies to a --gguf export only.", hint="Add --gguf.")
    result = export_run(args.run, args.out, merge=args.merge, force=args.force, dtype=args.dtype,
                        gguf_type=(args.gguf_type or "f16") if args.gguf else None)
    if args.json:
        print_json(result)
        return EXIT_OK
    saved = (f", {result['dtype']} merged in fp32" if result.get("dtype") else
             f", {result['gguf_type']}" if result.get("gguf_type") else "")
    print(f"exported run {result['run']} ({result['kind']}{saved}, base {result['base']}) to {result['path']}: "
          + ", ".join(result["files"]))
    if result["kind"] == "gguf":
        print(f"Ollama: cd {result['path']} && ollama create {result['run']} -f Modelfile && ollama run {result['run']}")
    return EXIT_OK




def _add_sampling_options(p) -> None:
    p.add_argument("--seed", type=int, default=0, help="sampling seed; the same seed gives the same answer")
    p.add_argument("--temperature", type=float, default=0.7, help="0 = greedy (default: 0.7)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling cut (default: 1.0, off)")
    p.add_argument("--max-new-tokens", type=int, default=128, help="answer length limit (default: 128)")


def add_parsers(commands) -> None:
    """compare, score, eval, report and export."""
    models_help = "comma-separated: base, run names, model names (e.g. base,sft-1,dpo-2)"
    p = commands.add_parser("compare", help="answer one prompt with several models side by side")
    p.add_argument("--prompt", required=True, help="the user's message")
    p.add_argument("--models", required=True, help=models_help)
    p.add_argument("--system", help="an optional system message")
    p.add_argument("--base", help="what 'base' means (default: the base of the runs listed)")
    p.add_argument("--reward-model", help="a reward run that scores every answer")
    _add_sampling_options(p)
    add_precision_option(p)
    p.add_argument("--json", action="store_true",
                   help='print [{"model", "text", "tokens", "seconds", "reward"}]')
    p.set_defaults(func=cmd_compare, loads_models=True)

    p = commands.add_parser("score", help="a reward model's score of one answer to one prompt")
    p.add_argument("--reward-model", required=True, help="a reward run")
    p.add_argument("--prompt", required=True)
    p.add_argument("--response", required=True)
    p.add_argument("--system", help="an optional system message")
    add_precision_option(p)
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
    add_precision_option(p)
    p.add_argument("--json", action="store_true", help="print the whole saved result")
    p.set_defaults(func=cmd_eval, loads_models=True)

    p = commands.add_parser("report", help="what each method did: held-out quality, reward and win rates, "
                                           "diversity, fidelity to references and drift from the base, "
                                           "as one HTML file and its JSON")
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="runs, model names or base (the base is always added: drift is measured from it)")
    p.add_argument("--data", action="append", metavar="FILE",
                   help="a held-out file, repeatable, one per kind: SFT rows (loss; fidelity to their "
                        "answers), preference pairs (preference accuracy), prompts")
    p.add_argument("--pipeline", help="report on a pipeline's runs, with its eval or report step's files")
    p.add_argument("--reward-model", help="a reward run that scores each model's answers (mean reward, win rates)")
    p.add_argument("--base", help="what 'base' means (default: the base of the runs listed)")
    p.add_argument("--max-rows", type=int, help="first N rows of each file (default: 16)")
    p.add_argument("--samples", type=int, help="sampled answers per prompt for diversity (default: 4)")
    p.add_argument("--temperature", type=float, help="of those samples (default: 0.7)")
    p.add_argument("--max-new-tokens", type=int, help="answer length limit (default: 64)")
    p.add_argument("--examples", type=int, help="held-out prompts shown with every model's answer (default: 4)")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="where to write the HTML (its JSON beside it); always also kept in "
                                 "$WORKBENCH_HOME/reports")
    p.add_argument("--list", action="store_true", help="list the saved reports")
    add_precision_option(p)
    p.add_argument("--json", action="store_true", help="print the report's numbers")
    p.set_defaults(func=cmd_report, loads_models=True)

    p = commands.add_parser("export", help="write a run's adapter, a merged standalone model folder, "
                                           "or a GGUF file for llama.cpp, Ollama and LM Studio")
    p.add_argument("run")
    p.add_argument("--out", required=True, help="target folder (must be empty or new)")
    p.add_argument("--merge", action="store_true",
                   help="fold the adapter into the base: a transformers folder that needs no peft")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    from workbench.evaluate.export import EXPORT_DTYPES
    p.add_argument("--dtype", choices=list(EXPORT_DTYPES), default="auto",
                   help="what a --merge export is saved in (the merge itself is computed in fp32); "
                        "auto = the dtype the base model is stored in")
    p.add_argument("--gguf", action="store_true",
                   help="write one GGUF file of the merged model (tokenizer and chat template included) "
                        "and an Ollama Modelfile; Llama-architecture models such as SmolLM2")
    from workbench.evaluate.gguf import GGUF_TYPES
    p.add_argument("--gguf-type", choices=list(GGUF_TYPES),
                   help="what the GGUF's weights are stored in (default: f16; norms are always f32)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export, loads_models=True)
