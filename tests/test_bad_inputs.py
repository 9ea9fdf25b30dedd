"""A corpus of broken data files, each built here in tmp_path: `workbench data inspect FILE`
answers every one with readable lines (the file, and the line and field where there is one),
never a traceback. A whole-file problem is one `error:` line naming the file; a row problem is
that row's line in the report, the good rows around it kept."""

import codecs
import gzip
import json

import pytest

from workbench.cli import main

CHAT = json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]})
PAIR = json.dumps({"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."})


def jsonl(*rows) -> bytes:
    return ("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n").encode()


def around(bad, good=CHAT) -> bytes:
    """A bad line 2 between two good rows."""
    return jsonl(good, bad, good)


def deep(n: int) -> str:
    return "[" * n + "]" * n


def feedback(**bad) -> bytes:
    judged = {"prompt": [{"role": "user", "content": "q"}], "chosen": "good", "rejected": "bad",
              "id": "a1", "chosen_side": "left"}
    return jsonl(judged, {**judged, "id": "a2", **bad}, {**judged, "id": "a3"})


def gz(data: bytes) -> bytes:
    return gzip.compress(data)


# name: (file name, content, expected) where expected is
#   ("file", phrase)            the whole file is refused: one error line with its path and phrase
#   ("file", phrase, line, field)  the same, naming where in the file
#   ("row", line, field)        row `line` is reported (with `field`, None for the whole row)
#   ("ok",)                     the file is usable as it is
CORPUS = {
    "empty file": ("a.jsonl", b"", ("file", "empty")),
    "only whitespace": ("a.jsonl", b" \n\n\t\n", ("file", "empty")),
    "only a BOM": ("a.jsonl", codecs.BOM_UTF8, ("file", "empty")),
    "BOM before good rows": ("a.jsonl", codecs.BOM_UTF8 + jsonl(CHAT, CHAT), ("ok",)),
    "CRLF line ends": ("a.jsonl", jsonl(CHAT, CHAT).replace(b"\n", b"\r\n"), ("ok",)),
    "binary (PNG)": ("a.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), ("file", "not a text file")),
    "UTF-16 text": ("a.jsonl", jsonl(CHAT).decode().encode("utf-16"), ("file", "not a text file")),
    "truncated gzip": ("a.jsonl.gz", gz(jsonl(*[CHAT] * 50))[:-30], ("file", "cut short")),
    "not gzip but named .gz": ("a.jsonl.gz", jsonl(CHAT), ("file", "not gzip")),
    "gzip of binary": ("a.jsonl.gz", gz(bytes(range(256)) * 4), ("file", "not a text file")),
    "Latin-1 line": ("a.jsonl", jsonl(CHAT) + '{"text": "café"}\n'.encode("latin-1") + jsonl(CHAT), ("row", 2, None)),
    "line not JSON": ("a.jsonl", around('{"messages": ['), ("row", 2, None)),
    "truncated last line": ("a.jsonl", jsonl(CHAT, CHAT) + b'{"messages": [{"role": "us', ("row", 3, None)),
    "number on a line": ("a.jsonl", around("42"), ("row", 2, None)),
    "huge number on a line": ("a.jsonl", around("1e999999"), ("row", 2, None)),
    "list on a line": ("a.jsonl", around("[1, 2]"), ("row", 2, None)),
    "null on a line": ("a.jsonl", around("null"), ("row", 2, None)),
    "JSON array with a string": ("a.json", f"[{CHAT}, \"oops\", {CHAT}]".encode(), ("row", 2, None)),
    "empty JSON array": ("a.json", b"[]", ("file", "holds no rows")),
    "one object, not a list": ("a.json", json.dumps(json.loads(CHAT), indent=2).encode(), ("file", "one JSON object")),
    "a JSON number file": ("a.json", b"42", ("file", "not a list of rows")),
    "not JSON at all": ("a.json", b"hello there\nthis is prose\n", ("file", "neither a JSON array")),
    "missing field": ("a.jsonl", around({"prompt": "Q?", "chosen": "A."}, PAIR), ("row", 2, "rejected")),
    "chosen is a number": ("a.jsonl", around({"prompt": "Q?", "chosen": 7, "rejected": "A."}, PAIR), ("row", 2, "chosen")),
    "chosen same as rejected": ("a.jsonl", around({"prompt": "Q?", "chosen": "A.", "rejected": "A."}, PAIR), ("row", 2, "rejected")),
    "messages not a list": ("a.jsonl", around({"messages": "Hi"}), ("row", 2, "messages")),
    "messages an object": ("a.jsonl", around({"messages": {"role": "user"}}), ("row", 2, "messages")),
    "content a list": ("a.jsonl", around({"messages": [{"role": "user", "content": ["Hi"]},
                                                       {"role": "assistant", "content": "x"}]}),
                       ("row", 2, "messages[0].content")),
    "role a list": ("a.jsonl", around({"messages": [{"role": ["user"], "content": "Hi"}]}),
                    ("row", 2, "messages[0].role")),
    "NaN as the answer": ("a.jsonl", around('{"prompt": "Hi", "completion": NaN}',
                                            '{"prompt": "Hi", "completion": "Hello"}'), ("row", 2, "completion")),
    "Infinity as a label": ("a.jsonl", around('{"prompt": "Hi", "completion": "x", "label": Infinity}',
                                              '{"prompt": "Hi", "completion": "Hello", "label": true}'),
                            ("row", 2, "label")),
    "label is text": ("a.jsonl", around({"prompt": "Hi", "completion": "x", "label": "maybe"},
                                        {"prompt": "Hi", "completion": "x", "label": False}), ("row", 2, "label")),
    "lone surrogate in text": ("a.jsonl", around('{"messages": [{"role": "user", "content": "Hi \\ud800"}, '
                                                 '{"role": "assistant", "content": "ok"}]}'), ("ok",)),
    "nested too deep (JSONL)": ("a.jsonl", around('{"messages": ' + deep(5000) + "}"), ("row", 2, "messages")),
    "nested too deep, parseable": ("a.jsonl", around('{"tools": ' + deep(300) + ', "text": "x"}'), ("row", 2, "tools")),
    "nested too deep (JSON array)": ("a.json", f"[{CHAT}, {{\"messages\": {deep(5000)}}}]".encode(),
                                     ("file", "nests too deeply", 2, "messages")),
    "huge line": ("a.jsonl", around({"text": "x" * 3_000_000}, {"text": "fine"}), ("row", 2, None)),
    "mixed formats": ("a.jsonl", jsonl(CHAT, CHAT, PAIR, CHAT), ("row", 3, "messages")),
    "unknown fields": ("a.jsonl", jsonl({"question": "Q", "answer": "A"}), ("row", 1, None)),
    "HH transcript without Human": ("a.jsonl", around({"chosen": "just text", "rejected": "\n\nHuman: a\n\nAssistant: b"},
                                                      {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a\n\nAssistant: c"}),
                                    ("row", 2, "chosen")),
    "ShareGPT unknown speaker": ("a.jsonl", around({"conversations": [{"from": "robot", "value": "x"}]},
                                                   {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}),
                                 ("row", 2, "conversations[0].from")),
    "Alpaca instruction a list": ("a.jsonl", around({"instruction": ["Say"], "output": "x"},
                                                    {"instruction": "Say hi", "output": "Hi"}), ("row", 2, "instruction")),
    "tools not JSON": ("a.jsonl", around({"messages": json.loads(CHAT)["messages"], "tools": "{nope"}), ("row", 2, "tools")),
    "feedback retracts a list": ("a.jsonl", feedback(retracts=["a1"]), ("row", 2, "retracts")),
    "feedback id a list": ("a.jsonl", feedback(id=["a2"]), ("row", 2, "id")),
    "feedback id an object": ("a.jsonl", feedback(id={"x": 1}), ("row", 2, "id")),
    "CSV row with extra cells": ("a.csv", b"prompt,completion\nHi,Hello\nHi,Hello,extra\nHi,Yo\n", ("row", 3, None)),
    "CSV without a header": ("a.csv", b",,\nHi,Hello\n", ("file", "no header row")),
    "CSV not UTF-8": ("a.csv", "prompt,completion\nHi,café\n".encode("latin-1"), ("file", "UTF-8")),
    "CSV cell nested too deep": ("a.csv", ("messages\n\"" + deep(3000) + "\"\n").encode(), ("row", 2, "messages")),
    "Parquet that is not": ("a.parquet", b"PAR1 this is not parquet at all", ("file", "not a readable Parquet")),
    "unknown extension": ("a.txt", jsonl(CHAT), ("file", "unknown file type")),
}


@pytest.mark.parametrize("case", list(CORPUS))
def test_a_broken_file_is_answered_in_lines_naming_where(fresh_home, tmp_path, capsys, case):
    name, content, expected = CORPUS[case]
    path = tmp_path / name
    path.write_bytes(content)
    code = main(["data", "inspect", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, err
    if expected[0] == "ok":
        assert code == 0, out + err
        return
    if expected[0] == "file":
        lines = err.strip().splitlines()
        assert code == 2 and out == "" and len(lines) == 1, err
        assert lines[0].startswith(f"error: {path}") and expected[1] in lines[0], lines[0]
        if len(expected) > 2:
            assert f"line {expected[2]}, field '{expected[3]}'" in lines[0]
        return
    _, line, field = expected
    assert code in (0, 2) and f"file:    {path}" in out, out + err
    reported = [text.strip() for text in out.splitlines() if text.strip().startswith(f"line {line}")]
    assert reported, out
    if field:
        assert reported[0].startswith(f"line {line} field '{field}':"), reported[0]


def test_the_corpus_covers_forty_kinds_of_broken_file():
    assert sum(expected[0] != "ok" for _, _, expected in CORPUS.values()) >= 40
