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
