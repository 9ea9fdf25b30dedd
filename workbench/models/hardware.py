"""Pick device, precision and training method from the machine, and say why.

The defaults of the usual recipes (bf16, QLoRA, gradient checkpointing) are right for a GPU and
badly wrong for a laptop CPU: on a CPU without native bf16 a bf16 matrix product is about 200x
slower than fp32, and 4-bit QLoRA about 16x slower than fp32 LoRA (see FINDINGS.md); on a CPU
with AVX-512 BF16 (and AMX) bf16 is 2.5-3x faster than fp32. So the choice is made here, once,
and the reason is a sentence the front ends show.

Precision is a setting as well as a detection: `precision` "fp32" or "bf16" overrides the
machine's choice, "auto" (or None) takes $WORKBENCH_PRECISION when set, else the machine's.
Whatever the precision, the numbers that decide what a model learns or scores (PPO's
log-probabilities, ratios and values, reward heads, merged weights) are computed in fp32; the
matrix products of the body run in the chosen dtype.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")
METHODS = ("lora", "qlora", "full")  # how a stage trains: a LoRA adapter, one on a 4-bit base, every weight
PEFT_METHODS = ("lora", "qlora")  # the methods whose output is an adapter
PRECISION_ENV = "WORKBENCH_PRECISION"
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}  # precision -> torch dtype name

# CPU flags (Linux /proc/cpuinfo) that mean bf16 matrix work runs in hardware.
# x86: AVX-512 BF16 or AMX; Arm: the "bf16" feature (Neoverse V1/N2, Graviton 3, ...).
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


@dataclass
class Hardware:
    """What to train on and how.

    device: "cuda" | "mps" | "cpu".
    dtype: "float32" | "bfloat16" | "float16", the dtype weights load in and compute runs in.
    precision: the same as a setting's name: "fp32" | "bf16" | "fp16".
    chosen: "auto" when the machine chose the precision, else where the choice came from
        ("setting" or the environment variable's name).
    default_method: "qlora" on CUDA, "lora" elsewhere.
    gradient_checkpointing: trade compute for memory; only worth it where memory is the limit (GPU).
    bf16_native: the device runs bf16 matrix work in hardware.
    reason: one or two sentences for the UI.
    micro_batch: rows per forward pass in the stages that pad rows to one length (reward, DPO, KTO);
        the rest of a batch comes from gradient accumulation.
    sft_micro_batch, forward_tokens: SFT runs padding-free (a pass's rows are concatenated, each
        attending only to itself); a pass holds up to sft_micro_batch rows, and no more than fit
        forward_tokens tokens at max_length.
    packing: pack rows into one padding-free sequence (worth it only with varlen attention).
    """

    device: str
    dtype: str
    default_method: str
    gradient_checkpointing: bool
    bf16_native: bool
    reason: str
    micro_batch: int = 4
    sft_micro_batch: int = 8
    forward_tokens: int = 16384
    packing: bool = True
    chosen: str = "auto"

    @property
    def precision(self) -> str:
        return {v: k for k, v in DTYPES.items()}[self.dtype]

    def to_dict(self) -> dict:
        return asdict(self)


def detect_hardware(precision: str | None = None) -> Hardware:
    """Inspect this machine (CUDA first, then Apple MPS, then the CPU) and apply the precision
    asked for: "fp32" | "bf16", or "auto" / None for $WORKBENCH_PRECISION, else the machine's
    choice. Raises ConfigError for an unknown precision."""
    import torch

    if torch.cuda.is_available():
        hardware = _cuda_hardware(torch)
    else:
        mps = getattr(torch.backends, "mps", None)
        hardware = _mps_hardware() if mps is not None and mps.is_available() else _cpu_hardware(torch)
    wanted, chosen = requested_precision(precision)
    if wanted == "auto":
        return hardware
    return with_precision(hardware, wanted, chosen)


def requested_precision(precision: str | None = None) -> tuple[str, str]:
    """(precision, where it came from): the argument unless it is "auto" or None, then
    $WORKBENCH_PRECISION, then "auto". Raises ConfigError naming the bad value and its source."""
    import os

    from workbench.errors import ConfigError
    source = "setting"
    value = (precision or "auto").strip().lower()
    if value == "auto" and os.environ.get(PRECISION_ENV, "").strip():
        value, source = os.environ[PRECISION_ENV].strip().lower(), PRECISION_ENV
    if value not in PRECISIONS:
        where = f"${PRECISION_ENV}" if source == PRECISION_ENV else "precision"
        raise ConfigError(f"{where} must be one of {', '.join(PRECISIONS)}, not '{value}'.",
                          hint="auto lets the machine choose: bf16 where it runs bf16 in hardware, "
                               "else fp32.")
    return value, source


def with_precision(hardware: Hardware, precision: str, chosen: str = "setting") -> Hardware:
    """`hardware` computing in `precision` ("fp32" | "bf16") instead of its own choice, with a
    reason that says so (and warns when bf16 has no hardware support here)."""
    import dataclasses

    dtype = DTYPES[precision]
    if dtype == hardware.dtype:
        return dataclasses.replace(hardware, chosen=chosen)
    if precision == "bf16" and not hardware.bf16_native:
        note = ("bf16 as asked, although this device has no bf16 matrix instructions: it is "
                "emulated, and on a CPU about 100-200x slower than fp32 (fine for a tiny model).")
    else:
        note = f"{precision} as asked, instead of this machine's {hardware.precision}."
    return dataclasses.replace(hardware, dtype=dtype, chosen=chosen,
                               reason=f"{hardware.reason} Precision: {note}")


def precision_choices(hardware: Hardware | None = None) -> list[tuple[str, str]]:
    """(label, value) of each precision a front end offers, "auto" labelled with what it means
    here (the machine's choice, or $WORKBENCH_PRECISION's)."""
    auto = (hardware or detect_hardware()).precision
    choices = [(f"auto: {auto} on this machine", "auto"), ("fp32", "fp32"), ("bf16", "bf16")]
    if auto not in PRECISIONS:  # fp16, on a GPU without bf16: a run's config may say so
        choices.append((auto, auto))
    return choices


def describe_precision(hardware: Hardware) -> str:
    """One line for `models list` and the front ends: what computes in which precision, and why."""
    origin = ("chosen for this machine" if hardware.chosen == "auto"
              else f"set by {'$' + PRECISION_ENV if hardware.chosen == PRECISION_ENV else 'the setting'}")
    return (f"precision {hardware.precision}, {origin}; bf16 in hardware here: "
            f"{'yes' if hardware.bf16_native else 'no'}. PPO's log-probabilities and values, reward "
            "heads and merged exports are computed in fp32 either way.")


def _cuda_hardware(torch) -> Hardware:
    name = torch.cuda.get_device_name(0)
    bf16 = bool(torch.cuda.is_bf16_supported())
    dtype = "bfloat16" if bf16 else "float16"
    precision = "bf16" if bf16 else "fp16 (this GPU has no bf16)"
    return Hardware(
        device="cuda",
        dtype=dtype,
        default_method="qlora",
        gradient_checkpointing=True,
        bf16_native=bf16,
        reason=(f"CUDA GPU ({name}): training in {precision} with QLoRA (4-bit base weights) "
                "and gradient checkpointing, so memory is the only limit that matters."),
    )


def _mps_hardware() -> Hardware:
    # fp16 without a loss scaler is fragile and bitsandbytes has no MPS kernels: fp32 LoRA is the
    # combination that trains reliably on Apple GPUs; unified memory makes checkpointing moot.
    return Hardware(
        device="mps",
        dtype="float32",
        default_method="lora",
        gradient_checkpointing=False,
        bf16_native=False,
        reason=("Apple GPU (MPS): training in fp32 with LoRA; bf16/fp16 without loss scaling is "
                "unreliable there, and 4-bit QLoRA (bitsandbytes) has no MPS kernels."),
    )


def _cpu_hardware(torch) -> Hardware:
    bf16 = cpu_has_native_bf16()
    capability = _cpu_capability(torch)
    if bf16:
        reason = (f"CPU with native bf16 ({capability}): training in bf16 with LoRA; QLoRA (4-bit) "
                  "would cut memory ~3x but is much slower on a CPU.")
    else:
        reason = (f"CPU without native bf16 ({capability}; bf16 matmul is ~200x slower here): "
                  "training in fp32 with LoRA; QLoRA (4-bit) would cut memory ~3x but is ~16x "
                  "slower on CPU.")
    return Hardware(
        device="cpu",
        dtype="bfloat16" if bf16 else "float32",
        default_method="lora",
        # On a CPU the step time is the limit, not memory; recomputing activations costs ~30%.
        gradient_checkpointing=False,
        bf16_native=bf16,
        reason=reason + (" SFT puts two rows in each forward pass, without padding: bigger matrix "
                         "products, ~1.6x the tokens/s of one row at a time; reward and DPO, which "
                         "pad, run one row per pass (KTO two: its KL estimate pairs the rows of a pass)."),
        # Measured on SmolLM2-135M LoRA (batch 4, max_length 256): 1 row a pass 88 tok/s and 1.6 GB
        # peak, 2 rows 146 tok/s and 1.9 GB, 4 rows 148 tok/s and 2.3 GB. Activations cost ~1.2 MB
        # a token in fp32, so two rows keep nearly all the speed under 2 GB. Rows in one pass
        # attend through a dense block-diagonal mask on a CPU (no varlen kernels): quadratic in
        # the pass's tokens, hence the cap of 4096. Padded stages run one row at a time.
        micro_batch=1,
        sft_micro_batch=2,
        forward_tokens=4096,
        packing=False,
    )


def _cpu_capability(torch) -> str:
    """torch's SIMD level ("AVX2", "AVX512", ...); it does not say whether bf16 is native."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # older torch
        return "unknown SIMD"


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU flags list a bf16 matrix instruction set. False where unknown (macOS,
    Windows): fp32 is never the slow choice, bf16 without hardware support is."""
    return bool(bf16_flags(cpuinfo))


def bf16_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """The bf16 matrix flags this CPU lists (avx512_bf16, amx_bf16, Arm's bf16); [] where none or
    unknown."""
    return [flag for flag in _BF16_CPU_FLAGS if flag in _cpu_info(cpuinfo)[1]]


def cpu_kind(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU in the words that decide the precision, for benchmarks and reports: its model name,
    torch's SIMD level and the bf16 flags, e.g. "AMD EPYC 9R14; AVX512; bf16 flags: avx512_bf16"."""
    import torch
    name, _ = _cpu_info(cpuinfo)
    flags = bf16_flags(cpuinfo)
    return (f"{name or 'unknown CPU'}; {_cpu_capability(torch)}; "
            f"bf16 flags: {', '.join(flags) if flags else 'none'}")


def _cpu_info(cpuinfo: Path) -> tuple[str, set[str]]:
    """(model name, flags) from /proc/cpuinfo; ("", set()) where it cannot be read."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return "", set()
    name, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("flags", "features"):
            flags.update(value.split())
        elif key == "model name" and not name:
            name = value.strip()
    return name, flags
