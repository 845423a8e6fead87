"""notebooks/evaluate_best.ipynb runs top to bottom against a tiny real search.

The kernel is this interpreter (a kernelspec written to a temporary folder
under a unique name), so the test works on a fresh venv whatever kernels the
machine or the user has installed.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tiny_search import TinySearch, tiny_search

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "evaluate_best.ipynb"
KERNEL_NAME = "ga-squad-test-python"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinySearch:
    return tiny_search(tmp_path_factory)


def _kernel_manager(kernels: Path):  # noqa: ANN202 - jupyter_client types
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = kernels / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "ga-squad test kernel", "language": "python"}))
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))


def test_notebook_is_clean_and_valid() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.get("outputs") and c.get("execution_count") is None for c in code)


@pytest.mark.slow
@pytest.mark.parametrize("cwd", [NOTEBOOK.parent, REPO], ids=["from-notebooks", "from-repo-root"])
def test_notebook_executes(tiny: TinySearch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cwd: Path) -> None:
    """Jupyter starts the kernel in the notebook's folder; a user may also start it at the root."""
    from ga_squad.reader.checkpoint import read_manifest
    from ga_squad.analysis.reevaluate import DATA_CONFIG_KEY

    monkeypatch.setenv("GA_SQUAD_SEARCH_DIR", str(tiny.save_dir_root))
    monkeypatch.delenv("GA_SQUAD_EXPERIMENT", raising=False)
    monkeypatch.delenv("GA_SQUAD_NNI_PORT", raising=False)
    if DATA_CONFIG_KEY in read_manifest(tiny.search_dir / "individuals" / "000000"):
        monkeypatch.delenv("GA_SQUAD_DATA_CONFIG", raising=False)
    else:
        monkeypatch.setenv("GA_SQUAD_DATA_CONFIG", str(tiny.data_config_path))
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)  # the notebook itself must keep TensorFlow quiet
    monkeypatch.delenv("GA_SQUAD_QUESTION", raising=False)
    monkeypatch.delenv("GA_SQUAD_PASSAGE", raising=False)

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, km=_kernel_manager(tmp_path / "kernels"), timeout=300,
        resources={"metadata": {"path": str(cwd)}})
    client.execute()  # raises CellExecutionError if any cell errors

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 4  # curve, lineage, architecture, warm vs cold
    text = "\n".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert re.search(r"^\| rank \|\s+id \|\s+parent \|\s+val F1 \|\s+val EM \|\s+dev F1 \|\s+dev EM \|", text, re.M)  # the leaderboard
    assert "**Match**" in text and "| question | predicted | gold | F1 |" in text
    assert tiny.experiment_id in text
    assert "No `baseline.json` in" in text  # the tiny search was not run by `run`: the notebook says so
    assert re.search(r"\*\*Answer of individual \d+:\*\* .+ \(characters \d+-\d+ of the passage", text)
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    assert "oneDNN" not in stderr and "absl::InitializeLog" not in stderr, stderr[:500]
    nbformat.write(nb, tmp_path / "executed.ipynb")


def test_a_copy_outside_the_repository_says_how_to_point_it_at_a_search(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a bare StopIteration: the error names GA_SQUAD_SEARCH_DIR."""
    monkeypatch.delenv("GA_SQUAD_SEARCH_DIR", raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, km=_kernel_manager(tmp_path / "kernels"), timeout=300,
                                     resources={"metadata": {"path": str(elsewhere)}})
    with pytest.raises(nbclient.exceptions.CellExecutionError) as failed:
        client.execute()
    message = str(failed.value)
    assert "StopIteration" not in message
    assert "NotebookSetupError" in message and "set GA_SQUAD_SEARCH_DIR" in message, message[-800:]

