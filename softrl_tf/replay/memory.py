"""How much memory a replay buffer takes, estimated before any of it is allocated.

The estimate counts every variable each buffer creates (the test suite compares it with the
variables of built buffers), so that a run that cannot fit stops at once with one sentence instead
of an out-of-memory traceback after the environments have started. TensorFlow-free: it reads only
the shapes and dtypes of the data spec.
"""

from __future__ import annotations

import math
import os

from softrl_tf.config import ConfigError, flag

import numpy as np

# The per-item id TF-Agents' TFUniformReplayBuffer keeps beside the data (int64), and its last id.
_TF_AGENTS_ID_BYTES = 8
_COUNTER_BYTES = 8
GB = 1e9


def _nbytes(spec) -> int:
    """Bytes of one item of a TensorSpec / ArraySpec."""
    dtype = getattr(spec.dtype, "as_numpy_dtype", spec.dtype)
    return math.prod(spec.shape) * np.dtype(dtype).itemsize


def _flat_specs(nest) -> list:
    """The leaves of a (named)tuple / dict nest of specs."""
    if hasattr(nest, "shape") and hasattr(nest, "dtype"):
        return [nest]
    if isinstance(nest, dict):
        return [leaf for key in sorted(nest) for leaf in _flat_specs(nest[key])]
    if isinstance(nest, (tuple, list)):
        return [leaf for item in nest for leaf in _flat_specs(item)]
    return []


def frame_stack_depth(observation_spec) -> int | None:
    """The stack depth ``K`` of uint8 ``[H, W, K]`` frame stacks (``K >= 2``), else None.

    Such observations are stored frame by frame (:class:`~softrl_tf.replay.FrameReplayBuffer`).
    ``K = 3`` is taken for an RGB image, not a stack of three frames, and stored whole: an image's
    channels do not shift from one step to the next the way a stack's frames do.
    """
    shape = tuple(observation_spec.shape)
    dtype = getattr(observation_spec.dtype, "as_numpy_dtype", observation_spec.dtype)
    if np.dtype(dtype) == np.uint8 and len(shape) == 3 and shape[-1] >= 2 and shape[-1] != 3:
        return int(shape[-1])
    return None


def replay_bytes(data_spec, batch_size: int, max_length: int, frames: bool) -> int:
    """Bytes of the variables of a replay buffer of ``batch_size`` rows of ``max_length`` items.

    Args:
      data_spec: the items' spec, a ``Trajectory`` of specs.
      batch_size: environments (rows of the buffer).
      max_length: items kept per environment.
      frames: the frame buffer (each frame of ``data_spec.observation``'s stacks stored once)
        instead of TF-Agents' ``TFUniformReplayBuffer`` (every item's whole observation).
    """
    items = batch_size * max_length
    if not frames:
        per_item = sum(_nbytes(s) for s in _flat_specs(data_spec)) + _TF_AGENTS_ID_BYTES
        return items * per_item + _COUNTER_BYTES
    observation = data_spec.observation
    depth = frame_stack_depth(observation)
    if depth is None:
        raise ValueError(f"{observation} is not a uint8 [H, W, K] frame stack.")
    height, width, _ = observation.shape
    frame = int(height) * int(width)
    others = _flat_specs(data_spec._replace(observation=()))
    per_item = sum(_nbytes(s) for s in others) + 1  # + the int8 stack code
    ring = batch_size * (max_length + depth - 1) * frame
    # Beside the rings: the previous stack of each environment, its code and whether it is set.
    last = batch_size * (frame * depth + 1 + 1)
    return ring + items * per_item + last + _COUNTER_BYTES


def available_memory() -> int:
    """Bytes of memory available to a new allocation (psutil's estimate when installed)."""
    try:
        import psutil
    except ImportError:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    return int(psutil.virtual_memory().available)


def check_replay_fits(data_spec, batch_size: int, max_length: int, capacity: int) -> int:
    """The estimated bytes of the buffer a run will build; refuses one that would not fit.

    Args:
      data_spec, batch_size, max_length: as for :func:`replay_bytes`; frames are stored once
        when the observation is a uint8 frame stack.
      capacity: the ``replay_capacity`` asked for (named in the message).

    Raises:
      ConfigError: when the estimate exceeds the memory available now, in one sentence giving
        the estimate and the flag to lower.
    """
    frames = frame_stack_depth(data_spec.observation) is not None
    needed = replay_bytes(data_spec, batch_size, max_length, frames)
    available = available_memory()
    if needed > available:
        per = needed / (batch_size * max_length)
        how = "frames stored once" if frames else "whole observations"
        option = flag("replay_capacity")
        raise ConfigError(
            f"{option} {capacity}: the replay buffer would take about {needed / GB:.1f} GB "
            f"({per:,.0f} bytes per transition, {how}) but {available / GB:.1f} GB of memory is "
            f"available: lower {option}."
        )
    return needed
