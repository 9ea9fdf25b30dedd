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
