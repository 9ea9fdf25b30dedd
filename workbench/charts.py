"""Plotly figures from a run's metric rows (`Run.metrics()`: one dict per logged step).

The GUI's Train, Runs and Pipeline tabs and the Jupyter widgets draw the same figures from here:
`metric_figures` gives one chart per metric family (loss, accuracy, margins, KL, reward, answer
length), each training curve smoothed like TensorBoard's (`ema`) over its faint raw line, with the
held-out (eval_) points as markers on it.

Which curves a run has depends on its stage (SFT logs loss, a reward model accuracy and margin,
DPO rewards/margins and rewards/accuracies, PPO reward and KL); the charts are chosen from the
keys present, so a new stage's metrics show up without changes here.
"""

from __future__ import annotations

import math
import re

import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Chart title -> does a metric key belong on it (the key without its `eval_` prefix). Order
# matters: a key goes on the first chart it matches; keys no chart takes (learning rate, grad
# norm, throughput) are left out.
FAMILIES = (
    ("Loss", lambda key: key.endswith("loss") and key not in ("policy_loss", "value_loss")),
    ("Policy and value loss", lambda key: key in ("policy_loss", "value_loss")),
    ("Accuracy", lambda key: "accurac" in key),
    ("Margins", lambda key: "margin" in key),
    ("KL", lambda key: "kl" in _words(key) and key != "kl_coef"),  # the coefficient would flatten the KL
    ("Reward", lambda key: bool({"reward", "rewards", "score", "scores"} & _words(key))),
    ("Answer length", lambda key: "length" in key),
)
SKIP = {"step", "epoch", "time", "train_loss", "total_flos"}
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")
EVAL = "eval_"
SMOOTHING = 0.6      # TensorBoard's default weight
RAW_OPACITY = 0.3    # the raw curve stays visible behind the smoothed one
MOST_TICKS = 6       # a chart is about 300 px wide in a two-column grid


def _words(key: str) -> set[str]:
    return set(re.split(r"[/_.]", key))


def series(rows: list[dict], key: str) -> tuple[list, list]:
    """(steps, values) of one metric, in logging order."""
    points = [(row.get("step", i), row[key]) for i, row in enumerate(rows)
              if isinstance(row.get(key), (int, float)) and not isinstance(row.get(key), bool)]
    return [p[0] for p in points], [p[1] for p in points]


def ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average with its start debiased.

    s_i = w * s_(i-1) + (1 - w) * v_i from s_0 = 0, divided by 1 - w**n (n: finite values so far),
    so the first point is the first value, not a pull towards 0. weight 0 returns the values;
    near 1 the curve follows the trend only. A NaN or inf is kept as it is and left out of the
    average; a constant series is returned as it is (dividing would add rounding wiggles that a
    chart's autorange blows up). Follows TensorBoard's `scalars` plugin (vz_line_chart2
    `resmoothDataset`).
    """
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight {weight} is not in [0, 1)")
    if len({v for v in values if math.isfinite(v)}) <= 1:
        return list(values)
    smoothed, last, count = [], 0.0, 0
    for value in values:
        if not math.isfinite(value):
            smoothed.append(value)
            continue
        count += 1
        last = last * weight + (1 - weight) * value
        smoothed.append(last / (1 - weight ** count))
    return smoothed


def metric_families(runs: dict[str, list[dict]]) -> list[tuple[str, list[str]]]:
    """[(chart title, metric keys)] over every run's rows, the non-empty charts only, in FAMILIES
    order. A key is the training metric's name; its `eval_` twin is drawn with it, and an eval
    metric without a training twin (PPO's eval_reward/start) is a key of its own."""
    logged = {k for rows in runs.values() for row in rows for k in row if k not in SKIP}
    keys = sorted({k.removeprefix(EVAL) if k.removeprefix(EVAL) in logged else k for k in logged},
                  key=lambda k: (k != "loss", k))
    families = []
    for title, belongs in FAMILIES:
        chosen = [k for k in keys if belongs(k.removeprefix(EVAL))]
        keys = [k for k in keys if k not in chosen]
        if chosen:
            families.append((title, chosen))
    return families


def metric_figures(runs: dict[str, list[dict]], smoothing: float = SMOOTHING) -> dict[str, go.Figure]:
    """One readable chart per metric family (loss, accuracy, margins, KL, reward, ...): title -> figure.

    `runs` maps run name -> metric rows (`Run.metrics()`), the first the run shown, the others
    overlaid dashed. Each training metric is drawn twice in one colour: raw and faint, and smoothed
    by `ema(values, smoothing)` and strong; its eval twin as markers over it. Before the first
    point: one empty "Metrics" chart that says so. Trace meta: {"run", "key", "kind": raw |
    smoothed | eval} (key: the metric's own name, eval_ included)."""
    families = metric_families(runs)
    if not families:
        return {"Metrics": _layout(go.Figure(), "Metrics (no points yet)")}
    return {title: _family_figure(title, keys, runs, smoothing) for title, keys in families}


def _family_figure(title: str, keys: list[str], runs: dict[str, list[dict]], smoothing: float) -> go.Figure:
    fig = go.Figure()
    for r, (name, rows) in enumerate(runs.items()):
        for k, key in enumerate(keys):
            color, dash = COLORS[k % len(COLORS)], "solid" if r == 0 else "dash"
            label = key if r == 0 else f"{name}: {key}"
            x, y = series(rows, key)
            if x:
                meta = {"run": name, "key": key}
                fig.add_trace(go.Scatter(x=x, y=y, name=f"{label} (raw)", mode="lines", showlegend=False,
                                         legendgroup=label, opacity=RAW_OPACITY, line={"color": color, "width": 1,
                                                                                        "dash": dash},
                                         meta={**meta, "kind": "raw"}))
                fig.add_trace(go.Scatter(x=x, y=ema(y, smoothing), name=label, mode="lines", legendgroup=label,
                                         line={"color": color, "width": 2.5 if r == 0 else 2, "dash": dash},
                                         meta={**meta, "kind": "smoothed"}))
            twin = key if key.startswith(EVAL) else EVAL + key
            ex, ey = series(rows, twin)
            if ex:
                # Held-out points are few and each one counts: markers, never smoothed.
                fig.add_trace(go.Scatter(x=ex, y=ey, name=twin if r == 0 else f"{name}: {twin}",
                                         mode="markers" if x else "lines+markers",
                                         marker={"color": color, "size": 9, "symbol": "diamond",
                                                 "line": {"color": "white", "width": 1}},
                                         line={"color": color, "dash": dash}, meta={"run": name, "key": twin,
                                                                                     "kind": "eval"}))
    if title == "Accuracy":
        fig.update_yaxes(range=[-0.03, 1.03])
    return _layout(fig, title)


def _layout(fig, title: str, height: int = 300):
    # Steps are whole numbers: no 0.5 ticks on a short run, and few enough to read at 300 px.
    fig.update_xaxes(tickformat="d", dtick=_step_tick(fig), automargin=True)
    fig.update_yaxes(automargin=True)
    fig.update_layout(title={"text": title, "x": 0.01, "font": {"size": 15}}, height=height,
                      margin=dict(l=50, r=15, t=40, b=10), hovermode="x", template="plotly_white",
                      legend={"orientation": "h", "x": 0, "y": -0.12, "yanchor": "top", "font": {"size": 11}})
    return fig


def _step_tick(fig) -> int | None:
    """A whole, round tick spacing (1, 2, 5, 10, 20, ...) giving at most MOST_TICKS ticks (None:
    no points, let Plotly choose)."""
    steps = [x for trace in fig.data if trace.type == "scatter" and trace.x for x in trace.x]
    if not steps:
        return None
    wanted, tick = (max(steps) - min(steps)) / MOST_TICKS, 1
    while tick < wanted:
        tick = tick * 5 // 2 if str(tick).startswith("2") else tick * 2
    return tick


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
