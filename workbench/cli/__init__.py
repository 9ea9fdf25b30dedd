"""The `workbench` command line: a thin front end over the engine's public functions.

One module per group of commands (models, data, runs: train and runs, pipeline, evaluate,
feedback, launch, serve), each with its commands and an `add_parsers`; this module builds the parser and runs one.

Every command prints something readable by default and JSON with `--json`. Errors the user can
act on (`WorkbenchError`) print as one line on stderr with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from workbench import paths
from workbench.cli import data, evaluate, feedback, launch, models, pipeline, runs, serve
from workbench.cli.common import EXIT_UNUSABLE
from workbench.errors import WorkbenchError


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
    for commands_of in (models, data, runs, pipeline, launch, evaluate, feedback, serve):
        commands_of.add_parsers(commands)
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

