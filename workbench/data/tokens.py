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

import html
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
    truncated: bool  # beyond max_length: the trainer never sees it


def token_view(tokenizer, row: dict, *, max_length: int | None = None,
               assistant_only: bool = True) -> dict:
    """Everything a front end needs to draw one row's tokens.

    Returns {"text": rendered template text, "tokens": [Token as dict], "n_tokens",
    "n_trained" (trained tokens that survive truncation), "max_length", "cut_at" (index of the
    first token truncation drops, or None)}. Truncation keeps the start, as the trainer does.
    """
    messages, generation_prompt = row_messages(row)
    text = row["text"] if messages is None else render(
        tokenizer, messages, add_generation_prompt=generation_prompt, tools=row.get("tools"))
    encoded = encode_row(tokenizer, row, assistant_only=assistant_only)
    ids, mask = encoded["input_ids"], encoded["assistant_masks"]
    cut_at = max_length if max_length is not None and len(ids) > max_length else None
    pieces = [tokenizer.decode([token_id]) for token_id in ids]
    tokens = [Token(i, token_id, piece, bool(m), cut_at is not None and i >= cut_at)
              for i, (token_id, piece, m) in enumerate(zip(ids, pieces, mask))]
    return {
        "text": text,
        "tokens": [t.__dict__ for t in tokens],
        "n_tokens": len(ids),
        "n_trained": sum(1 for t in tokens if t.trained and not t.truncated),
        "max_length": max_length,
        "cut_at": cut_at,
    }


# ---------------------------------------------------------------- drawing a token view as HTML
# The GUI's Tokenization tab and the Jupyter token viewer draw the same chips from here.

MAX_CHIPS = 2000  # a browser draws a few thousand spans comfortably; longer rows are summarised

TOKEN_CSS = """
.tok-legend { display: flex; gap: 8px; margin-bottom: 8px; font-size: 0.85em; }
.tok-chips { display: flex; flex-wrap: wrap; gap: 6px 3px; font-family: ui-monospace, monospace; font-size: 0.85em;
             line-height: 1.2; }
.tok { display: inline-flex; flex-direction: column; align-items: center; padding: 2px 4px; border-radius: 4px;
       border: 1px solid transparent; white-space: pre; }
.tok sub { font-size: 0.7em; opacity: 0.65; }
.tok.trained { background: #bbf7d0; border-color: #16a34a; color: #052e16; font-weight: 600; }
.tok.masked { background: #f3f4f6; border-color: #d1d5db; color: #6b7280; }
.tok.truncated { background: #fee2e2; border-color: #fca5a5; color: #9ca3af; text-decoration: line-through; }
.tok-cut { align-self: stretch; padding: 2px 6px; border-left: 3px solid #dc2626; color: #dc2626; font-weight: 700; }
.tok-more { color: #6b7280; font-style: italic; padding: 2px 6px; }
"""

LEGEND = ('<div class="tok-legend"><span class="tok trained">trained</span>'
          '<span class="tok masked">masked (no loss)</span>'
          '<span class="tok masked truncated">cut by max_length</span></div>')


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def chip_text(text: str) -> str:
    """Make whitespace visible: a space is a middle dot, a newline a return arrow."""
    return _esc(text.replace(" ", "·").replace("\n", "↵").replace("\t", "→")) or "∅"


def chips_html(view: dict, limit: int = MAX_CHIPS) -> str:
    """The token chips of a `token_view` result, with a cut marker at `view["cut_at"]`.

    Styled by the classes in TOKEN_CSS (trained, masked, truncated), which the page supplies.
    """
    parts = [LEGEND, '<div class="tok-chips">']
    for token in view["tokens"][:limit]:
        if view["cut_at"] is not None and token["index"] == view["cut_at"]:
            parts.append(f'<span class="tok-cut" title="the trainer never sees what follows">'
                         f'✂ max_length {view["max_length"]}</span>')
        kind = "trained" if token["trained"] else "masked"
        if token["truncated"]:
            kind += " truncated"
        title = f"#{token['index']} id {token['id']} · {'trained' if token['trained'] else 'masked'}"
        parts.append(f'<span class="tok {kind}" title="{_esc(title)}">'
                     f'<span class="tok-text">{chip_text(token["text"])}</span>'
                     f'<sub class="tok-id">{token["id"]}</sub></span>')
    if len(view["tokens"]) > limit:
        parts.append(f'<span class="tok-more">… {len(view["tokens"]) - limit} more tokens</span>')
    parts.append("</div>")
    return "".join(parts)


def length_stats(tokenizer, rows: list[dict], *, max_length: int | None = None) -> dict:
    """Token lengths over a file: {"rows", "min", "median", "p95", "max", "truncated_rows",
    "untrained_after_truncation"} (the last counts rows left with no trained token once cut)."""
    lengths, empty_after_cut = [], 0
    for row in rows:
        encoded = encode_row(tokenizer, row)
        lengths.append(len(encoded["input_ids"]))
        kept = encoded["assistant_masks"][:max_length] if max_length else encoded["assistant_masks"]
        empty_after_cut += not any(kept)
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
        "truncated_rows": sum(n > max_length for n in lengths) if max_length else 0,
        "untrained_after_truncation": empty_after_cut,
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
