"""Run by test_replicas.py in a fresh process: two logical CPU devices must be set up before
TensorFlow starts its runtime, which the test process has long done.

Trains ``ESTIMATOR`` (argv[1]) for ``STEPS`` (argv[2]) environment steps on CartPole-v1 with 8
environments twice, the second time on 2 runners x 4 environments with the learner under a
``MirroredStrategy`` of two replicas (one per logical CPU):

* a2c, softq: first in one process; each replica updates on 4 environments' segments;
* soft_dqn, dqn: first on the same 2 runners with a learner of one replica (their collection on
  runners is asynchronous, so one process's data differ); each replica updates on half of every
  minibatch. Both runs draw their minibatches with :func:`seeded_sample`.

With a fourth argument ``normalize``, both runs normalise observations (the replicas' shards are
folded into the statistics once, in order).

Prints one JSON line: the largest weight difference (and the largest change of a weight), the
update counts, whether the episode returns and sampling state agree, the observations each run's
normaliser counted, and for soft_dqn and dqn the updates of a third run, of two replicas sampling
the buffer itself.
"""

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import json  # noqa: E402

import tensorflow as tf  # noqa: E402

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)

import softrl_tf  # noqa: E402
from softrl_tf import distributed  # noqa: E402
from softrl_tf.agent_configs import agent_config_class  # noqa: E402
from softrl_tf.training.iterations import OffPolicyIteration  # noqa: E402

import numpy as np  # noqa: E402

SETTINGS = dict(seed=3, num_envs=8, steps_per_execution=4, log_every_steps=200)
REPLAY_SETTINGS = dict(learning_starts=64, batch_size=32, env_steps_per_update=2, runner_steps=4)
RUNNERS = dict(runners=2, ray_address="local")


def seeded_sample(self):
    """``OffPolicyIteration.sample`` with windows drawn by a stateless generator keyed by the
    update count. The buffer's own draws take their seeds from the ids of the graph's ops, which
    differ between a graph of one replica and one of two, so the two runs would train on
    different minibatches; these are the same in both. ``[batch_size, num_steps]``."""
    items = self.replay_buffer.gather_all()  # [B, T, ...]: the buffer has not wrapped
    envs = tf.shape(items.step_type, out_type=tf.int64)[0]
    length = tf.shape(items.step_type, out_type=tf.int64)[1]
    seed = tf.stack([self._agent.train_step_counter.read_value(), tf.constant(7, tf.int64)])
    size = [self._batch_size]
    env = tf.random.stateless_uniform(size, seed, 0, envs, dtype=tf.int64)
    start = tf.random.stateless_uniform(
        size, seed + 1, 0, length - self._num_steps + 1, dtype=tf.int64
    )
    windows = [tf.stack([env, start + k], -1) for k in range(self._num_steps)]
    return tf.nest.map_structure(
        lambda x: tf.stack([tf.gather_nd(x, w) for w in windows], axis=1), items
    )


def sampling_state(estimator):
    """The learner's action-sampling generator state (on runners off-policy, the runners hold
    their own: none here)."""
    generator = getattr(estimator.agent.collect_policy, "generator", None)
    return None if generator is None else generator.state.numpy()


def weights(estimator):
    """Every variable of the collect policy: the weights and the observation statistics."""
    return [v.numpy() for v in estimator.agent.collect_policy.variables()]


def trained(estimator):
    """The trainable weights (the target network's too), without the observation statistics."""
    return [v.numpy() for v in estimator.agent.trainable_variables]


def observations_counted(estimator):
    """How many observations the normaliser has folded in (None without one)."""
    normalizer = estimator.agent._trained_networks[0].normalizer
    return None if normalizer is None else round(float(normalizer.count))


def main(name: str, steps: int, clip: float, normalize: bool) -> None:
    estimator = getattr(softrl_tf, name)
    settings = dict(SETTINGS, max_grad_norm=clip, normalize_observations=normalize)
    reference = settings
    on_policy = agent_config_class(estimator.agent_name).on_policy
    buffer_sample = OffPolicyIteration.sample
    if not on_policy:
        OffPolicyIteration.sample = seeded_sample
        settings.update(REPLAY_SETTINGS)
        reference = dict(settings, **RUNNERS)
    with estimator("CartPole-v1", **reference) as single:
        initial = weights(single)
        initial_trained = trained(single)
        alone = single.fit(steps, progress=False)
        expected = weights(single)
        expected_trained = trained(single)
        state = sampling_state(single)
    distributed.learner_strategy = lambda: tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with estimator("CartPole-v1", **settings, **RUNNERS) as scaled:
        start = weights(scaled)
        spread = scaled.fit(steps, progress=False)
        got = weights(scaled)
        counted = [observations_counted(single), observations_counted(scaled)]
        replicas = scaled.model.distribute_strategy.num_replicas_in_sync
        scaled_state = sampling_state(scaled)
        difference = max(float(np.max(np.abs(g - w))) for g, w in zip(got, expected, strict=True))
        moved = max(
            float(np.max(np.abs(w - i)))
            for w, i in zip(expected_trained, initial_trained, strict=True)
        )
    # The buffer's own sampling under two replicas (not comparable with one replica's draws,
    # see seeded_sample): the run must take its updates.
    buffer_updates = None
    if not on_policy:
        OffPolicyIteration.sample = buffer_sample
        with estimator("CartPole-v1", **settings, **RUNNERS) as buffered:
            buffer_updates = buffered.fit(steps, progress=False).updates
    print(
        json.dumps(
            {
                "replicas": replicas,
                "same_start": all(
                    np.array_equal(a, b) for a, b in zip(start, initial, strict=True)
                ),
                "moved": moved,
                "max_abs_difference": difference,
                "updates": [alone.updates, spread.updates],
                "env_steps": [alone.env_steps, spread.env_steps],
                "same_returns": alone.episode_returns == spread.episode_returns,
                "same_sampling_state": bool(np.array_equal(state, scaled_state)),
                "loss": [alone.last_metrics["train/loss"], spread.last_metrics["train/loss"]],
                "grad_norm": [
                    alone.last_metrics["train/grad_norm"],
                    spread.last_metrics["train/grad_norm"],
                ],
                "observations_counted": counted,
                "buffer_sampled_updates": buffer_updates,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:] == ["normalize"])
