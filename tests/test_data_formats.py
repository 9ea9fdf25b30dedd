"""Format detection and conversion to the canonical rows, on real files where they exist."""

import gzip
import json

import pytest
from conftest import shared_file

from workbench.data import FORMATS, TASKS, inspect_file, load_rows, read_records, split_rows
from workbench.errors import DataError

HH = "anthropic-hh-rlhf/harmless-base-test.jsonl.gz"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def only_row(tmp_path, row, name="data.jsonl", **kwargs):
    """Inspect a one-row file and return (report, its canonical row without _line)."""
    report = inspect_file(write_jsonl(tmp_path / name, [row]), **kwargs)
    assert report.errors == [], report.errors
    return report, {k: v for k, v in report.canonical[0].items() if k != "_line"}


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def system(text):
    return {"role": "system", "content": text}


# ------------------------------------------------------------------------------- real files

def test_hh_rlhf_real_file_splits_the_shared_prompt():
    path = shared_file(HH)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        raw = json.loads(f.readline())
    report = inspect_file(path)
    assert (report.format, report.task, report.rows) == ("hh_rlhf", "preference", 2312)
    row = report.canonical[0]
    assert row["_line"] == 1
    assert row["prompt"][:3] == [user("what are some pranks with a pen i can do?"),
                                 assistant("Are you looking for practical joke ideas?"),
                                 user("yep")]
    assert row["prompt"][3]["role"] == "assistant"
    assert row["prompt"][3]["content"].startswith("Ok, I’ll give you a couple examples")
    assert row["prompt"][4] == user("okay some of these do not have anything to do with pens")
    assert len(row["prompt"]) == 5
    assert row["chosen"] == raw["chosen"].rsplit("\n\nAssistant:", 1)[1].strip()
    assert row["chosen"].startswith("No, sorry!  All of these involve a pen")
    assert row["rejected"].startswith("There are lots of funny things you can do with pens")
    # The real file's defects are row errors, and every other row is kept.
    errors = {e.line: e for e in report.errors}
    assert errors[87].field == "chosen" and "answer is empty" in errors[87].message
    assert errors[1255].field == "rejected" and "differs from 'chosen'" in errors[1255].message
    assert "after an 'assistant' turn, got 'assistant'" in errors[668].message
    assert report.valid_rows == report.rows - report.error_count > 2250


def test_alpaca_real_file():
    path = shared_file("llama-factory/alpaca_en_demo.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    report = inspect_file(path)
    assert (report.format, report.task, report.valid_rows) == ("alpaca", "sft", len(raw))
    first = report.canonical[0]["messages"]
    assert first[0] == user("Describe a process of making crepes.")
    assert first[1]["role"] == "assistant" and first[1]["content"] == raw[0]["output"]
    # Row 6 is the first with an input: it follows the instruction after a blank line.
    assert raw[5]["input"]
    sixth = report.canonical[5]
    assert sixth["_line"] == 6
    assert sixth["messages"][0] == user(raw[5]["instruction"] + "\n\n" + raw[5]["input"])


def test_identity_placeholders_are_just_data():
    report = inspect_file(shared_file("llama-factory/identity.json"))
    assert report.format == "alpaca" and report.valid_rows == report.rows
    assert report.canonical[0]["messages"] == [
        user("hi"),
        assistant("Hello! I am {{name}}, an AI assistant developed by {{author}}. "
                  "How can I assist you today?")]


def test_kto_real_file_messages_with_label():
    path = shared_file("llama-factory/kto_en_demo.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    report = inspect_file(path)
    assert (report.format, report.task, report.valid_rows) == ("kto", "unpaired", len(raw))
    row = report.canonical[0]
    assert row["prompt"] == [user(raw[0]["messages"][0]["content"])]
    assert row["completion"] == raw[0]["messages"][1]["content"]
    assert row["completion"].startswith("Ooh ooh ah ah!")
    assert [r["label"] for r in report.canonical] == [r["label"] for r in raw]
    # Multi-turn rows: everything before the last assistant turn is the prompt.
    long = next(i for i, r in enumerate(raw) if len(r["messages"]) > 2)
    assert len(report.canonical[long]["prompt"]) == len(raw[long]["messages"]) - 1


def test_sharegpt_preference_real_file():
    path = shared_file("llama-factory/dpo_en_demo.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    report = inspect_file(path)
    assert (report.format, report.task, report.valid_rows) == ("sharegpt_preference", "preference",
                                                               len(raw))
    first = report.canonical[0]
    assert first["prompt"] == [user("Hi! I'd like to create a new language game simulating the "
                                    "first person perspective of a character named Angela.")]
    assert first["chosen"] == raw[0]["chosen"]["value"]
    assert first["rejected"] == raw[0]["rejected"]["value"]
    # Row 2 opens with a system turn; row 268 is multi-turn.
    assert report.canonical[1]["prompt"][0] == system(raw[1]["conversations"][0]["value"])
    assert [m["role"] for m in report.canonical[267]["prompt"]] == ["user", "assistant", "user"]
    assert report.canonical[267]["prompt"][2] == user("i am bored.")


# ------------------------------------------------------------------------ formats without one

def test_hh_rlhf_two_human_turns_split_exactly(tmp_path):
    shared = "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Name a colour."
    row = {"chosen": shared + "\n\nAssistant: Blue.", "rejected": shared + "\n\nAssistant: No."}
    report, canonical = only_row(tmp_path, row)
    assert report.format == "hh_rlhf"
    assert canonical == {
        "prompt": [user("Hi there"), assistant("Hello! How can I help?"), user("Name a colour.")],
        "chosen": "Blue.", "rejected": "No."}


def test_text_rows(tmp_path):
    report, row = only_row(tmp_path, {"text": "Once upon a time."})
    assert (report.format, report.task, row) == ("text", "sft", {"text": "Once upon a time."})


def test_messages_keep_system_tools_and_tool_calls(tmp_path):
    call = [{"type": "function", "function": {"name": "weather", "arguments": {"city": "Oslo"}}}]
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
    messages = [system("Be brief."), user("Weather in Oslo?"),
                {"role": "assistant", "content": "", "tool_calls": call},
                {"role": "tool", "content": "12C, rain"}, assistant("12C and raining.")]
    report, row = only_row(tmp_path, {"messages": messages, "tools": tools, "id": 7})
    assert (report.format, report.task) == ("messages", "sft")
    assert row == {"messages": messages, "tools": tools}


@pytest.mark.parametrize("prompt, completion, expected", [
    ("What is 2+2?", "4", [user("What is 2+2?"), assistant("4")]),
    ([system("Be terse."), user("What is 2+2?")], [assistant("4")],
     [system("Be terse."), user("What is 2+2?"), assistant("4")]),
])
def test_prompt_completion(tmp_path, prompt, completion, expected):
    report, row = only_row(tmp_path, {"prompt": prompt, "completion": completion})
    assert (report.format, report.task, row) == ("prompt_completion", "sft", {"messages": expected})


@pytest.mark.parametrize("prompt", ["Tell me a joke.", [user("Tell me a joke.")]])
def test_prompt_only(tmp_path, prompt):
    report, row = only_row(tmp_path, {"prompt": prompt})
    assert (report.format, report.task, row) == ("prompt_only", "prompts",
                                                 {"prompt": [user("Tell me a joke.")]})


@pytest.mark.parametrize("chosen, rejected", [
    ("Paris.", "Lyon."),
    ([assistant("Paris.")], [assistant("Lyon.")]),
    # A conversational answer that repeats the prompt turns in front of it.
    ([user("Capital of France?"), assistant("Paris.")], [user("Capital of France?"), assistant("Lyon.")]),
])
def test_preference_explicit_prompt(tmp_path, chosen, rejected):
    report, row = only_row(tmp_path, {"prompt": "Capital of France?", "chosen": chosen,
                                      "rejected": rejected})
    assert (report.format, report.task) == ("preference", "preference")
    assert row == {"prompt": [user("Capital of France?")], "chosen": "Paris.", "rejected": "Lyon."}


def test_feedback_rows_with_extra_keys_are_plain_preference(tmp_path):
    rows = [{"prompt": [user(f"Question {i}?")], "chosen": "good", "rejected": "bad",
             "models": ["a", "b"], "seeds": [1, 2], "rater": "me", "timestamp": "2026-11-23"}
            for i in range(3)]
    report = inspect_file(write_jsonl(tmp_path / "feedback.jsonl", rows))
    assert (report.format, report.valid_rows) == ("preference", 3)
    assert set(report.canonical[0]) == {"prompt", "chosen", "rejected", "_line"}


def test_preference_implicit_prompt(tmp_path):
    shared = [system("Be kind."), user("Hi"), assistant("Hello."), user("Rate my poem.")]
    row = {"chosen": shared + [assistant("It is lovely.")], "rejected": shared + [assistant("Bad.")]}
    report, canonical = only_row(tmp_path, row)
    assert (report.format, report.task) == ("preference_implicit", "preference")
    assert canonical == {"prompt": shared, "chosen": "It is lovely.", "rejected": "Bad."}


@pytest.mark.parametrize("label, expected", [(True, True), (0, False), ("false", False), ("1", True)])
def test_kto_prompt_completion_label(tmp_path, label, expected):
    report, row = only_row(tmp_path, {"prompt": "Hi", "completion": "Hello!", "label": label})
    assert (report.format, report.task) == ("kto", "unpaired")
    assert row == {"prompt": [user("Hi")], "completion": "Hello!", "label": expected}


def test_alpaca_with_system_and_history(tmp_path):
    row = {"instruction": "And 3+3?", "input": "", "output": "6", "system": "You do sums.",
           "history": [["What is 2+2?", "4"]]}
    report, canonical = only_row(tmp_path, row)
    assert report.format == "alpaca"
    assert canonical["messages"] == [system("You do sums."), user("What is 2+2?"), assistant("4"),
                                     user("And 3+3?"), assistant("6")]


def test_sharegpt_with_system_key_and_function_calls(tmp_path):
    call = {"name": "weather", "arguments": {"city": "Oslo"}}
    row = {"system": "Use tools.", "tools": json.dumps([{"name": "weather"}]),
           "conversations": [{"from": "human", "value": "Weather in Oslo?"},
                             {"from": "function_call", "value": json.dumps(call)},
                             {"from": "observation", "value": "12C"},
                             {"from": "gpt", "value": "It is 12C."}]}
    report, canonical = only_row(tmp_path, row)
    assert (report.format, report.task) == ("sharegpt", "sft")
    assert canonical == {"tools": [{"name": "weather"}], "messages": [
        system("Use tools."), user("Weather in Oslo?"),
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": call}]},
        {"role": "tool", "content": "12C"}, assistant("It is 12C.")]}


def test_every_format_is_named_and_has_a_task():
    assert set(FORMATS) == {"text", "messages", "prompt_completion", "prompt_only", "preference",
                            "preference_implicit", "hh_rlhf", "kto", "alpaca", "sharegpt",
                            "sharegpt_preference"}
    assert {task for task, _ in FORMATS.values()} == set(TASKS)


def test_majority_decides_and_odd_rows_name_the_missing_field(tmp_path):
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"}] * 3 + [{"text": "stray"}]
    report = inspect_file(write_jsonl(tmp_path / "mixed.jsonl", rows))
    assert report.format == "preference" and report.valid_rows == 3
    assert [(e.line, e.field) for e in report.errors] == [(4, "prompt")]
    assert "missing required field 'prompt'" in report.errors[0].message


# ------------------------------------------------------------------------------ file types

PAIRS = [{"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."},
         {"prompt": "2+2?", "chosen": "4", "rejected": "5, \"roughly\"\nor so"}]


def write_as(path, rows):
    """Write `rows` in the file type that `path`'s name says."""
    name = path.name
    if name.endswith(".jsonl"):
        write_jsonl(path, rows)
    elif name.endswith(".json"):
        path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    elif name.endswith(".jsonl.gz"):
        path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    elif name.endswith(".json.gz"):
        path.write_bytes(gzip.compress(json.dumps(rows).encode()))
    elif name.endswith(".csv"):
        import pandas as pd
        frame = pd.DataFrame([{k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()}
                              for r in rows])
        frame.to_csv(path, index=False)
    elif name.endswith(".parquet"):
        import pandas as pd
        pd.DataFrame(rows).to_parquet(path)
    return path


@pytest.mark.parametrize("name", ["d.jsonl", "d.json", "d.jsonl.gz", "d.json.gz", "d.csv", "d.parquet"])
def test_every_file_type_reads_the_same_rows(tmp_path, name):
    report = inspect_file(write_as(tmp_path / name, PAIRS))
    assert (report.format, report.errors) == ("preference", [])
    assert [{k: v for k, v in r.items() if k != "_line"} for r in report.canonical] == [
        {"prompt": [user(r["prompt"])], "chosen": r["chosen"], "rejected": r["rejected"]}
        for r in PAIRS]


@pytest.mark.parametrize("name", ["m.jsonl", "m.json", "m.csv", "m.parquet"])
def test_messages_column_in_every_file_type(tmp_path, name):
    """CSV holds a `messages` column as JSON text; Parquet as a list of structs."""
    rows = [{"messages": [user("Hi"), assistant("Hello!")]},
            {"messages": [system("Terse."), user("2+2?"), assistant("4")]}]
    report = inspect_file(write_as(tmp_path / name, rows))
    assert (report.format, report.errors) == ("messages", [])
    assert [r["messages"] for r in report.canonical] == [r["messages"] for r in rows]


def test_line_numbers_per_file_type(tmp_path):
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('prompt,chosen,rejected\n"multi\nline",a,b\np,c,d\n', encoding="utf-8")
    assert [line for line, _ in read_records(csv_path)] == [2, 4]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a"}\n\n{"text": "b"}\n', encoding="utf-8")
    assert [line for line, _ in read_records(jsonl)] == [1, 3]
    array = write_as(tmp_path / "d.json", [{"text": "a"}, {"text": "b"}])
    assert [line for line, _ in read_records(array)] == [1, 2]
    parquet = write_as(tmp_path / "d.parquet", [{"text": "a"}, {"text": "b"}])
    assert [line for line, _ in read_records(parquet)] == [1, 2]


def test_json_named_file_holding_json_lines(tmp_path):
    path = tmp_path / "actually_lines.json"
    write_jsonl(path, [{"text": "a"}, {"text": "b"}])
    report = inspect_file(path)
    assert (report.format, report.valid_rows) == ("text", 2)


def test_minified_array_on_one_line(tmp_path):
    path = tmp_path / "one_line.jsonl"
    path.write_text(json.dumps([{"text": "a"}, {"text": "b"}]), encoding="utf-8")
    assert [row for _, row in read_records(path)] == [{"text": "a"}, {"text": "b"}]


# --------------------------------------------------------------------- reports and loading

def test_report_to_json(tmp_path):
    rows = [{"text": "a"}, {"text": ""}, {"text": "c"}]
    out = inspect_file(write_jsonl(tmp_path / "t.jsonl", rows)).to_json(sample=1)
    assert out == {"path": str(tmp_path / "t.jsonl"), "format": "text", "task": "sft",
                   "rows": 3, "valid_rows": 2, "error_count": 1,
                   "errors": [{"line": 2, "field": "text",
                               "message": "expected text, got an empty string"}],
                   "sample": [{"text": "a"}]}


def test_max_errors_caps_the_list_not_the_count(tmp_path):
    rows = [{"text": ""}] * 5 + [{"text": "ok"}]
    report = inspect_file(write_jsonl(tmp_path / "t.jsonl", rows), max_errors=2)
    assert (len(report.errors), report.to_json()["error_count"], report.valid_rows) == (2, 5, 1)


def test_load_rows_keeps_source_lines_and_drops_bad_rows(tmp_path):
    bad = {"prompt": "x", "chosen": "same", "rejected": "same"}
    path = write_jsonl(tmp_path / "p.jsonl", [PAIRS[0], bad, PAIRS[1]])
    rows = load_rows(path, task="preference")
    assert rows == [{"prompt": [user(r["prompt"])], "chosen": r["chosen"], "rejected": r["rejected"],
                     "_line": line} for r, line in zip(PAIRS, (1, 3))]


def test_load_rows_refuses_the_wrong_task(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", PAIRS)
    with pytest.raises(DataError) as caught:
        load_rows(path, task="sft")
    assert caught.value.message == (
        f"{path}: holds preference data (prompt/chosen/rejected); the sft stage needs "
        "conversations or prompt/completion rows.")
    assert caught.value.hint == ("Train it with `workbench train reward` or `workbench train dpo`, "
                                 "or give an SFT file.")
    # inspect_file still reports the file, and says what is wrong for that task.
    report = inspect_file(path, task="sft")
    assert report.usable() and report.to_json()["task_problem"].startswith("holds preference data")


def test_prompts_from_any_task(tmp_path):
    pairs = write_jsonl(tmp_path / "p.jsonl", PAIRS + PAIRS[:1])  # a repeated prompt
    assert load_rows(pairs, task="prompts") == [{"prompt": [user("Capital of France?")], "_line": 1},
                                                {"prompt": [user("2+2?")], "_line": 2}]
    chats = write_jsonl(tmp_path / "c.jsonl", [{"messages": [
        system("S"), user("Hi"), assistant("Hello"), user("Joke?"), assistant("No.")]}])
    assert load_rows(chats, task="prompts") == [
        {"prompt": [system("S"), user("Hi"), assistant("Hello"), user("Joke?")], "_line": 1}]
    text = write_jsonl(tmp_path / "t.jsonl", [{"text": "plain"}])
    with pytest.raises(DataError, match="plain text rows"):
        load_rows(text, task="prompts")


# ----------------------------------------------------------------------------- splitting

def test_split_rows_is_deterministic_disjoint_and_complete():
    rows = list(range(50))
    train, val = split_rows(rows, val_fraction=0.2, seed=3)
    assert (train, val) == split_rows(rows, val_fraction=0.2, seed=3)
    assert len(val) == 10 and sorted(train + val) == rows and not set(train) & set(val)
    assert val != split_rows(rows, val_fraction=0.2, seed=4)[1]
    assert train == sorted(train) and val == sorted(val)  # file order kept within each part


@pytest.mark.parametrize("n, fraction, n_val", [(2, 0.1, 1), (1, 0.5, 0), (10, 0.0, 0), (3, 0.9, 2)])
def test_split_rows_sizes(n, fraction, n_val):
    train, val = split_rows(list(range(n)), val_fraction=fraction)
    assert (len(train), len(val)) == (n - n_val, n_val)
