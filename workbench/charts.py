"""Plotly figures from a run's metric rows (`Run.metrics()`: one dict per logged step).

The GUI and the Jupyter widgets draw the same figures from here.

Which curves a run has depends on its stage (SFT logs loss, a reward model accuracy and margin,
DPO rewards/margins and rewards/accuracies, PPO reward and KL); the charts are chosen from the
keys present, so a new stage's metrics show up without changes here.
"""

from __future__ import annotations

import re

import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Chart title -> does a metric key belong on it. Order matters: a key goes on the first match.
GROUPS = (
    ("Accuracy", lambda key: "accurac" in key),
    ("Margin", lambda key: "margin" in key),
    ("Reward and KL", lambda key: bool({"reward", "rewards", "kl", "score", "scores"}
                                       & set(re.split(r"[/_.]", key)))),
)
SKIP = {"step", "epoch", "time", "train_loss", "total_flos"}
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")


def series(rows: list[dict], key: str) -> tuple[list, list]:
    """(steps, values) of one metric, in logging order."""
    points = [(row.get("step", i), row[key]) for i, row in enumerate(rows)
              if isinstance(row.get(key), (int, float)) and not isinstance(row.get(key), bool)]
    return [p[0] for p in points], [p[1] for p in points]


def loss_keys(rows: list[dict]) -> list[str]:
    keys = {k for row in rows for k in row if k.endswith("loss") and k not in SKIP}
    # Training loss first, then its eval twin, then the rest (PPO's policy / value losses).
    return sorted(keys, key=lambda k: (k != "loss", k != "eval_loss", k))


def stage_groups(rows: list[dict]) -> list[tuple[str, list[str]]]:
    """[(chart title, metric keys)] for the stage-specific charts, non-empty ones only."""
    keys = sorted({k for row in rows for k in row if k not in SKIP and not k.endswith("loss")})
    groups = []
    for title, belongs in GROUPS:
        chosen = [k for k in keys if belongs(k)]
        keys = [k for k in keys if k not in chosen]
        if chosen:
            groups.append((title, chosen))
    return groups


def _add(fig, runs: dict[str, list[dict]], keys: list[str], **where) -> None:
    """One trace per (run, key): the first run solid, overlaid runs dashed."""
    for r, (name, rows) in enumerate(runs.items()):
        for k, key in enumerate(keys):
            x, y = series(rows, key)
            if not x:
                continue
            label = key if r == 0 else f"{name}: {key}"
            fig.add_trace(go.Scatter(
                x=x, y=y, name=label, mode="lines+markers",
                marker={"size": 4}, legendgroup=label,
                line={"color": COLORS[k % len(COLORS)], "dash": "solid" if r == 0 else "dash",
                      "width": 2 if r == 0 else 1.5},
                meta={"run": name, "key": key}), **where)


def _layout(fig, title: str, height: int = 320):
    # Steps are whole numbers: no 0.5 ticks on a short run.
    fig.update_xaxes(tickformat="d", dtick=_step_tick(fig))
    fig.update_layout(title={"text": title, "x": 0.01}, height=height, margin=dict(l=50, r=20, t=50, b=40),
                      legend={"orientation": "h", "y": -0.2}, template="plotly_white")
    return fig


def _step_tick(fig) -> int | None:
    """A whole-number tick spacing giving at most about ten ticks (None: let Plotly choose)."""
    steps = [x for trace in fig.data if trace.type == "scatter" and trace.x for x in trace.x]
    if not steps:
        return None
    span = max(steps) - min(steps)
    return max(1, -(-span // 10))


def loss_figure(runs: dict[str, list[dict]]) -> go.Figure:
    """Train and eval loss against step; `runs` maps run name -> metric rows, first = main run."""
    keys = sorted({k for rows in runs.values() for k in loss_keys(rows)},
                  key=lambda k: (k != "loss", k != "eval_loss", k))
    fig = go.Figure()
    _add(fig, runs, keys)
    fig.update_xaxes(title_text="step")
    return _layout(fig, "Loss" if fig.data else "Loss (no points yet)")


def stage_figure(runs: dict[str, list[dict]]) -> go.Figure:
    """The stage's own metrics (accuracy, margins, reward / KL), one panel per group."""
    main = next(iter(runs.values()), [])
    groups = stage_groups(main)
    if not groups:
        fig = go.Figure()
        return _layout(fig, "Stage metrics (this stage logs loss only)", height=200)
    fig = make_subplots(rows=1, cols=len(groups), subplot_titles=[t for t, _ in groups])
    for col, (_, keys) in enumerate(groups, start=1):
        _add(fig, runs, keys, row=1, col=col)
        fig.update_xaxes(title_text="step", row=1, col=col)
    return _layout(fig, "Stage metrics")


def histogram_figure(lengths: list[int], max_length: int | None) -> go.Figure:
    """Token lengths of a file's rows, with the truncation length as a line."""
    fig = go.Figure(go.Histogram(x=lengths, nbinsx=min(40, max(5, len(set(lengths)))),
                                 marker={"color": COLORS[0]}, name="rows"))
    if max_length:
        fig.add_vline(x=max_length, line={"color": COLORS[1], "dash": "dash"},
                      annotation_text=f"max_length {max_length}", annotation_position="top right")
    fig.update_xaxes(title_text="tokens per row")
    fig.update_yaxes(title_text="rows")
    return _layout(fig, f"Token lengths ({len(lengths)} rows)", height=300)


def count_points(rows: list[dict], key: str = "loss") -> int:
    return len(series(rows, key)[0])


def served_figure(stats: dict) -> go.Figure:
    """A served log over time (`workbench.serve.served_stats`), one colour per model: requests,
    mean latency and the share of rated answers rated up, per time bucket, one panel each."""
    from datetime import datetime, timezone
    panels = (("requests", "requests"), ("latency_mean_s", "mean latency (s)"), ("share_up", "rated up (share)"))
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[title for _, title in panels])
    models = sorted({row["model"] for row in stats.get("series", [])})
    for k, model in enumerate(models):
        rows = [row for row in stats["series"] if row["model"] == model]
        x = [datetime.fromtimestamp(row["t"], tz=timezone.utc) for row in rows]
        for r, (key, _) in enumerate(panels, start=1):
            fig.add_trace(go.Scatter(x=x, y=[row[key] for row in rows], name=model, legendgroup=model,
                                     showlegend=r == 1, mode="lines+markers", marker={"size": 6},
                                     line={"color": COLORS[k % len(COLORS)]}, connectgaps=False),
                          row=r, col=1)
    fig.update_yaxes(rangemode="tozero")
    fig.update_yaxes(range=[0, 1.05], row=3, col=1)
    if models:  # half a bucket either side, so one bucket is a point in a minute, not in a millisecond
        times, half = [row["t"] for row in stats["series"]], stats.get("bucket_s", 60) / 2
        fig.update_xaxes(range=[datetime.fromtimestamp(min(times) - half, tz=timezone.utc),
                                datetime.fromtimestamp(max(times) + half, tz=timezone.utc)])
    title = f"Served: {stats.get('name', '')}" if models else "Served (no requests logged yet)"
    fig.update_layout(title={"text": title, "x": 0.01}, height=520, margin=dict(l=50, r=20, t=60, b=40),
                      legend={"orientation": "h", "y": -0.12}, template="plotly_white")
    return fig
