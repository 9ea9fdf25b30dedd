"""Issue 15, the app side: the GUI parses a file once per version, answers the bad-input corpus in
one line, reads only its own folders when served beyond this machine, refuses foreign Host
headers, keeps its uploads folder bounded and deletes the run the user was asked about."""

import json
import os

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
