"""Issue 15, engine side: stray paths never reach another folder, and broken run folders never
cost the user data or the app."""

import json
import threading

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


def test_a_failed_config_write_leaves_the_old_config_whole(tmp_path, monkeypatch):
    """A full disk while config.yaml is written: the old file stays, nothing half-written."""
    import os

    from workbench.train.config import config_class
    path = tmp_path / "config.yaml"
    config = config_class("sft")(data="a.jsonl", max_steps=3)
    config.save(path)
    before = path.read_text()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    config.max_steps = 999
    with pytest.raises(OSError):
        config.save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]
