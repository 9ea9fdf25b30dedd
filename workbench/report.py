"""The report of what each method did: one HTML file a person can send to a colleague (its Plotly
charts inline, no server needed) and its numbers as JSON, from `workbench.evaluate.report`.

    record = make_report(["sft-1", "dpo-1"], sft_data="held_out.jsonl", prompts="prompts.jsonl",
                         reward_model="rm-1")          # also $WORKBENCH_HOME/reports/<id>.{html,json}
    record["html"], record["json"]                     # the files written

The Report tab, `workbench report` and the notebooks show the same table (`report_table`), charts
(`report_figures`) and summary (`changes_from_base`).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from workbench import paths
from workbench.charts import COLORS
from workbench.errors import DataError
from workbench.evaluate.report import METRICS, changes_from_base, facing, load_report, measure_report
from workbench.io import claim_id, write_atomic, write_json_atomic

LABELS = {key: label for key, label, _, _ in METRICS}
DIRECTION = {key: direction for key, _, direction, _ in METRICS}


def format_value(key: str, value) -> str:
    if value is None:
        return "–"
    if key in ("bleu", "self_bleu", "mean_length"):
        return f"{value:.1f}"
    if key == "kl_to_base":
        return f"{value:.4f}"
    return f"{value:.3f}"


def present_keys(record: dict) -> list[str]:
    """The METRICS keys some model has a value for, in the report's order."""
    return [key for key, *_ in METRICS if any(record["metrics"][m].get(key) is not None for m in record["models"])]


def best_model(record: dict, key: str) -> str | None:
    """The model with the best value of a metric that has a direction (None: no direction, or a tie)."""
    values = {m: record["metrics"][m].get(key) for m in record["models"]}
    values = {m: v for m, v in values.items() if v is not None}
    if not DIRECTION.get(key) or len(values) < 2:
        return None
    pick = max if DIRECTION[key] == "higher" else min
    best = pick(values.values())
    winners = [m for m, v in values.items() if v == best]
    return winners[0] if len(winners) == 1 else None


def column_name(record: dict, model: str) -> str:
    stage = record["stages"].get(model)
    return model if stage in (None, "base", "model") else f"{model} ({stage})"


def report_table(record: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one row per measured metric ("↑"/"↓" says which way is better), one column
    per model, values formatted."""
    header = ["metric", *(column_name(record, m) for m in record["models"])]
    rows = []
    for key in present_keys(record):
        arrow = {"higher": " ↑", "lower": " ↓"}.get(DIRECTION[key] or "", "")
        rows.append([LABELS[key] + arrow, *(format_value(key, record["metrics"][m].get(key)) for m in record["models"])])
    return header, rows


def summary_lines(record: dict) -> list[str]:
    """One plain sentence per model: what moved from the base, and at what cost in drift."""
    lines = []
    for entry in changes_from_base(record):
        parts = []
        for change in entry["changes"]:
            if change["key"] in ("mean_length", "ended_share", "distinct_1"):
                continue
            sign = "+" if change["delta"] >= 0 else "−"
            mark = {True: " (better)", False: " (worse)"}.get(change["better"], "")
            parts.append(f"{change['label']} {sign}{format_value(change['key'], abs(change['delta']))}{mark}")
        versus = entry["win_rate_vs_base"]
        if versus and versus.get("win_rate") is not None:
            parts.append(f"wins {versus['win_rate']:.0%} of prompts against the base "
                         f"(95% interval {versus['ci_low']:.0%}–{versus['ci_high']:.0%}, n={versus['n']})")
        if entry["kl_to_base"] is not None:
            parts.append(f"drifted {entry['kl_to_base']:.4f} nats per token from the base")
        lines.append(f"{column_name(record, entry['model'])}: " + ("; ".join(parts) or "no number to compare"))
    return lines


# ---------------------------------------------------------------- charts

def _colour(record: dict, model: str) -> str:
    return COLORS[record["models"].index(model) % len(COLORS)]


def metrics_figure(record: dict):
    """One small bar chart per measured metric, a bar per model; the mean reward with its 95%
    interval (1.96 standard errors)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    keys = present_keys(record)
    cols = 3
    rows = max(1, math.ceil(len(keys) / cols))
    titles = [LABELS[k] + {"higher": " ↑", "lower": " ↓"}.get(DIRECTION[k] or "", "") for k in keys]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, vertical_spacing=0.5 / rows,
                        horizontal_spacing=0.08)
    for i, key in enumerate(keys):
        models = [m for m in record["models"] if record["metrics"][m].get(key) is not None]
        values = [record["metrics"][m][key] for m in models]
        error = None
        if key == "mean_reward":
            error = {"type": "data", "array": [1.96 * record["metrics"][m].get("reward_std", 0)
                                               / math.sqrt(max(1, record["metrics"][m].get("prompts", 1)))
                                               for m in models]}
        fig.add_trace(go.Bar(x=models, y=values, error_y=error, showlegend=False,
                             marker={"color": [_colour(record, m) for m in models]},
                             text=[format_value(key, v) for v in values], textposition="auto",
                             hovertemplate="%{x}: %{y}<extra>" + LABELS[key] + "</extra>"),
                      row=i // cols + 1, col=i % cols + 1)
    fig.update_layout(height=260 * rows, margin=dict(l=40, r=20, t=60, b=30), template="plotly_white",
                      title={"text": "Held-out numbers per model", "x": 0.01})
    return fig


def win_rate_figure(record: dict):
    """Each pair's win rate (reward-model score of greedy answers) with its Wilson interval, seen
    from the model listed later (the base is listed first, so "sft-1 vs base" reads as SFT's gain)."""
    import plotly.graph_objects as go

    pairs = [facing(row, row["opponent"]) for row in record.get("win_rates", []) if row.get("win_rate") is not None]
    fig = go.Figure(go.Bar(
        y=[f"{row['model']} vs {row['opponent']}" for row in pairs], x=[row["win_rate"] for row in pairs],
        orientation="h", marker={"color": COLORS[0]},
        error_x={"type": "data", "symmetric": False, "array": [row["ci_high"] - row["win_rate"] for row in pairs],
                 "arrayminus": [row["win_rate"] - row["ci_low"] for row in pairs]},
        text=[f"{row['win_rate']:.0%}" for row in pairs], textposition="inside",
        hovertemplate="%{y}: %{x:.0%}<extra></extra>"))
    fig.add_vline(x=0.5, line={"color": "#6b7280", "dash": "dash"})
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title_text="win rate of the first model (ties count half)")
    fig.update_layout(height=120 + 40 * len(pairs), margin=dict(l=40, r=20, t=50, b=40), template="plotly_white",
                      title={"text": "Win rates, with 95% intervals", "x": 0.01})
    return fig


def tradeoff_figure(record: dict):
    """What each model gained against what it cost: the headline number (mean reward, else
    preference accuracy, else held-out loss) against KL to the base and against distinct-2."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    keys = present_keys(record)
    y_key = next((k for k in ("mean_reward", "preference_accuracy", "loss") if k in keys), None)
    costs = [k for k in ("kl_to_base", "distinct_2") if k in keys]
    fig = make_subplots(rows=1, cols=max(1, len(costs)),
                        subplot_titles=[f"{LABELS[y_key]} against {LABELS[k]}" for k in costs] if y_key else None)
    if y_key:
        for col, x_key in enumerate(costs, start=1):
            for model in record["models"]:
                x, y = record["metrics"][model].get(x_key), record["metrics"][model].get(y_key)
                if x is None or y is None:
                    continue
                fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers+text", text=[model], textposition="top center",
                                         cliponaxis=False,
                                         marker={"size": 12, "color": _colour(record, model)}, name=model,
                                         legendgroup=model, showlegend=col == 1), row=1, col=col)
            fig.update_xaxes(title_text=LABELS[x_key], row=1, col=col)
            fig.update_yaxes(title_text=LABELS[y_key], row=1, col=col)
    fig.update_layout(height=360, margin=dict(l=50, r=20, t=60, b=50), template="plotly_white",
                      legend={"orientation": "h", "y": -0.25},
                      title={"text": "Gain against cost in drift and diversity", "x": 0.01})
    return fig


def report_figures(record: dict) -> list:
    """The report's charts, those that apply: numbers per model, win rates, gain against cost."""
    figures = [metrics_figure(record)]
    if any(row.get("win_rate") is not None for row in record.get("win_rates", [])):
        figures.append(win_rate_figure(record))
    tradeoff = tradeoff_figure(record)
    if len(record["models"]) > 1 and tradeoff.data:
        figures.append(tradeoff)
    return figures


# ---------------------------------------------------------------- the HTML file

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #111827; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #d1d5db; padding: 4px 8px; }
th { background: #f3f4f6; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { font-weight: bold; background: #ecfdf5; } .answers td { vertical-align: top; max-width: 28em; }
.meta { color: #4b5563; font-size: 0.9em; } dt { font-weight: bold; margin-top: 0.4em; }
"""


def prompt_text(messages) -> str:
    """A prompt's last user turn (what the example table shows)."""
    if isinstance(messages, str):
        return messages
    users = [m["content"] for m in messages if m.get("role") == "user"]
    return users[-1] if users else messages[-1]["content"]


def report_html(record: dict) -> str:
    """The whole report as one HTML page; plotly.js is inlined once, so it opens with no network."""
    import plotly.io as pio

    e = html.escape
    header, rows = report_table(record)
    best = {LABELS[key]: best_model(record, key) for key in present_keys(record)}
    table = ["<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        name = row[0].rstrip(" ↑↓")
        cells = [f"<td>{e(row[0])}</td>"]
        for model, value in zip(record["models"], row[1:]):
            cells.append(f"<td class=\"num{' best' if best.get(name) == model else ''}\">{e(value)}</td>")
        table.append("<tr>" + "".join(cells) + "</tr>")
    table.append("</table>")
    charts = [pio.to_html(fig, full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False},
                          default_width="100%") for i, fig in enumerate(report_figures(record))]
    examples = ["<table class=\"answers\"><tr><th>prompt</th>"
                + ("<th>reference</th>" if any(x.get("reference") for x in record["examples"]) else "")
                + "".join(f"<th>{e(column_name(record, m))}</th>" for m in record["models"]) + "</tr>"]
    for example in record["examples"]:
        cells = [f"<td>{e(prompt_text(example['prompt']))}</td>"]
        if any(x.get("reference") for x in record["examples"]):
            cells.append(f"<td>{e(example.get('reference') or '')}</td>")
        cells += [f"<td>{e(example['answers'].get(m, ''))}</td>" for m in record["models"]]
        examples.append("<tr>" + "".join(cells) + "</tr>")
    examples.append("</table>")
    data = ", ".join(f"{kind}: {e(Path(path).name)}" for kind, path in record["data"].items() if path)
    settings = record["settings"]
    meta = (f"{e(record.get('id') or '')} · {e(record['created_at'])} · measured in {record['wall_s']:.0f} s · "
            f"held-out data: {data} · reward model: {e(record.get('reward_model') or 'none')} · "
            f"first {settings['max_rows']} rows, {settings['samples']} samples per prompt at temperature "
            f"{settings['temperature']}, at most {settings['max_new_tokens']} new tokens, {e(settings['precision'])}")
    how = "".join(f"<dt>{e(label)}</dt><dd>{e(what)}{' (higher is better)' if d == 'higher' else ''}"
                  f"{' (lower is better)' if d == 'lower' else ''}</dd>" for _, label, d, what in METRICS)
    summary = "".join(f"<li>{e(line)}</li>" for line in summary_lines(record))
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>What each method did: {e(', '.join(record['models']))}</title><style>{STYLE}</style></head>"
            f"<body><h1>What each method did</h1><p class=\"meta\">{meta}</p>"
            f"<h2>What moved from the base</h2><ul id=\"summary\">{summary}</ul>"
            f"<h2>Numbers</h2><div id=\"numbers\">{''.join(table)}</div>"
            f"<h2>Charts</h2><div id=\"charts\">{''.join(charts)}</div>"
            f"<h2>Answers to held-out prompts (greedy)</h2><div id=\"examples\">{''.join(examples)}</div>"
            f"<h2>How each number is measured</h2><dl>{how}</dl></body></html>\n")


# ---------------------------------------------------------------- what to report on

KIND_ARGUMENT = {"sft": "sft_data", "preference": "preference_data", "prompts": "prompts", "unpaired": "prompts"}


def data_arguments(files) -> dict:
    """`measure_report`'s data arguments from held-out files, each placed by its detected format:
    {"sft_data", "preference_data", "prompts"}, those given. One file per kind."""
    from workbench.errors import ConfigError
    from workbench.evaluate.evaluate import data_task
    found: dict = {}
    for file in files:
        key = KIND_ARGUMENT[data_task(file)]
        if key in found:
            raise ConfigError(f"two held-out files of one kind ({key}): {found[key]} and {file}",
                              hint="Give at most one file each of SFT rows, preference pairs and prompts.")
        found[key] = str(file)
    return found


# ---------------------------------------------------------------- saving and listing

def reports_dir() -> Path:
    return paths.home() / "reports"


def save_report(record: dict, out=None) -> dict:
    """Give the record an id; write reports/<id>.json and .html under $WORKBENCH_HOME, and, with
    `out`, the HTML there too with its JSON beside it (same name, .json). Returns the record with
    "id", "html" and "json" (the paths a person would open: `out`'s when given)."""
    folder = reports_dir()
    report_id = claim_id(folder, "report")
    record = {**record, "id": report_id}
    targets = [folder / f"{report_id}.html"]
    if out is not None:
        out = Path(out).expanduser()
        if out.suffix.lower() not in (".html", ".htm"):
            out = out / f"{report_id}.html" if out.is_dir() else out.with_suffix(".html")
        out.parent.mkdir(parents=True, exist_ok=True)
        targets.append(out)
    page = report_html(record)
    record = {**record, "html": str(targets[-1]), "json": str(targets[-1].with_suffix(".json"))}
    for target in targets:
        write_atomic(target, page)
        write_json_atomic(target.with_suffix(".json"), record)
    return record


def make_report(models, *, out=None, **kw) -> dict:
    """Measure (`measure_report`, its keyword arguments) and save (`save_report`) a report."""
    return save_report(measure_report(models, **kw), out)


def list_reports() -> list[dict]:
    """Saved reports, newest first: {"id", "created_at", "models", "json", "html"}."""
    reports = []
    for path in sorted(reports_dir().glob("report-*.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # an id claimed by a writer that has not finished
        reports.append({"id": record.get("id"), "created_at": record.get("created_at"),
                        "models": record.get("models", []), "json": str(path), "html": str(path.with_suffix(".html"))})
    return reports


def get_report(report: str) -> dict:
    """A saved report by id (from `list_reports`) or by the path of its JSON or HTML file."""
    path = Path(report).expanduser()
    if path.suffix.lower() in (".html", ".htm"):
        path = path.with_suffix(".json")
    if not path.suffix:
        path = reports_dir() / f"{report}.json"
    if not path.exists():
        raise DataError(f"no report '{report}'", path=path,
                        hint="`workbench report list` shows the saved reports.")
    return load_report(path)


__all__ = ["data_arguments", "format_value", "get_report", "list_reports", "make_report", "prompt_text", "report_figures", "report_html",
           "report_table", "reports_dir", "save_report", "summary_lines"]
