"""The Gradio app's main actions through `gradio_client`, against the app served in this process.

The app runs on a free port with its own empty WORKBENCH_HOME (sharing the built models), as a
user's would: inspect a file, see its tokens, start a tiny SFT run and follow it from the run
folder, stop it, reload its settings, delete it; errors arrive as readable messages.
"""

import json
import urllib.request
from pathlib import Path

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client.exceptions import AppError  # noqa: E402

from conftest import ROOT  # noqa: E402
from ui_support import free_port, own_home, wait_until  # noqa: E402

SFT = str(ROOT / "sample_data" / "sft.jsonl")
PREFERENCE = str(ROOT / "sample_data" / "preference.jsonl")



def serve(**options):
    from ui.app import launch
    return launch(port=free_port(), open_browser=False, prevent_thread_lock=True, quiet=True, **options)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """An empty WORKBENCH_HOME for the module (like `fresh_home`), sharing the built models."""
    with own_home(tmp_path_factory) as root:
        yield root
        stop_all()


def stop_all():
    """A failed test must not leave a job training."""
    from workbench.train.jobs import active_runs, wait_for
    for run in active_runs():
        run.stop_path.touch()
        wait_for(run, timeout_s=180)


@pytest.fixture(scope="module")
def app(home):
    served = serve()
    yield served
    served.close()


@pytest.fixture(scope="module")
def client(app):
    return gradio_client.Client(app.local_url, verbose=False)


def inspect(client, path, model="tiny", max_length=512, val_fraction=0.1, eval_file=None):
    names = ("path", "summary", "problems", "preview", "histogram", "lengths", "split")
    return dict(zip(names, client.predict(path, model, max_length, val_fraction, eval_file, api_name="/inspect")))


def test_served_config_has_analytics_off(app):
    with urllib.request.urlopen(app.local_url + "config") as response:
        config = json.load(response)
    assert config["analytics_enabled"] is False
    assert app.max_file_size == 200 * 1024 * 1024


def test_inspect_sample_file(client):
    out = inspect(client, PREFERENCE)
    assert out["path"] == PREFERENCE
    assert "format **preference**" in out["summary"] and "task **preference**" in out["summary"]
    assert "150 rows: 150 usable, 0 with problems" in out["summary"]
    rows = json.loads(out["preview"])
    assert len(rows) == 5 and {"prompt", "chosen", "rejected"} <= set(rows[0])
    figure = json.loads(out["histogram"]["plot"])
    assert figure["data"][0]["type"] == "histogram" and len(figure["data"][0]["x"]) == 150
    assert "Training on 135 rows, validating on 15" in out["split"]


def test_inspect_reports_problem_lines(client, tmp_path):
    good = Path(SFT).read_text(encoding="utf-8").splitlines()[:5]
    bad = tmp_path / "chats.jsonl"
    bad.write_text("\n".join(good[:2] + ['{"messages": [{"role": "user"}]}'] + good[2:]) + "\n", encoding="utf-8")
    out = inspect(client, str(bad))
    assert "6 rows: 5 usable, 1 with problems" in out["summary"]
    problems = out["problems"]["value"] if "value" in out["problems"] else out["problems"]
    assert problems["data"][0][0] == 3 and "content" in problems["data"][0][1]


@pytest.mark.parametrize("path, message", [
    ("/nonexistent/chats.jsonl", "file not found"),
    (str(ROOT / "sample_data"), "is a folder, not a data file"),
    (str(ROOT / "pyproject.toml"), "unknown file type"),
    ("", "no data file chosen"),
])
def test_bad_paths_give_readable_errors(client, path, message):
    with pytest.raises(AppError) as error:
        inspect(client, path)
    assert message in str(error.value)


def test_token_view(client, tmp_path):
    stats, chips, template, _ = client.predict(SFT, "tiny", 2, 24, True, api_name="/tokens")
    assert "Row 2" in stats and "trained" in stats and "cuts it at token 24" in stats
    assert chips.count('class="tok trained') > 0 and chips.count('class="tok masked') > 0
    assert "✂ max_length 24" in chips
    assert template.startswith("<|im_start|>")
    short = tmp_path / "three.jsonl"
    short.write_text("\n".join(Path(SFT).read_text(encoding="utf-8").splitlines()[:3]) + "\n", encoding="utf-8")
    with pytest.raises(AppError, match="row 5 is out of range: the file has 3 usable rows"):
        client.predict(str(short), "tiny", 5, 24, True, api_name="/tokens")


def start_args(stage="sft", **settings):
    """The Train form's values, in the order `/start_run` takes them."""
    from ui.train_tab import field_specs, form_names
    from workbench.train.knobs import form_value
    specs = field_specs()
    values = []
    for name in form_names():
        default = specs[name]["defaults"].get(stage, next(iter(specs[name]["defaults"].values())))
        values.append(form_value(specs[name]["field"], settings.get(name, default)))
    return [stage, *values]


def plot_of(output) -> dict | None:
    """A plot output's figure (the client gives an update of a plot as a dict with its value)."""
    value = output.get("value") if output and "__type__" in output else output
    return json.loads(value["plot"]) if value else None


def watch(client, name):
    """(progress, the first chart's figure, status) of `/watch` (its charts: one plot per family)."""
    progress, _, status, first, *_ = client.predict(name, [], 0.6, api_name="/watch")
    return progress, plot_of(first), status


def test_bad_start_is_a_readable_message(client):
    with pytest.raises(AppError, match="'data' is required"):
        client.predict(*start_args(model="tiny", data=""), api_name="/start_run")
    with pytest.raises(AppError, match="max_steps' should be int"):
        client.predict(*start_args(model="tiny", data=SFT, max_steps="many"), api_name="/start_run")


def test_tiny_sft_run_from_the_app(client, home):
    from ui.train_tab import form_names
    args = start_args(model="tiny", data=SFT, name="ui-sft", max_steps="40", max_length=128, batch_size=2,
                      max_rows="40", eval_steps="10", save_steps=100, precision="fp32")
    run_update, message = client.predict(*args, api_name="/start_run")
    assert "Started run ui-sft" in message and "workbench train sft" in message
    assert (home / "runs" / "ui-sft" / "config.yaml").exists()

    # A refreshed page, and a restarted app, find the job from the run folder alone.
    assert client.predict(*args[1:], api_name="/reattach")[0]["value"] == "ui-sft"
    restarted = serve()
    try:
        again = gradio_client.Client(restarted.local_url, verbose=False)
        assert again.predict(*args[1:], api_name="/reattach")[0]["value"] == "ui-sft"
    finally:
        restarted.close()

    # The loss plot gains points while the job trains in its own process.
    def points():
        progress, loss, _ = watch(client, "ui-sft")
        n = sum(len(trace["x"]) for trace in loss["data"] if trace["meta"] == {"run": "ui-sft", "key": "loss",
                                                                                 "kind": "raw"})
        return n if n >= 2 else 0
    first = wait_until(points, timeout=240)
    assert 'data-state="running"' in watch(client, "ui-sft")[0]
    assert wait_until(lambda: points() > first, timeout=240)

    # A second job is refused while one trains, with the reason.
    with pytest.raises(AppError, match="one job trains at a time"):
        client.predict(*start_args(model="tiny", data=SFT, max_steps="2"), api_name="/start_run")

    assert "Stop requested" in client.predict("ui-sft", api_name="/stop_run")
    progress, _, status = wait_until(lambda: (lambda v: v if 'data-state="stopped"' in v[0] else None)(
        watch(client, "ui-sft")), timeout=180)
    assert "stopped at step" in status

    table, _ = client.predict(None, "all", "all", "started", True, api_name="/runs_table")
    assert len(table["headers"]) <= 10
    row = dict(zip(table["headers"], table["data"][0]))
    assert row["name"] == "ui-sft" and row["state"] == "stopped" and row["stage"] == "sft"
    assert row["base"] == "tiny" and row["metric"] == "eval_loss" and isinstance(row["value"], float)  # held-out first
    assert row["progress"].endswith("/40") and row["started"] and row["duration"].endswith("s")
    assert client.predict(None, "dpo", "all", "started", True, api_name="/runs_table")[0]["data"] == []
    assert client.predict(None, "all", "completed", "name", False, api_name="/runs_table")[0]["data"] == []

    details, config_yaml, _, export_dir, first, *_ = client.predict("ui-sft", 0.6, api_name="/open_run")
    assert "stopped" in details and "checkpoint-" in details
    assert plot_of(first)["layout"]["title"]["text"] == "Loss"
    assert "model: tiny" in config_yaml and "max_steps: 40" in config_yaml
    assert "precision: fp32" in config_yaml  # chosen in the form, recorded by the run

    with pytest.raises(AppError, match="has not completed"):
        client.predict("ui-sft", export_dir, "gguf:f16", api_name="/export_run")

    loaded = client.predict("ui-sft", api_name="/load_settings")
    names = ["stage", "doc", "command"] + form_names()  # (the client leaves gr.State out)
    settings = {n: v.get("value") if isinstance(v, dict) else v for n, v in zip(names, loaded)}
    assert settings["stage"] == "sft" and settings["model"] == "tiny"
    assert str(settings["max_steps"]) == "40" and settings["name"] == "" and settings["precision"] == "fp32"
    assert settings["command"].startswith("workbench train sft") and "--max-steps 40" in settings["command"]

    assert "ui-sft" in client.predict("ui-sft", api_name="/ask_delete")
    _, table, _ = client.predict(api_name="/delete_run")
    assert not (home / "runs" / "ui-sft").exists()
    assert all(r[0] != "ui-sft" for r in table["data"])


def test_auth_is_enforced(home):
    import urllib.error
    served = serve(auth="alice:long-secret")
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(served.local_url + "config")
        assert refused.value.code == 401
        client = gradio_client.Client(served.local_url, auth=("alice", "long-secret"), verbose=False)
        assert "format **messages**" in client.predict(SFT, "tiny", 512, 0.1, None, api_name="/inspect")[1]
    finally:
        served.close()


def test_exposure_needs_a_password(capsys):
    from ui.app import check_exposure, is_loopback
    from workbench.cli import main
    from workbench.errors import ConfigError
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("my-laptop.local")
    check_exposure("127.0.0.1", False, None)
    check_exposure("0.0.0.0", False, "alice:secret")
    for host, share in (("0.0.0.0", False), ("127.0.0.1", True)):
        with pytest.raises(ConfigError, match="needs a password"):
            check_exposure(host, share, None)
    with pytest.raises(ConfigError, match="USER:PASSWORD"):
        check_exposure("0.0.0.0", False, "alice")
    # The CLI refuses before serving anything: one line, exit status 2.
    assert main(["launch", "--host", "0.0.0.0", "--no-browser"]) == 2
    assert "needs a password" in capsys.readouterr().err


def test_the_train_form_follows_the_stage_configs():
    """Every stage's fields are in the form; switching stage moves the training file and defaults."""
    from workbench.train.config import STAGE_CONFIGS
    from dataclasses import fields
    from ui.train_tab import config_from_form, field_specs, form_names, stage_switch
    from workbench.train.knobs import form_value
    specs, names = field_specs(), form_names()
    for stage, cls in STAGE_CONFIGS.items():
        assert {f.name for f in fields(cls)} - {"stage"} <= set(names), stage
    values = {n: form_value(specs[n]["field"], specs[n]["defaults"].get("sft", "")) for n in names}
    values.update(data=SFT, max_steps="", learning_rate="3e-4")
    config = config_from_form("sft", values)
    assert config.max_steps is None and config.learning_rate == 3e-4 and config.method is None
    assert config.to_command() == f"workbench train sft --data {SFT} --learning-rate 0.0003"  # defaults kept
    if "ppo" in STAGE_CONFIGS:
        changes = stage_switch(specs, "sft", "ppo", values)
        assert changes["prompts"] == {"visible": True, "value": SFT, "info": specs["prompts"]["help"]["ppo"]}
        assert changes["data"] == {"visible": "hidden", "value": ""}  # PPO reads prompts, not data
        assert changes["batch_size"]["info"].startswith("answers per PPO minibatch")  # PPO's own words
        assert changes["packing"]["visible"] == "hidden" and changes["batch_size"]["visible"] is True


def test_compare_multi_turn_and_evaluate(client):
    """The base model answers in column 1; a second prompt continues the same conversation."""
    def ask(prompt):
        return client.predict(prompt, "base", None, None, "tiny", "", 0, 0.7, 1.0, 16, api_name="/compare")
    first = ask("Who was the first person to walk on the Moon?")
    chat, score = first[0], first[3]
    assert [m["role"] for m in chat] == ["user", "assistant"] and "16 tokens in" in score
    second = ask("And the second?")
    assert [m["role"] for m in second[0]] == ["user", "assistant"] * 2 and second[1] == []
    with pytest.raises(AppError, match="Pick at least one model"):
        client.predict("hi", None, None, None, "tiny", "", 0, 0.7, 1.0, 16, api_name="/compare")

    summary, metrics, rates = client.predict("base", None, None, "tiny", "", str(ROOT / "sample_data" / "sft_eval.jsonl"),
                                             4, 0, api_name="/evaluate")
    assert "sft_eval.jsonl" in summary and "choose a reward model" in summary
    row = dict(zip(metrics["headers"], metrics["data"][0]))
    assert row["model"] == "base" and row["loss"] > 0 and row["sft_rows"] == 4
    assert rates["data"] == [] or rates["data"] == [[]]


def test_win_rate_table():
    from ui.compare_tab import rates_table
    from workbench.evaluate import win_rates
    table = rates_table(win_rates({"base": [0.1, 0.5, 0.2], "sft-1": [0.3, 0.5, 0.4]}))
    row = table.iloc[0]
    assert (row["model"], row["opponent"], row["wins"], row["losses"], row["ties"]) == ("base", "sft-1", 0, 2, 1)
    assert row["win_rate"] == round(0.5 / 3, 3) and 0 <= row["ci_low"] <= row["win_rate"] <= row["ci_high"]


def test_report_tab_builds_shows_and_reopens_a_report(client, home):
    """On the base alone (no run needed): the table, the charts, the answers and both files."""
    sft_eval, prompts = str(ROOT / "sample_data" / "sft_eval.jsonl"), str(ROOT / "sample_data" / "prompts.jsonl")
    out = client.predict(["base"], "", sft_eval, "", prompts, 2, 2, 4, "tiny", api_name="/report")
    status, summary, table, chart, win_rates, tradeoff, examples, files = out
    assert status.startswith("**report-") and "2 held-out files" in status
    metrics = [row[0] for row in table["data"]]
    assert table["headers"] == ["metric", "base"]
    assert {"held-out loss ↓", "distinct-2 ↑", "self-BLEU ↓", "ROUGE-L ↑", "KL to base ↓"} <= set(metrics)
    figure = json.loads(chart["value"]["plot"])
    assert len(figure["data"]) == len(metrics)  # one bar chart per measured number
    assert summary == "*Only the base: nothing moved.*"
    assert not win_rates["visible"] and not tradeoff["visible"]  # no reward model; one model: no trade-off
    assert examples["headers"] == ["prompt", "base"] and len(examples["data"]) == 2
    names = sorted(Path(f).suffix for f in files)
    assert names == [".html", ".json"]  # both downloadable from the app
    report_id = status.strip("*").split(":")[0]
    assert json.loads(Path([f for f in files if f.endswith(".json")][0]).read_text())["id"] == report_id
    again = client.predict(report_id, api_name="/open_report")
    assert again[0] == status and again[2]["data"] == table["data"]
    with pytest.raises(AppError, match="held-out file"):
        client.predict(["base"], "", "", "", "", 2, 2, 4, "tiny", api_name="/report")
