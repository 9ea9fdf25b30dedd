"""Loading data: a whole file read, detected, converted and checked against the stage's task.

    report = inspect_file("pairs.jsonl")      # format, task, row errors, canonical rows
    rows = load_rows("pairs.jsonl", task="preference")
    train, val = split_rows(rows, val_fraction=0.1, seed=0)
"""

from __future__ import annotations

import functools
import inspect
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from workbench.data.convert import convert_row
from workbench.data.feedback_rows import feedback_as_unpaired, split_feedback
from workbench.data.files import FILE_HINT, limits, read_records
from workbench.data.formats import FORMATS, TASKS, detect_format, unknown_format
from workbench.data.validate import RowError, RowProblem
from workbench.errors import ConfigError, DataError


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
        """The commands that train on a usable file of this task, e.g. "`workbench train kto`"; for
        a feedback file read as pairs that also holds thumbs, how to train KTO on all of it."""
        if not (self.usable() and self.task):
            return None
        words = _TASK_WORDS[self.task].train_with
        fb = self.feedback or {}
        if self.task == "preference" and fb.get("thumbs_up", 0) + fb.get("thumbs_down", 0) > 0:
            name = Path(self.path).name.removesuffix(".jsonl")
            words += f"; its thumbs too: `workbench feedback train {name} --stage kto`"
        return words

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
        add_error(unknown_format(objects))
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


def inspect_cached(path, **options) -> DataReport:
    """inspect_file(path, **options), parsed once per version of the file: a front end that asks
    again on every slider move (the split, a token row) would otherwise re-read a large file each
    time. A version is the file's modification time and size; the caps are part of the key too.
    The report is shared between callers: read it, never change it."""
    path = Path(path).expanduser().resolve()
    stat = path.stat() if path.is_file() else None
    if stat is None:
        return inspect_file(path, **options)  # raises the usual "not found" / "is a folder"
    # Defaults spelled out, so inspect_cached(p) and inspect_cached(p, task=None) share one parse.
    options = {**_INSPECT_DEFAULTS, **options}
    return _inspect_once(str(path), stat.st_mtime_ns, stat.st_size, limits(), tuple(sorted(options.items())))


_INSPECT_DEFAULTS = {name: p.default for name, p in inspect.signature(inspect_file).parameters.items()
                     if p.kind is p.KEYWORD_ONLY}


@functools.lru_cache(maxsize=2)  # a big file's rows are the memory cost: keep two files at most
def _inspect_once(path: str, _mtime_ns: int, _size: int, _limits: tuple, options: tuple) -> DataReport:
    return inspect_file(path, **dict(options))


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
              keep: tuple[str, ...] = (), cached: bool = False) -> list[dict]:
    """The canonical rows of a file for a stage; raises DataError if it cannot feed `task`.

    Each row keeps "_line", its source line, so later stages can point back at the file, and
    the source fields named in `keep` where it has them (see `inspect_file`).
    task="prompts" takes any file with prompts in it (preference, unpaired, SFT conversations)
    and returns its distinct prompts as {"prompt": [...], "_line": where it first occurs}.
    cached: parse through `inspect_cached` (rows shared with other callers: never change them).
    """
    report = (inspect_cached if cached else inspect_file)(path, task=task, max_chars=max_chars, keep=keep)
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
