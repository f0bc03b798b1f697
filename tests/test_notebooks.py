"""The example notebooks run end to end, offline, in a fresh kernel, without a cell error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = ["quickstart.ipynb", "layer_sweep.ipynb", "evaluation.ipynb", "vision.ipynb"]
KERNEL = "python3"
CELL_TIMEOUT_S = 300

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install -e '.[test]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e '.[test]')")


def _require_kernel() -> None:
    """Skip, saying why, where the python3 kernel cannot be found."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.skip(f"no {KERNEL!r} Jupyter kernel: install ipykernel (pip install -e '.[test]')")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_outputs_are_stripped(name):
    notebook = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name} has stored outputs"


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_without_errors(name, tmp_path, monkeypatch):
    _require_kernel()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # The shipped models are small: one thread runs them fastest and, on a busy machine, several
    # times faster than torch's default of one thread per core.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    copy = tmp_path / name
    shutil.copyfile(NOTEBOOKS_DIR / name, copy)
    notebook = nbformat.read(copy, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNEL,
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    errors = [
        f"cell {index}: {output.get('ename')}: {output.get('evalue')}"
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, errors
    assert not list(NOTEBOOKS_DIR.glob("*.html")), "a notebook wrote into the repository"
