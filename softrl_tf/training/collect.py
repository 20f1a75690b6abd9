"""Fixed-length on-policy segments from a batched ``TFPyEnvironment``, inside ``tf.function``.

TF-Agents' ``DynamicStepDriver`` does not count the dummy LAST -> FIRST boundary steps towards its
``num_steps``, so the number of batch steps it takes varies with the number of episode ends, and
segments of a fixed length ``T`` (A2C's update every ``T`` steps, paper §6.1) cannot be read
from it. :func:`collect_segment` takes exactly ``T`` batch steps and returns the ``Trajectory``
``[B, T + 1]`` that :class:`~softrl_tf.agents.a2c.A2CAgent` trains on (the extra item carries the
bootstrap observation). Off-policy collection uses TF-Agents' driver and replay buffer as they are.
"""

from __future__ import annotations

import tensorflow as tf
from tf_agents.trajectories import trajectory


def bootstrap_item(time_step, action_spec):
    """A ``Trajectory`` item ``[B]`` that holds only ``time_step`` (no action, no reward).

    It is the last item of an on-policy segment: agents read its observation and step type for
    the bootstrap value and ignore its action, reward and discount.
    """
    batch = tf.shape(time_step.reward)[0]
    action = tf.zeros([batch], dtype=action_spec.dtype)
    return trajectory.Trajectory(
        step_type=time_step.step_type,
        observation=time_step.observation,
        action=action,
        policy_info=(),
        next_step_type=time_step.step_type,
        reward=tf.zeros_like(time_step.reward),
        discount=tf.ones_like(time_step.discount),
    )


def collect_segment(tf_env, policy, num_steps: int):
    """Steps ``tf_env`` ``num_steps`` times with ``policy``, in a graph-friendly unrolled loop.

    Args:
      tf_env: a batched ``TFPyEnvironment`` (``B`` environments).
      policy: a stateless ``TFPolicy`` with no ``info`` (the agents' collect policies).
      num_steps: ``T``, batch steps to take.

    Returns:
      ``(experience, time_step)``: the ``Trajectory`` ``[B, T + 1]`` and the environment's current
      time step after the last step (the next segment starts from it).
    """
    time_step = tf_env.current_time_step()
    items = []
    for _ in range(num_steps):
        action_step = policy.action(time_step)
        next_time_step = tf_env.step(action_step.action)
        items.append(
            trajectory.from_transition(time_step, action_step._replace(info=()), next_time_step)
        )
        time_step = next_time_step
    items.append(bootstrap_item(time_step, policy.action_spec))
    experience = tf.nest.map_structure(lambda *xs: tf.stack(xs, axis=1), *items)
    return experience, time_step
