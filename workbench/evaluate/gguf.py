"""Write a causal LM as one GGUF file, the format llama.cpp, Ollama and LM Studio run.

Written with the `gguf` package's writer: no llama.cpp build. The file is laid out as llama.cpp's
own converter (convert_hf_to_gguf.py) lays out a Llama, so its loaders, and transformers' GGUF
loader, read it as they read one of llama.cpp's:

    tensors     renamed by gguf's name map (model.layers.0.self_attn.q_proj -> blk.0.attn_q); q_proj
                and k_proj rows permuted to llama.cpp's rotary layout; no output.weight when the
                output head is the embedding matrix (tied)
    types       1-D tensors (the RMS norms) in f32 always; 2-D ones in the type asked for, except
                that q8_0 keeps in f16 a tensor whose rows are not a whole number of 32-weight blocks
    metadata    the hyperparameters llama.cpp reads for "llama", the byte-level BPE tokenizer (tokens,
                their types, merges, special ids) and the chat template

Supported: LlamaForCausalLM (SmolLM2 is one) with default rotary embeddings, no biases, and
SmolLM2's byte-level BPE vocabulary (the one whose pre-tokenizer is known here). Anything else is
refused with a WorkbenchError saying so.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from workbench.errors import WorkbenchError

GGUF_TYPES = ("f16", "f32", "q8_0")
SUPPORTED = "LlamaForCausalLM"

# llama.cpp picks its pre-tokenizer (how text is split before BPE) by name. SmolLM2's vocabulary,
# identified by the sha256 of its tokens joined by newlines, was trained with "smollm" (digits split
# one by one), which is what llama.cpp's converter and the default model's original GGUF say.
_PRE_TOKENIZER_OF_VOCABULARY = {
    "d1f2ce856b324081b621d9e2e8dbd22879f462329f3fd4aa39fa758dddb2ce55": "smollm",
}


def check_gguf_type(gguf_type: str) -> None:
    """Raise WorkbenchError unless `gguf_type` is one of GGUF_TYPES."""
    if gguf_type not in GGUF_TYPES:
        raise WorkbenchError(f"--gguf-type must be one of {', '.join(GGUF_TYPES)}, not '{gguf_type}'.",
                             hint="f16 keeps the weights nearly exact at half the size of f32; q8_0 halves it again.")


def check_supported(architecture: str | None, config) -> None:
    """Raise WorkbenchError unless `architecture` (a transformers class name) with `config` (its
    transformers config) is a model write_gguf can write."""
    if architecture != SUPPORTED or getattr(config, "model_type", None) != "llama":
        raise WorkbenchError(
            f"GGUF export supports Llama-architecture causal LMs ({SUPPORTED}, as SmolLM2 is); "
            f"this model is {architecture or 'of unknown architecture'} "
            f"(model_type '{getattr(config, 'model_type', None)}').",
            hint="Export it with --merge instead: a transformers folder, which llama.cpp's own "
                 "convert_hf_to_gguf.py can turn into a GGUF for the architectures it knows.")
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise WorkbenchError(f"GGUF export writes default rotary embeddings; this model's are scaled "
                             f"('{rope_type}').", hint="Export it with --merge instead.")
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        raise WorkbenchError("GGUF export writes Llamas without biases; this one has attention or MLP biases.",
                             hint="Export it with --merge instead.")


def write_gguf(model, tokenizer, path, *, gguf_type: str = "f16", name: str | None = None) -> dict[str, str]:
    """Write `model` (a LlamaForCausalLM, any dtype; its weights are read in fp32) and `tokenizer`
    (its transformers tokenizer, chat template included) to the GGUF file `path`.

    gguf_type: "f16" | "f32" | "q8_0", what the 2-D weights are stored in. name: general.name (default:
    the model's name_or_path). Returns {GGUF tensor name: ggml type name ("F32", "F16", "Q8_0")}.
    """
    import gguf

    check_gguf_type(gguf_type)
    config = model.config
    check_supported(type(model).__name__, config)
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    try:
        writer.add_name(name or Path(str(config.name_or_path or "model")).name)
        _add_hyperparameters(writer, config)
        writer.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                              "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[gguf_type])
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        _add_tokenizer(writer, tokenizer, config.vocab_size)
        types = {}
        for gguf_name, weights in _gguf_tensors(model):
            data, ggml_type = _encode(weights, gguf_type)
            writer.add_tensor(gguf_name, data, raw_dtype=ggml_type)
            types[gguf_name] = ggml_type.name
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    return types


def _add_hyperparameters(writer, config) -> None:
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    rope = getattr(config, "rope_parameters", None) or {}
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads or config.num_attention_heads)
    writer.add_rope_freq_base(float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_rope_dimension_count(head_dim)
    if head_dim * config.num_attention_heads != config.hidden_size:
        # llama.cpp assumes hidden_size / heads unless told otherwise
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)


def _add_tokenizer(writer, tokenizer, vocab_size: int) -> None:
    """The tokenizer as llama.cpp's "gpt2" (byte-level BPE) vocabulary: one token per embedding row
    (rows the tokenizer never produces are named [PADn], typed unused), added special tokens typed
    control and other added tokens user-defined, the merges, special ids and chat template."""
    import gguf

    backend = getattr(tokenizer, "backend_tokenizer", None)
    spec = json.loads(backend.to_str()) if backend is not None else {}
    if spec.get("model", {}).get("type") != "BPE" or "ByteLevel" not in json.dumps(spec.get("pre_tokenizer")):
        raise WorkbenchError("GGUF export writes byte-level BPE tokenizers (GPT-2 style, as SmolLM2's); "
                             f"this model's tokenizer is {type(tokenizer).__name__} "
                             f"({spec.get('model', {}).get('type', 'not a fast tokenizer')}).",
                             hint="Export it with --merge instead.")
    vocab = tokenizer.get_vocab()
    if max(vocab.values()) >= vocab_size:
        raise WorkbenchError(f"The tokenizer has ids up to {max(vocab.values())}, more than the model's "
                             f"{vocab_size} embedding rows.", hint="Export it with --merge instead.")
    by_id = {token_id: token for token, token_id in vocab.items()}
    added = tokenizer.added_tokens_decoder
    tokens, token_types = [], []
    for token_id in range(vocab_size):
        if token_id not in by_id:
            tokens.append(f"[PAD{token_id}]")
            token_types.append(gguf.TokenType.UNUSED)
        else:
            tokens.append(by_id[token_id])
            token_types.append(gguf.TokenType.NORMAL if token_id not in added else
                               gguf.TokenType.CONTROL if added[token_id].special else gguf.TokenType.USER_DEFINED)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer(tokens[:len(by_id)]))
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    # A byte-level piece never holds a space (a space is spelled "Ġ"), so "a b" is unambiguous.
    writer.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in spec["model"]["merges"]])
    for kind, token_id in (("bos", tokenizer.bos_token_id), ("eos", tokenizer.eos_token_id),
                           ("unk", tokenizer.unk_token_id), ("pad", tokenizer.pad_token_id)):
        if token_id is not None:
            getattr(writer, f"add_{kind}_token_id")(token_id)
    writer.add_add_bos_token(bool(getattr(tokenizer, "add_bos_token", False)))
    writer.add_add_eos_token(bool(getattr(tokenizer, "add_eos_token", False)))
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)


def _pre_tokenizer(tokens: list[str]) -> str:
    """llama.cpp's name for how this vocabulary's model splits text before BPE. Known vocabularies
    only: a guess that is wrong would make llama.cpp tokenize differently from training."""
    digest = hashlib.sha256("\n".join(tokens).encode("utf-8")).hexdigest()
    if digest not in _PRE_TOKENIZER_OF_VOCABULARY:
        raise WorkbenchError("GGUF export knows how llama.cpp should split text for SmolLM2's vocabulary "
                             f"only; this tokenizer's {len(tokens)} tokens are another vocabulary.",
                             hint="Export it with --merge instead: llama.cpp's convert_hf_to_gguf.py "
                                  "recognises many more tokenizers.")
    return _PRE_TOKENIZER_OF_VOCABULARY[digest]


def _gguf_tensors(model):
    """(GGUF name, fp32 numpy array) for every weight of `model`, in llama.cpp's layout."""
    import gguf

    config = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and config.tie_word_embeddings:
            continue  # llama.cpp reuses token_embd for the output, as the tied model does
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise WorkbenchError(f"GGUF export found a tensor it has no llama.cpp name for: {hf_name}.",
                                 hint="Export it with --merge instead.")
        weights = tensor.detach().float().cpu().numpy()
        if hf_name.endswith("q_proj.weight"):
            weights = rotary_to_llama_cpp(weights, heads)
        elif hf_name.endswith("k_proj.weight"):
            weights = rotary_to_llama_cpp(weights, kv_heads)
        yield gguf_name, weights


def rotary_to_llama_cpp(weights, heads: int):
    """q_proj or k_proj rows (heads * head_dim, hidden) reordered from transformers' rotary layout to
    llama.cpp's, as its converter does.

    transformers rotates dimension i of a head with dimension i + head_dim/2 (the two halves of a
    head); llama.cpp's "normal" rope rotates 2i with 2i+1 (adjacent pairs). Interleaving each head's
    halves puts i and i + head_dim/2 at 2i and 2i+1, so both rotate the same pairs by the same angles
    and the attention scores are unchanged. transformers' GGUF loader undoes it.
    """
    rows = weights.shape[0]
    return (weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def _encode(weights, gguf_type: str):
    """(array to write, its GGMLQuantizationType): f32 for 1-D tensors, else `gguf_type`; q8_0 falls
    back to f16 (as llama.cpp's converter does) where a row is not a whole number of blocks."""
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, quants

    if weights.ndim == 1 or gguf_type == "f32":
        return weights.astype(np.float32), GGMLQuantizationType.F32
    q8_0 = GGMLQuantizationType.Q8_0
    if gguf_type == "q8_0" and weights.shape[-1] % GGML_QUANT_SIZES[q8_0][0] == 0:
        return quants.quantize(weights, q8_0), q8_0
    return weights.astype(np.float16), GGMLQuantizationType.F16
