"""Answers decoded token by token for many rows at once: one forward pass a token for all of them.

A 135M model on a CPU spends a decode step reading its weights (about 270 MB in bf16), whether the
pass holds one row or three. So the answers of several variants of one base (Compare's columns,
the Feedback tab's two answers) cost about one answer when they share the passes: each row names
its PEFT adapter ("__base__" runs a row with the adapters off), every LoRA layer runs all the rows'
adapters at once (`_adapters`), and every row draws from its own generator seeded with its own seed.

A row's answer is the one `workbench.models.sampling.generate` gives it alone at the same seed:
the same processors (transformers' TemperatureLogitsWarper and TopPLogitsWarper on fp32 logits),
the same draw (`torch.multinomial` on a generator seeded as `torch.manual_seed(seed)` seeds the
global one). tests/test_decode.py checks the tokens against that path.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in a mixed batch


@dataclass
class Row:
    """One answer to decode. prompt_ids: the prompt's token ids; seed: its sampling seed;
    adapter: the PEFT adapter it runs with (BASE_ADAPTER for none), None when the model has none."""

    prompt_ids: list[int]
    seed: int = 0
    adapter: str | None = None


def decode(model, rows: list[Row], *, temperature: float, top_p: float, max_new_tokens: int,
           eos_token_id, pad_token_id: int, on_token: Callable[[int, int], None] | None = None,
           should_stop: Callable[[], bool] | None = None) -> list[list[int]]:
    """Each row's new token ids (its end-of-turn token included when it ended by itself).

    temperature 0 is greedy. eos_token_id: an id or a list of ids that end a row. on_token(row,
    token_id) is called for every token as it is chosen (a stream); should_stop() is asked after
    each step, and True ends every row there (an abandoned stream).
    """
    import torch
    from transformers import DynamicCache, LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    from workbench.models.batch import padded

    ends = set(eos_token_id if isinstance(eos_token_id, (list, tuple)) else [eos_token_id])
    warpers = LogitsProcessorList()
    if temperature > 0:
        warpers.append(TemperatureLogitsWarper(temperature))
        if top_p < 1:
            warpers.append(TopPLogitsWarper(top_p))
    generators = [torch.Generator().manual_seed(row.seed) for row in rows]
    device = next(model.parameters()).device
    ids, mask = padded([row.prompt_ids for row in rows], pad_token_id, left=True)
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
    answers: list[list[int]] = [[] for _ in rows]
    done = [False] * len(rows)
    adapters = [row.adapter or BASE_ADAPTER for row in rows] if any(row.adapter for row in rows) else None
    with torch.no_grad(), _adapters(model, adapters) as extra:
        for _ in range(max_new_tokens):
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache,
                           use_cache=True, logits_to_keep=1, **extra).logits[:, -1].float()
            chosen = []
            for i, row_logits in enumerate(logits):
                if done[i]:
                    chosen.append(pad_token_id)
                    continue
                token = _choose(row_logits[None], warpers, generators[i], temperature)
                answers[i].append(token)
                done[i] = token in ends
                chosen.append(token)
                if on_token is not None:
                    on_token(i, token)
            if all(done) or (should_stop is not None and should_stop()):
                break
            ids = torch.tensor(chosen, device=device)[:, None]
            mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
            positions = positions[:, -1:] + 1
    return answers


@contextmanager
def _adapters(model, names: list[str] | None):
    """The forward arguments that run each row with its adapter (names: one per row, or None for a
    model without adapters).

    Where every LoRA layer is a plain one (`peft.tuners.lora.Linear`, no DoRA or other variant),
    each layer runs for the pass as base(x) + ((x A^T) * mask) B^T, with A the used adapters'
    A matrices stacked, B theirs side by side, and mask (rows, 1, ranks) each row's own adapter's
    scaling in its slots, zero elsewhere: two matrix products a layer whatever the rows and
    adapters, where PEFT's mixed batch runs a sub-batch per adapter (x indexed, two products, an
    indexed add). Measured 2026-12-03 on SmolLM2-135M with r=16 adapters on every linear layer, bf16,
    2 cores: three rows with three variants took 105 ms a token this way, 191 ms through PEFT's
    mixed batch, and one row with one adapter 107 ms through PEFT's own path. Elsewhere PEFT's
    mixed batch (`adapter_names`) does it.
    """
    from peft.tuners.lora import Linear as LoraLinear
    from peft.tuners.tuners_utils import BaseTunerLayer

    if names is None:
        yield {}
        return
    layers = [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
    plain = all(isinstance(m, LoraLinear) and not m.lora_variant and not m.merged for m in layers)
    if not plain:
        yield {"adapter_names": names}
        return
    for layer in layers:
        layer.forward = _stacked_forward(layer, names)
    try:
        yield {}
    finally:
        for layer in layers:
            del layer.forward  # back to the class's own forward


def _stacked_forward(layer, names: list[str]):
    """One LoRA layer's forward for rows that each name their adapter (see `_adapters`), following
    `peft.tuners.lora.Linear.forward`: the input cast to the adapter's dtype, the sum cast back to
    the base layer's output dtype. Rows whose adapter is not in this layer add nothing."""
    import torch
    used = [name for name in dict.fromkeys(names) if name in layer.lora_A]
    if not used:
        return lambda x, *args, **kwargs: layer.base_layer(x, *args, **kwargs)
    stacked_a = torch.cat([layer.lora_A[name].weight for name in used])          # (ranks, in)
    stacked_b = torch.cat([layer.lora_B[name].weight for name in used], dim=1)   # (out, ranks)
    mask = stacked_a.new_zeros((len(names), 1, stacked_a.shape[0]))
    offsets, start = {}, 0
    for name in used:
        offsets[name] = (start, start + layer.lora_A[name].weight.shape[0])
        start = offsets[name][1]
    for row, name in enumerate(names):
        if name in offsets:
            mask[row, 0, slice(*offsets[name])] = layer.scaling[name]

    def forward(x, *args, **kwargs):
        result = layer.base_layer(x, *args, **kwargs)
        low_rank = (x.to(stacked_a.dtype) @ stacked_a.T) * mask
        return (result + low_rank @ stacked_b.T).to(result.dtype)

    return forward


def _choose(logits, warpers, generator, temperature: float) -> int:
    """The next token from one row's (1, V) fp32 logits: the argmax when greedy, else a draw from
    softmax(warped logits) on the row's own generator."""
    import torch
    if temperature <= 0:
        return int(logits.argmax(-1))
    scores = warpers(None, logits)
    return int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator))
