"""soft_dqn and dqn on runners: asynchronous collection into the learner's replay, with the
exact step and update counts of one process."""

import math

import softrl_tf
from softrl_tf.distributed.iteration import RayOffPolicyIteration

import numpy as np
import pytest

STEPS = 1_000
SETTINGS = dict(seed=0, num_envs=4, learning_starts=200, steps_per_execution=4, log_every_steps=200)


@pytest.mark.slow
@pytest.mark.parametrize("estimator", [softrl_tf.SoftDQN, softrl_tf.DQN])
def test_replay_agents_train_on_runners_with_exact_counts(ray_cluster, estimator):
    with estimator("CartPole-v1", **SETTINGS) as single:
        alone = single.fit(STEPS, progress=False)
    with estimator("CartPole-v1", runners=2, ray_address="local", runner_steps=8, **SETTINGS) as m:
        initial = [v.numpy() for v in m.agent.collect_policy.variables()]
        spread = m.fit(STEPS, progress=False)
        iteration = m._trainer.iteration
        assert type(iteration) is RayOffPolicyIteration
        assert spread.env_steps == alone.env_steps == STEPS
        assert spread.updates == alone.updates
        assert int(m.agent.train_step_counter.numpy()) == alone.updates
        # Every batch step in replay came from the runners, chunk by chunk.
        assert int(iteration.replay_buffer.num_frames()) == STEPS
        assert iteration.costs["segments"] == math.ceil(STEPS / 4 / 8)
        # Episodes were reported once each (CartPole episodes are 8-500 steps long).
        assert 0 < len(spread.episode_returns) <= STEPS // 8
        assert sum(spread.episode_lengths) <= STEPS
        final = [v.numpy() for v in m.agent.collect_policy.variables()]
        assert all(np.isfinite(w).all() for w in final)
        assert any(not np.array_equal(a, b) for a, b in zip(initial, final, strict=True))


@pytest.mark.slow
def test_replay_agents_train_under_a_mirrored_strategy_of_one_replica(ray_cluster, monkeypatch):
    """The learner's path on a machine with one GPU: a MirroredStrategy cannot merge_call
    (minibatch sampling, the optimizer, the target update) inside a graph loop, so the updates of
    one call (here 4 environments / 1 step per update = 4) are unrolled."""
    from softrl_tf import distributed

    import tensorflow as tf

    monkeypatch.setattr(
        distributed, "learner_strategy", lambda: tf.distribute.MirroredStrategy(["/cpu:0"])
    )
    settings = dict(SETTINGS, env_steps_per_update=1, target_update_period=5)
    with softrl_tf.SoftDQN(
        "CartPole-v1", runners=2, ray_address="local", runner_steps=8, **settings
    ) as model:
        assert isinstance(model.model.distribute_strategy, tf.distribute.MirroredStrategy)
        assert model._trainer.iteration.updates_per_call == 4
        result = model.fit(400, progress=False)
        assert result.env_steps == 400
        assert result.updates == 400 - SETTINGS["learning_starts"]
        assert all(np.isfinite(v.numpy()).all() for v in model.agent.collect_policy.variables())
