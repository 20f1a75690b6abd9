"""Every notebook is a jupytext pair (notebooks/jupytext.toml): the .py source and the .ipynb with
its outputs must hold the same cells, and the committed .ipynb must have been executed."""

import glob
import os

import jupytext
import nbformat
import pytest

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks")
SOURCES = sorted(glob.glob(os.path.join(NOTEBOOKS, "[0-9][0-9]_*.py")))


def _cells(notebook):
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


def _first_difference(expected, actual):
    for index, (a, b) in enumerate(zip(expected, actual, strict=False)):
        if a != b:
            return f"cell {index}: {a[0]} {a[1][:80]!r}... vs {b[0]} {b[1][:80]!r}..."
    return f"{len(expected)} cells vs {len(actual)} cells"


def test_every_notebook_is_a_pair():
    sources = {os.path.splitext(path)[0] for path in SOURCES}
    pattern = os.path.join(NOTEBOOKS, "*.ipynb")
    notebooks = {os.path.splitext(path)[0] for path in glob.glob(pattern)}
    assert len(sources) == 7
    assert sources == notebooks, "every notebooks/NN_name.py needs its .ipynb and vice versa"


@pytest.mark.parametrize("source", SOURCES, ids=os.path.basename)
def test_the_ipynb_holds_the_cells_of_its_py_source(source):
    expected = _cells(jupytext.read(source))
    actual = _cells(nbformat.read(os.path.splitext(source)[0] + ".ipynb", as_version=4))
    where = _first_difference(expected, actual)
    assert expected == actual, (
        f"{os.path.basename(source)} and its .ipynb differ ({where}); "
        "run `jupytext --sync notebooks/*.py`, then execute the notebook (README, Notebooks)."
    )


@pytest.mark.parametrize("source", SOURCES, ids=os.path.basename)
def test_the_committed_ipynb_was_executed_and_shows_a_figure(source):
    notebook = nbformat.read(os.path.splitext(source)[0] + ".ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "a code cell was not executed"
    errors = [out for cell in code for out in cell.outputs if out.output_type == "error"]
    assert not errors, f"an output is an error: {errors[0].get('ename')}"
    images = [
        out
        for cell in code
        for out in cell.outputs
        if out.output_type == "display_data" and "image/png" in out.get("data", {})
    ]
    assert images, "no figure in the outputs"
