"""A learner of two replicas (a ``MirroredStrategy`` over two logical CPUs, as over two GPUs)
takes the one-process updates, and what it cannot do is refused in one sentence."""

import json
import os
import subprocess
import sys

from softrl_tf.config import ConfigError
from softrl_tf.distributed import check_replicas
from softrl_tf.presets import resolve

import pytest

CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "replicas_check.py")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(CHECK)))


@pytest.mark.slow
@pytest.mark.parametrize(
    "estimator, clip",
    [("A2C", 0.5), ("SoftQ", 0.0)],
    ids=["a2c-clipped", "softq-unclipped"],
)
def test_two_replicas_take_the_one_process_updates(estimator, clip):
    """3 updates of 8 CartPole environments: 2 runners x 4, each replica updating on one
    runner's segments, against one process. Each replica's loss is its share of the batch mean
    and the gradients are summed before the clip: taking each replica's own mean instead moves
    the weights by 4e-3 (clipped) to 0.18 (unclipped) from the one-process ones; the strategy's
    rounding moves them by ~1e-7."""
    proc = subprocess.run(
        [sys.executable, CHECK, estimator, "120", str(clip)],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["same_start"]
    assert result["updates"] == [3, 3]
    assert result["env_steps"] == [120, 120]
    assert result["same_returns"] and result["same_sampling_state"]
    assert result["moved"] > 0.1  # the updates were not negligible
    assert result["max_abs_difference"] < 1e-5
    alone, spread = result["loss"]
    assert spread == pytest.approx(alone, rel=1e-5)
    alone, spread = result["grad_norm"]
    assert spread == pytest.approx(alone, rel=1e-5)


def _run(agent, **overrides):
    return resolve(agent, overrides={"env": "CartPole-v1", **overrides})


@pytest.mark.parametrize(
    "run, words",
    [
        (_run("soft_dqn"), "samples its replay in one place"),
        (_run("a2c", diagnostics_every_updates=10), "--diagnostics-every-updates=0"),
        (_run("softq", num_envs=9), "--num-envs=9 must be a multiple"),
    ],
    ids=["replay", "diagnostics", "num-envs"],
)
def test_what_two_replicas_cannot_do_is_refused(run, words):
    with pytest.raises(ConfigError, match=words) as caught:
        check_replicas(run, 2)
    assert "\n" not in str(caught.value)
    check_replicas(run, 1)  # one replica takes any run
