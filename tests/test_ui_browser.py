"""The whole path through the app in a real headless browser (Debian's chromium, driven by
Playwright), on the tiny model: take the first-run path an empty home opens on, upload a file and
see its format and problem lines, open the tokenization view, start a short SFT run and watch the
loss chart gain points (a page reload keeps the run and its form; smoothing redraws the curve and
keeps the raw one), compare the base and the new run side by side, find the run in the Runs tab,
and see every tab fit a 1024 px window.

The app runs as `python -m workbench launch` in its own process with an empty WORKBENCH_HOME.
Every step saves a screenshot under tests/screenshots/ and asserts on what the page shows.
The tests in this file run in order and share one page.
"""

import contextlib
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, TEST_HOME
from ui_support import free_port, wait_until

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = ROOT / "tests" / "screenshots"
RUN = "browser-sft"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} is absent: install Debian's chromium (`apt-get install chromium`) "
                              "for the browser tests; Playwright's own browser download is not used"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")




@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`workbench launch` in its own process, on a free port, with an empty home."""
    from workbench.models import build_tiny_model
    build_tiny_model()
    home = tmp_path_factory.mktemp("browser-home")
    (home / "models").symlink_to(TEST_HOME / "models", target_is_directory=True)
    port = free_port()
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    log = open(home / "app.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "workbench", "launch", "--port", str(port), "--no-browser"],
                               env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"

    def up():
        assert process.poll() is None, (home / "app.log").read_text()
        try:
            return urllib.request.urlopen(url + "config", timeout=2).status == 200
        except OSError:
            return False
    wait_until(up, timeout=180, what="the app serving")
    yield url, home
    stop = home / "runs" / RUN / "stop"
    if stop.parent.exists():
        stop.touch()  # never leave a job training
    process.terminate()
    process.wait(timeout=30)
    log.close()


@contextlib.contextmanager
def browser_page(url: str):
    """A chromium page on the app at `url`, once the app has drawn its first tab."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.wait_for_selector("#data-path")
        yield page
        browser.close()


@pytest.fixture(scope="module")
def page(server):
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    with browser_page(server[0]) as page:
        yield page


def shot(page, name: str) -> None:
    page.wait_for_timeout(800)  # plotly draws a moment after the data arrives
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.locator(f'#{elem_id} li[role="option"][aria-label="{option}"]').click()


def fill(page, elem_id: str, text: str) -> None:
    box = page.locator(f"#{elem_id} textarea, #{elem_id} input").first
    box.fill(text)
    box.press("Tab")


def text(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id}").inner_text()


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def drawn_charts(page, prefix: str) -> dict:
    """The charts the page drew in `prefix`'s grid: title -> [{name, kind, key, y, opacity}]."""
    return page.evaluate("""prefix => Object.fromEntries(
        [...document.querySelectorAll(`#${prefix}-charts .js-plotly-plot`)]
        .filter(plot => plot.data && plot.offsetParent !== null)
        .map(plot => [plot.layout.title.text, plot.data.map(t => ({name: t.name, kind: t.meta.kind,
                      key: t.meta.key, y: Array.from(t.y), opacity: t.opacity === undefined ? 1 : t.opacity}))]))
    """, prefix)


def loss_points(page) -> int:
    """Points of the raw 'loss' curve in the Train tab's Loss chart (0 before the first)."""
    loss = drawn_charts(page, "train").get("Loss", [])
    return next((len(t["y"]) for t in loss if t["key"] == "loss" and t["kind"] == "raw"), 0)


def form_value(page, name: str) -> str:
    return page.locator(f"#train-{name} textarea, #train-{name} input").first.input_value()


def test_0_an_empty_home_opens_on_the_first_run_path(page):
    """No runs yet: the page opens on five one-click steps, each filling and opening its tab, from
    the sample data to the base and the new models answering side by side."""
    panel = page.locator("#start-here")
    panel.wait_for()
    assert "Start here" in text(page, "start-here")
    labels = [page.locator(f"#start-{key}").inner_text() for key in ("data", "tokens", "sft", "preferences", "compare")]
    assert labels == ["1 · Sample data", "2 · Tokens", "3 · SFT", "4 · Preferences", "5 · Compare"]
    assert not page.locator("#start-compare").is_enabled()  # Compare waits for the SFT run
    shot(page, "0a-start-here")
    choose(page, "model", "tiny")
    page.locator("#start-data").click()
    page.wait_for_function("document.querySelector('#data-summary').innerText.includes('sft.jsonl')")
    assert "format messages" in text(page, "data-summary")
    page.locator("#start-tokens").click()
    page.locator("#tok-chips .tok.trained").first.wait_for()
    page.locator("#start-sft").click()
    page.wait_for_function("document.querySelector('#train-progress')?.innerText.includes('start-sft')")
    page.wait_for_function("document.querySelector('#start-sft').innerText.includes('✓')", timeout=240_000)
    page.locator("#start-preferences").click()
    page.wait_for_function("document.querySelector('#train-progress')?.innerText.includes('start-dpo')")
    page.wait_for_function("document.querySelector('#start-preferences').innerText.includes('running')")
    # DPO's own charts, drawn as it trains. (Its ten steps take a minute and a half on the tiny model:
    # the run is stopped here, and Compare goes on with the base and the SFT run.)
    wait_until(lambda: {"Accuracy", "Margins"} <= set(drawn_charts(page, "train")), timeout=120,
               what="DPO's charts")
    page.locator("#train-stop").click()
    page.wait_for_function("document.querySelector('#start-preferences').innerText.includes('stopped')",
                           timeout=120_000)
    page.locator("#start-compare").click()
    page.wait_for_function("document.querySelector('#compare-score-2')?.innerText.includes('tokens in')",
                           timeout=180_000)
    assert "start-sft" in text(page, "compare-score-2") and "base" in text(page, "compare-score-1")
    assert "Which language has the most native speakers?" in text(page, "compare-chat-1")
    page.wait_for_function("document.querySelector('#start-compare').innerText.includes('✓')")
    assert "Preferences" in text(page, "start-line")  # the one step left: DPO did not complete
    shot(page, "0b-start-here-compared")
    page.locator("#compare-clear").click()  # the Compare test below starts a conversation of its own
    open_tab(page, "Data")


def test_1_upload_a_file_and_see_its_format(page, tmp_path):
    choose(page, "model", "tiny")
    fill(page, "max-length", "64")
    # A path that does not exist is a readable message, not a bare "Error".
    fill(page, "data-path", "/nonexistent/chats.jsonl")
    page.locator("#data-inspect").click()
    page.get_by_text("file not found").first.wait_for()
    # The toast's title is the one "Error" shown: no bare badges over the outputs. (Outputs that an
    # event filled before, as the first-run path's did, also tell a screen reader, off screen: .sr-only.)
    assert page.locator('text="Error" >> visible=true').evaluate_all(
        "found => found.filter(e => !e.closest('.sr-only')).length") <= 1
    shot(page, "1a-bad-path-message")
    page.locator(".toast-close").first.click()

    lines = (ROOT / "sample_data" / "sft.jsonl").read_text(encoding="utf-8").splitlines()[:40]
    lines.insert(2, '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"}]}')
    upload = tmp_path / "my_chats.jsonl"
    upload.write_text("\n".join(lines) + "\n", encoding="utf-8")
    page.locator("#data-upload input[type=file]").set_input_files(str(upload))
    page.wait_for_function("document.querySelector('#data-summary').innerText.includes('my_chats.jsonl')")
    summary = text(page, "data-summary")
    assert "format messages" in summary and "task sft" in summary
    assert "41 rows: 40 usable, 1 with problems" in summary
    problems = text(page, "data-problems")
    assert "3" in problems and "content" in problems
    assert "Training on 36 rows, validating on 4" in text(page, "data-split")
    page.locator("#data-lengths .js-plotly-plot").wait_for()
    assert "rows longer than max_length 64" in text(page, "data-lengths-text")
    shot(page, "1b-uploaded-file-format")


def test_2_tokenization_view(page):
    open_tab(page, "Tokenization")
    page.locator("#tok-chips .tok.trained").first.wait_for()
    trained = page.locator("#tok-chips .tok.trained").count()
    masked = page.locator("#tok-chips .tok.masked").count()
    assert trained > 0 and masked > 0
    assert page.locator("#tok-chips .tok-cut").inner_text().strip() == "✂ max_length 64"
    stats = text(page, "tok-stats")
    assert "through tiny" in stats and "cuts it at token 64" in stats
    assert page.locator("#tok-template textarea").input_value().startswith("<|im_start|>")
    shot(page, "2-tokenization-view")


STEPS = 150


def test_3_train_and_watch_the_plot_gain_points(page):
    open_tab(page, "Train")
    assert page.locator("#train-model input").input_value() == "tiny"
    assert page.locator("#train-data textarea, #train-data input").first.input_value().endswith("my_chats.jsonl")
    # Enough steps to watch the chart grow: the tiny model trains ~10 steps a second.
    # The essentials come first, each with its help; the rest waits under More settings, closed.
    assert page.locator("#train-max_steps").inner_text().count("optimizer steps") == 1
    assert not page.locator("#train-batch_size").is_visible()
    fill(page, "train-max_steps", str(STEPS))
    fill(page, "train-learning_rate", "0.001")  # an optional number: empty means the stage's default
    fill(page, "train-name", RUN)
    page.get_by_text("More settings").click()
    fill(page, "train-batch_size", "2")
    fill(page, "train-eval_steps", "50")
    wanted = [f"--max-steps {STEPS}", "--learning-rate 0.001", "--eval-steps 50"]
    page.wait_for_function("wanted => wanted.every(w => document.querySelector('#train-command').innerText"
                           ".includes(w))", arg=wanted)
    command = text(page, "train-command")
    assert "workbench train sft" in command and "--model tiny" in command and f"--name {RUN}" in command
    assert "--learning-rate 0.001" in command and "--eval-steps 50" in command
    page.locator("#train-start").click()
    page.get_by_text(f"Started run {RUN}").first.wait_for()

    first = wait_until(lambda: loss_points(page), timeout=240, what="the first loss point")
    assert first < STEPS, "the run ended before the chart was first drawn: nothing was watched live"
    shot(page, "3a-train-first-points")
    more = wait_until(lambda: (lambda n: n if n >= first + 2 else 0)(loss_points(page)), timeout=240,
                      what="more loss points")
    label = page.locator("#train-progress .wb-points").get_attribute("data-points")
    assert int(label) >= more
    shot(page, "3b-train-more-points")

    # A page refresh reattaches to the job from its run folder, and the form shows what it was started
    # with (from its config.yaml), under no name: Start again makes a new run.
    page.reload()
    page.wait_for_selector("#data-path")
    assert not page.locator("#start-here").is_visible()  # the home has a run of its own now
    open_tab(page, "Train")
    page.wait_for_function(f"document.querySelector('#train-progress').innerText.includes('{RUN}')")
    wait_until(lambda: loss_points(page) >= more, timeout=60, what="the reloaded plot")
    page.get_by_text("More settings").click()
    kept = {name: form_value(page, name) for name in ("stage", "model", "max_steps", "learning_rate", "batch_size",
                                                       "eval_steps", "name")}
    assert kept == {"stage": "sft", "model": "tiny", "max_steps": str(STEPS), "learning_rate": "0.001",
                    "batch_size": "2", "eval_steps": "50", "name": ""}, kept
    assert form_value(page, "data").endswith("my_chats.jsonl")
    shot(page, "3c-train-after-reload")

    page.locator('#train-progress [data-state="completed"]').wait_for(timeout=300_000)
    assert loss_points(page) == STEPS
    assert "completed" in text(page, "train-status")
    shot(page, "3d-train-completed")


def curves(page) -> dict:
    """The Loss chart's loss curves by kind: raw, smoothed and eval, as the page drew them."""
    return {t["kind"]: t for t in drawn_charts(page, "train")["Loss"] if t["key"].endswith("loss")}


def test_3e_smoothing_redraws_the_curve_and_keeps_the_raw_one(page):
    before = curves(page)
    assert before["raw"]["opacity"] < 1 == before["smoothed"]["opacity"]  # raw faint, smoothed strong
    assert len(before["eval"]["y"]) >= 3  # the held-out points, every 50 steps, as markers
    for weight in ("0", "0.95"):
        box = page.locator("#train-smoothing input[type=number]")
        box.fill(weight)
        box.press("Enter")
        page.wait_for_function("""weight => {
            const plot = document.querySelector('#train-charts .js-plotly-plot');
            const smoothed = plot.data.find(t => t.meta.kind === 'smoothed' && t.meta.key === 'loss');
            const raw = plot.data.find(t => t.meta.kind === 'raw' && t.meta.key === 'loss');
            const same = smoothed.y.every((y, i) => y === raw.y[i]);
            return weight === '0' ? same : !same && smoothed.y[5] !== window.__smoothedAt5;
        }""", arg=weight)
        page.evaluate("() => { window.__smoothedAt5 = document.querySelector('#train-charts .js-plotly-plot')"
                      ".data.find(t => t.meta.kind === 'smoothed').y[5]; }")
    after = curves(page)
    assert after["raw"]["y"] == before["raw"]["y"]  # the raw curve is kept as logged
    assert after["smoothed"]["y"] != before["smoothed"]["y"]
    # at 0.95 the smoothed curve is calmer than the raw one: smaller steps from point to point
    steps = lambda ys: sum(abs(b - a) for a, b in zip(ys, ys[1:]))
    assert steps(after["smoothed"]["y"]) < steps(after["raw"]["y"]) / 2
    shot(page, "3e-train-smoothing")


def test_4_compare_base_and_the_new_run(page):
    choose(page, "model", "tiny")  # the base the "base" column means
    open_tab(page, "Compare")
    choose(page, "compare-model-1", "base")
    choose(page, "compare-model-2", RUN)
    fill(page, "compare-max-new", "200")
    fill(page, "compare-prompt", "Who was the first person to walk on the Moon?")
    # Record both columns' answer lengths as the page draws them: they must grow together.
    page.evaluate("""() => {
        const answer = c => {
            const bots = document.querySelectorAll(`#compare-chat-${c} [data-testid="bot"]`);
            return bots.length ? bots[bots.length - 1].innerText.trim().length : 0;
        };
        window.__answer = answer;
        window.__lengths = [];
        window.__sampler = setInterval(() => window.__lengths.push([answer(1), answer(2)]), 20);
    }""")
    page.locator("#compare-send").click()
    page.wait_for_function("document.querySelector('#compare-score-2').innerText.includes('tokens in')",
                           timeout=180_000)
    lengths, final = page.evaluate(
        "() => { clearInterval(window.__sampler); return [window.__lengths, [1, 2].map(window.__answer)]; }")
    assert any(0 < one < final[0] and 0 < two < final[1] for one, two in lengths), (
        "the two columns never grew at the same time", final, len(lengths))
    for column in ("1", "2"):
        chat = text(page, f"compare-chat-{column}")
        assert "Who was the first person to walk on the Moon?" in chat
        assert "tokens in" in text(page, f"compare-score-{column}") and "tok/s" in text(page, f"compare-score-{column}")
    assert "base" in text(page, "compare-score-1") and RUN in text(page, "compare-score-2")
    # (The tiny model's answers are gibberish, and a short run barely moves its near-uniform output.)
    assert all(page.locator(f'#compare-chat-{c} [data-testid="bot"]').last.inner_text().strip() for c in "12")
    shot(page, "4-compare-side-by-side")


def test_5_runs_tab_lists_the_run(page):
    open_tab(page, "Runs")
    page.wait_for_function(f"document.querySelector('#runs-table').innerText.includes('{RUN}')")
    table = text(page, "runs-table")
    assert "completed" in table and "tiny" in table
    # compact: the stage's headline metric, not a column for every metric of every stage (the
    # first-run path's DPO run names its own headline, eval_rewards/margins, in the metric column)
    headers = page.evaluate("() => [...document.querySelectorAll('#runs-table thead th')].map(th => th.innerText)")
    assert "metric" in " ".join(headers) and not any("accuracy" in h or "margins" in h for h in headers), headers
    assert 0 < len(headers) <= 10, headers
    choose(page, "runs-stage", "dpo")  # filtered by stage: the SFT run leaves the table
    page.wait_for_function(f"!document.querySelector('#runs-table').innerText.includes('{RUN}')")
    choose(page, "runs-stage", "all")
    page.wait_for_function(f"document.querySelector('#runs-table').innerText.includes('{RUN}')")
    choose(page, "runs-pick", RUN)
    page.wait_for_function(f"document.querySelector('#runs-config').innerText.includes('max_steps: {STEPS}')")
    assert "completed" in text(page, "runs-details")
    shot(page, "5a-runs-tab")
    # Deleting asks first.
    page.locator("#runs-delete").click()
    page.locator("#runs-delete-confirm").wait_for()
    assert f"Delete run {RUN}" in text(page, "runs-message")
    shot(page, "5b-runs-delete-confirmation")
    page.locator("#runs-delete-confirm").click()
    page.wait_for_function(f"document.querySelector('#runs-message').innerText.includes('Deleted run {RUN}')")
    assert RUN not in text(page, "runs-table")


def test_6_deploy_serves_the_model_and_draws_what_it_was_asked(page):
    """Deploy: start a server for 'base' (the tiny model chosen at the top), ask it through the
    openai client as any user of the endpoint would, rate the answer, and see the panel count
    the request and the rating; then stop it."""
    import httpx
    from openai import OpenAI
    open_tab(page, "Deploy")
    port = free_port()
    fill(page, "deploy-port", str(port))
    page.locator("#deploy-start").click()
    page.wait_for_function("document.querySelector('#deploy-status').innerText.includes('running')",
                           timeout=240_000)
    status = text(page, "deploy-status")
    assert f"http://127.0.0.1:{port}/v1" in status and "logging every exchange" in status
    assert f"curl http://127.0.0.1:{port}/v1/chat/completions" in text(page, "deploy-howto")
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=120)
    answer = client.chat.completions.create(model="base", messages=[{"role": "user", "content": "Hello"}],
                                            max_tokens=8, seed=0)
    rated = httpx.post(f"http://127.0.0.1:{port}/v1/feedback", json={"id": answer.id, "rating": "up"}, timeout=30)
    assert rated.status_code == 200, rated.text
    page.locator("#deploy-refresh").click()
    page.wait_for_function("document.querySelector('#deploy-table').innerText.includes('100%')", timeout=60_000)
    drawn = page.evaluate("""() => {
        const plot = document.querySelector('#deploy-plot .js-plotly-plot');
        return plot && plot.data ? plot.data.filter(t => t.name === 'base').length : 0;
    }""")
    assert drawn == 3  # requests, latency and rated-up panels, one trace each for the one model
    shot(page, "6-deploy")
    page.locator("#deploy-stop").click()
    page.wait_for_function("document.querySelector('#deploy-status').innerText.includes('stopped')",
                           timeout=60_000)


def test_7_pipeline_runs_two_steps_and_shows_each(page):
    """Pipeline: the sample file loads into the editor; an edited two-step pipeline on the tiny
    model (SFT, then DPO from it) starts from the page, and the table shows each step's run
    completed, with the last run's curve drawn."""
    open_tab(page, "Pipeline")
    page.wait_for_function("document.querySelector('#pipeline-yaml textarea').value.includes('name: captain')")
    samples = ROOT / "sample_data"
    fill(page, "pipeline-yaml", f"""name: ui-pipe
defaults: {{model: tiny, max_length: 128, batch_size: 2, max_rows: 8, val_fraction: 0.0, save_steps: 1000}}
steps:
  - {{name: sft, stage: sft, data: {samples / 'sft.jsonl'}, max_steps: 3}}
  - {{name: dpo, stage: dpo, from: sft, data: {samples / 'preference.jsonl'}, max_steps: 2}}
""")
    page.locator("#pipeline-start").click()
    page.wait_for_function("document.querySelector('#pipeline-status').innerText.includes('ui-pipe: completed')",
                           timeout=300_000)
    table = text(page, "pipeline-table")
    assert "ui-pipe-sft" in table and "ui-pipe-dpo" in table and table.count("completed") == 2
    loss = drawn_charts(page, "pipeline")["Loss"]
    assert [len(t["y"]) for t in loss if t["kind"] == "raw"][0] >= 2  # the DPO run's loss, step by step
    shot(page, "7-pipeline")


def test_8_report_tab_and_its_html_file(page, tmp_path):
    """Report: the pipeline's two runs (filled in from the pipeline), measured on held-out files;
    the tab shows the table, the charts and the answers; the HTML file it offers opens on its own
    in Chromium with every chart drawn."""
    open_tab(page, "Report")
    choose(page, "report-pipeline", "ui-pipe")
    page.wait_for_function("document.querySelector('#report-models').innerText.includes('ui-pipe-dpo')")
    fill(page, "report-rows", "2")
    fill(page, "report-samples", "2")
    fill(page, "report-max-new", "8")
    page.locator("#report-build").click()
    page.wait_for_function("document.querySelector('#report-status').innerText.startsWith('report-')",
                           timeout=300_000)
    table = text(page, "report-table")
    assert "ui-pipe-sft (sft)" in table and "ui-pipe-dpo (dpo)" in table and "KL to base" in table
    assert "ui-pipe-dpo (dpo):" in text(page, "report-summary")
    loss = page.evaluate("""() => [...document.querySelectorAll('#report-table [role=row]')]
        .map(row => [...row.querySelectorAll('[role=gridcell], td')].map(td => td.innerText.trim()))
        .find(cells => cells.length && cells[0].startsWith('held-out loss'))""")
    # "base" is the model the runs were trained from (tiny: random, about ln(49152) = 10.8 nats a
    # token), not the app's model picker
    assert abs(float(loss[1]) - float(loss[2])) < 1, loss
    drawn = page.evaluate("""() => [...document.querySelectorAll('[id^=report-chart-] .js-plotly-plot')]
        .map(plot => plot.data ? plot.data.length : 0)""")
    assert len(drawn) == 2 and min(drawn) >= 3  # numbers per model (bars), gain against cost (a point a model)
    shot(page, "8-report-tab")

    # Download the HTML as a user does, then open the file on its own: no server, no network.
    with page.expect_download() as download:
        page.locator("#report-files a[href$='.html']").first.click()
    saved = tmp_path / "report.html"
    download.value.save_as(saved)
    report = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    report.goto(saved.as_uri())
    report.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2")
    charts = report.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
        .map(plot => ({traces: plot.data.length, bars: plot.querySelectorAll('.bars path, .points path').length}))""")
    assert len(charts) == 2 and all(c["traces"] >= 3 and c["bars"] >= 3 for c in charts)
    assert "ui-pipe-dpo (dpo)" in report.locator("#numbers").inner_text()
    report.screenshot(path=str(SHOTS / "8-report-html.png"), full_page=True)
    report.close()


def test_9_every_tab_fits_a_1024_px_window(page):
    """At 1024x800 no tab scrolls sideways, and every chart fits the box it is drawn in."""
    page.set_viewport_size({"width": 1024, "height": 800})
    tabs = page.locator('#tabs [role="tab"]').all_inner_texts()
    assert len(tabs) >= 8, tabs
    for name in tabs:
        open_tab(page, name)
        shot(page, f"9-1024-{name.lower()}")  # (waits for the charts to be drawn)
        wide = page.evaluate("""() => [document.scrollingElement.scrollWidth, window.innerWidth,
            [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.offsetParent !== null)
              .filter(p => p.getBoundingClientRect().right > p.parentElement.getBoundingClientRect().right + 1
                           || p.getBoundingClientRect().right > window.innerWidth).length]""")
        assert wide[0] <= wide[1] and wide[2] == 0, (name, wide)
