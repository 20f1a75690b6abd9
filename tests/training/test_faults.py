"""Faults and interruptions of a training run: each ends in one sentence with the right exit
status, and what was on disk before it is kept (damaged or mismatched resumes, full disks,
unwritable checkpoint directories, signals during start-up)."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf import train_cli as cli
from softrl_tf.training import loop

import gymnasium
import pytest
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN_SCRIPT = os.path.join(REPO, "scripts", "train.py")
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


@pytest.fixture(params=["default", "ignoring"])
def callers_sigint_handler(request):
    """The SIGINT handler of the process that calls the command line: Python's default, or one
    that swallows the signal (as a test runner's or Ray's can)."""
    if request.param == "default":
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *args: None)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_start_up_is_one_line_with_128_plus_its_number(
    tmp_path, capsys, monkeypatch, sig, callers_sigint_handler
):
    def signalled(*args, **kwargs):
        os.kill(os.getpid(), sig)  # delivered in this thread before os.kill returns
        time.sleep(5)
        raise AssertionError("the signal did not stop start-up")

    monkeypatch.setattr(loop, "train", signalled)  # the CLI imports it once input is checked
    callers = signal.getsignal(signal.SIGINT)
    status = cli.main([f"--root-dir={tmp_path / 'run'}", *TINY])
    err = _one_line(capsys)
    assert status == 128 + sig
    assert f"{signal.Signals(sig).name} received outside training: stopped" in err
    assert signal.getsignal(signal.SIGINT) is callers  # the caller's handler is back


@pytest.mark.slow
def test_a_second_signal_ends_the_run_at_once(tmp_path):
    root = str(tmp_path / "run")
    argv = [sys.executable, TRAIN_SCRIPT, f"--root-dir={root}", *TINY, "--total-steps=10000000"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(root, "metrics.csv")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert "SIGINT received" in last and "--resume" in last


def test_a_second_signal_ends_the_process_while_the_main_thread_is_busy():
    """The watcher thread reads the signals even while the main thread does not return to the
    interpreter; the second one ends the process with one line and 128 + its number."""
    code = textwrap.dedent(
        """
        import os, signal, time
        from softrl_tf.training.signals import StopSignals

        with StopSignals(True) as stop:
            os.kill(os.getpid(), signal.SIGTERM)
            while stop.received is None:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        """
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert time.monotonic() - started < 20
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "softrl_tf: SIGTERM received again: stopped at once; the checkpoints written before "
        "are intact: continue with --resume."
    )


@pytest.mark.parametrize(
    "error",
    [
        OSError(28, "No space left on device"),
        tf.errors.ResourceExhaustedError(None, None, "No space left on device"),
        tf.errors.PermissionDeniedError(None, None, "Permission denied; Op:SaveV2"),
    ],
    ids=["OSError", "ResourceExhaustedError", "PermissionDeniedError"],
)
def test_a_failed_checkpoint_write_keeps_the_previous_one_and_resume_works(
    tmp_path, capsys, monkeypatch, error
):
    """The second checkpoint's write fails after leaving its temporary directory behind."""
    root = str(tmp_path / "run")
    directory = os.path.join(root, "checkpoints")
    real_save = tf.train.CheckpointManager.save

    def failing_save(manager, checkpoint_number=None, **kwargs):
        if checkpoint_number == 80:
            os.makedirs(os.path.join(directory, "ckpt-80_temp"))
            raise error
        return real_save(manager, checkpoint_number=checkpoint_number, **kwargs)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", failing_save)
    status = cli.main([f"--root-dir={root}", *TINY])
    err = _one_line(capsys)
    assert status == 1
    assert f"writing the checkpoint of environment step 80 to {directory} failed" in err
    assert "continue with --resume" in err
    assert f"the previous checkpoint ({os.path.join(directory, 'ckpt-40')}) is intact" in err
    assert not os.path.exists(os.path.join(directory, "ckpt-80_temp"))
    assert tf.train.latest_checkpoint(directory).endswith("ckpt-40")
    monkeypatch.undo()
    assert cli.main(["--resume", f"--root-dir={root}", *TINY]) == 0
    assert tf.train.latest_checkpoint(directory).endswith("ckpt-80")


class DiesAfter(gymnasium.Wrapper):
    """CartPole whose connection to its (pretended) worker process is lost after ``after``
    steps: the error a dead ``--backend=parallel`` worker raises under a training step."""

    def __init__(self, after):
        super().__init__(gymnasium.make("CartPole-v1"))
        self.after, self.count = after, 0

    def step(self, action):
        self.count += 1
        if self.count > self.after:
            raise ConnectionResetError(104, "Connection reset by peer")
        return self.env.step(action)


gymnasium.register("softrl_test/DiesAfter-v0", entry_point=DiesAfter, kwargs={"after": 50})


def test_a_dead_environment_worker_is_one_sentence_naming_the_kept_checkpoint(tmp_path, capsys):
    root = str(tmp_path / "run")
    argv = [f"--root-dir={root}", *TINY, "--env=softrl_test/DiesAfter-v0", "--backend=sync"]
    status = cli.main([*argv, "--total-steps=400"])
    err = _one_line(capsys)
    assert status == 1
    kept = tf.train.latest_checkpoint(os.path.join(root, "checkpoints"))
    assert "an environment worker process died (ConnectionResetError)" in err
    assert f"the last checkpoint ({kept}) was kept: continue with --resume" in err
