"""Converting rows: one source row in a named format -> the canonical row of its task.

    convert_row    one source row -> the canonical row (raises RowProblem, which names the field)

The canonical rows are listed in `workbench.data.formats`; the checks each one passes are in
`workbench.data.validate`.
"""

from __future__ import annotations

import json
import re

from workbench.data.validate import (
    ROLES, RowProblem, Turns, check_label, check_length, check_pair, check_prompt, check_sft, check_text,
    kind,
)


def convert_row(fmt: str, row: dict, *, max_chars: int = 20000) -> dict:
    """One source row in format `fmt` -> its canonical row; raises RowProblem."""
    canonical = _CONVERTERS[fmt](row)
    check_length(canonical, max_chars)
    return canonical


def _require(row: dict, *names: str) -> None:
    for name in names:
        if name not in row:
            raise RowProblem(name, f"missing required field '{name}'")


def _message(item, at: str, role_key: str = "role", content_key: str = "content",
             roles: dict | None = None) -> dict:
    """One message object -> {"role", "content"(, "tool_calls")}; `roles` renames speakers."""
    if not isinstance(item, dict):
        raise RowProblem(at, f"expected an object with '{role_key}' and '{content_key}', "
                             f"got {kind(item)}")
    if role_key not in item:
        raise RowProblem(f"{at}.{role_key}", f"missing required field '{role_key}'")
    known = roles or {r: r for r in ROLES}
    speaker = item[role_key]
    if not isinstance(speaker, str) or speaker not in known:
        raise RowProblem(f"{at}.{role_key}", f"unknown role {speaker!r}; expected one of "
                                             f"{', '.join(known)}")
    if speaker == "function_call":  # ShareGPT's tool call: JSON text of {"name", "arguments"}
        return _tool_call_message(item.get(content_key), f"{at}.{content_key}")
    message = {"role": known[speaker]}
    tool_calls = item.get("tool_calls")
    if tool_calls and not item.get(content_key):
        message["content"] = ""  # an assistant turn that only calls a tool
    elif content_key not in item:
        raise RowProblem(f"{at}.{content_key}", f"missing required field '{content_key}'")
    else:
        message["content"] = check_text(item[content_key], f"{at}.{content_key}")
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _tool_call_message(value, at: str) -> dict:
    text = check_text(value, at)
    try:
        calls = json.loads(text)
    except json.JSONDecodeError:
        return {"role": "assistant", "content": text}  # free-text call: keep it readable
    calls = calls if isinstance(calls, list) else [calls]
    if not all(isinstance(c, dict) and "name" in c for c in calls):
        return {"role": "assistant", "content": text}
    return {"role": "assistant", "content": "",
            "tool_calls": [{"type": "function", "function": c} for c in calls]}


def _messages(value, at: str, **keys) -> Turns:
    """A list of message objects -> Turns, each remembering its role field for errors."""
    if not isinstance(value, list):
        raise RowProblem(at, f"expected a list of messages, got {kind(value)}")
    turns = Turns()
    role_key = keys.get("role_key", "role")
    for i, item in enumerate(value):
        turns.add(_message(item, f"{at}[{i}]", **keys), f"{at}[{i}].{role_key}")
    return turns


def _prompt(value, at: str) -> Turns:
    """A prompt is a user's text or a list of messages."""
    if isinstance(value, str):
        return Turns([{"role": "user", "content": check_text(value, at)}], [at])
    return _messages(value, at)


def _completion(value, at: str) -> Turns:
    """A completion is the assistant's text, one message, or a list of messages."""
    if isinstance(value, str):
        return Turns([{"role": "assistant", "content": check_text(value, at)}], [at])
    return _messages([value] if isinstance(value, dict) else value, at)


def _answer(value, at: str, prompt: Turns) -> str:
    """A final assistant answer as a string, from text, one message, or a message list."""
    if isinstance(value, str):
        return check_text(value, at)
    messages = _completion(value, at).messages
    # Some conversational files repeat the prompt turns in front of each answer.
    n = len(prompt.messages)
    if len(messages) > n and messages[:n] == prompt.messages:
        messages = messages[n:]
    if len(messages) != 1 or messages[0]["role"] != "assistant":
        got = ", ".join(f"'{m['role']}'" for m in messages) or "nothing"
        raise RowProblem(at, f"expected one 'assistant' answer after the prompt, got {got}")
    return check_text(messages[0]["content"], at)


def _with_tools(canonical: dict, row: dict) -> dict:
    tools = row.get("tools")
    if tools in (None, "", []):
        return canonical
    if isinstance(tools, str):  # LLaMA-Factory stores tools as JSON text
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError as e:
            raise RowProblem("tools", f"expected a list of tool definitions, got text that is "
                                      f"not JSON ({e.msg})") from None
    if not isinstance(tools, list):
        raise RowProblem("tools", f"expected a list of tool definitions, got {kind(tools)}")
    return {**canonical, "tools": tools}


def _shared_prompt(chosen: Turns, rejected: Turns) -> dict:
    """Implicit prompt: both conversations agree up to their final assistant answers."""
    for side, turns in (("chosen", chosen), ("rejected", rejected)):
        if turns.last_role() != "assistant":
            raise RowProblem(side, "expected the conversation to end with an 'assistant' "
                                   f"answer, got {_last(turns)}")
    prompt = chosen.head(-1)
    if rejected.messages[:-1] != prompt.messages:
        pairs = zip(prompt.messages, rejected.messages[:-1])
        turn = next((i for i, (a, b) in enumerate(pairs) if a != b),
                    min(len(prompt.messages), len(rejected.messages) - 1)) + 1
        raise RowProblem("rejected", f"differs from 'chosen' before the final answer (at turn "
                                     f"{turn}); expected the same conversation with a different "
                                     "last answer")
    check_prompt(prompt, "chosen")
    return _pair(prompt, check_text(chosen.messages[-1]["content"], "chosen"),
                 check_text(rejected.messages[-1]["content"], "rejected"))


def _last(turns: Turns) -> str:
    return f"'{turns.last_role()}'" if turns.messages else "nothing"


def _pair(prompt: Turns, chosen: str, rejected: str) -> dict:
    check_pair(chosen, rejected)
    return {"prompt": prompt.messages, "chosen": chosen, "rejected": rejected}


def _from_text(row: dict) -> dict:
    _require(row, "text")
    return {"text": check_text(row["text"], "text")}


def _from_messages(row: dict) -> dict:
    _require(row, "messages")
    turns = _messages(row["messages"], "messages")
    check_sft(turns, "messages")
    return _with_tools({"messages": turns.messages}, row)


def _from_prompt_completion(row: dict) -> dict:
    _require(row, "prompt", "completion")
    turns = _prompt(row["prompt"], "prompt") + _completion(row["completion"], "completion")
    check_sft(turns, "completion")
    return _with_tools({"messages": turns.messages}, row)


def _from_prompt_only(row: dict) -> dict:
    _require(row, "prompt")
    prompt = _prompt(row["prompt"], "prompt")
    check_prompt(prompt, "prompt")
    return {"prompt": prompt.messages}


def _from_preference(row: dict) -> dict:
    _require(row, "prompt", "chosen", "rejected")
    prompt = _prompt(row["prompt"], "prompt")
    check_prompt(prompt, "prompt")
    return _pair(prompt, _answer(row["chosen"], "chosen", prompt),
                 _answer(row["rejected"], "rejected", prompt))


def _from_preference_implicit(row: dict) -> dict:
    _require(row, "chosen", "rejected")
    return _shared_prompt(_messages(row["chosen"], "chosen"),
                          _messages(row["rejected"], "rejected"))


# HH-RLHF speakers start a paragraph; "Human:" inside a turn's text is just text.
_HH_SPEAKER = re.compile(r"\n\n(Human|Assistant):")


def _hh_turns(value, at: str) -> Turns:
    """'\\n\\nHuman: ...\\n\\nAssistant: ...' -> Turns (Human -> user, Assistant -> assistant)."""
    text = check_text(value, at)
    if not text.startswith("\n\n"):
        text = "\n\n" + text.lstrip()  # tolerate transcripts saved with the blank line stripped
    parts = _HH_SPEAKER.split(text)
    if parts[0].strip() or len(parts) == 1:
        raise RowProblem(at, "expected an HH-RLHF transcript starting with 'Human:' "
                             "('\\n\\nHuman: ... \\n\\nAssistant: ...')")
    turns = Turns()
    speakers = parts[1::2]
    for n, (speaker, content) in enumerate(zip(speakers, parts[2::2]), start=1):
        role = "user" if speaker == "Human" else "assistant"
        if not content.strip():
            final_answer = n == len(speakers) and role == "assistant"
            raise RowProblem(at, "the final 'Assistant:' answer is empty" if final_answer
                             else f"turn {n} ('{speaker}:') is empty")
        turns.add({"role": role, "content": content.strip()}, at)
    if turns.last_role() != "assistant":
        raise RowProblem(at, "has no final 'Assistant:' turn; expected the transcript to end "
                             "with the answer")
    return turns


def _from_hh_rlhf(row: dict) -> dict:
    _require(row, "chosen", "rejected")
    return _shared_prompt(_hh_turns(row["chosen"], "chosen"),
                          _hh_turns(row["rejected"], "rejected"))


def _from_kto(row: dict) -> dict:
    _require(row, "label")
    if "messages" in row:  # the last assistant message is the completion being judged
        turns = _messages(row["messages"], "messages")
        if turns.last_role() != "assistant":
            raise RowProblem(turns.fields[-1] if turns.fields else "messages",
                             f"expected the last message to be the 'assistant' completion, "
                             f"got {_last(turns)}")
        prompt, completion = turns.head(-1), turns.messages[-1]["content"]
        check_prompt(prompt, "messages")
        check_text(completion, turns.fields[-1].replace(".role", ".content"))
    else:
        _require(row, "prompt", "completion")
        prompt = _prompt(row["prompt"], "prompt")
        check_prompt(prompt, "prompt")
        completion = _answer(row["completion"], "completion", prompt)
    return {"prompt": prompt.messages, "completion": completion, "label": check_label(row["label"])}


def _from_alpaca(row: dict) -> dict:
    _require(row, "instruction", "output")
    turns = Turns()
    if row.get("system"):
        turns.add({"role": "system", "content": check_text(row["system"], "system")}, "system")
    turns += _alpaca_history(row.get("history") or [])
    instruction, extra = row["instruction"], row.get("input") or ""
    for name, value in (("instruction", instruction), ("input", extra)):
        if not isinstance(value, str):
            raise RowProblem(name, f"expected a string, got {kind(value)}")
    user = "\n\n".join(part for part in (instruction, extra) if part.strip())
    turns.add({"role": "user", "content": check_text(user, "instruction")}, "instruction")
    turns.add({"role": "assistant", "content": check_text(row["output"], "output")}, "output")
    check_sft(turns, "output")
    return {"messages": turns.messages}


def _alpaca_history(history) -> Turns:
    """LLaMA-Factory's earlier turns: [[user, assistant], ...]."""
    if not isinstance(history, list):
        raise RowProblem("history", "expected a list of [user, assistant] pairs, got "
                                    + kind(history))
    turns = Turns()
    for i, pair in enumerate(history):
        if not isinstance(pair, list) or len(pair) != 2:
            raise RowProblem(f"history[{i}]", f"expected a [user, assistant] pair, got {kind(pair)}"
                             + (f" of {len(pair)}" if isinstance(pair, list) else ""))
        for j, role in enumerate(("user", "assistant")):
            at = f"history[{i}][{j}]"
            turns.add({"role": role, "content": check_text(pair[j], at)}, at)
    return turns


# LLaMA-Factory's ShareGPT speakers, plus the role names some exports use in `from`.
SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system",
                  "function_call": "assistant", "observation": "tool",
                  "user": "user", "assistant": "assistant", "tool": "tool"}


def _sharegpt_turns(row: dict) -> Turns:
    _require(row, "conversations")
    turns = Turns()
    if row.get("system"):
        turns.add({"role": "system", "content": check_text(row["system"], "system")}, "system")
    return turns + _messages(row["conversations"], "conversations", role_key="from",
                             content_key="value", roles=SHAREGPT_ROLES)


def _from_sharegpt(row: dict) -> dict:
    turns = _sharegpt_turns(row)
    check_sft(turns, "conversations")
    return _with_tools({"messages": turns.messages}, row)


def _from_sharegpt_preference(row: dict) -> dict:
    prompt = _sharegpt_turns(row)
    check_prompt(prompt, "conversations")
    answers = []
    for side in ("chosen", "rejected"):
        _require(row, side)
        value = row[side]
        if isinstance(value, dict):
            message = _message(value, side, "from", "value", SHAREGPT_ROLES)
            if message["role"] != "assistant":
                raise RowProblem(f"{side}.from",
                                 f"expected 'gpt' (the answer), got {value['from']!r}")
            value = message["content"]
        answers.append(check_text(value, side))
    return _pair(prompt, *answers)


_CONVERTERS = {
    "text": _from_text,
    "messages": _from_messages,
    "prompt_completion": _from_prompt_completion,
    "prompt_only": _from_prompt_only,
    "preference": _from_preference,
    "preference_implicit": _from_preference_implicit,
    "hh_rlhf": _from_hh_rlhf,
    "kto": _from_kto,
    "alpaca": _from_alpaca,
    "sharegpt": _from_sharegpt,
    "sharegpt_preference": _from_sharegpt_preference,
}
