"""The Colab install (softrl_tf.colab) and the notebooks' first cell that bootstraps it."""

import glob
import os
import subprocess
import sys
import types

from softrl_tf import colab

import jupytext
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIT = "git+https://example.org/someone/softrl_tf@main"
WHEEL = "/content/softrl_tf-0.1.0-py3-none-any.whl"
PY = sys.executable


class Recorder:
    """A ``subprocess.run`` that records its commands."""

    def __init__(self, returncode=0):
        self.commands = []
        self.returncode = returncode

    def __call__(self, command, check=False, **kwargs):
        self.commands.append(list(command))
        if check and self.returncode:
            raise subprocess.CalledProcessError(self.returncode, command)
        return subprocess.CompletedProcess(command, self.returncode)


@pytest.fixture
def on_colab(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


@pytest.fixture
def off_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)


def _stack(tf_minor):
    return [
        *[PY, "-m", "pip", "install", "-q", "--no-deps"],
        f"tf_keras~={tf_minor}.0",
        "tf-agents==0.19.0",
        "gym==0.23.1",
    ]


@pytest.mark.parametrize(
    "source, requirement",
    [(GIT, f"softrl_tf[atari,minatar] @ {GIT}"), (WHEEL, f"{WHEEL}[atari,minatar]")],
    ids=["git", "wheel"],
)
def test_the_exact_pip_commands_keep_colabs_tensorflow(on_colab, capsys, source, requirement):
    run = Recorder()
    line = colab.setup(source, run=run, tf_version="2.19.0")
    assert run.commands == [
        _stack("2.19"),
        [PY, "-m", "pip", "install", "-q", requirement],
    ]
    for command in run.commands:  # TensorFlow is never installed, upgraded or replaced
        names = [arg.split("[")[0] for arg in command]
        assert not any(name.startswith(("tensorflow", "tf-nightly")) for name in names)
    printed = capsys.readouterr().out
    assert printed == line + "\n" and printed.count("\n") == 1
    assert source in line and "TensorFlow 2.19.0" in line


def test_the_source_comes_from_the_environment_variable(on_colab):
    run = Recorder()
    colab.setup(run=run, environ={colab.VARIABLE: f" {WHEEL} "}, tf_version="2.21.1")
    assert run.commands[0] == _stack("2.21")
    assert run.commands[1][-1] == f"{WHEEL}[atari,minatar]"


def test_nothing_happens_off_colab(off_colab, capsys):
    run = Recorder()
    assert colab.setup(GIT, run=run, tf_version="2.19.0") is None
    assert colab.setup(run=run, environ={}) is None
    assert run.commands == [] and capsys.readouterr().out == ""


def test_unset_on_colab_says_in_one_sentence_what_to_set(on_colab, capsys):
    run = Recorder()
    assert colab.setup(run=run, environ={}) == colab.UNSET_MESSAGE
    assert run.commands == []
    message = capsys.readouterr().out
    assert message == colab.UNSET_MESSAGE + "\n"
    assert colab.VARIABLE in message and "git+https://" in message and "wheel" in message
    assert message.rstrip().endswith(".") and message.count(". ") == 0


def test_a_bad_source_or_a_failed_pip_is_one_sentence(on_colab):
    run = Recorder()
    with pytest.raises(colab.ColabInstallError, match="neither a git URL"):
        colab.setup("https://example.org/softrl_tf", run=run, tf_version="2.19.0")
    assert run.commands == []  # checked before anything is installed
    with pytest.raises(colab.ColabInstallError, match="failed with exit status 3"):
        colab.setup(GIT, run=Recorder(returncode=3), tf_version="2.19.0")


def test_no_tensorflow_installed_is_an_error_before_any_install(on_colab, monkeypatch):
    monkeypatch.setattr(colab, "tensorflow_version", lambda: None)
    run = Recorder()
    with pytest.raises(colab.ColabInstallError, match="No TensorFlow"):
        colab.setup(GIT, run=run)
    assert run.commands == []


def test_the_module_reads_tensorflows_version_without_importing_it():
    code = (
        "import sys; from softrl_tf import colab; version = colab.tensorflow_version(); "
        "assert version and version[0].isdigit(), version; "
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'"
    )
    result = subprocess.run([PY, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# The notebooks' first cell: the bootstrap that runs before softrl_tf is importable on Colab.


def _first_cells():
    paths = sorted(glob.glob(os.path.join(REPO, "notebooks", "[0-9][0-9]_*.py")))
    assert len(paths) == 7
    return {
        os.path.basename(path): next(
            cell.source for cell in jupytext.read(path).cells if cell.cell_type == "code"
        )
        for path in paths
    }


def _first_cell():
    cells = _first_cells()
    assert len(set(cells.values())) == 1, "the notebooks' first cells differ"
    return next(iter(cells.values()))


def test_every_notebook_starts_with_the_same_colab_cell():
    cell = _first_cell()
    assert "import softrl_tf" not in cell.split("elif")[0]  # nothing from softrl_tf before pip


def test_the_first_cell_does_nothing_off_colab(off_colab, monkeypatch, capsys):
    monkeypatch.setenv(colab.VARIABLE, GIT)
    run = Recorder()
    monkeypatch.setattr(subprocess, "run", run)
    exec(compile(_first_cell(), "first cell", "exec"), {})
    assert run.commands == [] and capsys.readouterr().out == ""


def test_the_first_cell_unset_on_colab_prints_the_message_and_raises_nothing(
    on_colab, monkeypatch, capsys
):
    monkeypatch.delenv(colab.VARIABLE, raising=False)
    run = Recorder()
    monkeypatch.setattr(subprocess, "run", run)
    exec(compile(_first_cell(), "first cell", "exec"), {})
    assert run.commands == []
    assert capsys.readouterr().out == colab.UNSET_MESSAGE + "\n"


def test_the_first_cell_on_colab_installs_softrl_tf_then_runs_its_installer(
    on_colab, monkeypatch, capsys
):
    monkeypatch.setenv(colab.VARIABLE, GIT)
    monkeypatch.setattr(colab, "tensorflow_version", lambda: "2.19.0")
    run = Recorder()
    monkeypatch.setattr(subprocess, "run", run)
    exec(compile(_first_cell(), "first cell", "exec"), {})
    assert run.commands == [
        [PY, "-m", "pip", "install", "-q", "--no-deps", GIT],
        _stack("2.19"),
        [PY, "-m", "pip", "install", "-q", f"softrl_tf[atari,minatar] @ {GIT}"],
    ]
    assert capsys.readouterr().out.count("\n") == 1  # the one line of colab.setup
