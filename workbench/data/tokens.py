"""What the model is trained on: a canonical row rendered through the chat template, tokenized,
with the label mask the trainer really uses.

`encode_row` is the one place that turns a row into `input_ids` and `assistant_masks`. The SFT
stage feeds its output to TRL (which builds `labels` from `assistant_masks`), and the token view
calls the same function, so what the user sees is what is trained.

The mask comes from rendering growing prefixes of the conversation: the text an assistant turn
adds after the generation prompt (its content and the end-of-turn token) is trained; everything
else (system, user, tool turns, the template's role headers) is masked. This works for any chat
template whose rendering of a prefix is a prefix of the whole, which is what generation relies on.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from workbench.errors import DataError


def row_messages(row: dict) -> tuple[list[dict] | None, bool]:
    """The conversation a canonical row stands for, and whether it ends in a generation prompt.

    sft rows are their messages; preference rows are the prompt plus the chosen answer (what SFT
    on that file, or the chosen side of DPO, learns); unpaired rows the prompt plus the completion;
    prompts rows end with a generation prompt. Plain `text` rows have no conversation (None).
    """
    if "messages" in row:
        return row["messages"], False
    if "text" in row:
        return None, False
    prompt = list(row.get("prompt") or [])
    if "chosen" in row:
        return prompt + [{"role": "assistant", "content": row["chosen"]}], False
    if "completion" in row:
        return prompt + [{"role": "assistant", "content": row["completion"]}], False
    return prompt, True


def render(tokenizer, messages: list[dict], *, add_generation_prompt: bool = False,
           tools: list | None = None) -> str:
    """The chat template's text for `messages`."""
    if not getattr(tokenizer, "chat_template", None):
        raise DataError("the tokenizer has no chat template, so a conversation cannot be rendered",
                        hint="Use a chat (instruct) model, or a plain `text` file for this model.")
    kwargs = {"tools": tools} if tools else {}
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=add_generation_prompt, **kwargs)


def _assistant_spans(tokenizer, messages: list[dict], tools: list | None) -> list[tuple[int, int]]:
    """Character spans [start, end) of the rendered text that assistant turns contribute."""
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(tokenizer, messages[:i], add_generation_prompt=True, tools=tools)
        through = render(tokenizer, messages[: i + 1], tools=tools)
        if not through.startswith(before):
            raise DataError("this model's chat template does not render conversations prefix by "
                            "prefix, so the assistant turns cannot be located",
                            hint="Train on the whole sequence (assistant_only_loss off).")
        # The newline a template puts after the end-of-turn token is not something to learn.
        end = len(through.rstrip("\n"))
        spans.append((len(before), max(end, len(before))))
    return spans


def encode_row(tokenizer, row: dict, *, assistant_only: bool = True) -> dict:
    """Token ids and the loss mask of one canonical row.

    Returns {"input_ids": list[int] (length T), "assistant_masks": list[int] (T values of 0/1)}:
    1 where the token is trained on. With `assistant_only=False` every token is trained on.
    Plain `text` rows are trained on every token, with the end-of-sequence token appended.
    """
    messages, generation_prompt = row_messages(row)
    if messages is None:
        ids = tokenizer(row["text"], add_special_tokens=True)["input_ids"]
        if tokenizer.eos_token_id is not None:
            ids = ids + [tokenizer.eos_token_id]
        return {"input_ids": ids, "assistant_masks": [1] * len(ids)}
    tools = row.get("tools")
    text = render(tokenizer, messages, add_generation_prompt=generation_prompt, tools=tools)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    if not assistant_only:
        return {"input_ids": ids, "assistant_masks": [1] * len(ids)}
    spans = _assistant_spans(tokenizer, messages, tools)
    mask = [int(any(start <= a and b <= end and b > a for start, end in spans))
            for a, b in offsets]
    return {"input_ids": ids, "assistant_masks": mask}


@dataclass
class Token:
    index: int
    id: int
    text: str
    trained: bool
    truncated: bool  # cut by max_length: the trainer never sees it


def token_view(tokenizer, row: dict, *, max_length: int | None = None,
               assistant_only: bool = True) -> dict:
    """Everything a front end needs to draw one row's tokens, cut as its trainer cuts it.

    Returns {"text": rendered template text, "tokens": [Token as dict], "n_tokens",
    "n_trained" (trained tokens that survive truncation), "max_length", "cut_at" (index of the
    first token a keep-the-start cut drops, or None), "cut_before" (how many tokens a preference
    stage drops from the start of the prompt; 0 when none), "left_out" (the preference stages
    leave this row out: an answer alone does not fit), "longest_answer" (tokens of a preference or
    unpaired row's longest answer, or None)}.

    SFT rows keep their start, as the SFT stage does. Preference and unpaired rows are cut as the
    reward, DPO and KTO stages cut them (`cut_prompt`): the prompt loses tokens from its start and
    the answers stay whole. A preference row shows the prompt and the chosen answer; the cut also
    makes room for the rejected answer when that is the longer one.
    """
    messages, generation_prompt = row_messages(row)
    text = row["text"] if messages is None else render(
        tokenizer, messages, add_generation_prompt=generation_prompt, tools=row.get("tools"))
    encoded = encode_row(tokenizer, row, assistant_only=assistant_only)
    ids, mask = encoded["input_ids"], encoded["assistant_masks"]
    cut_at, cut_before, left_out, longest = None, 0, False, None
    parts = answer_parts(tokenizer, row) if max_length is not None else None
    if parts is not None:
        prompt_ids, answers = parts
        longest = max(len(answer) for answer in answers)
        kept = cut_prompt(prompt_ids, answers, max_length)
        left_out = kept is None
        cut_before = len(ids) if left_out else len(prompt_ids) - len(kept)
    elif max_length is not None and len(ids) > max_length:
        cut_at = max_length
    pieces = [tokenizer.decode([token_id]) for token_id in ids]
    tokens = [Token(i, token_id, piece, bool(m), i < cut_before or (cut_at is not None and i >= cut_at))
              for i, (token_id, piece, m) in enumerate(zip(ids, pieces, mask))]
    return {
        "text": text,
        "tokens": [t.__dict__ for t in tokens],
        "n_tokens": len(ids),
        "n_trained": sum(1 for t in tokens if t.trained and not t.truncated),
        "max_length": max_length,
        "cut_at": cut_at,
        "cut_before": cut_before,
        "left_out": left_out,
        "longest_answer": longest,
    }


def length_stats(tokenizer, rows: list[dict], *, max_length: int | None = None) -> dict:
    """Token lengths over a file: {"rows", "min", "median", "p95", "max", "truncated_rows",
    "untrained_after_truncation", "pairs_cut", "pairs_dropped", "lengths"}.

    A row's length is its whole rendered conversation (for a preference row, the prompt and the
    chosen answer). truncated_rows counts the rows max_length cuts or leaves out, however the
    trainer cuts them; untrained_after_truncation the rows left with no trained token. For
    preference and unpaired rows, cut as the reward, DPO and KTO stages cut them (`cut_prompt`),
    pairs_cut counts those whose prompt loses its start and pairs_dropped those left out.
    """
    lengths, cut, empty_after_cut, pairs_cut, pairs_dropped = [], 0, 0, 0, 0
    for row in rows:
        encoded = encode_row(tokenizer, row)
        lengths.append(len(encoded["input_ids"]))
        parts = answer_parts(tokenizer, row) if max_length else None
        if parts is not None:
            prompt_ids, answers = parts
            kept = cut_prompt(prompt_ids, answers, max_length)
            pairs_dropped += kept is None
            pairs_cut += kept is not None and len(kept) < len(prompt_ids)
        elif max_length:
            cut += len(encoded["input_ids"]) > max_length
            empty_after_cut += not any(encoded["assistant_masks"][:max_length])
        else:
            empty_after_cut += not any(encoded["assistant_masks"])
    if not lengths:
        return {"rows": 0}
    ordered = sorted(lengths)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {
        "rows": len(lengths),
        "min": ordered[0],
        "median": statistics.median(ordered),
        "p95": p95,
        "max": ordered[-1],
        "max_length": max_length,
        "truncated_rows": cut + pairs_cut + pairs_dropped,
        "untrained_after_truncation": empty_after_cut + pairs_dropped,
        "pairs_cut": pairs_cut,
        "pairs_dropped": pairs_dropped,
        "lengths": lengths,
    }


def encode_prompt(tokenizer, prompt: list[dict]) -> list[int]:
    """Token ids of a prompt conversation followed by the generation prompt (what a model answers)."""
    text = render(tokenizer, prompt, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_answer(tokenizer, prompt: list[dict], answer: str) -> tuple[list[int], list[int]]:
    """(prompt_ids, answer_ids) for one answer to a prompt, cut where the chat template puts them.

    answer_ids run from the first token after the generation prompt to the end-of-turn token
    included, which is what preference training scores and what generation would produce.
    """
    encoded = encode_row(tokenizer, {"prompt": prompt, "completion": answer})
    ids, mask = encoded["input_ids"], encoded["assistant_masks"]
    prompt_ids = encode_prompt(tokenizer, prompt)
    if ids[: len(prompt_ids)] != prompt_ids:
        # Rare: a merge across the prompt/answer boundary. Fall back to the mask's boundary.
        first = len(ids) - 1 - mask[::-1].index(0) if 0 in mask else 0
        prompt_ids = ids[: first + 1]
    last_trained = max((i for i, m in enumerate(mask) if m), default=len(ids) - 1)
    return prompt_ids, ids[len(prompt_ids): last_trained + 1]


def encode_preference(tokenizer, row: dict) -> dict:
    """{"prompt_ids", "chosen_ids", "rejected_ids"} of a canonical preference row (TRL's columns)."""
    prompt_ids, chosen_ids = encode_answer(tokenizer, row["prompt"], row["chosen"])
    _, rejected_ids = encode_answer(tokenizer, row["prompt"], row["rejected"])
    return {"prompt_ids": prompt_ids, "chosen_ids": chosen_ids, "rejected_ids": rejected_ids}


# ---------------------------------------------------------------- cutting preference rows to max_length

def cut_prompt(prompt_ids: list[int], answers: list[list[int]], max_length: int | None) -> list[int] | None:
    """The prompt tokens the reward, DPO and KTO stages keep so that the prompt and each answer fit
    in max_length tokens, or None when the row cannot fit.

    prompt_ids: the prompt through the generation prompt (P ids). answers: each answer scored after
    that prompt (a preference row's chosen and rejected, an unpaired row's completion). Returns
    the last max_length - (longest answer) prompt ids, or all P when they fit; the answers are
    never cut. This is TRL's `keep_end` truncation (dpo_trainer.py, DataCollatorForPreference)
    with one difference: TRL cuts prompt+chosen and prompt+rejected separately, so the two sides of
    a pair can see different contexts; here both answers follow the same prompt.

    Why answers stay whole: the preference is a judgement of the whole answers, and what decides
    it (a wrong ending, a rambling tail) is often at the end, which cutting an answer's end
    (`keep_start`) loses; TRL's `keep_end` instead keeps the answer's end without its start or any
    prompt. So a row whose longest answer leaves no room for at least one prompt token is None:
    a causal LM scores token t from position t-1, so an answer with no token before it would have
    its first token unscored. Also None: a row with an empty answer (nothing to learn from).
    """
    if any(not answer for answer in answers):
        return None
    if max_length is None:
        return list(prompt_ids)
    room = max_length - max(len(answer) for answer in answers)
    if room < 1 or not prompt_ids:
        return None
    return list(prompt_ids[-room:])


def answer_parts(tokenizer, row: dict) -> tuple[list[int], list[list[int]]] | None:
    """(prompt_ids, [answer ids]) of a preference or unpaired row as its stage trains it; None for
    other rows.

    A preference row is split by `encode_preference` (what the reward and DPO stages train: each
    answer through its end-of-turn token). An unpaired row is split as TRL's KTOTrainer tokenizes
    it: the completion is everything the whole conversation adds after the prompt's tokens.
    """
    if "chosen" in row and "rejected" in row:
        pair = encode_preference(tokenizer, row)
        return pair["prompt_ids"], [pair["chosen_ids"], pair["rejected_ids"]]
    if "completion" in row and "prompt" in row:
        ids = encode_row(tokenizer, row)["input_ids"]
        prompt_ids = encode_prompt(tokenizer, row["prompt"])
        shared = next((i for i, (a, b) in enumerate(zip(prompt_ids, ids)) if a != b),
                      min(len(prompt_ids), len(ids)))
        return ids[:shared], [ids[shared:]]
    return None


def encode_preference_rows(tokenizer, rows: list[dict], max_length: int | None) -> tuple[list[dict], int, int]:
    """(pairs, cut, dropped): each row's `encode_preference` ids with its prompt cut by `cut_prompt`,
    how many prompts were cut, and how many rows cannot fit (left out of pairs)."""
    pairs, cut, dropped = [], 0, 0
    for row in rows:
        pair = encode_preference(tokenizer, row)
        kept = cut_prompt(pair["prompt_ids"], [pair["chosen_ids"], pair["rejected_ids"]], max_length)
        if kept is None:
            dropped += 1
            continue
        cut += len(kept) < len(pair["prompt_ids"])
        pairs.append({**pair, "prompt_ids": kept})
    return pairs, cut, dropped
