"""The `serve` command: the OpenAI chat API over the base and tuned variants (`workbench.serve`)."""

from __future__ import annotations

import os
import sys

from workbench.cli.common import EXIT_OK, add_precision_option, print_json


def cmd_serve(args) -> int:
    from workbench.serve import serve, served_path
    from workbench.feedback import feedback_path
    url = f"http://{args.host if ':' not in args.host else f'[{args.host}]'}:{args.port}/v1"

    def ready(server) -> None:
        models = ", ".join(server.comparer.models)
        print(f"serving {models} at {url}  (OpenAI chat API; Ctrl-C stops)", file=sys.stderr)
        if server.log.path is not None:
            print(f"logging every exchange to {server.log.path}", file=sys.stderr)
        else:
            print(f"logging: off (add --log to keep what the model is asked in {served_path(args.name)})",
                  file=sys.stderr)
        print(f"ratings (POST {url}/feedback) go to {feedback_path(args.name)}; train on them with "
              f"`workbench feedback train {args.name} --stage kto` (or dpo, reward)", file=sys.stderr)
        if server.api_key:
            print("every request needs 'Authorization: Bearer <the key>'", file=sys.stderr)
        print(f'try: curl {url}/chat/completions -H "Content-Type: application/json"'
              + (' -H "Authorization: Bearer $WORKBENCH_API_KEY"' if server.api_key else "")
              + f" -d '{{\"model\": \"{server.comparer.models[0]}\", "
              "\"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'", file=sys.stderr)
        sys.stderr.flush()

    print(f"loading {args.models} ...", file=sys.stderr)
    serve(args.models, host=args.host, port=args.port, api_key=args.api_key, name=args.name, log=args.log,
          base=args.base, precision=args.precision, max_tokens=args.max_tokens,
          max_prompt_tokens=args.max_prompt_tokens, max_waiting=args.max_waiting, on_ready=ready)
    return EXIT_OK


def cmd_served(args) -> int:
    from workbench.present import deploy_facts
    from workbench.serve import served_logs
    facts = [deploy_facts(name, bucket_s=args.bucket) for name in ([args.name] if args.name else served_logs())]
    if args.json:
        print_json([fact.stats for fact in facts])
        return EXIT_OK
    if not facts:
        print("nothing served with --log yet")
    for fact in facts:
        print(f"{fact.line}  {fact.stats['requests']} requests logged in {fact.stats['path']}")
        for row in fact.table:
            print(f"  {row['model']:<28} {row['requests']:>5} requests  latency {row['mean latency (s)']:.2f} s "
                  f"(p95 {row['p95 latency (s)']:.2f})  {row['tokens/s'] or 0:.1f} tokens/s  "
                  f"rated up {row['rated up']} of {row['rated']}")
    return EXIT_OK


def add_parsers(commands) -> None:
    from workbench.serve import API_KEY_ENV
    p = commands.add_parser("serve", help="serve models through the OpenAI chat API (127.0.0.1 by default)")
    p.add_argument("--models", required=True, help="comma-separated: base, run names, model names")
    p.add_argument("--base", help="the model 'base' stands for (default: the base of the first run listed)")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to bind; anything but loopback needs --api-key (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--api-key", default=os.environ.get(API_KEY_ENV), metavar="KEY",
                   help=f"require 'Authorization: Bearer KEY' on every request; read from ${API_KEY_ENV} "
                        "when not given")
    p.add_argument("--log", action="store_true",
                   help="append every exchange to $WORKBENCH_HOME/served/NAME.jsonl (off by default)")
    p.add_argument("--name", default="served",
                   help="the served log's name and the feedback dataset ratings go to (default: served)")
    p.add_argument("--max-tokens", type=int, default=512, help="the most tokens one answer may ask for (default: 512)")
    p.add_argument("--max-prompt-tokens", type=int, default=2048,
                   help="the longest prompt taken, in tokens (default: 2048)")
    p.add_argument("--max-waiting", type=int, default=8,
                   help="requests answered or queued at once; one more gets 503 (default: 8)")
    add_precision_option(p)
    p.set_defaults(func=cmd_serve, loads_models=True)

    p = commands.add_parser("served", help="what served models were asked and how they were rated (--log)")
    p.add_argument("name", nargs="?", help="a served log's name (default: all)")
    p.add_argument("--bucket", type=int, default=3600, help="seconds per time bucket in --json (default: 3600)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_served)
