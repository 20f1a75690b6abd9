"""A uniform replay buffer that stores each pixel frame once: the replay of soft DQN on Atari.

Why not TF-Agents' ``TFUniformReplayBuffer`` for frames: it stores every item's whole
observation, and an Atari observation is a stack of the 4 most recent 84x84 frames, 3 of which
the previous step's stack already holds. At the paper's 1M transitions that is
``1e6 x 84 x 84 x 4`` bytes = 28 GB of stacks, allocated up front, where the frames themselves
take 7 GB. This buffer keeps one ring of frames per environment and rebuilds the stacks when it
samples; everything else about it (the data spec, ``add_batch`` of one batch step, ``get_next``
of uniform ``[B, num_steps]`` windows, ``BufferInfo``, ``num_frames``) is TF-Agents' interface,
so the agents see the same ``Trajectory`` windows either way. Observations that are not frame
stacks are stored whole, as TF-Agents does (a benchmark compares the two on CartPole).

How stacks are rebuilt, exactly as the environment produced them: on each ``add_batch`` the
newest frame of each environment's stack is written to its ring, with a code saying how the
stack's older frames are found. A stack that continues the previous one of its environment
(its older ``K - 1`` frames are the previous stack's newest) reuses the ring's earlier frames;
one that starts afresh (an episode start) has its older frames all zeros (gymnasium's
``FrameStackObservation(padding_type="zero")``, ale-py's vector env) or all equal to its newest
frame (``padding_type="reset"``). The code is the number ``d`` of the stack's frames in the ring
since that start (1 to ``K``), negative when the padding repeats the oldest: slot ``a`` frames
back is ring frame ``min(a, d - 1)`` back, zeroed when ``a >= d`` and the padding is zeros. A
life-loss FIRST step of ``episodic_life`` continues its game's frames, and is stored as such:
the test suite compares every sampled window with the observations the environments returned.
A stack that is none of these (not a frame stack at all) stops ``add_batch`` with an error.

The frame ring of each environment holds ``K - 1`` frames more than its ``max_length`` items, so
the oldest item's stack is still whole.
"""

from __future__ import annotations

from softrl_tf.replay.memory import frame_stack_depth

import tensorflow as tf
from tf_agents.replay_buffers import replay_buffer
from tf_agents.replay_buffers.tf_uniform_replay_buffer import BufferInfo

_NOT_A_STACK = (
    "FrameReplayBuffer: an observation is not a frame stack (its older frames neither continue "
    "the previous observation of its environment nor pad an episode start with zeros or with its "
    "newest frame); uint8 [H, W, K] observations must be stacks of the K most recent frames."
)


class FrameReplayBuffer(replay_buffer.ReplayBuffer):
    """Uniform replay of ``batch_size`` environments, ``max_length`` items each, frames once.

    Args:
      data_spec: the items' spec, a ``Trajectory`` (or any namedtuple with an ``observation``
        field). A uint8 ``[H, W, K]`` observation (``K >= 2``) is stored one frame per item;
        any other is stored whole.
      batch_size: environments (each ``add_batch`` adds one item per environment).
      max_length: items kept per environment; older ones are overwritten.
      device: where the variables live (host memory by default, as TF-Agents' buffer).
      name: the module's name.
    """

    def __init__(
        self,
        data_spec,
        batch_size: int,
        max_length: int,
        device: str = "cpu:*",
        name: str = "frame_replay_buffer",
    ):
        super().__init__(data_spec, batch_size * max_length)
        self._batch_size = int(batch_size)
        self._max_length = int(max_length)
        self._device = device
        self._depth = frame_stack_depth(data_spec.observation)
        # Everything but the frames is stored whole, item by item.
        self._whole_spec = data_spec._replace(observation=()) if self._depth else data_spec
        items = self._batch_size * self._max_length
        with tf.device(device), tf.name_scope(name):
            self._fields = [
                tf.Variable(
                    tf.zeros([items, *spec.shape], spec.dtype), trainable=False, name="field"
                )
                for spec in tf.nest.flatten(self._whole_spec)
            ]
            self._num_adds = tf.Variable(0, dtype=tf.int64, trainable=False, name="num_adds")
            if self._depth:
                height, width, depth = data_spec.observation.shape
                self._ring_length = self._max_length + depth - 1
                self._frames = tf.Variable(
                    tf.zeros([self._batch_size * self._ring_length, height, width], tf.uint8),
                    trainable=False,
                    name="frames",
                )
                self._codes = tf.Variable(
                    tf.zeros([items], tf.int8), trainable=False, name="stack_codes"
                )
                # Each environment's previous stack and its code, to tell continuations.
                self._last_stack = tf.Variable(
                    tf.zeros([self._batch_size, height, width, depth], tf.uint8),
                    trainable=False,
                    name="last_stack",
                )
                self._last_code = tf.Variable(
                    tf.zeros([self._batch_size], tf.int8), trainable=False, name="last_code"
                )
                self._has_last = tf.Variable(
                    tf.zeros([self._batch_size], tf.bool), trainable=False, name="has_last"
                )

    @property
    def batch_size(self) -> int:
        """Environments (rows) of the buffer."""
        return self._batch_size

    @property
    def max_length(self) -> int:
        """Items kept per environment."""
        return self._max_length

    @property
    def stores_frames(self) -> bool:
        """Whether observations are stored frame by frame (uint8 frame stacks)."""
        return self._depth is not None

    def _num_frames(self):
        stored = tf.minimum(self._num_adds, self._max_length)
        return stored * self._batch_size

    def _rows(self, env, item_ids, length):
        """Flat rows of environments ``env`` at items ``item_ids`` in a ring of ``length``."""
        return tf.math.floormod(item_ids, length) * self._batch_size + env

    def _add_batch(self, items):
        tf.nest.assert_same_structure(items, self._data_spec)
        with tf.device(self._device):
            item_id = self._num_adds.read_value()
            env = tf.range(self._batch_size, dtype=tf.int64)
            rows = self._rows(env, item_id, self._max_length)
            whole = items._replace(observation=()) if self._depth else items
            updates = [
                variable.scatter_update(tf.IndexedSlices(value, rows))
                for variable, value in zip(self._fields, tf.nest.flatten(whole), strict=True)
            ]
            if self._depth:
                updates.append(self._add_frames(items.observation, item_id, env, rows))
            with tf.control_dependencies(updates):
                return tf.group(self._num_adds.assign_add(1))

    def _add_frames(self, stacks, item_id, env, rows):
        stacks = tf.convert_to_tensor(stacks, tf.uint8)
        older = stacks[..., :-1]
        continues = self._has_last & tf.reduce_all(
            tf.equal(older, self._last_stack[..., 1:]), axis=[1, 2, 3]
        )
        zeros = tf.reduce_all(tf.equal(older, 0), axis=[1, 2, 3])
        repeats = tf.reduce_all(tf.equal(older, stacks[..., -1:]), axis=[1, 2, 3])
        last = tf.cast(self._last_code, tf.int32)
        grown = tf.sign(last) * tf.minimum(tf.abs(last) + 1, self._depth)
        fresh = tf.where(zeros, tf.ones_like(last), -tf.ones_like(last))
        code = tf.cast(tf.where(continues, grown, fresh), tf.int8)
        check = tf.debugging.Assert(
            tf.reduce_all(continues | zeros | repeats), [_NOT_A_STACK], name="frame_stack_check"
        )
        with tf.control_dependencies([check]):
            frame_rows = self._rows(env, item_id, self._ring_length)
            return tf.group(
                self._frames.scatter_update(tf.IndexedSlices(stacks[..., -1], frame_rows)),
                self._codes.scatter_update(tf.IndexedSlices(code, rows)),
                self._last_stack.assign(stacks),
                self._last_code.assign(code),
                self._has_last.assign(tf.ones_like(continues)),
            )

    def _read(self, env, item_ids):
        """The items ``item_ids`` (``[N, T]``) of environments ``env`` (``[N, 1]``)."""
        rows = self._rows(env, item_ids, self._max_length)
        values = [tf.gather(variable, rows) for variable in self._fields]
        items = tf.nest.pack_sequence_as(self._whole_spec, values)
        if not self._depth:
            return items
        code = tf.cast(tf.gather(self._codes, rows), tf.int64)[..., None]  # [N, T, 1]
        in_ring = tf.abs(code)
        age = tf.range(self._depth - 1, -1, -1, dtype=tf.int64)  # oldest first
        back = tf.minimum(age, in_ring - 1)  # [N, T, K]
        frame_rows = self._rows(env[..., None], item_ids[..., None] - back, self._ring_length)
        frames = tf.gather(self._frames, frame_rows)  # [N, T, K, H, W]
        keep = (age < in_ring) | (code < 0)
        frames = frames * tf.cast(keep, tf.uint8)[..., None, None]
        return items._replace(observation=tf.transpose(frames, [0, 1, 3, 4, 2]))

    def _valid_ids(self, num_steps):
        """``[min, max)`` of the first ids of whole windows of ``num_steps`` items."""
        last_id = self._num_adds.read_value() - 1
        full = last_id >= self._max_length
        min_id = tf.where(full, last_id + 1 - self._max_length, tf.constant(0, tf.int64))
        max_id = tf.maximum(last_id + 1 - num_steps + 1, 0)
        return min_id, max_id

    def _get_next(self, sample_batch_size=None, num_steps=None, time_stacked=True):
        steps = 1 if num_steps is None else int(num_steps)
        rows = 1 if sample_batch_size is None else int(sample_batch_size)
        with tf.device(self._device), tf.name_scope("get_next"):
            min_id, max_id = self._valid_ids(steps)
            nonempty = tf.debugging.assert_greater(
                max_id,
                min_id,
                message="FrameReplayBuffer is empty: add items before sampling it.",
            )
            with tf.control_dependencies([nonempty]):
                first = tf.random.uniform([rows], min_id, max_id, dtype=tf.int64)
            env = tf.random.uniform([rows, 1], 0, self._batch_size, dtype=tf.int64)
            ids = first[:, None] + tf.range(steps, dtype=tf.int64)
            items = self._read(env, ids)
            windows = tf.cast((max_id - min_id) * self._batch_size, tf.float32)
            probabilities = tf.fill([rows], 1.0 / windows)
        if num_steps is None:
            items, ids = tf.nest.map_structure(lambda t: t[:, 0], (items, ids))
        elif not time_stacked:
            items = tuple(
                tf.nest.map_structure(lambda t, i=i: t[:, i], items) for i in range(steps)
            )
            ids = tuple(ids[:, i] for i in range(steps))
        if sample_batch_size is None:
            items, ids, probabilities = tf.nest.map_structure(
                lambda t: t[0], (items, ids, probabilities)
            )
        return items, BufferInfo(ids=ids, probabilities=probabilities)

    def _as_dataset(
        self,
        sample_batch_size=None,
        num_steps=None,
        sequence_preprocess_fn=None,
        num_parallel_calls=None,
    ):
        if sequence_preprocess_fn is not None:
            raise NotImplementedError("sequence_preprocess_fn is not supported.")
        return tf.data.Dataset.counter().map(
            lambda _: self._get_next(sample_batch_size, num_steps),
            num_parallel_calls=num_parallel_calls,
        )

    def _single_deterministic_pass_dataset(
        self, sample_batch_size=None, num_steps=None, num_parallel_calls=None
    ):
        raise NotImplementedError("FrameReplayBuffer samples uniformly; use gather_all().")

    def _gather_all(self):
        """Every stored item, ``[batch_size, stored, ...]``, oldest first."""
        with tf.device(self._device):
            min_id, max_id = self._valid_ids(1)
            env = tf.range(self._batch_size, dtype=tf.int64)[:, None]
            ids = tf.range(min_id, max_id, dtype=tf.int64)[None, :]
            return self._read(env, ids + tf.zeros_like(env))

    def _clear(self):
        ops = [self._num_adds.assign(0)]
        if self._depth:
            ops.append(self._has_last.assign(tf.zeros_like(self._has_last)))
        return tf.group(*ops)
