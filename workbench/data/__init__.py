"""Data files: reading, format detection, validation and the canonical rows every stage uses.

    files.py          reading a file into (line, object) records
    formats.py        the named formats and detecting which one a file is in
    convert.py        one source row -> its canonical row
    validate.py       the checks a canonical row passes
    feedback_rows.py  which lines of a human-feedback file are training rows
    load.py           all of the above for a whole file: inspect_file (inspect_cached), load_rows, split_rows
    tokens.py         what the tokenizer and chat template make of a row

    report = inspect_file("pairs.jsonl")      # format, task, row errors, canonical rows
    rows = load_rows("pairs.jsonl", task="preference")
    train, val = split_rows(rows, val_fraction=0.1, seed=0)
"""

from workbench.data.files import SUFFIXES, read_records
from workbench.data.formats import FORMATS, TASKS
from workbench.data.load import DataReport, inspect_cached, inspect_file, load_rows, split_rows
from workbench.data.validate import RowError

__all__ = ["read_records", "inspect_file", "inspect_cached", "load_rows", "split_rows", "DataReport", "RowError",
           "TASKS", "FORMATS", "SUFFIXES"]
