"""What a served model was asked, how long it took, and how people rated it.

With `workbench serve --log`, every exchange is one line of $WORKBENCH_HOME/served/<name>.jsonl,
appended and fsynced before the answer leaves (the same writing as a feedback file), so a crash
loses at most the exchange being written, never an earlier one; a torn last line is skipped when
read. Without --log nothing is written: exchanges are kept in memory only (the latest KEEP), long
enough to be rated.

    {"id": "chatcmpl-...", "time": ISO 8601 UTC, "t": epoch seconds, "endpoint": "chat"|"completion",
     "model", "prompt": [messages] | text, "answer", "settings": {temperature, top_p, max_tokens,
     seed, stop}, "latency_s", "prompt_tokens", "completion_tokens", "finish_reason"}

A rating (POST /v1/feedback) goes to the feedback dataset of the same name
($WORKBENCH_HOME/feedback/<name>.jsonl, `workbench.feedback.rating_record`), where training reads
it, and, when logging, also to the served log as {"rates": id, "rating", "corrected", "model", "t"},
so `served_stats` can say how each model was rated over time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path

from workbench import paths
from workbench.errors import DataError

KEEP = 10_000  # exchanges held in memory for rating


def served_dir() -> Path:
    return paths.home() / "served"


def served_path(name: str) -> Path:
    from workbench.feedback import check_name
    return served_dir() / f"{check_name(name)}.jsonl"


class ServedLog:
    """The exchanges of one server: kept in memory (the latest KEEP) and, with log=True, appended
    to served_path(name). Ratings go to the feedback dataset `name`."""

    def __init__(self, name: str = "served", *, log: bool = False):
        from workbench.feedback import check_name
        self.name = check_name(name)
        self.path = served_path(self.name) if log else None
        self._recent: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, exchange: dict) -> None:
        """Keep `exchange` (a dict with "id"; see the module docstring) and, when logging, append it."""
        with self._lock:
            self._recent[exchange["id"]] = exchange
            while len(self._recent) > KEEP:
                self._recent.popitem(last=False)
        if self.path is not None:
            from workbench.io import append_jsonl
            append_jsonl(self.path, exchange, fsync=True)

    def find(self, exchange_id: str) -> dict | None:
        """The exchange with this id: from memory, else (when logging) from the served log."""
        with self._lock:
            if exchange_id in self._recent:
                return self._recent[exchange_id]
        if self.path is not None and self.path.exists():
            from workbench.io import read_jsonl_tolerant
            return next((row for row in read_jsonl_tolerant(self.path)
                         if isinstance(row, dict) and row.get("id") == exchange_id and "rates" not in row), None)
        return None

    def rate(self, exchange: dict, rating: str, *, correction: str | None = None,
             rater: str | None = None) -> dict:
        """Record a person's rating of a served chat answer (`exchange`, as `find` returns it) in
        the feedback dataset `name`; returns the feedback line. Raises DataError for a raw
        completion (it has no conversation to train on)."""
        from workbench.feedback import record_rating
        if exchange.get("endpoint") != "chat":
            raise DataError("only chat answers can be rated: a raw completion has no conversation to train on",
                            field="id", hint="Rate answers of /v1/chat/completions.")
        settings = exchange.get("settings") or {}
        record = record_rating(
            self.name, exchange["prompt"], exchange["answer"], model=exchange["model"], rating=rating,
            correction=correction, seed=settings.get("seed"), exchange=exchange["id"], rater=rater,
            settings={"temperature": settings.get("temperature"), "top_p": settings.get("top_p"),
                      "max_new_tokens": settings.get("max_tokens")})
        if self.path is not None:
            from workbench.io import append_jsonl
            append_jsonl(self.path, {"rates": exchange["id"], "rating": rating, "corrected": "chosen" in record,
                                     "model": exchange["model"], "t": time.time()}, fsync=True)
        return record


def served_logs() -> list[str]:
    """The names of the served logs in $WORKBENCH_HOME/served, newest first."""
    folder = served_dir()
    files = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.is_dir() else []
    return [path.stem for path in files]


def served_stats(name: str, *, bucket_s: int = 60) -> dict:
    """What the served log `name` says, per model and per time bucket of `bucket_s` seconds:

    {"name", "path", "requests", "bucket_s", "models": {model: {"requests", "latency_mean_s", "latency_p95_s",
     "tokens_per_s" (completion tokens over the summed latency), "rated", "rated_up", "share_up"
     (None when unrated)}}, "series": [{"model", "t" (bucket start, epoch s), "requests",
     "latency_mean_s", "rated", "rated_up", "share_up"}] in time order}.
    A rating counts in the bucket of the answer it rates."""
    from workbench.io import read_jsonl_tolerant
    path = served_path(name)
    rows = [row for row in read_jsonl_tolerant(path) if isinstance(row, dict)] if path.exists() else []
    exchanges = {row["id"]: row for row in rows if "rates" not in row and isinstance(row.get("id"), str)}
    ratings: dict[str, str] = {}
    for row in rows:
        if "rates" in row and row["rates"] in exchanges:
            ratings[row["rates"]] = row.get("rating")  # the latest rating of an answer counts
    models: dict[str, dict] = {}
    buckets: dict[tuple[str, int], dict] = {}
    for exchange_id, row in exchanges.items():
        model, latency = str(row.get("model")), float(row.get("latency_s") or 0.0)
        start = int(float(row.get("t") or 0) // bucket_s * bucket_s)
        for key, into in ((model, models), ((model, start), buckets)):
            facts = into.setdefault(key, {"latencies": [], "tokens": 0, "rated": 0, "rated_up": 0})
            facts["latencies"].append(latency)
            facts["tokens"] += int(row.get("completion_tokens") or 0)
            if exchange_id in ratings:
                facts["rated"] += 1
                facts["rated_up"] += ratings[exchange_id] == "up"
    return {"name": name, "path": str(path), "requests": len(exchanges), "bucket_s": bucket_s,
            "models": {model: _summary(facts, per_second=True) for model, facts in sorted(models.items())},
            "series": [{"model": model, "t": start, **_summary(facts)}
                       for (model, start), facts in sorted(buckets.items(), key=lambda item: item[0][1])]}


def _summary(facts: dict, per_second: bool = False) -> dict:
    latencies = sorted(facts["latencies"])
    summary = {"requests": len(latencies), "latency_mean_s": round(sum(latencies) / len(latencies), 3),
               "rated": facts["rated"], "rated_up": facts["rated_up"],
               "share_up": round(facts["rated_up"] / facts["rated"], 3) if facts["rated"] else None}
    if per_second:
        summary["latency_p95_s"] = round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 3)
        summary["tokens_per_s"] = round(facts["tokens"] / sum(latencies), 2) if sum(latencies) else None
    return summary
