"""What the front ends show of a report: its summary sentences, its table, its charts, the example
answers in columns, and where its files are (`workbench.report` draws and writes them)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ReportFacts:
    id: str
    line: str                                        # "report-…: base, sft-1 (sft) on 3 files, 212 s"
    summary: list[str] = field(default_factory=list)  # one sentence per model: what moved from the base
    header: list[str] = field(default_factory=list)   # "metric", then one column per model
    rows: list[list[str]] = field(default_factory=list)
    figures: list = field(default_factory=list)       # Plotly figures
    example_header: list[str] = field(default_factory=list)  # "prompt", "reference"?, one per model
    example_rows: list[list[str]] = field(default_factory=list)
    html: str | None = None
    json: str | None = None


def report_facts(record: dict) -> ReportFacts:
    """The facts of a report record (`make_report`'s result, or a saved report read back)."""
    from workbench.report import column_name, prompt_text, report_figures, report_table, summary_lines
    header, rows = report_table(record)
    with_reference = any(x.get("reference") for x in record["examples"])
    example_header = ["prompt", *(["reference"] if with_reference else []),
                      *(column_name(record, m) for m in record["models"])]
    example_rows = [[prompt_text(x["prompt"]), *([x.get("reference") or ""] if with_reference else []),
                     *(x["answers"].get(m, "") for m in record["models"])] for x in record["examples"]]
    files = sum(1 for path in record["data"].values() if path)
    line = (f"{record.get('id')}: {', '.join(column_name(record, m) for m in record['models'])} "
            f"on {files} held-out file{'s' if files != 1 else ''}, measured in {record['wall_s']:.0f} s")
    return ReportFacts(record.get("id") or "", line, summary_lines(record), header, rows, report_figures(record),
                       example_header, example_rows, record.get("html"), record.get("json"))


def report_choices() -> list[tuple[str, str]]:
    """(label, id) of the saved reports, newest first, for a picker."""
    from workbench.report import list_reports
    return [(f"{r['created_at']} · {', '.join(r['models'])}", r["id"]) for r in list_reports()]
