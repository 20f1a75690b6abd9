"""Faults and interruptions of a training run: each ends in one sentence with the right exit
status, and what was on disk before it is kept (damaged or mismatched resumes, full disks,
unwritable checkpoint directories, signals during start-up)."""

import os
import shutil

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.training import cli

import pytest

TINY = [
    "--total-steps=80",
    "--num-envs=2",
    "--log-every-steps=40",
    "--checkpoint-every-steps=40",
    "--hidden-sizes=8",
    "--no-export",
]


def _snapshot(root):
    """Every file under ``root``: relative path -> bytes."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, root)] = f.read()
    return files


def _one_line(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny CartPole run with checkpoints at steps 40 and 80."""
    root = str(tmp_path_factory.mktemp("base") / "run")
    assert cli.main([f"--root-dir={root}", *TINY]) == 0
    return root


@pytest.fixture
def run_copy(finished_run, tmp_path):
    root = str(tmp_path / "run")
    shutil.copytree(finished_run, root)
    return root


def test_resume_with_another_environment_exits_2_and_changes_nothing(run_copy, capsys):
    before = _snapshot(run_copy)
    status = cli.main(["--resume", f"--root-dir={run_copy}", "--env=Acrobot-v1"])
    err = _one_line(capsys)
    assert status == 2
    assert f"do not fit the checkpoint of the run in {run_copy!r}" in err
    assert "resume with the run's saved settings" in err and "--overwrite" in err
    assert _snapshot(run_copy) == before  # config.json and metrics.csv byte-identical
    # The run still resumes with its own settings.
    assert cli.main(["--resume", f"--root-dir={run_copy}", "--total-steps=120"]) == 0


def test_resume_with_another_network_exits_2_and_changes_nothing(run_copy, capsys):
    before = _snapshot(run_copy)
    status = cli.main(["--resume", f"--root-dir={run_copy}", "--hidden-sizes=16"])
    assert status == 2
    assert "do not fit the checkpoint" in _one_line(capsys)
    assert _snapshot(run_copy) == before


@pytest.mark.parametrize(
    "suffix, size, reason",
    [(".data-00000-of-00001", 100, "Read less bytes"), (".index", 30, "file is too short")],
)
def test_damaged_checkpoint_exits_1_naming_the_file_and_the_kept_ones(
    run_copy, capsys, suffix, size, reason
):
    damaged = os.path.join(run_copy, "checkpoints", "ckpt-80" + suffix)
    os.truncate(damaged, size)
    before = _snapshot(run_copy)
    status = cli.main(["--resume", f"--root-dir={run_copy}"])
    err = _one_line(capsys)
    assert status == 1
    assert f"the checkpoint file {damaged} is damaged ({reason}" in err
    assert "the earlier checkpoints were kept (ckpt-40)" in err
    assert _snapshot(run_copy) == before
