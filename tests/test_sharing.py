"""Issue 15, the app side: the GUI parses a file once per version, answers the bad-input corpus in
one line, reads only its own folders when served beyond this machine, refuses foreign Host
headers, keeps its uploads folder bounded and deletes the run the user was asked about."""

import os
from pathlib import Path

import pytest

from conftest import ROOT

SFT = ROOT / "sample_data" / "sft.jsonl"


# ---------------------------------------------------------------- one parse per file version


def test_slider_moves_do_not_re_read_the_file(fresh_home, tmp_path, monkeypatch):
    """The Data tab's split slider and the Tokenization tab's row slider ask for the same file on
    every move: it is parsed once per (file, mtime, size, settings)."""
    import workbench.data.load as load
    from ui.data_tab import on_split
    from ui.tokens_tab import show_tokens
    reads = []
    real = load.read_records
    monkeypatch.setattr(load, "read_records", lambda path: reads.append(path) or real(path))
    path = tmp_path / "sft.jsonl"
    path.write_bytes(SFT.read_bytes())
    for share in (0.1, 0.2, 0.3):
        assert "Training on" in on_split(str(path), share, None)
    for row in (1, 2, 3):
        assert "tokens" in show_tokens(str(path), "tiny", row, 128, True)[0]
    assert len(reads) == 1, reads
    path.write_bytes(SFT.read_bytes() + SFT.read_bytes())  # a new version of the file is read again
    assert "Training on" in on_split(str(path), 0.1, None)
    assert len(reads) == 2


# ---------------------------------------------------------------- a shared app's typed paths


@pytest.fixture
def shared(fresh_home, tmp_path_factory):
    """The process as `workbench launch --host 0.0.0.0 --allow-dir ALLOWED` leaves it."""
    from workbench import paths
    allowed = tmp_path_factory.mktemp("allowed")
    paths.share_reads([allowed])
    yield allowed
    paths.local_reads()


def refusal(call, *args) -> str:
    """The message of the error `call(*args)` raises."""
    with pytest.raises(Exception) as raised:
        call(*args)
    return str(raised.value)


def test_a_shared_app_reads_only_its_own_folders_and_never_says_what_exists(shared, tmp_path_factory):
    from ui.common import data_path, keep_upload
    from ui.data_tab import inspect_data, on_split
    from workbench.present import tokenizer_for
    outside = tmp_path_factory.mktemp("private")
    secret = outside / "secret.jsonl"
    secret.write_bytes(SFT.read_bytes())
    (outside / "model").mkdir()
    (outside / "model" / "config.json").write_text("{}")
    (shared / "mine.jsonl").write_bytes(SFT.read_bytes())
    uploaded = keep_upload(str(secret))  # an upload is a copy in $WORKBENCH_HOME/uploads
    link = Path(uploaded).parent / "link.jsonl"
    link.symlink_to(secret)  # a link inside the home that leads out of it
    for fine in (str(SFT), uploaded, str(shared / "mine.jsonl")):
        assert data_path(fine) == str(Path(fine).resolve())
    answers = {text: refusal(data_path, text).replace(text, "PATH")
               for text in (str(secret), str(outside / "missing.jsonl"), str(outside), str(link),
                            str(outside / "notes.txt"), str(SFT.parent / ".." / "pyproject.toml"))}
    assert len(set(answers.values())) == 1, answers  # one answer, whether the file exists or not
    assert "not available in a shared workbench" in next(iter(answers.values()))
    # The Data tab (and so Feedback's and Compare's file boxes) and the model box say the same.
    assert "not available in a shared workbench" in refusal(inspect_data, str(secret), "tiny", 128, 0.1, None)
    assert "not available in a shared workbench" in refusal(on_split, str(SFT), 0.1, str(secret))
    for model in (str(outside / "model"), str(outside / "nothing-here")):
        assert "not available in a shared workbench" in refusal(tokenizer_for, model)
    assert tokenizer_for("tiny") is not None
    # Nor does an export write outside them.
    from ui.runs_tab import export
    assert "not available in a shared workbench" in refusal(export, "some-run", str(outside / "out"), "gguf:f16")


def test_a_shared_app_neither_offers_nor_takes_the_machine_fields(shared):
    from ui.train_tab import field_specs
    from workbench.train import jobs
    from workbench.train.config import SFTRunConfig
    from workbench.errors import ConfigError
    assert not set(SFTRunConfig.MACHINE_FIELDS) & set(field_specs())
    for machine in ({"launcher": "accelerate", "num_processes": 2}, {"launcher": "accelerate"}):
        config = SFTRunConfig(model="tiny", data=str(SFT), max_steps=1, **machine)
        with pytest.raises(ConfigError, match="cannot be set through a shared workbench"):
            jobs.start(config)
    with pytest.raises(Exception, match="not available in a shared workbench"):
        jobs.start(SFTRunConfig(model="tiny", data="/etc/hostname", max_steps=1))
    assert not (Path(os.environ["WORKBENCH_HOME"]) / "runs").exists() or \
        not any((Path(os.environ["WORKBENCH_HOME"]) / "runs").iterdir())


def test_launch_beyond_this_machine_shares_reads_and_on_loopback_checks_the_host(fresh_home, monkeypatch, tmp_path):
    import gradio as gr
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from ui.app import launch
    from workbench import paths
    seen = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: seen.update(kw))
    try:
        launch("0.0.0.0", 0, auth="alice:long-secret", open_browser=False, allowed_dirs=[tmp_path])
        assert paths.is_shared() and seen["app_kwargs"]["middleware"] == []
        paths.readable_path(tmp_path / "x.jsonl")  # the allowed folder
        launch("127.0.0.1", 0, open_browser=False)
        assert not paths.is_shared()
        [middleware] = seen["app_kwargs"]["middleware"]
        assert middleware.cls is TrustedHostMiddleware
    finally:
        paths.local_reads()


# ---------------------------------------------------------------- through the served app

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    from ui_support import own_home
    with own_home(tmp_path_factory, "shared-home") as root:
        yield root


@pytest.fixture(scope="module")
def app(home):
    from ui.app import launch
    from ui_support import free_port
    served = launch(port=free_port(), open_browser=False, prevent_thread_lock=True, quiet=True)
    yield served
    served.close()


@pytest.fixture(scope="module")
def client(app):
    return gradio_client.Client(app.local_url, verbose=False)


def status_for_host(url: str, host: str) -> int:
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Host": host})) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_loopback_app_refuses_foreign_host_headers(app):
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 sends its own
    name as the Host; the app answers only its own names."""
    url = app.local_url + "config"
    port = url.split(":")[2].split("/")[0]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
        assert status_for_host(url, host) == 200, host
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}", f"10.0.0.5:{port}"):
        assert status_for_host(url, host) == 400, host


def test_delete_confirms_and_deletes_the_run_it_named(home, client):
    """Ask to delete A, pick row B, confirm: A is deleted, B is kept."""
    from test_hardening import make_run
    for name in ("run-a", "run-b"):
        make_run(home, name, {"state": "completed", "step": 3})
    client.predict(None, "all", "all", "started", True, api_name="/runs_table")  # Refresh: the picker lists them
    assert "run-a" in client.predict("run-a", api_name="/ask_delete")
    client.predict("run-b", api_name="/open_run")  # the user picks row B before confirming
    message, table, _ = client.predict(api_name="/delete_run")
    assert "Deleted run run-a" in message
    assert not (home / "runs" / "run-a").exists() and (home / "runs" / "run-b").is_dir()
    # The question is answered: a second confirmation deletes nothing.
    message, _, _ = client.predict(api_name="/delete_run")
    assert "No deletion was asked for" in message and (home / "runs" / "run-b").is_dir()


def test_the_bad_input_corpus_is_answered_by_the_data_tab_in_one_line(client, tmp_path, caplog):
    """Each broken file of tests/test_bad_inputs.py typed into the Data tab: a whole-file problem
    is one line naming the file (and its line and field where known), a row problem that row's
    line and field in the problems table, and no traceback anywhere."""
    from gradio_client.exceptions import AppError
    from test_bad_inputs import CORPUS
    kinds = 0
    for case, (name, content, expected) in CORPUS.items():
        path = tmp_path / case.replace(" ", "-").replace(",", "").replace("(", "").replace(")", "") / name
        path.parent.mkdir()
        path.write_bytes(content)
        try:
            out = client.predict(str(path), "tiny", 128, 0.1, None, api_name="/inspect")
        except AppError as error:
            message = str(error)
            assert expected[0] == "file", (case, message)
            assert len(message.strip().splitlines()) == 1 and str(path) in message, (case, message)
            assert expected[1] in message and "Traceback" not in message, (case, message)
            if len(expected) > 2:
                assert f"line {expected[2]}, field '{expected[3]}'" in message, (case, message)
            kinds += 1
            continue
        summary, problems = out[1], out[2]
        problems = problems.get("value", problems)
        assert name in summary, (case, summary)
        if expected[0] == "ok":
            continue
        assert expected[0] == "row", (case, summary)
        line, field = expected[1], expected[2]
        assert [line, field or ""] in [row[:2] for row in problems["data"]], (case, problems["data"])
        kinds += 1
    assert kinds >= 40
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
