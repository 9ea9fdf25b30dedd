"""A server's facts as the Deploy panel and `workbench served` state them: its state, how to call
it (curl), and what its served log says per model."""

from __future__ import annotations

from dataclasses import dataclass, field

# "none": no server of this name was started by the Deploy panel; one started with `workbench serve`
# in a shell writes the same log but is not tracked, so the words must not say nothing is serving.
STATE_WORDS = {"none": "not started from the Deploy panel (a `workbench serve` in a shell is not tracked)",
               "starting": "starting (loading the models)", "running": "running",
               "stopped": "stopped"}


# The per-model table's columns, in order (the front ends draw an empty table with them).
TABLE_COLUMNS = ("model", "requests", "mean latency (s)", "p95 latency (s)", "tokens/s", "rated", "rated up")


@dataclass
class DeployFacts:
    name: str
    state: str                 # none | starting | running | stopped
    line: str                  # one sentence: state, models, url
    url: str | None
    curl: str                  # a chat request to paste into a shell
    rate_curl: str             # rating an answer
    table: list[dict] = field(default_factory=list)  # per model: requests, latency, tokens/s, rated up
    stats: dict = field(default_factory=dict)        # served_stats (for the figure)
    output: str = ""           # the server's last lines (why it stopped)


def deploy_facts(name: str = "served", *, bucket_s: int = 60) -> DeployFacts:
    from workbench.serve import served_stats, server_status
    status = server_status(name)
    stats = served_stats(name, bucket_s=bucket_s)
    url, models = status.get("url"), status.get("models") or ["base"]
    line = f"Server '{name}': {STATE_WORDS[status['state']]}"
    if status["state"] in ("starting", "running"):
        line += f", serving {', '.join(models)} at {url}"
        line += " (logging every exchange)." if status.get("log") else " (not logging)."
    else:
        line += "."
    base = url or "http://127.0.0.1:8000/v1"
    curl = (f"curl {base}/chat/completions -H 'Content-Type: application/json' -d "
            f"'{{\"model\": \"{models[0]}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello\"}}], "
            "\"max_tokens\": 64, \"seed\": 0}'")
    rate_curl = (f"curl {base}/feedback -H 'Content-Type: application/json' -d "
                 "'{\"id\": \"<the answer's id>\", \"rating\": \"up\"}'")
    table = [dict(zip(TABLE_COLUMNS, (model, m["requests"], m["latency_mean_s"], m["latency_p95_s"], m["tokens_per_s"],
                                      m["rated"], "-" if m["share_up"] is None else f"{m['share_up']:.0%}")))
             for model, m in stats["models"].items()]
    return DeployFacts(name=name, state=status["state"], line=line, url=url, curl=curl, rate_curl=rate_curl,
                       table=table, stats=stats, output=status.get("output") or "")
