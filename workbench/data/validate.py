"""Per-row checks that every data format shares.

A converter in `convert.py` turns one source row into its canonical form and calls these checks
on the way. The first problem stops the row: it is raised as a `RowProblem` naming the field as
the user wrote it (`conversations[2].from`, not an internal name) and what was expected, and the
caller adds the line number to make a `RowError`.

Nothing here knows about files or formats; it only knows what a well-formed chat looks like.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("system", "user", "assistant", "tool")

# Which roles may follow which. A chat alternates user/assistant turns after an optional system
# turn, and tool results answer an assistant's tool call. Anything else is almost always a
# conversion mistake upstream (two user turns glued apart, a dropped answer), so it is flagged.
_NEXT_ROLES = {
    None: ("system", "user"),
    "system": ("user",),
    "user": ("assistant",),
    "assistant": ("user", "tool"),
    "tool": ("tool", "assistant"),
}


@dataclass
class RowError:
    """One unusable row: its line (1-based), the source field at fault (None: the whole row)."""

    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", field '{self.field}'" if self.field else "")
        return f"{where}: {self.message}"

    def to_json(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message}


class RowProblem(Exception):
    """Raised while converting a row; the reader knows the line and turns it into a RowError."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


@dataclass
class Turns:
    """Canonical messages, plus for each the source field its role came from (for errors)."""

    messages: list[dict] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)

    def add(self, message: dict, at: str) -> None:
        self.messages.append(message)
        self.fields.append(at)

    def __add__(self, other: Turns) -> Turns:
        return Turns(self.messages + other.messages, self.fields + other.fields)

    def head(self, n: int) -> Turns:
        return Turns(self.messages[:n], self.fields[:n])

    def last_role(self) -> str | None:
        return self.messages[-1]["role"] if self.messages else None


def kind(value) -> str:
    """The JSON name of a value's type, with an article, for 'expected X, got Y' messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _a(role: str) -> str:
    return f"an '{role}'" if role == "assistant" else f"a '{role}'"


def _either(roles) -> str:
    return " or ".join(f"'{r}'" for r in roles)


def check_text(value, at: str) -> str:
    """A non-empty string (content, answer, instruction)."""
    if not isinstance(value, str):
        raise RowProblem(at, f"expected a string, got {kind(value)}")
    if not value.strip():
        raise RowProblem(at, "expected text, got an empty string" if not value
                         else "expected text, got only whitespace")
    return value


def check_label(value, at: str = "label") -> bool:
    """KTO's desirable/undesirable flag. CSV files and older exports write it as 0/1 or text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    shown = repr(value) if isinstance(value, (str, int, float)) else kind(value)
    raise RowProblem(at, f"expected true or false (or 1/0), got {shown}")


def check_order(turns: Turns) -> None:
    """Roles follow the chat pattern: optional system, then user/assistant alternating."""
    previous = None
    for n, (message, at) in enumerate(zip(turns.messages, turns.fields), start=1):
        role, allowed = message["role"], _NEXT_ROLES[previous]
        if role not in allowed:
            after = "as the first turn" if previous is None else f"after {_a(previous)} turn"
            # A transcript field (HH-RLHF's 'chosen') holds many turns: say which one.
            which = f" (turn {n})" if turns.fields.count(at) > 1 else ""
            raise RowProblem(at, f"expected {_either(allowed)} {after}, got '{role}'{which}")
        previous = role


def check_sft(turns: Turns, at: str) -> None:
    """A conversation to learn from: well ordered and ending with an assistant answer."""
    check_order(turns)
    if "assistant" not in (m["role"] for m in turns.messages):
        raise RowProblem(at, "has no 'assistant' turn; SFT needs at least one answer to learn from")
    if turns.last_role() != "assistant":
        raise RowProblem(turns.fields[-1], "expected the conversation to end with an "
                                           f"'assistant' turn, got '{turns.last_role()}'")


def check_prompt(turns: Turns, at: str) -> None:
    """A prompt for a model to answer: well ordered and ending with a user turn."""
    if not turns.messages:
        raise RowProblem(at, "expected at least one 'user' turn, got an empty prompt")
    check_order(turns)
    if turns.last_role() != "user":
        raise RowProblem(turns.fields[-1], "expected the prompt to end with a 'user' turn, "
                                           f"got '{turns.last_role()}'")


def check_pair(chosen: str, rejected: str) -> None:
    # Identical answers carry no preference signal; a reward model would learn nothing from them.
    if chosen.strip() == rejected.strip():
        raise RowProblem("rejected", "is identical to 'chosen'; a preference pair needs two "
                                     "different answers")


def text_chars(value) -> int:
    """Characters of text in a canonical row (every string in it, recursively)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(text_chars(v) for v in value.values())
    if isinstance(value, list):
        return sum(text_chars(v) for v in value)
    return 0


def check_length(row: dict, max_chars: int) -> None:
    # A cheap stand-in for a token limit, applied before any tokenizer is loaded: one huge row
    # would otherwise dominate memory and time on a laptop.
    chars = text_chars(row)
    if chars > max_chars:
        raise RowProblem(None, f"has {chars:,} characters of text, over the limit of "
                               f"{max_chars:,} (max_chars); shorten it or raise the limit")
