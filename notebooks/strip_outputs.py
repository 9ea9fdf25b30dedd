"""Remove outputs, execution counts and saved widget state from the tutorial notebooks, so that
what is committed is the lesson, not one run of it. `make strip-notebooks` runs this."""

import sys
from pathlib import Path

import nbformat

for path in sys.argv[1:] or sorted(Path(__file__).parent.glob("*.ipynb")):
    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    book.metadata.pop("widgets", None)
    nbformat.write(book, path)
    print("stripped", path)
