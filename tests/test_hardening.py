"""Issue 15, engine side: stray paths never reach another folder, and broken run folders never
cost the user data or the app."""

import json
import threading
from pathlib import Path

import pytest

from workbench.errors import RunError, WorkbenchError


# ---------------------------------------------------------------- atomic writes


def test_threads_writing_one_json_file_never_share_a_temp_file(tmp_path):
    """The app's threads all write status.json from one process: each write is whole."""
    from workbench.io import write_json_atomic
    target, errors = tmp_path / "status.json", []

    def writer(n):
        try:
            for i in range(150):
                write_json_atomic(target, {"writer": n, "i": i, "pad": "x" * 2000})
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]
    assert json.loads(target.read_text())["i"] == 149
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temp file left


def fill_the_disk(monkeypatch) -> None:
    """From now on, every write fails as on a full disk (at its fsync)."""
    import os

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)


def test_a_failed_config_write_leaves_the_old_config_whole(tmp_path, monkeypatch):
    """A full disk while config.yaml is written: the old file stays, nothing half-written."""
    from workbench.train.config import config_class
    path = tmp_path / "config.yaml"
    config = config_class("sft")(data="a.jsonl", max_steps=3)
    config.save(path)
    before = path.read_text()
    fill_the_disk(monkeypatch)
    config.max_steps = 999
    with pytest.raises(OSError):
        config.save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


# ---------------------------------------------------------------- run folders


def make_run(home, name, status=None, config="stage: sft\nmodel: tiny\n"):
    """A run folder as a job leaves it: config.yaml, and status.json unless status is None."""
    folder = home / "runs" / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(config)
    if status is not None:
        (folder / "status.json").write_text(json.dumps(status))
    (folder / "metrics.jsonl").write_text('{"step": 1, "loss": 1.5}\n')
    return folder


def cli(capsys, *argv):
    from workbench.cli import main
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_delete_takes_a_run_name_never_a_folder_of_that_name_elsewhere(fresh_home, tmp_path_factory,
                                                                        monkeypatch, capsys):
    run = make_run(fresh_home, "sft-1", {"state": "completed", "step": 3})
    work = tmp_path_factory.mktemp("work")
    backup = work / "sft-1"  # the user's backup copy of the run, in the working folder
    backup.mkdir()
    (backup / "config.yaml").write_text("stage: sft\n")
    monkeypatch.chdir(work)
    for target in (str(backup), "./sft-1", "../" + work.name + "/sft-1"):
        code, out, err = cli(capsys, "runs", "delete", target, "--yes")
        assert code == 2 and "no run named" in err and "Traceback" not in err
        assert backup.is_dir() and run.is_dir()
    code, out, err = cli(capsys, "runs", "delete", "sft-1", "--yes")
    assert code == 0, err
    assert not run.exists() and (backup / "config.yaml").is_file()


@pytest.mark.parametrize("name", ["sft-1\n", "sft-1/../x", "../runs/sft-1", "", ".hidden"])
def test_names_are_whole_plain_names(fresh_home, name):
    from workbench.runs import check_name, get_run
    make_run(fresh_home, "sft-1", {"state": "completed"})
    with pytest.raises(RunError):
        check_name(name)
    with pytest.raises(RunError, match="no run named"):
        get_run(name)


def test_a_run_folder_without_status_is_failed_not_queued_forever(fresh_home, capsys):
    from workbench.runs import delete_run, get_run
    from workbench.train.jobs import _refuse_if_busy, resume
    make_run(fresh_home, "cut-off")  # config.yaml written, then the crash: no status.json
    _refuse_if_busy(allow_parallel=False)  # a new job is not refused
    status = get_run("cut-off").status()
    assert status["state"] == "failed" and "status.json is missing" in status["error"]
    assert "runs delete cut-off" in status["error"]
    code, out, err = cli(capsys, "runs", "list")
    assert code == 0 and "failed" in out
    delete_run("cut-off")
    assert not (fresh_home / "runs" / "cut-off").exists()
    assert resume  # (resume of such a run is allowed: it is not active)


def test_a_queued_run_whose_creator_died_is_failed(fresh_home):
    import subprocess
    import sys

    from workbench.runs import get_run
    from workbench.train.jobs import active_runs
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    make_run(fresh_home, "orphan", {"state": "queued", "step": 0, "pid": gone.pid})
    make_run(fresh_home, "legacy", {"state": "queued", "step": 0})  # no owner recorded at all
    assert active_runs() == []
    for name in ("orphan", "legacy"):
        status = get_run(name).status()
        assert status["state"] == "failed" and "never started" in status["error"]


def test_a_reused_pid_does_not_keep_a_run_running(fresh_home):
    """After a reboot the recorded pid may belong to another process (here: this one)."""
    import os

    from workbench.runs import get_run, owner
    make_run(fresh_home, "rebooted", {"state": "running", "step": 5, "pid": os.getpid(),
                                      "pid_start": "another-boot:12345"})
    make_run(fresh_home, "live", {"state": "running", "step": 5, **owner()})
    assert get_run("rebooted").status()["state"] == "failed"
    assert get_run("live").status()["state"] == "running"


@pytest.mark.parametrize("config", ["stage: [sft\n  model: {", "- just\n- a list\n", "42\n",
                                    "\ufffd\x00\x01binary"])
def test_an_unreadable_config_lists_as_broken_and_the_rest_still_list(fresh_home, capsys, config):
    from workbench.runs import get_run, run_names
    make_run(fresh_home, "good", {"state": "completed", "step": 3})
    make_run(fresh_home, "bad", {"state": "completed", "step": 3}, config=config)
    code, out, err = cli(capsys, "runs", "list")
    assert code == 0 and "Traceback" not in err, err
    assert "good" in out and "bad" in out and "broken" in out
    code, out, err = cli(capsys, "runs", "list", "--json")
    bad = next(row for row in json.loads(out) if row["name"] == "bad")
    assert bad["state"] == "broken" and "config.yaml" in bad["error"] and "runs delete bad" in bad["error"]
    from workbench.present import run_choices
    assert "bad" not in run_choices(("sft",)) + run_choices("answers")  # no picker offers it, none crashes
    assert set(run_names()) == {"good", "bad"}  # listed, so it can be deleted
    with pytest.raises(RunError, match="config.yaml"):
        get_run("bad").config()
    code, out, err = cli(capsys, "runs", "delete", "bad", "--yes")
    assert code == 0, err


# ---------------------------------------------------------------- export targets


def finished_run(home, name):
    """A completed run with an adapter, as far as export's checks look."""
    folder = make_run(home, name, {"state": "completed", "step": 3})
    (folder / "adapter").mkdir()
    (folder / "adapter" / "adapter_config.json").write_text("{}")
    return folder


@pytest.mark.parametrize("target", ["feedback", "uploads", "runs/other", "runs", "", "exports"])
def test_export_force_never_replaces_the_workbench_home(fresh_home, capsys, target):
    finished_run(fresh_home, "sft-1")
    finished_run(fresh_home, "other")
    out = fresh_home / target
    out.mkdir(parents=True, exist_ok=True)
    (out / "mine.jsonl").write_text("{}\n")
    code, stdout, err = cli(capsys, "export", "sft-1", "--out", str(out), "--force")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert (out / "mine.jsonl").read_text() == "{}\n"
    assert (fresh_home / "runs" / "other" / "adapter" / "adapter_config.json").is_file()


def test_export_refuses_a_target_in_the_checkout(fresh_home, capsys):
    import shutil

    from workbench import paths
    finished_run(fresh_home, "sft-1")
    out = paths.repo_root() / "export-hardening-test"
    try:
        code, stdout, err = cli(capsys, "export", "sft-1", "--out", str(out))
        assert code == 2 and "checkout" in err, err
        assert not out.exists()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_export_force_replaces_only_an_earlier_export(fresh_home, tmp_path_factory, capsys):
    finished_run(fresh_home, "sft-1")
    mine = tmp_path_factory.mktemp("mine")
    (mine / "thesis.tex").write_text("years of work")
    code, stdout, err = cli(capsys, "export", "sft-1", "--out", str(mine), "--force")
    assert code == 2 and "not an earlier export" in err, err
    assert (mine / "thesis.tex").read_text() == "years of work"

    earlier = tmp_path_factory.mktemp("out") / "sft-1"
    assert cli(capsys, "export", "sft-1", "--out", str(earlier))[0] == 0
    (earlier / "stale.txt").write_text("from the last export")
    code, stdout, err = cli(capsys, "export", "sft-1", "--out", str(earlier), "--force")
    assert code == 0, err
    assert (earlier / "workbench_export.json").is_file() and not (earlier / "stale.txt").exists()
    # The GUI's default folder, $WORKBENCH_HOME/exports/NAME, stays allowed.
    assert cli(capsys, "export", "sft-1", "--out", str(fresh_home / "exports" / "sft-1"))[0] == 0


# ---------------------------------------------------------------- feedback names


def test_a_feedback_name_is_never_a_file_in_the_working_folder(fresh_home, tmp_path_factory, monkeypatch):
    from workbench import feedback as fb
    work = tmp_path_factory.mktemp("work")
    mine = work / "data.jsonl"  # the user's own file, where the app happens to run
    mine.write_text('{"prompt": "mine", "completion": "untouched"}\n')
    monkeypatch.chdir(work)
    shown = fb.Pair([{"role": "user", "content": "q"}], fb.Candidate("base", 1, "good"),
                    fb.Candidate("base", 2, "bad"), {})
    record = fb.record_judgement("data.jsonl", shown, "left")
    fb.record_thumb("data", shown, "right", "down")
    fb.undo("data.jsonl", record["id"])
    assert mine.read_text() == '{"prompt": "mine", "completion": "untouched"}\n'
    assert fb.resolve("data.jsonl") == fb.feedback_path("data") == fresh_home / "feedback" / "data.jsonl"
    assert fb.feedback_stats("data.jsonl")["retracted"] == 1  # readers find the same file
    assert fb.resolve("./data.jsonl") == Path("./data.jsonl")  # a path that says so is read
    for name in ("./data.jsonl", str(mine), "../feedback/x", "a/b"):
        with pytest.raises(WorkbenchError):
            fb.record_judgement(name, shown, "left")
    assert mine.read_text().count("\n") == 1


# ---------------------------------------------------------------- uploads


def test_a_half_written_upload_is_not_reused(fresh_home, monkeypatch):
    from workbench.data.uploads import keep_upload
    content = b'{"text": "a whole file"}\n' * 100
    kept = keep_upload("data.jsonl", content)
    kept.write_bytes(content[:37])  # what a crash mid-write left (before writes were atomic)
    assert keep_upload("data.jsonl", content).read_bytes() == content
    other = b'{"text": "another file"}\n'
    fill_the_disk(monkeypatch)
    with pytest.raises(OSError):
        keep_upload("other.jsonl", other)
    monkeypatch.undo()
    assert not list((fresh_home / "uploads").rglob("other.jsonl"))  # nothing under its name
    assert keep_upload("other.jsonl", other).read_bytes() == other


def test_odd_ids_in_a_feedback_file_cost_only_their_line(fresh_home):
    from workbench import feedback as fb
    from workbench.io import read_jsonl_tolerant
    judged = {"prompt": [{"role": "user", "content": "q"}], "chosen": "good", "rejected": "bad",
              "id": "a1", "chosen_side": "left", "rater": "ana"}
    path = fb.feedback_path("odd")
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(json.dumps(r) for r in (
        judged, {**judged, "id": ["a2"]}, {"retracts": ["a1"], "id": "r1"}, {"retracts": {"x": 1}},
        {**judged, "id": "a3", "prompt": [{"role": "user", "content": "q3"}]})) + "\n"
        + '{"deep": ' + "[" * 5000 + "]" * 5000 + "}\n")
    assert [r["id"] for r in fb.read_feedback("odd")] == ["a1", "a3"]
    assert fb.feedback_stats("odd")["pairs"] == 2
    assert fb.merge_feedback(["odd"], "merged")["pairs"] == 2
    assert len(read_jsonl_tolerant(path)) == 5  # the too-deep line is skipped, not raised


# ---------------------------------------------------------------- memory caps


def _gzip_lines(path, rows: int, row: bytes):
    import gzip
    with gzip.open(path, "wb", compresslevel=9) as out:
        for _ in range(rows):
            out.write(row)


def test_a_gzip_bomb_stops_at_the_byte_cap_with_the_knob_named(fresh_home, tmp_path, monkeypatch, capsys):
    """A small .jsonl.gz that expands a thousandfold is refused at WORKBENCH_MAX_BYTES, read
    as a stream (never decompressed whole), in the CLI as in every caller of read_records."""
    import tracemalloc
    from workbench.cli import main
    from workbench.data import inspect_file
    from workbench.errors import DataError
    bomb = tmp_path / "bomb.jsonl.gz"
    row = b'{"prompt": "' + b" " * 4000 + b'", "completion": "x"}\n'
    _gzip_lines(bomb, 2000, row)  # ~8 MB of text, a few kB on disk
    assert bomb.stat().st_size < 100_000
    monkeypatch.setenv("WORKBENCH_MAX_BYTES", "1000000")
    tracemalloc.start()
    with pytest.raises(DataError, match=r"more than 1,000,000 bytes.*WORKBENCH_MAX_BYTES") as refused:
        inspect_file(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4_000_000, peak  # the cap plus a chunk, not the 8 MB the file expands to
    assert "raise the cap" in str(refused.value)
    assert main(["data", "inspect", str(bomb)]) == 2
    assert "WORKBENCH_MAX_BYTES" in capsys.readouterr().err


def test_too_many_rows_stop_at_the_row_cap(fresh_home, tmp_path, monkeypatch):
    from workbench.data import load_rows
    from workbench.errors import ConfigError, DataError
    path = tmp_path / "many.jsonl"
    path.write_text('{"prompt": "Hi", "completion": "Yo"}\n' * 50)
    monkeypatch.setenv("WORKBENCH_MAX_ROWS", "20")
    with pytest.raises(DataError, match=r"more than 20 rows.*WORKBENCH_MAX_ROWS"):
        load_rows(path)
    monkeypatch.setenv("WORKBENCH_MAX_ROWS", "50")
    assert len(load_rows(path)) == 50
    monkeypatch.setenv("WORKBENCH_MAX_ROWS", "lots")
    with pytest.raises(ConfigError, match="WORKBENCH_MAX_ROWS"):
        load_rows(path)


# ---------------------------------------------------------------- the uploads folder


def test_uploads_stay_under_their_cap_oldest_first_never_a_file_a_run_names(fresh_home, monkeypatch):
    import os
    from workbench.data.uploads import keep_upload
    monkeypatch.setenv("WORKBENCH_MAX_UPLOADS_BYTES", "3500")
    kept = []
    for n in range(3):
        kept.append(keep_upload(f"u{n}.jsonl", bytes([65 + n]) * 1000))
        os.utime(kept[-1], (1000 + n, 1000 + n))  # u0 oldest
    # u0, the oldest, is a run's training file, and u1 its eval file (written as YAML quotes it).
    make_run(fresh_home, "uses-u0", {"state": "completed"},
             config=f"stage: sft\nmodel: tiny\ndata: {kept[0]}\neval_data: '{kept[1]}'\n")
    newest = keep_upload("u3.jsonl", b"D" * 1000)  # 4000 bytes > 3500: something must go
    assert kept[0].is_file() and kept[1].is_file() and newest.is_file()
    assert not kept[2].exists() and not kept[2].parent.exists()  # the oldest no run names
