"""Shared test set-up.

Tests run against a workbench home inside the checkout (`.test-home/`, git-ignored), so the
tiny model and the converted default model are built once and reused across test sessions.
Tests that list or create runs take the `fresh_home` fixture: an empty home whose `models/`
points at the shared one.
"""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_HOME = ROOT / ".test-home"
os.environ["WORKBENCH_HOME"] = str(TEST_HOME)
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """A file from ../shared/data, or skip: a user's clone has no ../shared beside it."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (only developer and CI machines have ../shared/data)")
    return path


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    """An empty WORKBENCH_HOME that still shares the built models."""
    (TEST_HOME / "models").mkdir(parents=True, exist_ok=True)
    (tmp_path / "models").symlink_to(TEST_HOME / "models", target_is_directory=True)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    return tmp_path
