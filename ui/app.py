"""The Gradio workbench: `workbench launch` serves it on 127.0.0.1.

    from ui.app import build_app, launch
    launch(port=7860)                                   # blocks; the CLI's `workbench launch`
    launch(port=0, open_browser=False, prevent_thread_lock=True)   # tests: returns the running app

Tabs: Data, Tokenization, Train, Pipeline, Compare, Report, Feedback, Runs, Deploy (one module each). The app binds another interface,
or shares a public link, only with authentication; analytics are off; uploads are limited to data
files of at most 200 MB. Served beyond this machine, typed paths reach only the workbench's own
folders and those given as `allowed_dirs` (`workbench.paths.share_reads`), and the Train form
leaves out how the machine runs a job. On loopback, a request naming another Host is refused
(a web page on another site cannot reach the app through DNS rebinding).
"""

from __future__ import annotations

import os

from workbench import paths, privacy  # noqa: F401 - analytics and telemetry off before gradio is imported
from workbench.present import TOKEN_CSS
from workbench.errors import ConfigError
from workbench.serve import is_loopback, trusted_hosts

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.middleware.trustedhost import TrustedHostMiddleware  # noqa: E402

from ui import (compare_tab, data_tab, deploy_tab, feedback_tab, pipeline_tab, report_tab, runs_tab,  # noqa: E402
                runview, start_panel, tokens_tab, train_tab)
from ui.common import UPLOAD_LIMIT, model_names  # noqa: E402

TITLE = "SFT ⇄ RLHF Workbench"

CSS = TOKEN_CSS + runview.CSS + start_panel.CSS + train_tab.CSS + """
.wb-progress { height: 14px; background: #e5e7eb; border-radius: 7px; overflow: hidden; }
.wb-bar { height: 100%; background: #2563eb; transition: width 0.5s; }
.wb-bar.wb-completed { background: #16a34a; } .wb-bar.wb-failed { background: #dc2626; }
.wb-bar.wb-stopped { background: #9ca3af; }
.wb-progress-text { margin-top: 4px; font-size: 0.9em; }
/* A failed event shows its message in a toast; the bare "Error" badge Gradio lays over every
   output of that event says nothing more and hides what the user typed. */
[data-testid="status-tracker"]:has(> span.error) { display: none !important; }
.wb-off { display: none !important; }  /* a group of Train fields the chosen stage does not have */
"""


def parse_auth(text: str) -> tuple[str, str]:
    user, sep, password = (text or "").partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth must be USER:PASSWORD, both non-empty",
                          hint="For example --auth alice:long-secret (or set WORKBENCH_AUTH).")
    return user, password


def check_exposure(host: str, share: bool, auth: str | None) -> None:
    """Refuse to serve beyond this machine without a password: runs, data and models are private."""
    if (share or not is_loopback(host)) and not auth:
        reach = "a public share link" if share else f"{host} (reachable from other machines)"
        raise ConfigError(f"serving on {reach} needs a password",
                          hint="Add --auth USER:PASSWORD (or set WORKBENCH_AUTH), or keep the default "
                               "--host 127.0.0.1.")
    if auth:
        parse_auth(auth)


def build_app() -> gr.Blocks:
    """The whole workbench as a gr.Blocks (not launched)."""
    from workbench.models import DEFAULT_MODEL
    # Gradio's copies of uploads: each is copied to $WORKBENCH_HOME/uploads at once (see
    # ui.common.keep_upload), so every 15 minutes those older than an hour go.
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(900, 3600)) as app:
        gr.Markdown(f"## {TITLE}\nBring a data file, see what is trained on, train SFT, reward models, DPO, "
                    "KTO and RL as jobs in their own process, and compare the models side by side.",
                    elem_id="title")
        with gr.Row():
            model = gr.Dropdown(choices=model_names(), value=DEFAULT_MODEL, allow_custom_value=True,
                                label="Model (its tokenizer and chat template are used everywhere)",
                                elem_id="model", scale=3)
            max_length = gr.Number(value=512, precision=0, minimum=8, label="max_length (tokens; the trainer cuts here)",
                                   elem_id="max-length", scale=1)
        ctx: dict = {"demo": app, "model": model, "max_length": max_length}
        start_panel.build(ctx)  # the first-run path: shown while the home has no runs
        with gr.Tabs(elem_id="tabs") as tabs:
            data_tab.build(ctx)
            tokens_tab.build(ctx)
            train_tab.build(ctx)
            pipeline_tab.build(ctx)
            compare_tab.build(ctx)
            report_tab.build(ctx)
            feedback_tab.build(ctx)
            runs_tab.build(ctx)
            deploy_tab.build(ctx)
        ctx["tabs"] = tabs
        start_panel.wire(ctx)
    return app


def launch(host: str = "127.0.0.1", port: int | None = 7860, *, share: bool = False, auth: str | None = None,
           open_browser: bool = True, prevent_thread_lock: bool = False, quiet: bool = False,
           allowed_dirs=()) -> gr.Blocks:
    """Build and serve the app. Raises ConfigError before serving anything unsafe.

    allowed_dirs: folders a shared app (another host, or a share link) may read typed paths from,
    besides its uploads, sample data and $WORKBENCH_HOME (`workbench launch --allow-dir`)."""
    check_exposure(host, share, auth)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    local = is_loopback(host) and not share
    if local:
        paths.local_reads()
    else:
        paths.share_reads(allowed_dirs)
    # Before build_app: the Train form leaves out the machine's fields when shared.
    app = build_app()
    # Only on loopback: a shared app answers other names (its host's), and asks for a password.
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=trusted_hosts(host))] if local else []
    app.queue(default_concurrency_limit=1)
    try:
        app.launch(server_name=host, server_port=port or None, share=share,
                   auth=parse_auth(auth) if auth else None, inbrowser=open_browser,
                   prevent_thread_lock=prevent_thread_lock, max_file_size=UPLOAD_LIMIT, show_error=True,
                   quiet=quiet, ssr_mode=False, mcp_server=False, pwa=False, enable_monitoring=False,
                   css=CSS, head=feedback_tab.SHORTCUTS_JS, footer_links=["gradio", "settings"],
                   app_kwargs={"middleware": middleware},
                   # The Report tab offers its HTML and JSON for download; nothing else of the home is served.
                   allowed_paths=[str(paths.home() / "reports")])
    except OSError as error:
        raise ConfigError(f"cannot serve on {host}:{port}: {error}",
                          hint="Another program uses that port: choose one with --port N.") from None
    return app


__all__ = ["build_app", "launch", "check_exposure", "is_loopback", "parse_auth"]
