"""Export a run for use outside the workbench.

    merge=False  the adapter folder as trained (adapter_config.json, adapter_model.safetensors,
                 tokenizer and chat template) plus `workbench_export.json`, which names the base
    merge=True   a standalone transformers folder: the adapter folded into the base weights,
                 safetensors only, tokenizer and chat template included; loads with
                 AutoModelForCausalLM (AutoModelForSequenceClassification for a reward run)
                 and no peft. The merge is computed in fp32 whatever the machine trains in, and
                 saved in the base's own stored dtype (`dtype="auto"`) or the one asked for, so
                 the exported weights do not depend on which CPU exported them.
    gguf_type    one GGUF file (f16, f32 or q8_0) of the merged model, with its tokenizer and chat
                 template, for llama.cpp, Ollama and LM Studio (see gguf.py), and an Ollama
                 `Modelfile` beside it; a Llama-architecture causal LM only, so not a reward run

A run that trained the full model exports its model folder either way. Nothing pickled is ever
written (the trainer's training_args.bin is left behind), and the folder is written beside its
target and renamed into place, so a failed export leaves nothing that looks finished.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.io import built_aside

MARKER = "workbench_export.json"
_PICKLED = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def _check_out_dir(out: Path, force: bool, protected: list[Path]) -> None:
    """Refuse an `out` that could overwrite the user's data: one inside the workbench's home
    (but for its exports/) or its checkout, a non-empty one without force, with force one that is
    not a previous export (it has no MARKER), and one that holds a `protected` folder."""
    if out.exists() and not out.is_dir():
        raise WorkbenchError(f"{out} is a file, not a folder.", hint="Give --out a folder path.")
    resolved = out.resolve()
    exports = paths.exports_dir().resolve()
    for root, what in ((paths.home(), "the workbench's home"), (paths.repo_root(), "the workbench's checkout")):
        root = root.resolve()
        inside = resolved == root or root in resolved.parents
        if inside and exports not in resolved.parents:
            raise WorkbenchError(f"{out} is inside {what} ({root}), where an export could overwrite runs, "
                                 "models, uploads or feedback.",
                                 hint=f"Export to a folder outside it, or into {exports}.")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not force:
        raise WorkbenchError(f"{out} is not empty; exporting would replace what is in it.",
                             hint="Choose an empty or new folder, or add --force to replace an earlier export.")
    if not (out / MARKER).is_file():
        raise WorkbenchError(f"{out} is not empty and is not an earlier export (it has no {MARKER}), so "
                             "--force will not replace it.", hint="Choose an empty or new folder.")
    for path in protected:
        if path.resolve() == resolved or resolved in path.resolve().parents:
            raise WorkbenchError(f"--force would delete {out}, which holds {path}.",
                                 hint="Export into a folder of its own.")


def _copy_plain_files(source: Path, target: Path) -> list[str]:
    """Copy the top-level files of `source` except pickled ones; returns the names copied.
    (Subfolders are skipped: DPO leaves its frozen reference adapter in adapter/ref/.)"""
    copied = []
    for path in sorted(source.iterdir()):
        if path.is_file() and not path.name.endswith(_PICKLED):
            shutil.copy2(path, target / path.name)
            copied.append(path.name)
    return copied


EXPORT_DTYPES = {"auto": None, "fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def _merged_model(ref, stage: str | None, dtype: str):
    """The base with the run's adapter folded in (no peft left): merged in fp32, returned in
    `dtype` (a torch dtype name)."""
    import torch
    from peft import PeftModel

    from workbench.models import detect_hardware, load_causal_lm, load_reward_model

    # A QLoRA run's adapter is merged into the full-precision base: a 4-bit model cannot be saved
    # as an ordinary checkpoint, and the adapter was trained to correct the same weights.
    load = load_reward_model if stage == "reward" else load_causal_lm
    model = load(ref.base, method="lora", for_training=False, hardware=detect_hardware("fp32"))
    merged = PeftModel.from_pretrained(model, str(ref.adapter)).merge_and_unload()
    return merged.to(getattr(torch, dtype))


def export_dtype(dtype: str, base: str) -> str:
    """The torch dtype name a merged export is saved in: `dtype` ("fp32" | "bf16" | "fp16"), or
    for "auto" the dtype the base's weights are stored in (fp32 where that is unknown)."""
    from workbench.models import resolve_model
    from workbench.models.load import stored_dtype

    if dtype not in EXPORT_DTYPES:
        raise WorkbenchError(f"--dtype must be one of {', '.join(EXPORT_DTYPES)}, not '{dtype}'.",
                             hint="auto saves in the dtype the base model is stored in.")
    return EXPORT_DTYPES[dtype] or stored_dtype(resolve_model(base)) or "float32"


def export_run(run: str, out_dir, merge: bool = False, *, force: bool = False,
               dtype: str = "auto", gguf_type: str | None = None) -> dict:
    """Write run `run`'s result to `out_dir` (see the module docstring).

    dtype: what a merged export is saved in: "auto" (the base's stored dtype), "fp32", "bf16"
    or "fp16". An adapter, or a full fine-tune's model folder, is copied as it was trained.
    gguf_type: "f16" | "f32" | "q8_0" writes `<run>-<gguf_type>.gguf` and a `Modelfile` instead
    (merged in fp32 first; `merge` is implied).
    Returns what its workbench_export.json says, less the run's config: "run", "stage", "kind"
    ("adapter" | "merged" | "model" | "gguf"), "base", "base_path", "architecture", "dtype" (of a
    merged export, else None), "merged_in" ("float32", or None), "gguf_type", "gguf_file" and
    "tensor_types" (of a GGUF export: how many tensors are stored in each ggml type, else None),
    "how_to_load", and "path" (the folder, a string) and "files" (the names in it).
    Raises RunError for an unknown or unfinished run, WorkbenchError for a non-empty out_dir
    without force, a dtype asked for an export that is not merged, or a GGUF of a reward run or
    of an architecture the GGUF writer does not support.
    """
    from workbench.models.variants import model_ref
    from workbench.runs import get_run

    source_run = get_run(run)
    source_run.finished_output()  # raises RunError for a run that has nothing final to export
    ref = model_ref(source_run.name)
    if gguf_type is not None:
        _check_gguf_export(source_run.name, ref, gguf_type, dtype)
    elif dtype != "auto" and (not merge or ref.adapter is None):
        raise WorkbenchError(f"--dtype {dtype} applies to a merged export only; this export copies "
                             "the run's files as they were trained.",
                             hint="Add --merge to save the merged model in that dtype, or leave --dtype out.")
    merged = ref.adapter is not None and (merge or gguf_type is not None)
    save_dtype = export_dtype(dtype, ref.base) if merged and gguf_type is None else None
    out = Path(out_dir).expanduser()
    _check_out_dir(out, force, [source_run.path, paths.home(), Path.cwd()])
    gguf_file = tensor_types = None
    with built_aside(out) as tmp:
        if gguf_type is not None:
            kind, base = "gguf", ref.base if ref.adapter is not None else source_run.config().get("model")
            gguf_file, tensor_types = _write_gguf_export(source_run.name, ref, gguf_type, tmp)
        elif ref.adapter is None:  # a full fine-tune: its model folder is already standalone
            kind, base = "model", source_run.config().get("model")
            _copy_plain_files(Path(ref.base), tmp)
        elif merge:
            kind, base = "merged", ref.base
            model = _merged_model(ref, ref.stage, save_dtype)
            config = getattr(model, "config", None)
            if config is not None and getattr(config, "quantization_config", None) is not None:
                del config.quantization_config
            model.save_pretrained(str(tmp), safe_serialization=True)
            from workbench.models import load_tokenizer
            load_tokenizer(ref.base).save_pretrained(str(tmp))  # with its chat template
        else:
            kind, base = "adapter", ref.base
            _copy_plain_files(ref.adapter, tmp)
        for path in list(tmp.rglob("*")):  # belt and braces: nothing pickled leaves the workbench
            if path.is_file() and path.name.endswith(_PICKLED):
                path.unlink()
        info = {
            "run": source_run.name, "stage": ref.stage, "kind": kind, "base": base,
            "base_path": _base_path(base),
            "architecture": "sequence-classification (reward)" if ref.stage == "reward" else "causal-lm",
            "dtype": save_dtype, "merged_in": "float32" if merged else None,
            "gguf_type": gguf_type, "gguf_file": gguf_file, "tensor_types": tensor_types,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "how_to_load": _how_to_load(kind, ref.stage, gguf_file),
            "config": source_run.config(),
        }
        (tmp / MARKER).write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    info.pop("config")
    return {**info, "path": str(out), "files": sorted(p.name for p in out.iterdir())}


def _base_path(base: str | None) -> str | None:
    if not base:
        return None
    try:
        from workbench.models import resolve_model
        return str(resolve_model(base))
    except WorkbenchError:
        return None


def _check_gguf_export(run: str, ref, gguf_type: str, dtype: str) -> None:
    """Refuse, before anything is loaded, a GGUF export the writer would refuse after the merge."""
    from transformers import AutoConfig

    from workbench.evaluate.gguf import check_gguf_type, check_supported
    from workbench.models import resolve_model

    check_gguf_type(gguf_type)
    if dtype != "auto":
        raise WorkbenchError(f"--dtype {dtype} applies to a --merge export; a GGUF's weights are "
                             "stored in its --gguf-type.", hint="Leave --dtype out, or choose --gguf-type.")
    if ref.stage == "reward":
        raise WorkbenchError(f"Run {run} is a reward model (a sequence classifier that scores answers); "
                             "GGUF export writes text generators for llama.cpp, Ollama and LM Studio.",
                             hint="Export it with --merge for a transformers folder that loads with "
                                  "AutoModelForSequenceClassification.")
    config = AutoConfig.from_pretrained(resolve_model(ref.base))
    check_supported((config.architectures or [None])[0], config)


def _write_gguf_export(run: str, ref, gguf_type: str, folder: Path) -> tuple[str, dict[str, int]]:
    """Write `<run>-<gguf_type>.gguf` of the run's model (merged in fp32) and an Ollama Modelfile
    into `folder`. Returns the file's name and how many tensors it stores in each ggml type."""
    from collections import Counter

    from workbench.evaluate.gguf import write_gguf
    from workbench.models import detect_hardware, load_causal_lm, load_tokenizer

    if ref.adapter is None:  # a full fine-tune: its model folder is the model
        model = load_causal_lm(ref.base, method="full", for_training=False, hardware=detect_hardware("fp32"))
    else:
        model = _merged_model(ref, ref.stage, "float32")
    name = f"{run}-{gguf_type}.gguf"
    types = write_gguf(model, load_tokenizer(ref.base), folder / name, gguf_type=gguf_type, name=run)
    (folder / "Modelfile").write_text(f"# ollama create {run} -f Modelfile\nFROM ./{name}\n", encoding="utf-8")
    return name, dict(sorted(Counter(types.values()).items()))


def _how_to_load(kind: str, stage: str | None, gguf_file: str | None = None) -> str:
    if kind == "gguf":
        return (f"llama.cpp: llama-cli -m {gguf_file}; Ollama: ollama create NAME -f Modelfile (in this "
                f"folder), then ollama run NAME; LM Studio: import {gguf_file}; transformers: "
                f"AutoModelForCausalLM.from_pretrained(THIS_FOLDER, gguf_file=\"{gguf_file}\") and "
                f"AutoTokenizer.from_pretrained(THIS_FOLDER, gguf_file=\"{gguf_file}\")")
    auto = "AutoModelForSequenceClassification" if stage == "reward" else "AutoModelForCausalLM"
    if kind == "adapter":
        return (f"peft.PeftModel.from_pretrained(transformers.{auto}.from_pretrained(BASE), "
                "THIS_FOLDER), where BASE is base_path (or the base model named by base)")
    return f"transformers.{auto}.from_pretrained(THIS_FOLDER) and AutoTokenizer.from_pretrained(THIS_FOLDER)"
