"""GGUF export round trips: the file `workbench export RUN --gguf` writes loads back through
transformers' GGUF loader with the merged model's weights and logits (within what its type rounds
away), the tokenizer and chat template, and the metadata llama.cpp reads; what it cannot write is
refused in one line. The last test does the same on the real SmolLM2-135M (marked real_model)."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

# The session's shared tiny runs (SFT, DPO, reward), trained once; see test_compare.py.
from test_compare import SFT, run_cli, runs  # noqa: F401
from test_export import base_plus_adapter
from workbench.errors import WorkbenchError

# How far the GGUF's logits may be from the merged model's, as a fraction of its largest |logit|.
# f32 stores the same numbers, so the logits are equal. f16 keeps 11 significant bits, so a weight
# moves by up to 2**-11 of itself; q8_0 stores a weight as one of 255 steps of its 32-weight block's
# largest, so it moves by up to 2**-8 of that. The roundings compound through the layers; 4 times
# the step bounds what was measured: f16 3.4e-4 on the tiny SFT run and 1.1e-3 on SmolLM2-135M's 30
# layers, q8_0 2.9e-3 on the tiny SFT run (where only the two ffn_down weights have rows of whole
# 32-weight blocks). A model whose logits are a small difference of large activations (the tiny DPO
# run, trained at a learning rate of 0.05, reaches 74 after layer 0 from embeddings of 0.1) amplifies
# any rounding: 1.9e-2 there, in f16 and q8_0 alike. The writer's own exactness is tested on the
# weights, which must equal the merged model's rounded as the type rounds them.
# Never widen these to make a test pass: a bigger gap is a defect of the writer.
GGUF_TOLERANCE = {"f32": 0.0, "f16": 4 * 2 ** -11, "q8_0": 4 * 2 ** -8}
CHAT = [{"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is 12345 + 678? Crème brûlée 🍞 or <b>toast</b>?"}]


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory):  # noqa: F811
    """export(gguf_type) -> export_run's result for the SFT run (base + adapter), made once."""
    from workbench.evaluate import export_run
    folder, made = tmp_path_factory.mktemp("gguf"), {}

    def export(gguf_type):
        if gguf_type not in made:
            made[gguf_type] = export_run(runs["sft"], folder / gguf_type, gguf_type=gguf_type)
        return made[gguf_type]
    return export


def chat_ids(tokenizer) -> torch.Tensor:
    text = tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    return torch.tensor([tokenizer(text)["input_ids"]])


def load_gguf(result):
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(result["path"], gguf_file=result["gguf_file"],
                                                dtype=torch.float32).eval()


def gguf_fields(path) -> dict:
    """The file's metadata {key: value}, arrays as lists, read by gguf's own reader."""
    from gguf import GGUFReader
    return {key: field.contents() for key, field in GGUFReader(path).fields.items()}


def gguf_tensor_types(path) -> dict:
    from gguf import GGUFReader
    return {t.name: (t.tensor_type.name, [int(n) for n in t.shape]) for t in GGUFReader(path).tensors}


def assert_logits_close(got, expected, gguf_type: str, what: str) -> None:
    gap, scale = (got - expected).abs().max().item(), expected.abs().max().item()
    assert gap <= GGUF_TOLERANCE[gguf_type] * scale, (
        f"{what}: {gguf_type} logits differ by up to {gap:.3g}, {gap / scale:.3g} of the largest "
        f"|logit| {scale:.3g} (tolerance {GGUF_TOLERANCE[gguf_type]:.3g})")


def stored_type(shape, gguf_type: str) -> str:
    """The ggml type a weight of this (transformers) shape is written in: f32 for norms, the type
    asked for, but f16 for a q8_0 weight whose rows are not whole 32-weight blocks."""
    if len(shape) == 1 or gguf_type == "f32":
        return "F32"
    return "Q8_0" if gguf_type == "q8_0" and shape[-1] % 32 == 0 else "F16"


def rounded_as(weights, ggml_type: str):
    """`weights` (fp32) as a file of `ggml_type` holds them, computed here apart from the writer.
    Q8_0 (ggml's reference): each 32-weight block of a row keeps d = max|w| / 127, stored in f16,
    and each weight the nearest whole number of steps of d (halves away from zero)."""
    if ggml_type == "F32":
        return weights
    if ggml_type == "F16":
        return weights.half().float()
    blocks = weights.reshape(-1, 32)
    d = blocks.abs().amax(dim=1, keepdim=True) / 127
    steps = blocks * torch.where(d == 0, 0.0, 1 / d)
    steps = torch.sign(steps) * torch.floor(steps.abs() + 0.5)
    return (steps * d.half().float()).reshape(weights.shape)


@pytest.mark.parametrize("gguf_type", ["f32", "f16", "q8_0"])
def test_gguf_round_trip_gives_the_merged_models_weights_and_logits(runs, exported, gguf_type):  # noqa: F811
    """The GGUF loads back through transformers with the merged model's weights rounded as its type
    rounds them (q_proj and k_proj back in transformers' layout), and logits equal in f32, within
    the type's tolerance otherwise. Norms stay f32, 2-D weights take the type (q8_0 where a row is
    whole 32-weight blocks, f16 where not), and the tied output head is not written."""
    from transformers import AutoModelForCausalLM

    from workbench.models import load_tokenizer
    result = exported(gguf_type)
    path = Path(result["path"]) / result["gguf_file"]
    merged = base_plus_adapter(runs["sft"], AutoModelForCausalLM).merge_and_unload()
    loaded = load_gguf(result)
    expected_weights = merged.state_dict()
    for name, weights in loaded.state_dict().items():
        expected = rounded_as(expected_weights[name], stored_type(weights.shape, gguf_type))
        assert torch.equal(weights, expected), name
    ids = chat_ids(load_tokenizer("tiny"))
    with torch.no_grad():
        got, expected = loaded(input_ids=ids).logits, merged(input_ids=ids).logits
    assert_logits_close(got, expected, gguf_type, "tiny SFT run")  # f32: equal

    tensors = gguf_tensor_types(path)
    assert "output.weight" not in tensors and "token_embd.weight" in tensors  # tied, as llama.cpp writes it
    assert len(tensors) == 1 + 2 * 9 + 1  # token_embd, 2 blocks of 9, output_norm
    for name, (ggml_type, shape) in tensors.items():
        assert ggml_type == stored_type(shape[::-1], gguf_type), name  # GGUF lists a row's length first
    assert result["tensor_types"] == dict(Counter(t for t, _ in tensors.values()))
    if gguf_type == "q8_0":
        assert result["tensor_types"]["Q8_0"] == 2  # blk.N.ffn_down: rows of 64; tiny's others have 16


def test_gguf_carries_the_tokenizer_chat_template_and_hyperparameters(runs, exported):  # noqa: F811
    """The tokenizer transformers builds from the file encodes a chat-templated text (digits,
    accents, an emoji, special tokens) to the same ids as the run's tokenizer; the chat template,
    special ids and what llama.cpp reads about the model are in the metadata."""
    from transformers import AutoTokenizer

    from workbench.models import load_tokenizer
    result = exported("f16")
    original = load_tokenizer("tiny")
    tokenizer = AutoTokenizer.from_pretrained(result["path"], gguf_file=result["gguf_file"])
    assert tokenizer.chat_template == original.chat_template
    assert torch.equal(chat_ids(tokenizer), chat_ids(original))
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<|im_start|>", "<|im_end|>",
                                                                               "<|endoftext|>")

    fields = gguf_fields(Path(result["path"]) / result["gguf_file"])
    assert fields["general.architecture"] == "llama" and fields["general.name"] == runs["sft"]
    assert fields["general.file_type"] == 1  # llama.cpp's MOSTLY_F16
    assert (fields["tokenizer.ggml.model"], fields["tokenizer.ggml.pre"]) == ("gpt2", "smollm")
    assert len(fields["tokenizer.ggml.tokens"]) == fields["llama.vocab_size"] == 49152
    assert fields["tokenizer.ggml.token_type"][:17] == [3] * 17 and fields["tokenizer.ggml.token_type"][17] == 1
    assert fields["tokenizer.ggml.merges"][0] == "Ġ t"
    assert [fields[f"tokenizer.ggml.{k}_token_id"] for k in ("bos", "eos", "padding", "unknown")] == [1, 2, 0, 0]
    from workbench.models.sources import TINY_CONFIG
    assert {key: fields[f"llama.{key}"] for key in (
        "block_count", "embedding_length", "feed_forward_length", "context_length", "attention.head_count",
        "attention.head_count_kv", "rope.dimension_count")} == {
        "block_count": 2, "embedding_length": 16, "feed_forward_length": 64, "context_length": 2048,
        "attention.head_count": 2, "attention.head_count_kv": 2, "rope.dimension_count": 8}
    assert fields["llama.rope.freq_base"] == TINY_CONFIG["rope_theta"]
    assert fields["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(TINY_CONFIG["rms_norm_eps"])


def test_gguf_export_folder_holds_the_file_a_modelfile_and_the_marker(runs, exported):  # noqa: F811
    result = exported("f16")
    out, name = Path(result["path"]), f"{runs['sft']}-f16.gguf"
    assert result["gguf_file"] == name
    assert result["files"] == sorted([name, "Modelfile", "workbench_export.json"])
    assert f"FROM ./{name}" in (out / "Modelfile").read_text().splitlines()
    info = json.loads((out / "workbench_export.json").read_text())
    assert info["kind"] == "gguf" and info["gguf_type"] == "f16" and info["merged_in"] == "float32"
    assert info["base"] == "tiny" and info["dtype"] is None
    assert "ollama create" in info["how_to_load"] and f'gguf_file="{name}"' in info["how_to_load"]


def test_gguf_of_a_full_fine_tune(fresh_home):
    """A run that trained the whole model has no adapter: its model folder is what is written."""
    from transformers import AutoModelForCausalLM

    from workbench.evaluate import export_run
    from workbench.train import train
    run = train("sft", data=SFT, name="full", method="full", wait=True, model="tiny", max_steps=1,
                max_length=64, batch_size=2, max_rows=4, val_fraction=0.0, save_steps=1000)
    assert run.status()["state"] == "completed", run.status().get("error")
    result = export_run("full", fresh_home / "exports" / "full", gguf_type="f32")
    assert result["kind"] == "gguf" and result["merged_in"] is None and result["base"] == "tiny"
    trained = AutoModelForCausalLM.from_pretrained(run.finished_output()).eval()
    loaded = load_gguf(result)
    assert all(torch.equal(w, trained.state_dict()[n]) for n, w in loaded.state_dict().items())


@pytest.mark.parametrize("case", ["reward", "type-alone", "dtype"])
def test_cli_refuses_what_gguf_cannot_hold_in_one_line(runs, tmp_path, capsys, case):  # noqa: F811
    argv = {"reward": [runs["reward"], "--gguf"], "type-alone": [runs["sft"], "--gguf-type", "q8_0"],
            "dtype": [runs["sft"], "--gguf", "--dtype", "bf16"]}[case]
    code, out, err = run_cli(capsys, "export", *argv, "--out", str(tmp_path / "x"))
    assert code == 2 and out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    expected = {"reward": ["reward model", "--merge", "AutoModelForSequenceClassification"],
                "type-alone": ["--gguf-type", "--gguf export"], "dtype": ["--dtype", "--gguf-type"]}[case]
    assert all(words in err for words in expected), err
    assert not (tmp_path / "x").exists()


def test_cli_gguf_export(runs, tmp_path, capsys):  # noqa: F811
    code, out, err = run_cli(capsys, "export", runs["sft"], "--out", str(tmp_path / "q8"), "--gguf",
                             "--gguf-type", "q8_0", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["kind"] == "gguf" and result["gguf_file"] == f"{runs['sft']}-q8_0.gguf"
    assert gguf_fields(tmp_path / "q8" / result["gguf_file"])["general.file_type"] == 7  # MOSTLY_Q8_0
    code, out, _ = run_cli(capsys, "export", runs["sft"], "--out", str(tmp_path / "f16"), "--gguf")
    assert code == 0 and f"{runs['sft']}-f16.gguf" in out and "ollama create" in out


def test_runs_tab_exports_gguf_and_says_how_to_run_it(runs, tmp_path):  # noqa: F811
    """The Runs tab's Export button (the handler it calls) with 'GGUF q8_0' chosen."""
    from ui.runs_tab import EXPORT_KINDS, export
    assert "gguf:q8_0" in [value for _, value in EXPORT_KINDS]
    message = export(runs["sft"], str(tmp_path / "tab"), "gguf:q8_0")
    assert f"{runs['sft']}-q8_0.gguf" in message and "ollama create" in message, message
    assert gguf_fields(tmp_path / "tab" / f"{runs['sft']}-q8_0.gguf")["general.file_type"] == 7
    import gradio as gr
    with pytest.raises(gr.Error, match="reward model"):  # shown on the page as a readable message
        export(runs["reward"], str(tmp_path / "reward"), "gguf:f16")
    assert not (tmp_path / "reward").exists()


@pytest.mark.parametrize("case", ["architecture", "vocabulary"])
def test_what_the_writer_cannot_write_is_refused_by_name(tmp_path, case):
    """Another architecture is named against the one supported; a vocabulary whose pre-tokenizer
    llama.cpp would have to guess is refused rather than written with a guess."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    from workbench.evaluate.gguf import write_gguf
    from workbench.models import resolve_model
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("tiny"))
    small = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                 num_key_value_heads=2)
    if case == "architecture":
        model, expected = Qwen2ForCausalLM(Qwen2Config(vocab_size=64, **small)), "LlamaForCausalLM.*Qwen2ForCausalLM"
    else:
        tokenizer.add_tokens(["<extra>"])
        model, expected = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), **small)), "SmolLM2's vocabulary"
    with pytest.raises(WorkbenchError, match=expected) as refused:
        write_gguf(model, tokenizer, tmp_path / "x.gguf")
    assert "--merge" in refused.value.hint and not (tmp_path / "x.gguf").exists()


def test_rotary_permutation_makes_llama_cpp_rope_match_transformers():
    """The q/k row order written makes llama.cpp's rope (rotating adjacent pairs 2i, 2i+1) give the
    attention scores transformers' rope (rotating i with i + head_dim/2) gives, for every position."""
    from workbench.evaluate.gguf import rotary_to_llama_cpp
    heads, head_dim, hidden, theta = 3, 8, 12, 10000.0
    rng = np.random.default_rng(0)
    wq, wk, x, y = (rng.normal(size=s) for s in ((heads * head_dim, hidden),) * 2 + ((hidden,),) * 2)
    angles = lambda p: p * theta ** (-np.arange(0, head_dim, 2) / head_dim)  # noqa: E731

    def rope_halves(v, p):  # transformers: rotate_half
        a, b = v[:head_dim // 2], v[head_dim // 2:]
        c, s = np.cos(angles(p)), np.sin(angles(p))
        return np.concatenate([a * c - b * s, b * c + a * s])

    def rope_pairs(v, p):  # llama.cpp, normal mode
        a, b = v[0::2], v[1::2]
        c, s = np.cos(angles(p)), np.sin(angles(p))
        return np.stack([a * c - b * s, b * c + a * s], axis=1).ravel()

    def scores(rope, q_weights, k_weights, pq, pk):
        q, k = (w @ v for w, v in ((q_weights, x), (k_weights, y)))
        return [rope(q[h * head_dim:(h + 1) * head_dim], pq) @ rope(k[h * head_dim:(h + 1) * head_dim], pk)
                for h in range(heads)]

    for pq, pk in ((5, 2), (17, 0)):
        expected = scores(rope_halves, wq, wk, pq, pk)
        got = scores(rope_pairs, rotary_to_llama_cpp(wq, heads), rotary_to_llama_cpp(wk, heads), pq, pk)
        assert np.allclose(got, expected) and not np.allclose(scores(rope_pairs, wq, wk, pq, pk), expected)


@pytest.mark.real_model
def test_gguf_round_trip_on_the_default_model(fresh_home):
    """SmolLM2-135M after one SFT step, exported as f16: logits within f16's tolerance of the merged
    model, and the same greedy answer."""
    from transformers import AutoModelForCausalLM

    from workbench.evaluate import export_run
    from workbench.models import load_tokenizer
    from workbench.train import train
    run = train("sft", data=SFT, name="real-sft", wait=True, model="smollm2-135m", max_steps=1,
                batch_size=1, max_length=64, max_rows=4, val_fraction=0.0, save_steps=1000)
    assert run.status()["state"] == "completed", run.status().get("error")
    result = export_run("real-sft", fresh_home / "exports" / "real-sft", gguf_type="f16")
    fields = gguf_fields(Path(result["path"]) / result["gguf_file"])
    assert (fields["llama.attention.head_count"], fields["llama.attention.head_count_kv"]) == (9, 3)
    assert fields["tokenizer.ggml.pre"] == "smollm"

    merged = base_plus_adapter("real-sft", AutoModelForCausalLM).merge_and_unload()
    loaded = load_gguf(result)
    ids = chat_ids(load_tokenizer("smollm2-135m"))
    with torch.no_grad():
        assert_logits_close(loaded(input_ids=ids).logits, merged(input_ids=ids).logits, "f16", "SmolLM2-135M")
        greedy = [m.generate(ids, max_new_tokens=12, do_sample=False)[0, ids.shape[1]:].tolist()
                  for m in (merged, loaded)]
    assert greedy[0] == greedy[1]
