"""Peak memory of inspecting large and hostile data files, each in its own process.

    .venv/bin/python bench/memory.py [--rows 1000000] [--bomb-mb 200] [--cap-mb 64]

Generates, in a temporary folder:
- a JSON Lines file of `--rows` prompt/completion rows, inspected as the Data tab does;
- a gzip bomb: a .jsonl.gz of a few hundred kB that expands to `--bomb-mb` MB, inspected with the
  default caps and again with WORKBENCH_MAX_BYTES at `--cap-mb` MB (where it is refused).
Prints each case's peak resident memory (ru_maxrss of its process), against the process's
memory before reading and as a ratio to the bytes read. A benchmark, not a test: nothing is
asserted, and it takes minutes at the full sizes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MB = 1 << 20


def peak_rss() -> int:
    """This process's resident high-water mark in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(path: str) -> None:
    """Inspect one file and print {baseline, peak, outcome} as JSON: run in a fresh process."""
    from workbench.data import inspect_file
    from workbench.errors import WorkbenchError
    baseline = peak_rss()  # imports done: what any front end holds before reading
    start = time.perf_counter()
    try:
        report = inspect_file(path)
        outcome = f"{report.valid_rows:,} usable rows of {report.rows:,}"
    except WorkbenchError as error:
        outcome = "refused: " + str(error).split(": ", 1)[-1][:90]
    print(json.dumps({"baseline": baseline, "peak": peak_rss(), "outcome": outcome,
                      "seconds": time.perf_counter() - start}))


def measure(path: Path, **env) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(path)], check=True, text=True,
                         capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1", **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_rows(path: Path, rows: int) -> int:
    with path.open("w") as out:
        for i in range(rows):
            out.write(json.dumps({"prompt": f"Question {i}?", "completion": f"Answer {i}."}) + "\n")
    return path.stat().st_size


def write_bomb(path: Path, megabytes: int) -> int:
    """A .jsonl.gz whose rows are mostly blanks inside one string: it compresses a thousandfold."""
    row = b'{"prompt": "' + b" " * 8000 + b'", "completion": "x"}\n'
    with gzip.open(path, "wb", compresslevel=9) as out:
        for _ in range(megabytes * MB // len(row)):
            out.write(row)
    return (megabytes * MB // len(row)) * len(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--bomb-mb", type=int, default=200)
    parser.add_argument("--cap-mb", type=int, default=64)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    with tempfile.TemporaryDirectory() as folder:
        jsonl, bomb = Path(folder) / "rows.jsonl", Path(folder) / "bomb.jsonl.gz"
        cases = [(f"{args.rows:,}-row JSONL", jsonl, write_rows(jsonl, args.rows), {})]
        expanded = write_bomb(bomb, args.bomb_mb)
        print(f"gzip bomb: {bomb.stat().st_size / 1024:,.0f} KiB on disk, {expanded / MB:,.0f} MiB expanded "
              f"({expanded / bomb.stat().st_size:,.0f}x)")
        cases += [(f"gzip bomb, {args.bomb_mb} MB expanded", bomb, expanded, {}),
                  (f"gzip bomb, cap {args.cap_mb} MB", bomb, expanded,
                   {"WORKBENCH_MAX_BYTES": str(args.cap_mb * MB)})]
        print(f"{'case':34} {'bytes read':>11} {'peak RSS':>9} {'added':>9} {'added/bytes':>11} {'s':>6}  outcome")
        for name, path, size, env in cases:
            m = measure(path, **env)
            added = m["peak"] - m["baseline"]
            print(f"{name:34} {size / MB:9,.0f} MB {m['peak'] / MB:6,.0f} MB {added / MB:6,.0f} MB "
                  f"{added / size:10.2f}x {m['seconds']:6.1f}  {m['outcome']}")


if __name__ == "__main__":
    main()
