"""A learner of two replicas (a ``MirroredStrategy`` over two logical CPUs, as over two GPUs)
takes the updates of one, and what it cannot do is refused in one sentence."""

import dataclasses
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
    "estimator, steps, clip, updates, moved, extra",
    [
        ("A2C", 120, 0.5, 3, 0.1, []),
        ("SoftQ", 120, 0.0, 3, 0.1, []),
        ("A2C", 120, 0.5, 3, 0.1, ["normalize"]),
        ("SoftDQN", 160, 10.0, 48, 0.04, []),
        ("DQN", 160, 0.0, 48, 0.04, []),
        ("SoftDQN", 160, 10.0, 48, 0.04, ["normalize"]),
    ],
    ids=[
        "a2c-clipped",
        "softq-unclipped",
        "a2c-normalized",
        "soft_dqn-clipped",
        "dqn-unclipped",
        "soft_dqn-normalized",
    ],
)
def test_two_replicas_take_the_one_replica_updates(estimator, steps, clip, updates, moved, extra):
    """8 CartPole environments on 2 runners x 4 with a learner of two replicas, against one
    replica (replicas_check.py).

    a2c, softq: 3 updates, each replica on one runner's segments, against one process. Each
    replica's loss is its share of the batch mean and the gradients are summed before the clip:
    taking each replica's own mean instead moves the weights by 4e-3 (clipped) to 0.18
    (unclipped) from the one-process ones; the strategy's rounding moves them by ~1e-7.

    soft_dqn, dqn: 48 updates, each replica on half of every minibatch of 32, against the same
    runners with a learner of one replica; the same environment steps in both also show that
    collection on runners is reproducible. Each replica's own mean instead moves the weights by
    9e-3 (clipped) and 1.4e-2 (unclipped), and doubles the reported loss.

    normalized: with observation normalisation, whose statistics take every observation once
    (a2c: every replica's shard, in order; soft_dqn: each batch step entering replay).

    soft_dqn and dqn also train a third time, two replicas sampling the buffer itself."""
    proc = subprocess.run(
        [sys.executable, CHECK, estimator, str(steps), str(clip), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["same_start"]
    assert result["updates"] == [updates, updates]
    assert result["env_steps"] == [steps, steps]
    assert result["same_returns"] and result["same_sampling_state"]
    assert result["moved"] > moved  # the updates were not negligible
    assert result["max_abs_difference"] < 1e-5
    alone, spread = result["loss"]
    assert spread == pytest.approx(alone, rel=1e-5)
    alone, spread = result["grad_norm"]
    assert spread == pytest.approx(alone, rel=1e-5)
    counted = [steps, steps] if extra == ["normalize"] else [None, None]
    assert result["observations_counted"] == counted
    if estimator in ("SoftDQN", "DQN"):
        assert result["buffer_sampled_updates"] == updates


def _run(agent, **overrides):
    return resolve(agent, overrides={"env": "CartPole-v1", **overrides})


@pytest.mark.parametrize(
    "run, words",
    [
        (_run("soft_dqn", batch_size=33), "--batch-size=33 must be a multiple"),
        (_run("a2c", diagnostics_every_updates=10), "--diagnostics-every-updates=0"),
        (_run("softq", num_envs=9), "--num-envs=9 must be a multiple"),
    ],
    ids=["batch-size", "diagnostics", "num-envs"],
)
def test_what_two_replicas_cannot_do_is_refused(run, words):
    with pytest.raises(ConfigError, match=words) as caught:
        check_replicas(run, 2)
    assert "\n" not in str(caught.value)
    check_replicas(run, 1)  # one replica takes any run


@pytest.mark.parametrize("native, expected", [(True, "mixed_bfloat16"), (False, "float32")])
def test_runners_get_the_precision_the_learner_decided(monkeypatch, native, expected):
    """precision="auto" reaches the runners decided by the learner's hardware, so that they act
    with the network the learner trains; the rest of the run's config is unchanged. Checked on
    what RayScaleOut hands the runner actors (stopped before Ray is used)."""
    from softrl_tf import distributed, networks
    from softrl_tf.distributed import runner

    import ray

    class Stop(Exception):
        pass

    sent = []

    class FakeRunner:
        class ready:
            remote = staticmethod(lambda: None)

    class FakeActorClass:
        @staticmethod
        def remote(run, first, count):
            sent.append((run, first, count))
            return FakeRunner()

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(networks, "bfloat16_is_native", lambda: native)
    monkeypatch.setattr(runner, "remote_runner_class", lambda: FakeActorClass)
    monkeypatch.setattr(distributed.cluster, "connect", lambda address, runners: False)
    monkeypatch.setattr(ray, "get", stop)
    run = resolve("a2c", "atari", overrides={"runners": 2})
    assert run.agent.precision == "auto"
    with pytest.raises(Stop):
        distributed.RayScaleOut(run).iteration(None, run)
    assert [(first, count) for _, first, count in sent] == [(0, 8), (8, 8)]
    for runners_run, _, _ in sent:
        assert runners_run.agent.precision == expected
        assert runners_run.train == run.train
        assert dataclasses.replace(runners_run.agent, precision="auto") == run.agent
    explicit = resolve("a2c", overrides={"precision": "float32"})
    assert distributed.runners_run_config(explicit).agent.precision == "float32"
