"""Data files in, canonical rows out.

    read_records   a .jsonl / .json / .jsonl.gz / .json.gz / .csv / .parquet file -> (line, object)
    detect_format  the format most of the first rows are in (names in FORMATS)
    convert_row    one source row -> the canonical row of its task (raises RowProblem)
    inspect_file   all three, with every row problem reported; load_rows is what stages call

The canonical rows every stage and front end share:

    sft         {"messages": [...], "tools"?: [...]}   or   {"text": str}  (trained on all tokens)
    preference  {"prompt": [... ending with a user turn], "chosen": str, "rejected": str}
    unpaired    {"prompt": [...], "completion": str, "label": bool}
    prompts     {"prompt": [... ending with a user turn]}

Messages are {"role": "system"|"user"|"assistant"|"tool", "content": str} (+ "tool_calls").

Line numbers: JSONL and CSV count file lines (a CSV header is line 1, so its first row is 2);
a JSON array counts its elements from 1; Parquet counts rows from 1.

CSV cells are text, except that a cell holding a JSON array or object (a `messages` column, a
conversational `chosen`) is read as that structure; so are label cells "true"/"false"/"1"/"0".
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import random
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple

from workbench.data.validate import (
    ROLES, RowError, RowProblem, Turns, check_label, check_length, check_order, check_pair,
    check_prompt, check_sft, check_text, kind,
)
from workbench.errors import ConfigError, DataError

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

SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".csv", ".parquet")
DETECT_ROWS = 50  # rows looked at to name the format; enough to outvote a few odd rows
FILE_HINT = "Give a JSONL file (one JSON object per line), a JSON array of objects, a CSV " \
            "file with a header row, or a Parquet table."


# ----------------------------------------------------------------------------------- reading

def read_records(path) -> Iterator[tuple[int, dict | RowError]]:
    """(line, row object) for each row of a data file; unparseable rows come as RowErrors.

    Whole-file problems (missing, empty, a folder, unknown type, not gzip, binary, neither a
    JSON array nor JSON Lines) raise DataError at once, before the first row.
    """
    path = Path(path)
    suffix = _check_file(path)
    if suffix == ".parquet":
        return _parquet_records(path)
    data = _read_bytes(path, gz=suffix.endswith(".gz"))
    if suffix == ".csv":
        return _csv_records(path, data)
    return _json_records(path, data)


def _check_file(path: Path) -> str:
    if not path.exists():
        raise DataError("file not found", path=path,
                        hint=f"Check the path (relative paths start at {Path.cwd()}).")
    if path.is_dir():
        raise DataError("is a folder, not a data file", path=path,
                        hint="Pick one file inside it. " + FILE_HINT)
    name = path.name.lower()
    suffix = next((s for s in sorted(SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)
    if suffix is None:
        raise DataError(f"unknown file type '{''.join(path.suffixes) or path.name}'", path=path,
                        hint=f"Use one of {', '.join(SUFFIXES)}.")
    if path.stat().st_size == 0:
        raise DataError("the file is empty", path=path, hint=FILE_HINT)
    return suffix


def _read_bytes(path: Path, *, gz: bool) -> bytes:
    data = path.read_bytes()
    if gz:
        try:
            data = gzip.decompress(data)
        except (gzip.BadGzipFile, zlib.error):
            raise DataError("is not gzip-compressed although its name ends in .gz", path=path,
                            hint="Rename it without .gz, or compress it with gzip.") from None
        except EOFError:
            raise DataError("the gzip data is cut short (an interrupted download?)", path=path,
                            hint="Download or compress it again.") from None
    data = data.removeprefix(codecs.BOM_UTF8)
    if not data.strip():
        raise DataError("the file is empty", path=path, hint=FILE_HINT)
    _check_text(path, data[:8192])
    return data


def _check_text(path: Path, head: bytes) -> None:
    # Text never holds NUL bytes. A few undecodable bytes are a damaged line (reported on its
    # row); many mean binary data or another encoding, which no row-by-row report helps with.
    sample = head.decode("utf-8", errors="replace")
    if b"\x00" in head or sample[:-1].count("\ufffd") > len(sample) / 100:
        raise DataError("is not a text file (binary, or text not in UTF-8)", path=path,
                        hint="Save it as UTF-8 text. " + FILE_HINT)


def _record(line: int, value) -> tuple[int, dict | RowError]:
    if isinstance(value, dict):
        return line, value
    return line, RowError(line, None, f"expected a JSON object {{...}}, got {kind(value)}")


def _json_records(path: Path, data: bytes) -> Iterator[tuple[int, dict | RowError]]:
    """Content, not the extension, decides between a JSON array and JSON Lines: both end up
    named .json in the wild."""
    lines = data.split(b"\n")  # not splitlines(): JSON strings may hold U+2028 unescaped
    if data.lstrip().startswith(b"[") or not _looks_like_jsonl(lines):
        try:
            value = json.loads(data.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if _looks_like_jsonl(lines):
                return _jsonl_records(lines)
            where = f" at line {e.lineno}, column {e.colno}" if hasattr(e, "lineno") else ""
            reason = getattr(e, "msg", None) or e.reason
            raise DataError(f"is neither a JSON array nor JSON Lines ({reason}{where})",
                            path=path, hint=FILE_HINT) from None
        return _array_records(path, value)
    return _jsonl_records(lines)


def _looks_like_jsonl(lines: list[bytes]) -> bool:
    # Half of the first lines being objects tells JSON Lines with a few broken lines apart from
    # a pretty-printed document, whose lines are fragments.
    sample = [line for line in lines if line.strip()][:20]
    objects = sum(isinstance(_try_json(line), dict) for line in sample)
    return objects > 0 and 2 * objects >= len(sample)


def _try_json(line: bytes):
    try:
        return json.loads(line.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _jsonl_records(lines: list[bytes]) -> Iterator[tuple[int, dict | RowError]]:
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue  # blank lines (a trailing newline, a gap) are not rows
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            yield number, RowError(number, None, "not UTF-8 text")
        except json.JSONDecodeError as e:
            yield number, RowError(number, None, f"not valid JSON: {e.msg} (column {e.colno})")
        else:
            yield _record(number, value)


def _array_records(path: Path, value) -> Iterator[tuple[int, dict | RowError]]:
    if isinstance(value, dict):
        lists = [k for k, v in value.items() if isinstance(v, list)]
        if row_format(value):
            hint = "It looks like one row: wrap it in [...], or write it on one line (JSONL)."
        elif len(lists) == 1:  # e.g. {"data": [...]}, a common export shape
            hint = f"Its field '{lists[0]}' holds a list: save that list alone as the file."
        else:
            hint = FILE_HINT
        raise DataError("holds one JSON object, not a list of rows", path=path, hint=hint)
    if not isinstance(value, list):
        raise DataError(f"holds {kind(value)}, not a list of rows", path=path, hint=FILE_HINT)
    return (_record(number, item) for number, item in enumerate(value, start=1))


def _csv_records(path: Path, data: bytes) -> Iterator[tuple[int, dict | RowError]]:
    import csv
    import sys

    # The csv module refuses cells over 128 KiB by default; long conversations exceed that.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"is not UTF-8 text (byte {e.start})", path=path,
                        hint="Save it as UTF-8.") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip() for name in next(reader, [])]
    if not any(header):
        raise DataError("has no header row", path=path,
                        hint="The first line must name the columns, e.g. prompt,chosen,rejected.")

    def rows():
        end = reader.line_num
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise DataError(f"is not valid CSV: {e}", path=path, line=reader.line_num,
                                hint="Check the quoting on that line.") from None
            start, end = end + 1, reader.line_num  # a quoted cell may span several lines
            if not cells:
                continue
            if len(cells) > len(header):
                yield start, RowError(start, None, f"has {len(cells)} cells but the header "
                                                   f"names {len(header)} columns")
                continue
            yield start, {name: _csv_cell(cell) for name, cell in zip(header, cells)}

    return rows()


def _csv_cell(text: str):
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            return text
        if isinstance(value, (list, dict)):
            return value
    return text


def _parquet_records(path: Path) -> Iterator[tuple[int, dict | RowError]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("reading .parquet needs the pyarrow package", path=path,
                        hint="Install pyarrow, or convert the file to JSONL.") from None
    try:
        table = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError and others for bad files
        raise DataError(f"is not a readable Parquet file ({e})", path=path,
                        hint=FILE_HINT) from None

    def rows():
        number = 0
        for batch in table.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                number += 1
                # A column is null where a row lacks that field; treat it like a missing key.
                yield number, {k: v for k, v in row.items() if v is not None}

    return rows()


# --------------------------------------------------------------------------------- detecting

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


# -------------------------------------------------------------------------------- converting

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


# -------------------------------------------------------------------------------- inspecting

@dataclass
class DataReport:
    """What a data file holds: its format and task, its usable rows, and each unusable one."""

    path: str
    format: str | None
    task: str | None
    rows: int
    valid_rows: int
    errors: list[RowError]
    canonical: list[dict]  # valid canonical rows, each with "_line": its source line
    error_count: int = 0  # all problems found; `errors` keeps at most max_errors of them
    task_problem: str | None = None  # set when inspect_file(task=...) names another task
    feedback: dict | None = None  # a human-feedback file: split_feedback's counts

    def usable(self) -> bool:
        return self.format is not None and self.valid_rows > 0

    def hint(self) -> str | None:
        """What to do when the file is not usable."""
        if self.format is None:
            return ("Rename the fields to a known format, e.g. 'messages' (a list of role/content) "
                    "for SFT, or 'prompt', 'chosen', 'rejected' for preference pairs.")
        if not self.valid_rows:
            first = self.errors[0] if self.errors else None
            return "No row is usable" + (f"; fix the first problem ({first}) and inspect "
                                         "again." if first else ".")
        return None

    def train_with(self) -> str | None:
        """The commands that train on a usable file of this task, e.g. "`workbench train kto`"."""
        return _TASK_WORDS[self.task].train_with if self.usable() and self.task else None

    def to_json(self, sample: int = 3) -> dict:
        out = {
            "path": self.path, "format": self.format, "task": self.task,
            "rows": self.rows, "valid_rows": self.valid_rows,
            "error_count": max(self.error_count, len(self.errors)),
            "errors": [e.to_json() for e in self.errors],
            "sample": [_without_line(row) for row in self.canonical[:sample]],
        }
        if self.task_problem:
            out["task_problem"] = self.task_problem
        if self.feedback:
            out["feedback"] = self.feedback
        if not self.usable():
            out["hint"] = self.hint()
        return out


def _without_line(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "_line"}


def inspect_file(path, *, task: str | None = None, max_chars: int = 20000,
                 max_errors: int = 1000, keep: tuple[str, ...] = ()) -> DataReport:
    """Read, detect and convert a whole file, reporting every unusable row.

    keep: source fields copied into each canonical row as they are, where a row has them (a
    GRPO reference answer); a canonical field of the same name wins.
    Raises DataError only for whole-file problems; a file in no known format gives a report
    with format None and one error that lists the keys seen and the formats known.
    """
    _check_task(task)
    records = list(read_records(path))
    if not records:
        raise DataError("holds no rows", path=path, hint=FILE_HINT)
    source = records
    records, feedback = split_feedback(source)
    unpaired = feedback_as_unpaired(feedback, task)
    if unpaired:
        records, _ = split_feedback(source, unpaired=True)
    objects = [(line, record) for line, record in records if isinstance(record, dict)]
    # A feedback file whose judgements are all ties or retracted is still a preference file.
    fmt = detect_format([record for _, record in objects]) or (
        ("kto" if unpaired else "preference") if feedback else None)
    report = DataReport(path=str(path), format=fmt, task=FORMATS[fmt][0] if fmt else None,
                        rows=len(records), valid_rows=0, errors=[], canonical=[])

    def add_error(error: RowError) -> None:
        report.error_count += 1
        if len(report.errors) < max_errors:
            report.errors.append(error)

    if fmt is None:
        add_error(_unknown_format(objects))
    for line, record in records:
        if isinstance(record, RowError):
            add_error(record)
        elif fmt is not None:
            try:
                kept = {name: record[name] for name in keep if name in record}
                report.canonical.append({**kept, **convert_row(fmt, record, max_chars=max_chars),
                                         "_line": line})
            except RowProblem as problem:
                add_error(RowError(line, problem.field, problem.message))
    report.errors.sort(key=lambda e: e.line)
    report.valid_rows = len(report.canonical)
    report.task_problem = (_task_problem(report, task) or (None,))[0]
    report.feedback = feedback
    return report


def split_feedback(records: list[tuple[int, dict | RowError]], *, keep_ties: bool = False,
                   unpaired: bool = False) -> tuple[list[tuple[int, dict | RowError]], dict | None]:
    """A human-feedback file (`workbench.feedback`) holds pair judgements (they carry
    "chosen_side"), thumbs up/down on single answers ("thumb": "up"|"down", with "completion" and
    "label"), retraction lines {"retracts": id} that cancel an earlier judgement (the file is
    append-only, so undo appends), and ties ("tie": true) that prefer neither answer. Retractions,
    retracted judgements and ties are neither training rows nor errors: drop them (ties stay if
    keep_ties).

    unpaired=False keeps the pairs (a preference file) and drops the thumbs; unpaired=True gives
    KTO rows: the thumbs as they are, and each pair as two rows at its line, the chosen answer
    labelled desirable and the rejected one undesirable (the rater preferred one to the other;
    that is the most a pair says about each answer alone).

    records: (line, row) as read_records gives them. Returns (the records left, counts
    {"judgements", "pairs", "ties", "thumbs_up", "thumbs_down", "retracted"}), or (records, None)
    for any other file.
    """
    rows = [r for _, r in records if isinstance(r, dict)]
    if not any("retracts" in r or "chosen_side" in r or "thumb" in r for r in rows):
        return records, None
    retracted = {r["retracts"] for r in rows if "retracts" in r}
    judged = [r for r in rows if "retracts" not in r]
    live = [r for r in judged if r.get("id") not in retracted]
    ties = sum(r.get("tie") is True for r in live)
    up = sum(r.get("thumb") == "up" for r in live)
    down = sum(r.get("thumb") == "down" for r in live)
    counts = {"judgements": len(live), "pairs": len(live) - ties - up - down, "ties": ties,
              "thumbs_up": up, "thumbs_down": down, "retracted": len(judged) - len(live)}
    kept = []
    for line, r in records:
        if not isinstance(r, dict):
            kept.append((line, r))
        elif "retracts" in r or r.get("id") in retracted:
            continue
        elif "thumb" in r:
            if unpaired:
                kept.append((line, r))
        elif unpaired:
            if r.get("tie") is not True and "chosen" in r and "rejected" in r:
                kept += [(line, {"prompt": r.get("prompt"), "completion": r["chosen"], "label": True}),
                         (line, {"prompt": r.get("prompt"), "completion": r["rejected"], "label": False})]
        elif keep_ties or r.get("tie") is not True:
            kept.append((line, r))
    return kept, counts


def feedback_as_unpaired(counts: dict | None, task: str | None) -> bool:
    """Whether a feedback file is read as KTO rows: when a stage asks for them, or when it holds
    thumbs and no pair (then it is an unpaired file whatever is asked, and says so)."""
    return bool(counts) and (task == "unpaired" or (counts["pairs"] == 0 and counts["thumbs_up"]
                                                    + counts["thumbs_down"] > 0))


def _unknown_format(objects: list[tuple[int, dict]]) -> RowError:
    known = "; ".join(f"{name} ({keys})" for name, (_, keys) in FORMATS.items())
    if not objects:
        return RowError(1, None, "no row is a JSON object, so no format applies; "
                                 f"known formats: {known}")
    seen = sorted({key for _, row in objects[:DETECT_ROWS] for key in row})
    shown = ", ".join(f"'{k}'" for k in seen[:12]) + (", ..." if len(seen) > 12 else "")
    return RowError(objects[0][0], None,
                    f"no known format has the fields {shown}; known formats: {known}")


# ----------------------------------------------------------------------------------- loading

class _TaskWords(NamedTuple):
    holds: str       # "holds ..." : what a file of this task is
    needs: str       # "the X stage needs ..."
    train_with: str  # the commands that train on such a file
    a_file: str      # "give ..."


_TASK_WORDS = {
    "sft": _TaskWords("SFT conversations", "conversations or prompt/completion rows",
                      "`workbench train sft`", "an SFT file"),
    "preference": _TaskWords("preference data (prompt/chosen/rejected)",
                             "prompt/chosen/rejected pairs",
                             "`workbench train reward` or `workbench train dpo`",
                             "a preference file"),
    "unpaired": _TaskWords("unpaired feedback (prompt/completion/label)",
                           "prompt/completion/label rows",
                           "`workbench train kto`",
                           "an unpaired (KTO) file"),
    "prompts": _TaskWords("prompts without answers", "rows with a prompt",
                          "`workbench train ppo`", "a prompts file"),
}


def _check_task(task: str | None) -> None:
    if task is not None and task not in TASKS:
        raise ConfigError(f"unknown data task '{task}'", hint=f"Use one of {', '.join(TASKS)}.")


def _task_problem(report: DataReport, task: str | None) -> tuple[str, str] | None:
    """(why this file cannot feed a `task` stage, what to do), or None if it can."""
    if task is None or report.task is None or task == report.task:
        return None
    if task == "prompts" and report.format != "text":
        return None  # every other format has prompts in it
    words, wanted = _TASK_WORDS[report.task], _TASK_WORDS[task]
    holds = "plain text rows (no prompt to answer)" if report.format == "text" else words.holds
    return (f"holds {holds}; the {task} stage needs {wanted.needs}.",
            f"Train it with {words.train_with}, or give {wanted.a_file}.")


def load_rows(path, *, task: str | None = None, max_chars: int = 20000,
              keep: tuple[str, ...] = ()) -> list[dict]:
    """The canonical rows of a file for a stage; raises DataError if it cannot feed `task`.

    Each row keeps "_line", its source line, so later stages can point back at the file, and
    the source fields named in `keep` where it has them (see `inspect_file`).
    task="prompts" takes any file with prompts in it (preference, unpaired, SFT conversations)
    and returns its distinct prompts as {"prompt": [...], "_line": where it first occurs}.
    """
    report = inspect_file(path, task=task, max_chars=max_chars, keep=keep)
    problem = _task_problem(report, task)
    if problem:
        raise DataError(problem[0], path=path, hint=problem[1])
    if not report.usable():
        first = report.errors[0]
        message = first.message if report.format is None else (
            f"none of its {report.rows} rows is usable; the first problem: {first.message}")
        raise DataError(message, path=path, line=first.line, field=first.field, hint=report.hint())
    if task == "prompts" and report.task != "prompts":
        return _prompts_of(report.canonical, keep)
    return report.canonical


def _prompts_of(rows: list[dict], keep: tuple[str, ...] = ()) -> list[dict]:
    """Distinct prompts: a pair's shared prompt, or a conversation up to its last user turn
    (with the kept fields of the row where it first occurs)."""
    seen, prompts = set(), []
    for row in rows:
        prompt = row.get("prompt") or _before_last_answer(row["messages"])
        key = json.dumps(prompt, sort_keys=True)
        if key not in seen:
            seen.add(key)
            kept = {name: row[name] for name in keep if name in row and name not in ("prompt", "messages")}
            prompts.append({**kept, "prompt": prompt, "_line": row["_line"]})
    return prompts


def _before_last_answer(messages: list[dict]) -> list[dict]:
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    return messages[:last_user + 1]


def split_rows(rows: list, *, val_fraction: float = 0.1, seed: int = 0) -> tuple[list, list]:
    """(train, validation), chosen by `seed`; each keeps the file's order.

    With val_fraction > 0 and two or more rows, validation gets at least one row and train
    keeps at least one.
    """
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"val_fraction must be at least 0 and below 1, got {val_fraction}")
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = round(len(rows) * val_fraction)
    if val_fraction > 0 and len(rows) >= 2:
        n_val = min(max(n_val, 1), len(rows) - 1)
    val_indices = set(order[:n_val])
    train = [row for i, row in enumerate(rows) if i not in val_indices]
    val = [row for i, row in enumerate(rows) if i in val_indices]
    return train, val
