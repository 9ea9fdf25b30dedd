"""What the front ends show of a pipeline: one line for the whole, one row per step, and the run
whose curve to draw (the running step's, else the last one that ran)."""

from __future__ import annotations

from dataclasses import dataclass, field

STEP_COLUMNS = ("step", "stage", "state", "progress", "run")


@dataclass
class PipelineFacts:
    name: str
    line: str                                   # "captain: running, step 3 of 5 ('dpo')"
    state: str = "?"                            # starting | running | completed | stopped | failed
    rows: list[list] = field(default_factory=list)  # STEP_COLUMNS, one row per step
    run: str | None = None                      # the training run to chart
    report: str | None = None                   # the id of the report its report step wrote


def pipeline_facts(name: str) -> PipelineFacts:
    """The facts of pipeline `name`; a line saying so when there is none of that name."""
    from workbench.errors import RunError
    from workbench.pipeline import MEASURES, get_pipeline
    try:
        pipeline = get_pipeline(name)
    except RunError:
        return PipelineFacts(name, f"No pipeline named '{name}' yet." if name else "No pipeline chosen.")
    state = pipeline.state()
    summary = pipeline.summary()
    rows = [[row[c] for c in STEP_COLUMNS] for row in summary]
    steps = [row["step"] for row in summary]
    current = state.get("current")
    line = f"{pipeline.name}: {state.get('state', '?')}"
    if current in steps and state.get("state") != "completed":
        line += f", step {steps.index(current) + 1} of {len(steps)} ('{current}')"
    if state.get("error"):
        line += f". {state['error']}"
    trained = [row for row in summary if row["run"] and row["stage"] not in MEASURES]
    chart = next((row["run"] for row in trained if row["step"] == current), trained[-1]["run"] if trained else None)
    report = next((row["run"] for row in reversed(summary) if row["stage"] == "report" and row["run"]), None)
    if report:
        line += f". Its report: {report} (the Report tab, or {pipeline.folder / 'report.html'})"
    return PipelineFacts(pipeline.name, line, state.get("state", "?"), rows, chart, report)


def pipeline_names() -> list[str]:
    from workbench.pipeline import list_pipelines
    return [p.name for p in list_pipelines()]
