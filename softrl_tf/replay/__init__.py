"""Replay for the off-policy agents: frame-deduplicating storage for pixel observations.

:func:`make_replay_buffer` is what the off-policy iteration builds: it estimates the memory first
(:func:`check_replay_fits`), then returns a :class:`FrameReplayBuffer` for uint8 frame stacks and
TF-Agents' ``TFUniformReplayBuffer`` for every other observation.
"""

from __future__ import annotations

from softrl_tf.replay.frame_buffer import FrameReplayBuffer
from softrl_tf.replay.memory import (
    available_memory,
    check_replay_fits,
    frame_stack_depth,
    replay_bytes,
)

from tf_agents.replay_buffers import tf_uniform_replay_buffer

__all__ = [
    "FrameReplayBuffer",
    "available_memory",
    "check_replay_fits",
    "frame_stack_depth",
    "make_replay_buffer",
    "replay_bytes",
    "variable_bytes",
]


def make_replay_buffer(data_spec, batch_size: int, max_length: int, capacity: int):
    """The replay buffer of a run, once its estimated memory is known to fit.

    Args:
      data_spec: the agent's ``collect_data_spec``.
      batch_size: environments.
      max_length: items kept per environment.
      capacity: the ``replay_capacity`` asked for (named if it does not fit).

    Raises:
      ConfigError: when the buffer would not fit in the memory available (one sentence with the
        estimate and the flag to lower).
    """
    check_replay_fits(data_spec, batch_size, max_length, capacity)
    if frame_stack_depth(data_spec.observation) is not None:
        return FrameReplayBuffer(data_spec, batch_size, max_length)
    return tf_uniform_replay_buffer.TFUniformReplayBuffer(
        data_spec, batch_size=batch_size, max_length=max_length
    )


def variable_bytes(buffer) -> int:
    """Bytes of a buffer's variables, measured on the variables themselves."""
    variables = buffer.variables  # a method of TF-Agents' buffer, tf.Module's property here
    if callable(variables):
        variables = variables()
    return sum(v.shape.num_elements() * v.dtype.size for v in variables)
