"""Bad input is answered before TensorFlow loads: one sentence, exit 2, in a process that never
imported TensorFlow (so none of its start-up lines come first), and nothing written."""

import os
import signal
import subprocess
import sys
import time

import pytest

TRAIN_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "train.py")

# Flags, ranges, agents, presets, environment ids and paths: every check that needs no TensorFlow.
BAD_INPUTS = [
    (["--tau=abc"], "argument --tau: expected a number"),
    (["--tau=inf"], "--tau (tau) must be a finite number > 0, got inf"),
    (["--seed=-1"], "--seed"),
    (["--n-steps=1000000000"], "--n-steps"),
    (["--num-envs=1000000000"], "--num-envs"),
    (["--agent=sac"], "unknown agent 'sac'"),
    (["--preset=mujoco"], "unknown preset 'mujoco'"),
    (["--double-q"], "--double-q is not used by --agent=softq"),
    (["--env=CartPol-v1"], "did you mean 'CartPole-v1'"),
    (["--env=nosuchmodule:Foo-v0"], "names the module 'nosuchmodule', which cannot be imported"),
    (["--env=callable:mypkg.make_env"], "--env: this run trained on an environment constructor"),
    (["--resume"], "--resume: there is no checkpoint in"),
    (["--resume", "--overwrite"], "--resume and --overwrite contradict each other"),
]

_PROBE = """
import sys
from softrl_tf import train_cli as cli
status = cli.main(sys.argv[1:])
sys.stderr.write(f"\\ntensorflow imported: {'tensorflow' in sys.modules}; exit {status}\\n")
"""


@pytest.mark.parametrize("argv, message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_answered_without_importing_tensorflow(argv, message, tmp_path):
    root = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, f"--root-dir={root}", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == "tensorflow imported: False; exit 2", done.stderr
    assert len(lines) == 3 and lines[1] == "", done.stderr  # the sentence, then the probe's line
    assert lines[0].startswith("train.py: error: ") and message in lines[0], lines[0]
    assert not root.exists()


def test_a_root_dir_holding_a_run_is_refused_without_importing_tensorflow(tmp_path):
    root = tmp_path / "run"
    (root / "checkpoints").mkdir(parents=True)
    (root / "checkpoints" / "checkpoint").write_text("model_checkpoint_path: 'ckpt-1'\n")
    before = sorted(p.name for p in root.rglob("*"))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, f"--root-dir={root}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == "tensorflow imported: False; exit 2", done.stderr
    assert "already holds a run: pass --resume to continue it or --overwrite" in lines[0]
    assert sorted(p.name for p in root.rglob("*")) == before


def test_the_script_prints_the_sentence_alone(tmp_path):
    """Through ``scripts/train.py``: stderr is exactly the one sentence."""
    done = subprocess.run(
        [sys.executable, TRAIN_SCRIPT, f"--root-dir={tmp_path / 'run'}", "--learning-rate=nan"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "train.py: error: --learning-rate (learning_rate) must be a finite number > 0, got nan."
    ]
    assert done.stdout == ""


def test_sigterm_while_tensorflow_loads_is_one_line_and_143(tmp_path):
    """The input passes, TensorFlow starts loading, SIGTERM arrives: one line, exit 143."""
    proc = subprocess.Popen(
        [sys.executable, TRAIN_SCRIPT, f"--root-dir={tmp_path / 'run'}", "--total-steps=64"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "run").exists():  # made by the checks that come before TensorFlow
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    lines = [line for line in err.splitlines() if line.startswith("train.py:")]
    assert len(lines) == 1 and "SIGTERM received" in lines[0], err
    assert not (tmp_path / "run" / "config.json").exists()


def test_every_module_listed_as_tensorflow_free_imports_without_it():
    """Each of ``_stack.TF_FREE`` and ``TF_FREE_INITS``, in a fresh process: no TensorFlow,
    tf_keras or TF-Agents in ``sys.modules`` afterwards."""
    from softrl_tf import _stack

    for module in sorted(_stack.TF_FREE | _stack.TF_FREE_INITS):
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys, {module}; "
                "print(sorted(m for m in ('tensorflow', 'tf_keras', 'tf_agents') "
                "if m in sys.modules))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.stdout.strip() == "[]", (module, done.stdout, done.stderr)
