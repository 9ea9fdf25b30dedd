"""Data files: reading, format detection, validation and the canonical rows every stage uses.

    report = inspect_file("pairs.jsonl")      # format, task, row errors, canonical rows
    rows = load_rows("pairs.jsonl", task="preference")
    train, val = split_rows(rows, val_fraction=0.1, seed=0)
"""

from workbench.data.formats import (
    FORMATS, TASKS, DataReport, inspect_file, load_rows, read_records, split_rows,
)
from workbench.data.validate import RowError

__all__ = ["read_records", "inspect_file", "load_rows", "split_rows", "DataReport", "RowError",
           "TASKS", "FORMATS"]
