"""Run by test_replicas.py in a fresh process: two logical CPU devices must be set up before
TensorFlow starts its runtime, which the test process has long done.

Trains ``ESTIMATOR`` (argv[1]) for ``STEPS`` (argv[2]) environment steps on CartPole-v1 with 8
environments twice: in one process, then on 2 runners x 4 environments with the learner under a
``MirroredStrategy`` of two replicas (one per logical CPU), each updating on 4 environments'
segments. Prints one JSON line: the largest weight difference (and the largest change of a
weight), the update counts, and whether the episode returns and sampling state agree.
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

import numpy as np  # noqa: E402

SETTINGS = dict(seed=3, num_envs=8, steps_per_execution=4, log_every_steps=200)


def weights(estimator):
    return [v.numpy() for v in estimator.agent.collect_policy.variables()]


def main(name: str, steps: int, clip: float) -> None:
    estimator = getattr(softrl_tf, name)
    with estimator("CartPole-v1", max_grad_norm=clip, **SETTINGS) as single:
        initial = weights(single)
        alone = single.fit(steps, progress=False)
        expected = weights(single)
        state = single.agent.collect_policy.generator.state.numpy()
    distributed.learner_strategy = lambda: tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with estimator(
        "CartPole-v1", runners=2, ray_address="local", max_grad_norm=clip, **SETTINGS
    ) as scaled:
        start = weights(scaled)
        spread = scaled.fit(steps, progress=False)
        got = weights(scaled)
        difference = max(float(np.max(np.abs(g - w))) for g, w in zip(got, expected, strict=True))
        moved = max(float(np.max(np.abs(w - i))) for w, i in zip(expected, initial, strict=True))
        print(
            json.dumps(
                {
                    "replicas": scaled.model.distribute_strategy.num_replicas_in_sync,
                    "same_start": all(
                        np.array_equal(a, b) for a, b in zip(start, initial, strict=True)
                    ),
                    "moved": moved,
                    "max_abs_difference": difference,
                    "updates": [alone.updates, spread.updates],
                    "env_steps": [alone.env_steps, spread.env_steps],
                    "same_returns": alone.episode_returns == spread.episode_returns,
                    "same_sampling_state": bool(
                        np.array_equal(state, scaled.agent.collect_policy.generator.state.numpy())
                    ),
                    "loss": [alone.last_metrics["train/loss"], spread.last_metrics["train/loss"]],
                    "grad_norm": [
                        alone.last_metrics["train/grad_norm"],
                        spread.last_metrics["train/grad_norm"],
                    ],
                }
            )
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
