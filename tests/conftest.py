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


# ---------------------------------------------------------------- precision
# The precision-sensitive paths (every stage's step, PPO's learning, compare, scoring, export)
# run in both precisions on any machine: bf16 is emulated where the CPU has no bf16 instructions,
# slowly, but the tiny model is small enough. A defect of the bf16 path then shows on a
# developer's AVX2 machine, not first on a user's AMX one.
PRECISIONS = ("fp32", "bf16")


@pytest.fixture(params=PRECISIONS)
def precision(request, monkeypatch):
    """The test runs once per precision, set for the whole process (and the job processes it
    starts) through WORKBENCH_PRECISION, as a user would set it."""
    monkeypatch.setenv("WORKBENCH_PRECISION", request.param)
    return request.param


# How far a result computed in `precision` may be from the same result computed in fp32.
# fp32 paths must agree to rounding (1e-5). bf16 keeps 8 significant bits, so one rounding moves a
# number by up to 2**-8 (0.4%) of itself; a tiny model's output passes through a few roundings
# that compound, and 4 * 2**-8 (1.6%) bounds what was measured (0.2-0.4% on reward scores).
# Never widen these to make a test pass: a bigger gap is a defect of the bf16 path.
TOLERANCE = {"fp32": dict(rtol=1e-5, atol=1e-5), "bf16": dict(rtol=4 * 2 ** -8, atol=4 * 2 ** -8)}


def assert_close(actual, expected, precision: str, what: str = "values") -> None:
    """`actual` (computed in `precision`) equals `expected` (fp32) within TOLERANCE[precision]."""
    import torch
    actual, expected = torch.as_tensor(actual).float(), torch.as_tensor(expected).float()
    assert torch.allclose(actual, expected, **TOLERANCE[precision]), (
        f"{what} in {precision} differ from fp32 by up to "
        f"{(actual - expected).abs().max().item():.3g}: {actual.tolist()} vs {expected.tolist()}")
