"""The presentation layer: the facts the front ends show, as plain parts (dataclasses, phrases,
lists), so the GUI (ui/), the widgets and the CLI state the same things. A front end only wraps
them in Markdown, HTML or terminal text.

    common     escaping, status-line symbols, readable errors, guarded handlers, a cached tokenizer
    runs       a run's status (state, step/total, ETA, final metrics); which runs a picker offers
    data       a data file's summary, a row's token statistics, the token chips (HTML and CSS)
    feedback   a feedback dataset's counts and a rating session's counter
    compare    the Comparer kept between clicks
    serve      a server's state, how to call it, and what its served log says
    pipeline   a pipeline's line, its steps' rows, and the run whose curve to draw
    report     a report's summary, table, charts, example answers and files

It sits above the engine (it reads runs, reports and sessions) and below the front ends.
"""

from workbench.present.common import esc, guarded, notice, primary_file, readable, tokenizer_for
from workbench.present.compare import ComparerCache
from workbench.present.data import (
    TOKEN_CSS, DataSummary, TokenStats, chips_html, cut_summary, data_summary, token_stats,
)
from workbench.present.feedback import Counter, feedback_facts, session_counter
from workbench.present.pipeline import PipelineFacts, pipeline_facts, pipeline_names
from workbench.present.report import ReportFacts, report_choices, report_facts
from workbench.present.runs import RunStatus, run_choices, run_status
from workbench.present.serve import DeployFacts, deploy_facts

__all__ = ["TOKEN_CSS", "ComparerCache", "Counter", "DataSummary", "DeployFacts", "deploy_facts", "PipelineFacts",
           "pipeline_facts", "pipeline_names", "ReportFacts", "report_choices", "report_facts", "RunStatus",
           "TokenStats", "chips_html",
           "cut_summary", "data_summary", "esc", "feedback_facts", "guarded", "notice", "primary_file",
           "readable", "run_choices", "run_status", "session_counter", "token_stats", "tokenizer_for"]
