"""Data formats: the named formats a file may be in, and detecting which one it is.

    detect_format  the format most of the first rows are in (names in FORMATS)

The canonical rows every stage and front end share (`workbench.data.convert` makes them):

    sft         {"messages": [...], "tools"?: [...]}   or   {"text": str}  (trained on all tokens)
    preference  {"prompt": [... ending with a user turn], "chosen": str, "rejected": str}
    unpaired    {"prompt": [...], "completion": str, "label": bool}
    prompts     {"prompt": [... ending with a user turn]}

Messages are {"role": "system"|"user"|"assistant"|"tool", "content": str} (+ "tool_calls").
"""

from __future__ import annotations

from collections import Counter

from workbench.data.validate import RowError

TASKS = ("sft", "preference", "unpaired", "prompts")

# Each format: the task its rows train, and the fields that identify it (shown to users whose
# file matches none). `row_format` below is the detection logic itself.
FORMATS = {
    "text": ("sft", "text"),
    "messages": ("sft", "messages (a list of role/content)"),
    "prompt_completion": ("sft", "prompt, completion"),
    "prompt_only": ("prompts", "prompt"),
    "preference": ("preference", "prompt, chosen, rejected"),
    "preference_implicit": ("preference", "chosen, rejected as message lists"),
    "hh_rlhf": ("preference", "chosen, rejected as '\\n\\nHuman: ... \\n\\nAssistant: ...' text"),
    "kto": ("unpaired", "prompt, completion, label (or messages, label)"),
    "alpaca": ("sft", "instruction, input, output"),
    "sharegpt": ("sft", "conversations (a list of from/value)"),
    "sharegpt_preference": ("preference", "conversations, chosen, rejected"),
}

DETECT_ROWS = 50  # rows looked at to name the format; enough to outvote a few odd rows


def row_format(row: dict) -> str | None:
    """The format one row's keys (and, where keys are shared, its values) say it is in."""
    if "conversations" in row:
        return "sharegpt_preference" if "chosen" in row and "rejected" in row else "sharegpt"
    if "chosen" in row and "rejected" in row:
        if "prompt" in row:
            return "preference"
        return "hh_rlhf" if isinstance(row["chosen"], str) else "preference_implicit"
    if "label" in row and ("completion" in row or "messages" in row):
        return "kto"
    if "messages" in row:
        return "messages"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if "prompt" in row:
        return "prompt_completion" if "completion" in row else "prompt_only"
    if "text" in row:
        return "text"
    return None


def detect_format(rows: list[dict]) -> str | None:
    """The format most of the first DETECT_ROWS rows are in; extra keys never matter."""
    votes = Counter(row_format(row) for row in rows[:DETECT_ROWS])
    votes.pop(None, None)
    return votes.most_common(1)[0][0] if votes else None


def unknown_format(objects: list[tuple[int, dict]]) -> RowError:
    known = "; ".join(f"{name} ({keys})" for name, (_, keys) in FORMATS.items())
    if not objects:
        return RowError(1, None, "no row is a JSON object, so no format applies; "
                                 f"known formats: {known}")
    seen = sorted({key for _, row in objects[:DETECT_ROWS] for key in row})
    shown = ", ".join(f"'{k}'" for k in seen[:12]) + (", ..." if len(seen) > 12 else "")
    return RowError(objects[0][0], None,
                    f"no known format has the fields {shown}; known formats: {known}")
