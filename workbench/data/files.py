"""Reading data files: a .jsonl / .json / .jsonl.gz / .json.gz / .csv / .parquet file -> (line, object).

Line numbers: JSONL and CSV count file lines (a CSV header is line 1, so its first row is 2);
a JSON array counts its elements from 1; Parquet counts rows from 1.

CSV cells are text, except that a cell holding a JSON array or object (a `messages` column, a
conversational `chosen`) is read as that structure; so are label cells "true"/"false"/"1"/"0".
A line that cannot be read is a RowError in its place, so one bad line never hides the rest; so
is a row nested more than MAX_DEPTH levels deep (chat data needs a handful), which would otherwise
exhaust Python's recursion in the parser or in any later step that walks it.

Caps, so a small upload cannot exhaust memory (a .jsonl.gz can expand a thousandfold): a file is
read as a stream and refused once it yields more than `WORKBENCH_MAX_BYTES` bytes (decompressed;
default 2 GiB) or more than `WORKBENCH_MAX_ROWS` rows (default 2,000,000). Both are environment
variables, read on every call, so the CLI, the GUI, the widgets and the job processes share them.
"""

from __future__ import annotations

import codecs
import gzip
import io
import itertools
import json
import os
import re
import zlib
from pathlib import Path
from typing import Iterator

from workbench.data.formats import row_format
from workbench.data.validate import RowError, kind
from workbench.errors import ConfigError, DataError

MAX_DEPTH = 100
MAX_BYTES_ENV, MAX_ROWS_ENV = "WORKBENCH_MAX_BYTES", "WORKBENCH_MAX_ROWS"
DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS = 2 * 2**30, 2_000_000
_CHUNK = 1 << 20
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')  # JSON strings, brackets, ':' and ','.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # how a lone surrogate gets into JSON text
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".csv", ".parquet")
FILE_HINT = "Give a JSONL file (one JSON object per line), a JSON array of objects, a CSV " \
            "file with a header row, or a Parquet table."


def read_records(path) -> Iterator[tuple[int, dict | RowError]]:
    """(line, row object) for each row of a data file; unparseable rows come as RowErrors.

    Whole-file problems (missing, empty, a folder, unknown type, not gzip, binary, neither a
    JSON array nor JSON Lines) raise DataError at once, before the first row.
    """
    path = Path(path)
    max_bytes, max_rows = limits()
    suffix = _check_file(path)
    if suffix == ".parquet":
        records = _parquet_records(path)
    else:
        data = _read_bytes(path, gz=suffix.endswith(".gz"), max_bytes=max_bytes)
        records = _csv_records(path, data) if suffix == ".csv" else _json_records(path, data)
    return _at_most(records, path, max_rows)


def limits() -> tuple[int, int]:
    """(decompressed bytes, rows) a data file may hold: WORKBENCH_MAX_BYTES, WORKBENCH_MAX_ROWS."""
    return (env_int(MAX_BYTES_ENV, DEFAULT_MAX_BYTES), env_int(MAX_ROWS_ENV, DEFAULT_MAX_ROWS))


def env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip().replace("_", "")
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name}={os.environ[name]!r} is not a positive whole number",
                          hint=f"Set it to a number such as {default}, or unset it.")
    return int(text)


def _at_most(records, path: Path, max_rows: int) -> Iterator[tuple[int, dict | RowError]]:
    for count, record in enumerate(records, start=1):
        if count > max_rows:
            raise DataError(f"has more than {max_rows:,} rows, the cap ({MAX_ROWS_ENV})", path=path,
                            hint=f"Use a part of the file, or raise the cap: {MAX_ROWS_ENV}=N in the "
                                 "environment of the command or the app.")
        yield record


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


def _read_bytes(path: Path, *, gz: bool, max_bytes: int) -> bytes:
    """The file's bytes (decompressed), read in chunks so that at most max_bytes + one chunk is
    ever held: a gzip bomb is refused at the cap, not after it has filled the memory."""
    buffer = bytearray()
    try:
        with (gzip.open if gz else open)(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                buffer += chunk
                if len(buffer) > max_bytes:
                    what = "expands to" if gz else "holds"
                    raise DataError(f"{what} more than {max_bytes:,} bytes, the cap ({MAX_BYTES_ENV})",
                                    path=path, hint=f"Use a part of the file, or raise the cap: "
                                                    f"{MAX_BYTES_ENV}=N in the environment of the "
                                                    "command or the app.")
    except (gzip.BadGzipFile, zlib.error):
        raise DataError("is not gzip-compressed although its name ends in .gz", path=path,
                        hint="Rename it without .gz, or compress it with gzip.") from None
    except EOFError:
        raise DataError("the gzip data is cut short (an interrupted download?)", path=path,
                        hint="Download or compress it again.") from None
    # In place from here on: a copy of a large file would double what reading it costs.
    data = buffer
    if data.startswith(codecs.BOM_UTF8):
        del data[:len(codecs.BOM_UTF8)]
    if not data or data.isspace():
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


def _record(line: int, value, surrogates: bool = False) -> tuple[int, dict | RowError]:
    if isinstance(value, dict):
        return line, _without_surrogates(value) if surrogates else value
    return line, RowError(line, None, f"expected a JSON object {{...}}, got {kind(value)}")


def _without_surrogates(value):
    """`value` with each lone surrogate (a "\\ud800" escape JSON allows, UTF-8 cannot encode)
    replaced by U+FFFD, as a UTF-8 decoder replaces a bad byte: tokenizers refuse such text, so
    the row would pass inspection and then fail its tokenization or its training job. Pairs were
    joined by json.loads already; any surrogate left is lone."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def _too_deep(raw: bytes, rows_at: int) -> dict[int, str | None]:
    """The rows of JSON text `raw` nested more than MAX_DEPTH levels: {row number: its top-level
    field holding the nesting (None: the row itself)}. rows_at: the depth of the rows' own
    brackets, 1 for a JSON Lines line, 2 for the elements of a JSON array. Scans tokens, so text
    too deep for json.loads is still located."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return {}
    deep: dict[int, str | None] = {}
    depth, row, key, last = 0, 1, None, b""
    for token in _TOKENS.findall(raw):
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH and row not in deep:
                deep[row] = key
        elif token in (b"]", b"}"):
            depth -= 1
            if depth < rows_at:
                key = None
        elif token == b",":
            if depth == rows_at - 1:
                row += 1
        elif token == b":":
            if depth == rows_at:
                key = _try_json(last)
        last = token
    return deep


def _deep_error(line: int, field: str | None) -> RowError:
    return RowError(line, field if isinstance(field, str) else None,
                    f"nested more than {MAX_DEPTH} levels deep; rows are conversations and "
                    "pairs, a few levels at most")


def _json_records(path: Path, data: bytes) -> Iterator[tuple[int, dict | RowError]]:
    """Content, not the extension, decides between a JSON array and JSON Lines: both end up
    named .json in the wild."""
    if re.match(rb"\s*\[", data) or not _looks_like_jsonl(_lines(data)):
        deep = _too_deep(data, rows_at=2)
        try:
            value = json.loads(data.decode("utf-8"))
        except RecursionError:
            line, field = next(iter(deep.items()), (None, None))
            raise DataError(f"nests too deeply to read as one JSON document (more than {MAX_DEPTH} "
                            "levels" + (f", in element {line}" if line else "") + ")", path=path,
                            line=line, field=field if isinstance(field, str) else None,
                            hint="Remove or flatten that element, or save the file as JSON Lines "
                                 "(one row per line), where a bad row costs only itself.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if _looks_like_jsonl(_lines(data)):
                return _jsonl_records(_lines(data))
            where = f" at line {e.lineno}, column {e.colno}" if hasattr(e, "lineno") else ""
            reason = getattr(e, "msg", None) or e.reason
            raise DataError(f"is neither a JSON array nor JSON Lines ({reason}{where})",
                            path=path, hint=FILE_HINT) from None
        return _array_records(path, value, deep, surrogates=bool(_SURROGATE_ESCAPE.search(data)))
    return _jsonl_records(_lines(data))


def _lines(data: bytes) -> Iterator[bytes]:
    """The lines of `data` one at a time (a list of them all would copy the file). Split on
    b"\n" only, not splitlines(): JSON strings may hold U+2028 unescaped."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        yield bytes(data[start:end])
        start = end + 1


def _looks_like_jsonl(lines: Iterator[bytes]) -> bool:
    # Half of the first lines being objects tells JSON Lines with a few broken lines apart from
    # a pretty-printed document, whose lines are fragments.
    sample = list(itertools.islice((line for line in lines if line.strip()), 20))
    objects = sum(isinstance(_try_json(line), dict) for line in sample)
    return objects > 0 and 2 * objects >= len(sample)


def _try_json(line: bytes):
    try:
        return json.loads(line.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None


def _jsonl_records(lines: Iterator[bytes]) -> Iterator[tuple[int, dict | RowError]]:
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue  # blank lines (a trailing newline, a gap) are not rows
        deep = _too_deep(raw, rows_at=1)
        if deep:
            yield number, _deep_error(number, deep[1])
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            yield number, RowError(number, None, "not UTF-8 text")
        except json.JSONDecodeError as e:
            yield number, RowError(number, None, f"not valid JSON: {e.msg} (column {e.colno})")
        else:
            yield _record(number, value, surrogates=bool(_SURROGATE_ESCAPE.search(raw)))


def _array_records(path: Path, value, deep: dict, surrogates: bool) -> Iterator[tuple[int, dict | RowError]]:
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
    return ((number, _deep_error(number, deep[number])) if number in deep else
            _record(number, item, surrogates) for number, item in enumerate(value, start=1))


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
        if _too_deep(stripped.encode("utf-8"), rows_at=1):
            return text  # left as text, which the row's check then names
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            return text
        if isinstance(value, (list, dict)):
            return _without_surrogates(value) if "\\u" in stripped else value
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
