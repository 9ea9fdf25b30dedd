"""Export round trips on the tiny runs: a merged folder loads without peft and gives the logits of
base + adapter; an adapter export reloads onto its base; a reward run exports as a sequence
classifier; non-empty targets and unfinished runs are refused."""

import json
from pathlib import Path

import pytest
import torch
from conftest import assert_close

# The session's shared tiny runs (SFT, DPO, reward), trained once; see test_compare.py.
from test_compare import runs  # noqa: F401
from workbench.errors import RunError, WorkbenchError

IDS = torch.tensor([[1, 9690, 198, 22503, 28, 638, 359, 346, 47, 2, 198, 1, 520, 9531, 198]])
PICKLED = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def _folder(name):
    from workbench.models import resolve_model
    return resolve_model(name)


def base_plus_adapter(run: str, auto_class):
    """The run's variant the way peft users build it: the base, then the adapter on top."""
    from peft import PeftModel

    from workbench.models.variants import model_ref
    ref = model_ref(run)
    return PeftModel.from_pretrained(auto_class.from_pretrained(_folder(ref.base)), str(ref.adapter)).eval()


def no_pickles(folder) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(PICKLED)]


def test_merged_export_equals_base_plus_adapter(runs, tmp_path, precision):
    """Whatever precision the exporting machine computes in, the merge is done in fp32 and saved in
    the base's stored dtype (the tiny base is fp32), so it equals base + adapter to fp32 rounding."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.evaluate import export_run
    from workbench.models.load import stored_dtype
    result = export_run(runs["dpo"], tmp_path / "merged", merge=True)
    out = Path(result["path"])
    assert (out / "model.safetensors").exists() and (out / "config.json").exists() and no_pickles(out)
    assert not (out / "adapter_config.json").exists()
    info = json.loads((out / "workbench_export.json").read_text())
    assert info["kind"] == "merged" and info["base"] == "tiny" and info["run"] == runs["dpo"]
    assert info["dtype"] == stored_dtype(out) == stored_dtype(_folder("tiny")) == "float32"
    assert info["merged_in"] == "float32"

    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    assert not any("lora" in name for name, _ in merged.named_parameters())
    reference = base_plus_adapter(runs["dpo"], AutoModelForCausalLM)
    plain = AutoModelForCausalLM.from_pretrained(_folder("tiny")).eval()
    with torch.no_grad():
        expected, got, base = (m(input_ids=IDS).logits for m in (reference, merged, plain))
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, base, atol=1e-3)  # the adapter did change the model

    tokenizer = AutoTokenizer.from_pretrained(out)
    assert "<|im_start|>" in tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)


def test_merged_export_in_a_chosen_dtype(runs, tmp_path, capsys):
    """--dtype bf16 saves bf16 weights (merged in fp32 first) and says so; the logits stay within
    bf16's tolerance of base + adapter. A dtype for an export that is not merged is refused."""
    from transformers import AutoModelForCausalLM

    from workbench.cli import main
    from workbench.models.load import stored_dtype
    out = tmp_path / "bf16"
    assert main(["export", runs["dpo"], "--out", str(out), "--merge", "--dtype", "bf16", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dtype"] == "bfloat16" and result["merged_in"] == "float32"
    assert stored_dtype(out) == "bfloat16"
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    reference = base_plus_adapter(runs["dpo"], AutoModelForCausalLM)
    with torch.no_grad():
        assert_close(merged(input_ids=IDS).logits, reference(input_ids=IDS).logits, "bf16", "logits")

    capsys.readouterr()
    assert main(["export", runs["dpo"], "--out", str(tmp_path / "x"), "--dtype", "bf16"]) == 2
    err = capsys.readouterr().err
    assert "--merge" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_adapter_export_reloads_onto_its_base(runs, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from workbench.evaluate import export_run
    result = export_run(runs["sft"], tmp_path / "adapter")
    out = Path(result["path"])
    assert result["kind"] == "adapter" and result["files"] == sorted(p.name for p in out.iterdir())
    assert {"adapter_config.json", "adapter_model.safetensors", "workbench_export.json"} <= {
        p.name for p in out.iterdir()}
    assert no_pickles(out)
    info = json.loads((out / "workbench_export.json").read_text())
    assert info["kind"] == "adapter" and info["base"] == "tiny" and info["base_path"]
    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(info["base_path"]), str(out)).eval()
    reference = base_plus_adapter(runs["sft"], AutoModelForCausalLM)
    with torch.no_grad():
        assert torch.equal(reloaded(input_ids=IDS).logits, reference(input_ids=IDS).logits)


def test_reward_run_exports_as_a_sequence_classifier(runs, tmp_path, precision):
    """Exported on a machine computing in `precision`: the exported classifier scores as the run
    does in fp32, to fp32 rounding; the run's scorer in `precision` is within that dtype's tolerance."""
    from transformers import AutoModelForSequenceClassification

    from workbench.evaluate import export_run
    from workbench.models.score import RewardScorer
    out = Path(export_run(runs["reward"], tmp_path / "rm", merge=True)["path"])
    assert no_pickles(out)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    scorer = RewardScorer(runs["reward"], precision="fp32")
    ids = scorer.encode([{"role": "user", "content": "Hi"}], "Hello!")
    with torch.no_grad():
        exported = float(model(input_ids=torch.tensor([ids])).logits[0, 0])
    assert exported == pytest.approx(scorer.score("Hi", "Hello!"), abs=1e-5)
    in_precision = RewardScorer(runs["reward"])  # WORKBENCH_PRECISION, as a user's machine sets it
    assert in_precision.hardware.precision == precision
    assert_close(in_precision.score("Hi", "Hello!"), exported, precision, "reward score")


def test_cli_export_refuses_a_non_empty_folder_unless_forced(runs, tmp_path, capsys):
    from workbench.cli import main
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    assert main(["export", runs["sft"], "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert (target / "notes.txt").read_text() == "mine"
    # --force replaces an earlier export only, never a folder of the user's own.
    assert main(["export", runs["sft"], "--out", str(target), "--force"]) == 2
    assert "not an earlier export" in capsys.readouterr().err
    assert (target / "notes.txt").read_text() == "mine"
    (target / "workbench_export.json").write_text("{}")
    assert main(["export", runs["sft"], "--out", str(target), "--force", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "adapter" and "notes.txt" not in result["files"]
    assert not (target / "notes.txt").exists()


def test_unfinished_and_unknown_runs_are_refused(runs, tmp_path):
    from test_compare import unfinished_run

    from workbench.evaluate import export_run
    with pytest.raises(RunError, match="has not completed"):
        export_run(unfinished_run(runs), tmp_path / "x")
    with pytest.raises(RunError, match="no run named"):
        export_run("no-such-run", tmp_path / "y")
    assert not (tmp_path / "x").exists()
    with pytest.raises(WorkbenchError, match="inside"):  # --force never deletes the folder it reads from
        from workbench.runs import get_run
        export_run(runs["sft"], get_run(runs["sft"]).path, force=True)
