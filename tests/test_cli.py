"""The CLI as a user runs it: --help everywhere, data inspect on real files, exit statuses."""

import json
import os
import subprocess
import sys

import pytest

from conftest import shared_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def workbench(*argv, **kwargs):
    return subprocess.run([sys.executable, "-m", "workbench", *argv], capture_output=True, text=True, **kwargs)


@pytest.mark.parametrize("argv", [
    [], ["models"], ["models", "prepare"], ["models", "list"], ["data"], ["data", "inspect"],
    ["data", "tokens"], ["train"], ["train", "sft"], ["train", "reward"], ["train", "dpo"], ["train", "kto"], ["train", "grpo"],
    ["runs"], ["runs", "list"], ["runs", "stop"], ["runs", "resume"],
])
def test_every_command_has_help(argv):
    result = workbench(*argv, "--help")
    assert result.returncode == 0 and "usage: workbench" in result.stdout


def test_top_level_help_lists_commands():
    out = workbench("--help").stdout
    for command in ("models", "data", "train", "runs"):
        assert command in out


def test_inspect_real_hh_file_json():
    path = shared_file("anthropic-hh-rlhf/harmless-base-test.jsonl.gz")
    result = workbench("data", "inspect", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "hh_rlhf" and report["task"] == "preference"
    assert report["rows"] == 2312 and 0 < report["rows"] - report["valid_rows"] < 50
    assert {"line", "field", "message"} <= set(report["errors"][0])
    first = report["sample"][0]
    assert first["prompt"][-1]["role"] == "user" and first["chosen"] and first["rejected"]


def test_inspect_text_output_and_unusable_exit_status(tmp_path):
    result = workbench("data", "inspect", os.path.join(ROOT, "sample_data", "preference.jsonl"))
    assert result.returncode == 0 and "format:  preference" in result.stdout
    broken = tmp_path / "broken.jsonl"
    broken.write_text("not json at all\n{also not\n")
    result = workbench("data", "inspect", str(broken))
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout


def test_models_list_names_default_and_tiny():
    result = workbench("models", "list", "--json")
    names = [m["name"] for m in json.loads(result.stdout)["models"]]
    assert "smollm2-135m" in names and "tiny" in names
    assert "bf16" in json.loads(result.stdout)["hardware"]["reason"]


@pytest.mark.parametrize("argv, refusal", [
    (["compare", "--prompt", "Hi", "--models", "base,sft-1", "--model", "tiny"], "unrecognized arguments: --model tiny"),
    (["compare", "--prom", "Hi", "--models", "tiny"], "required: --prompt"),
    (["data", "tokens", "rows.jsonl", "--max-len", "30"], "unrecognized arguments: --max-len 30"),
])
def test_abbreviated_options_are_refused(argv, refusal):
    """With abbreviations on, `--model tiny` silently ran as `--models tiny`."""
    result = workbench(*argv)
    assert result.returncode == 2 and result.stdout == "" and refusal in result.stderr, result.stderr


NOISY_COMPARE = """
import logging, sys, warnings
from workbench import cli
from workbench.cli import evaluate
compare = evaluate.cmd_compare

def noisy(args):  # what bitsandbytes and transformers print on a machine that has their kernels
    logging.getLogger("bitsandbytes.backends.cpu.ops").warning(
        "Failed to load CPU gemm_4bit_forward from kernels-community: no kernels")
    warnings.warn("`some_argument` is deprecated", FutureWarning)
    return compare(args)

evaluate.cmd_compare = noisy
sys.exit(cli.main(sys.argv[1:]))
"""


def test_third_party_noise_goes_to_the_log_not_the_terminal(fresh_home):
    result = subprocess.run([sys.executable, "-c", NOISY_COMPARE, "compare", "--prompt", "Hi", "--models", "tiny",
                             "--max-new-tokens", "2"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "=== tiny" in result.stdout
    for noise in ("gemm_4bit", "kernels-community", "Warning", "Loading weights"):
        assert noise not in result.stderr, result.stderr
    logged = (fresh_home / "logs" / "cli.log").read_text(encoding="utf-8")
    assert "Failed to load CPU gemm_4bit_forward" in logged and "FutureWarning" in logged
