"""The tutorial notebooks run top to bottom in QUICK mode (the tiny model, a few steps), in the
order a reader takes them, so later notebooks reuse the runs earlier ones trained; and the
committed notebooks carry no outputs."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
ORDER = ["01_data_and_tokens", "02_sft", "03_reward_model", "04_dpo", "05_ppo", "06_compare", "07_pipeline"]


def test_every_notebook_is_in_the_order():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == ORDER


@pytest.mark.parametrize("name", ORDER)
def test_committed_notebook_has_no_outputs(name):
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(book)
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert code, "a tutorial without code"
    assert all(not cell.outputs and cell.execution_count is None for cell in code), \
        "outputs are committed: run `make strip-notebooks`"
    assert "widgets" not in book.metadata, "saved widget state is committed: run `make strip-notebooks`"
    assert 'QUICK = os.environ.get("WORKBENCH_QUICK") == "1"' in code[0].source


@pytest.fixture(scope="module")
def quick_home(tmp_path_factory):
    """One empty workbench home for the whole sequence, sharing the built models."""
    home = tmp_path_factory.mktemp("notebooks-home")
    shared = ROOT / ".test-home" / "models"  # conftest's TEST_HOME
    shared.mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(shared, target_is_directory=True)
    return home


def run_notebook(name: str, home: Path) -> nbformat.NotebookNode:
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    # One OpenMP thread for the kernel and the job processes it starts: on a shared 2-core machine two
    # threads per tiny-model matrix product wait on each other (an 8-row evaluation: 8 s against 0.5 s).
    env = {"WORKBENCH_HOME": str(home), "WORKBENCH_QUICK": "1", "OMP_NUM_THREADS": "1"}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel process inherits this environment
    try:
        NotebookClient(book, kernel_name="python3", timeout=600,
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    except CellExecutionError as error:
        pytest.fail(f"{name}.ipynb failed:\n{str(error)[-3000:]}", pytrace=False)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return book


def text_of(book) -> str:
    """Everything the notebook printed or displayed as text."""
    parts = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") + output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("name", ORDER)
def test_notebook_runs_in_quick_mode(name, quick_home):
    book = run_notebook(name, quick_home)
    text = text_of(book)
    assert "QUICK=True: model tiny" in text
    expected = {
        "01_data_and_tokens": ["field 'messages[1].role'", "34 trained"],
        "02_sft": ["completed step 4/4", "tutorial-sft-quick: loss"],
        "03_reward_model": ["held-out pair accuracy"],
        "04_dpo": ["reusing the completed run tutorial-sft-quick", "tutorial-dpo-quick: accuracy", "held-out margin"],
        "05_ppo": ["reusing the completed run tutorial-reward-quick", "samples; the last few"],
        "06_compare": ["wins", "saved as eval-", "drifted", "the report: "],
        "07_pipeline": ["captain-quick: completed in", "report  report", "KL to base", "the report: "],
    }[name]
    for snippet in expected:
        assert snippet in text, f"{name}: '{snippet}' not in its output"
