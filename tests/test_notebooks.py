"""Notebooks are stored without outputs and executed here; each ends with assertions."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

#: the longest notebooks (a headcount sweep, about 35 s; a regional rerun, about 38 s; the
#: quota walk-through, about 21 s) run with --run-slow, so the default suite stays well under
#: 6 minutes on 2 cores
SLOW = {"sizing", "regional-rerun", "quotas-and-fairness"}
NOTEBOOKS = [
    pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p
    for p in sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: getattr(p, "stem", None))
def test_notebook_runs(path):
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        "store notebooks without outputs"
    )
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
