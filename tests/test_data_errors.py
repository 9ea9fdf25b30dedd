"""Broken data: each problem is reported with its line, field and what was expected, and the
good rows around it are kept. Whole-file problems raise DataError naming the file."""

import gzip
import json

import pytest

from workbench.data import inspect_file, load_rows, read_records
from workbench.errors import ConfigError, DataError


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


CHAT = {"messages": [user("Hi"), assistant("Hello!")]}
PAIR = {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."}
KTO = {"prompt": "Hi", "completion": "Hello!", "label": True}
HH = {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!", "rejected": "\n\nHuman: Hi\n\nAssistant: Go away."}
SHAREGPT = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}
SHAREGPT_PAIR = {"conversations": [{"from": "human", "value": "Hi"}],
                 "chosen": {"from": "gpt", "value": "Hello!"}, "rejected": {"from": "gpt", "value": "Go."}}
ALPACA = {"instruction": "Say hi.", "input": "", "output": "Hi!"}
IMPLICIT = {"chosen": [user("Hi"), assistant("Hello!")], "rejected": [user("Hi"), assistant("Go.")]}


def broken(good, **changes):
    """`good` with fields replaced (a value of ... deletes the field), as a JSONL line."""
    row = {k: v for k, v in {**good, **changes}.items() if v is not ...}
    return json.dumps(row)


# (good row of the format, broken line, expected field, phrase in the message)
CASES = {
    "not JSON": (CHAT, '{"messages": [', None, "not valid JSON"),
    "a list, not an object": (CHAT, '[1, 2]', None, "expected a JSON object {...}, got a list"),
    "a number on a line": (CHAT, "42", None, "got a number"),
    "missing field": (PAIR, broken(PAIR, rejected=...), "rejected", "missing required field 'rejected'"),
    "messages not a list": (CHAT, broken(CHAT, messages="Hi"), "messages",
                            "expected a list of messages, got a string"),
    "message not an object": (CHAT, broken(CHAT, messages=["Hi", assistant("x")]), "messages[0]",
                              "expected an object with 'role' and 'content'"),
    "content is a number": (CHAT, broken(CHAT, messages=[user(3), assistant("x")]),
                            "messages[0].content", "expected a string, got a number"),
    "content missing": (CHAT, broken(CHAT, messages=[{"role": "user"}, assistant("x")]),
                        "messages[0].content", "missing required field 'content'"),
    "empty content": (CHAT, broken(CHAT, messages=[user("Hi"), assistant("")]),
                      "messages[1].content", "got an empty string"),
    "whitespace answer": (PAIR, broken(PAIR, chosen="  \n "), "chosen", "got only whitespace"),
    "chosen same as rejected": (PAIR, broken(PAIR, rejected="Paris."), "rejected", "identical to 'chosen'"),
    "unknown role": (CHAT, broken(CHAT, messages=[{"role": "bot", "content": "x"}]),
                     "messages[0].role", "unknown role 'bot'"),
    "two user turns": (CHAT, broken(CHAT, messages=[user("a"), user("b"), assistant("c")]),
                       "messages[1].role", "expected 'assistant' after a 'user' turn, got 'user'"),
    "assistant right after system": (
        CHAT, broken(CHAT, messages=[{"role": "system", "content": "s"}, assistant("a")]),
        "messages[1].role", "expected 'user' after a 'system' turn, got 'assistant'"),
    "sft ends with user": (CHAT, broken(CHAT, messages=[user("a"), assistant("b"), user("c")]),
                           "messages[2].role", "end with an 'assistant' turn, got 'user'"),
    "sft without an answer": (CHAT, broken(CHAT, messages=[user("a")]), "messages",
                              "has no 'assistant' turn"),
    "preference prompt ends with assistant": (
        PAIR, broken(PAIR, prompt=[user("a"), assistant("b")]), "prompt[1].role",
        "expected the prompt to end with a 'user' turn, got 'assistant'"),
    "prompt-only ends with assistant": (
        {"prompt": "Tell a joke."}, broken({"prompt": [user("a"), assistant("b")]}), "prompt[1].role",
        "end with a 'user' turn"),
    "answer list is not one assistant turn": (
        PAIR, broken(PAIR, chosen=[assistant("a"), user("b")]), "chosen",
        "expected one 'assistant' answer after the prompt, got 'assistant', 'user'"),
    "label not boolean": (KTO, broken(KTO, label="maybe"), "label", "expected true or false"),
    "label out of range": (KTO, broken(KTO, label=2), "label", "got 2"),
    "kto messages end with user": (
        {"messages": [user("a"), assistant("b")], "label": False},
        broken({"messages": [user("a"), assistant("b"), user("c")], "label": False}),
        "messages[2].role", "expected the last message to be the 'assistant' completion"),
    "HH without a final Assistant turn": (HH, broken(HH, chosen="\n\nHuman: Hi\n\nAssistant: Yo\n\nHuman: ?"),
                                          "chosen", "no final 'Assistant:' turn"),
    "HH empty final answer": (HH, broken(HH, rejected="\n\nHuman: Hi\n\nAssistant: "), "rejected",
                              "final 'Assistant:' answer is empty"),
    "HH not a transcript": (HH, broken(HH, chosen="Just an answer."), "chosen",
                            "expected an HH-RLHF transcript"),
    "HH prompts differ": (HH, broken(HH, rejected="\n\nHuman: Bye\n\nAssistant: Go away."), "rejected",
                          "differs from 'chosen' before the final answer (at turn 1)"),
    "HH two Human turns in a row": (
        HH, broken(HH, chosen="\n\nHuman: a\n\nHuman: b\n\nAssistant: c",
                   rejected="\n\nHuman: a\n\nHuman: b\n\nAssistant: d"),
        "chosen", "expected 'assistant' after a 'user' turn, got 'user' (turn 2)"),
    "implicit prompts differ": (IMPLICIT, broken(IMPLICIT, rejected=[user("Yo"), assistant("Go.")]),
                                "rejected", "differs from 'chosen'"),
    "sharegpt unknown from": (
        SHAREGPT, broken(SHAREGPT, conversations=[{"from": "human", "value": "a"}, {"from": "bot", "value": "b"}]),
        "conversations[1].from", "unknown role 'bot'; expected one of human, gpt"),
    "sharegpt chosen from human": (
        SHAREGPT_PAIR, broken(SHAREGPT_PAIR, chosen={"from": "human", "value": "x"}), "chosen.from",
        "expected 'gpt'"),
    "alpaca empty output": (ALPACA, broken(ALPACA, output=""), "output", "empty"),
    "alpaca bad history": (ALPACA, broken(ALPACA, history=[["only one"]]), "history[0]",
                           "expected a [user, assistant] pair"),
    "text not a string": ({"text": "ok"}, broken({"text": ["a"]}), "text", "expected a string, got a list"),
    "tools not a list": (CHAT, broken(CHAT, tools={"name": "x"}), "tools", "expected a list of tool"),
}


@pytest.mark.parametrize("good, bad, field, phrase", CASES.values(), ids=CASES.keys())
def test_broken_row_is_reported_and_good_rows_kept(tmp_path, good, bad, field, phrase):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join([json.dumps(good), bad, json.dumps(good)]) + "\n", encoding="utf-8")
    report = inspect_file(path)
    assert [(e.line, e.field) for e in report.errors] == [(2, field)], report.errors
    assert phrase in report.errors[0].message
    assert report.valid_rows == 2 and [r["_line"] for r in report.canonical] == [1, 3]
    assert report.usable()


def test_row_over_the_length_limit(tmp_path):
    path = tmp_path / "long.jsonl"
    rows = [{"text": "short"}, {"text": "x" * 500}, {"text": "short"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = inspect_file(path, max_chars=100)
    assert [(e.line, e.field) for e in report.errors] == [(2, None)]
    assert "500 characters of text, over the limit of 100" in report.errors[0].message
    assert report.valid_rows == 2


def test_line_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n{"text": "ok"}\n' + b'{"text": "fine"}\n' * 20)
    report = inspect_file(path)
    assert (report.errors[0].line, report.errors[0].message) == (2, "not UTF-8 text")
    assert report.valid_rows == 22


def test_csv_row_with_too_many_cells(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("prompt,chosen,rejected\np,a,b\np,a,b,extra\np,c,d\n", encoding="utf-8")
    report = inspect_file(path)
    assert [(e.line, e.field) for e in report.errors] == [(3, None)]
    assert "has 4 cells but the header names 3 columns" in report.errors[0].message
    assert report.valid_rows == 2


def test_csv_label_cells_are_text(tmp_path):
    path = tmp_path / "kto.csv"
    path.write_text("prompt,completion,label\nHi,Hello,true\nHi,Go,0\nHi,Meh,maybe\n", encoding="utf-8")
    report = inspect_file(path)
    assert [r["label"] for r in report.canonical] == [True, False]
    assert [(e.line, e.field) for e in report.errors] == [(4, "label")]


# ---------------------------------------------------------------------- whole-file problems

def write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


FILE_CASES = {
    "empty file": ("d.jsonl", b"", "the file is empty"),
    "only blank lines": ("d.jsonl", "\n  \n\n", "the file is empty"),
    "not JSON at all": ("d.json", "hello, world\nthis is prose\n", "neither a JSON array nor JSON Lines"),
    "broken JSON array": ("d.json", '[{"text": "a"},\n {"text": }]', "neither a JSON array nor JSON Lines"),
    "one JSON object": ("d.json", json.dumps({"data": [{"text": "a"}]}, indent=2), "holds one JSON object"),
    "a JSON number": ("d.json", "3.5", "holds a number, not a list of rows"),
    "unknown extension": ("d.txt", "hello", "unknown file type '.txt'"),
    "no extension": ("data", "hello", "unknown file type 'data'"),
    "gz that is not gzip": ("d.jsonl.gz", '{"text": "a"}\n', "not gzip-compressed"),
    "truncated gzip": ("d.jsonl.gz", gzip.compress(b'{"text": "a"}\n' * 100)[:-12], "cut short"),
    "binary garbage": ("d.jsonl", bytes(range(256)) * 4, "not a text file"),
    "empty JSON array": ("d.json", "[]", "holds no rows"),
    "csv with only a header": ("d.csv", "prompt,chosen,rejected\n", "holds no rows"),
    "csv without a header": ("d.csv", "\n\n,\n", "has no header row"),
    "not a parquet file": ("d.parquet", "prompt,chosen\n", "not a readable Parquet file"),
}


@pytest.mark.parametrize("name, content, phrase", FILE_CASES.values(), ids=FILE_CASES.keys())
def test_whole_file_problem_raises_data_error_naming_the_file(tmp_path, name, content, phrase):
    path = write(tmp_path / name, content)
    with pytest.raises(DataError) as caught:
        inspect_file(path)
    assert str(path) in str(caught.value) and phrase in str(caught.value)
    assert caught.value.hint and caught.value.path == path


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found") as caught:
        read_records(tmp_path / "nope.jsonl")
    assert str(tmp_path / "nope.jsonl") in str(caught.value)


def test_a_folder(tmp_path):
    with pytest.raises(DataError, match="is a folder") as caught:
        load_rows(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_unrecognised_keys_are_reported_then_refused(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text('{"question": "q", "answer": "a"}\n' * 3, encoding="utf-8")
    report = inspect_file(path)
    assert (report.format, report.task, report.usable()) == (None, None, False)
    message = report.errors[0].message
    assert "'answer', 'question'" in message and "alpaca (instruction, input, output)" in message
    assert "Rename the fields" in report.to_json()["hint"]
    with pytest.raises(DataError, match="no known format") as caught:
        load_rows(path)
    assert str(path) in str(caught.value)


def test_no_usable_row_is_refused_with_the_first_problem(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": ""}\n{"text": 5}\n', encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_rows(path, task="sft")
    error = caught.value
    assert (error.path, error.line, error.field) == (path, 1, "text")
    assert "none of its 2 rows is usable" in str(error)


def test_unknown_task_name(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "a"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown data task 'dpo'"):
        load_rows(path, task="dpo")
