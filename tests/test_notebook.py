"""softrl_tf.notebook: where a notebook reads results from, and when it runs quick mode."""

import logging
import os
import tempfile

from softrl_tf import notebook

import pytest


@pytest.fixture
def checkout(tmp_path):
    """A checkout with committed results: ``setup.py`` and ``results/`` at its root."""
    (tmp_path / "setup.py").write_text("")
    (tmp_path / "results").mkdir()
    (tmp_path / "notebooks").mkdir()
    return tmp_path


@pytest.fixture(autouse=True)
def temporary_dirs_under_tmp_path(tmp_path, monkeypatch):
    """Quick mode's temporary directories go under this test's ``tmp_path``."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def test_a_checkout_with_results_is_read_as_it_is(checkout):
    paths = notebook.locate(checkout / "notebooks", environ={})
    assert paths == notebook.Paths(checkout, checkout / "results", quick=False, quick_dir=None)
    assert paths.out == checkout / "results"


@pytest.mark.parametrize("value, quick", [("1", True), ("0", False), ("", False)])
def test_softrl_quick_1_asks_for_quick_mode(checkout, temporary_dirs_under_tmp_path, value, quick):
    paths = notebook.locate(checkout / "notebooks", environ={notebook.QUICK_VARIABLE: value})
    assert paths.quick is quick
    assert paths.results == checkout / "results"  # still found: the committed findings show
    if quick:
        assert paths.quick_dir.is_dir() and paths.quick_dir.parent == temporary_dirs_under_tmp_path
        assert paths.quick_dir.name.startswith(notebook.QUICK_DIR_PREFIX)
        assert paths.out == paths.quick_dir
    else:
        assert paths.quick_dir is None


def test_without_results_the_notebook_runs_quick_mode(checkout):
    (checkout / "results").rmdir()
    paths = notebook.locate(checkout / "notebooks", environ={})
    assert paths.repo == checkout and paths.results is None
    assert paths.quick and paths.quick_dir.is_dir() and paths.out == paths.quick_dir


def test_outside_a_checkout_the_notebook_runs_quick_mode(tmp_path):
    folder = tmp_path / "elsewhere"  # e.g. Colab's /content: no setup.py above it
    folder.mkdir()
    if notebook.find_repo(folder) is not None:
        pytest.skip("a setup.py lies above the temporary directory")
    paths = notebook.locate(folder, environ={})
    assert paths.repo is None and paths.results is None and paths.quick


@pytest.fixture
def plt(monkeypatch):
    """matplotlib.pyplot, with the settings :func:`notebook.setup` changes restored afterwards."""
    pyplot = pytest.importorskip("matplotlib.pyplot")
    monkeypatch.setitem(pyplot.rcParams, "figure.dpi", pyplot.rcParams["figure.dpi"])
    logger = logging.getLogger("tensorflow")
    monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.setattr(logger, "filters", list(logger.filters))
    return pyplot


def test_setup_quiets_tensorflow_sizes_figures_and_says_the_mode(
    checkout, monkeypatch, capsys, plt
):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setenv(notebook.QUICK_VARIABLE, "1")

    paths = notebook.setup(checkout / "notebooks")

    assert paths.quick
    assert capsys.readouterr().out == "quick mode\n"
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert logging.getLogger("tensorflow").level == logging.ERROR
    assert plt.rcParams["figure.dpi"] == notebook.FIGURE_DPI


def test_setup_keeps_a_log_level_the_user_set(checkout, monkeypatch, capsys, plt):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    paths = notebook.setup(checkout / "notebooks", environ={})
    assert not paths.quick
    assert capsys.readouterr().out == "reading the committed results under results/\n"
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_tensorflow_warnings_stay_quiet_when_tensorflow_resets_its_logger_level(
    checkout, monkeypatch, capsys, plt
):
    notebook.setup(checkout / "notebooks", environ={})
    notebook.setup(checkout / "notebooks", environ={})  # a re-run cell adds no second filter
    logger = logging.getLogger("tensorflow")
    assert sum(isinstance(f, notebook._ErrorsOnly) for f in logger.filters) == 1
    logger.setLevel(logging.INFO)  # what tf.get_logger() does in a notebook kernel
    make = logger.makeRecord
    assert not logger.filter(make("tensorflow", logging.WARNING, "f.py", 1, "retracing", (), None))
    assert logger.filter(make("tensorflow", logging.ERROR, "f.py", 1, "failed", (), None))
