"""--runners and --ray-address on the command line: bad input is one sentence and exit 2 within
a bounded time, a run trains on a local cluster, and a run whose driver was killed resumes."""

import csv
import os
import signal
import socket
import subprocess
import sys
import time

from softrl_tf.distributed import cluster

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN_SCRIPT = os.path.join(REPO, "scripts", "train.py")
TINY = ["--num-envs=4", "--hidden-sizes=8", "--log-every-steps=200", "--no-export"]
REFUSED_WITHIN_S = 60  # TensorFlow's import included, on a loaded 2-core machine
ENV = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")


def _library_lines(stderr):
    """stderr without TensorFlow's C++ start-up lines (oneDNN, CPU features), which come before
    any Python runs and are not the library's (as in tests/test_quiet.py)."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip()
        and not line.startswith(("I0000", "E0000", "W0000"))
        and "absl::InitializeLog" not in line
        and "rebuild TensorFlow with the appropriate compiler flags" not in line
    ]


def _train(root, *flags, timeout=REFUSED_WITHIN_S):
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, TRAIN_SCRIPT, f"--root-dir={root}", *TINY, *flags],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=ENV,
    )
    return proc, time.monotonic() - started


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--runners=0"], "--runners (runners) must be an integer in [1, 4,096]"),
        (["--runners=-3"], "--runners (runners) must be an integer in [1, 4,096]"),
        (
            [f"--runners={cluster.local_cpus() + 1}", f"--num-envs={2 * cluster.local_cpus() + 2}"],
            "CPUs (one per runner) but a local Ray cluster here has",
        ),
        ([f"--ray-address=127.0.0.1:{_free_port()}"], "nothing answers there within 5 s"),
        (["--ray-address=not an address"], "--ray-address (ray_address) must be empty, local"),
        (["--runners=3"], "--num-envs=4 must be a multiple of --runners=3"),
    ],
    ids=["zero", "negative", "more-than-cpus", "unreachable", "malformed", "uneven"],
)
def test_bad_runner_input_is_one_sentence_and_exit_2(tmp_path, flags, says):
    root = tmp_path / "run"
    proc, took = _train(root, *flags)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = _library_lines(proc.stderr)
    assert len(lines) == 1, "\n".join(lines)
    assert says in lines[0] and "Traceback" not in proc.stderr
    assert took < REFUSED_WITHIN_S
    assert not os.path.exists(root) or os.listdir(root) == []


def _rows(root):
    with open(os.path.join(root, "metrics.csv"), newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_a_run_killed_with_its_driver_resumes(tmp_path):
    """SIGKILL to the driver of a run on a local cluster (the cluster goes with it); --resume
    continues from the last checkpoint and ends at the exact step budget."""
    root = str(tmp_path / "run")
    flags = ["--agent=a2c", "--runners=2", "--ray-address=local", "--checkpoint-every-steps=400"]
    argv = [sys.executable, TRAIN_SCRIPT, f"--root-dir={root}", *TINY, *flags]
    proc = subprocess.Popen(
        [*argv, "--total-steps=10000000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=ENV,
    )
    try:
        deadline = time.monotonic() + 300
        index = os.path.join(root, "checkpoints", "checkpoint")
        while not os.path.exists(index):
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        try:  # whatever the driver started and left behind
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    kept = max(int(float(row["env_steps"])) for row in _rows(root))
    assert kept >= 400
    resumed = subprocess.run(
        [*argv, "--resume", "--total-steps=2000", "--export"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
        env=ENV,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "done: 2000 environment steps" in resumed.stdout
    steps = [int(float(row["env_steps"])) for row in _rows(root)]
    assert steps == sorted(set(steps)) and steps[-1] == 2000
    # The exports of a run on runners are the one-process ones.
    assert os.path.isfile(os.path.join(root, "saved_model", "saved_model.pb"))
    assert os.path.isdir(os.path.join(root, "policy"))


def test_the_training_loop_alone_refuses_runners_it_was_not_given():
    """``train`` from Python without the runners does not quietly train in process."""
    from softrl_tf.config import ConfigError, TrainConfig
    from softrl_tf.training.loop import train

    config = TrainConfig(agent="a2c", runners=2, root_dir=None, total_steps=100)
    with pytest.raises(ConfigError, match="scale_out=softrl_tf.distributed.scale_out_for"):
        train(config)
