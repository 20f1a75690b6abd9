"""The iterations whose environment steps come from env runners on Ray.

:class:`RayOffPolicyIteration` (soft_dqn, dqn) collects asynchronously; see its docstring.
:class:`RayOnPolicyIteration` (a2c, softq) is
:class:`softrl_tf.training.iterations.OnPolicyIteration` with one method replaced,
:meth:`~RayOnPolicyIteration.segment`. Everything else (the agent's own ``train``, the
gradient-equivalence diagnostics, the Keras training step around it, callbacks, checkpoints, the
non-finite guard) is the single-process code path.

One iteration, inside the Keras training function (``tf.function``):

1. the collect policy's variables and its sampling generator's state are read, after the previous
   update (the reads are ordered after its writes in the graph);
2. a ``tf.numpy_function`` hands them to Python, which puts the weights into Ray's object store
   once (``ray.put``) and calls every runner's ``collect`` with that one reference, the
   generator state and the version number;
3. the runners' segments ``[M, T + 1, ...]`` are concatenated along the batch axis into
   ``[N * M, T + 1, ...]`` in runner order, which is the one-process batch, and every segment is
   checked to carry this version: an update never mixes weight versions;
4. the generator state after the segment (every runner ends in the same one) is written back, as
   one process's collection would have advanced it;
5. the agent's ``train`` runs on the batch, as in one process.

So ``N`` runners with ``M`` environments each take exactly the updates of one process with
``N * M`` environments (tests/distributed/test_exact.py). Hand-written here, because Ray and
TensorFlow do not provide it: the numpy bridge between the graph and Ray (a few lines), and the
merge of the runners' finished-episode reports into one process's order. Either iteration's
``train_step`` is traced into the Keras training function rather than being a ``tf.function`` of
its own, so that it runs under a ``MirroredStrategy`` too.
"""

from __future__ import annotations

import time
import types

from softrl_tf.envs import EpisodeStats
from softrl_tf.training.iterations import (
    OffPolicyIteration,
    OnPolicyIteration,
    split_between_replicas,
)

import numpy as np
import tensorflow as tf

COSTS = ("segments", "put_s", "gather_s", "collect_s", "segment_bytes")
"""What :attr:`RayOnPolicyIteration.costs` sums per segment: one; the ``ray.put`` of the weights;
the whole round trip (put, the runners' calls, transfer, concatenation); the slowest runner's
own collection time (weights set, environment steps, policy forward passes); the bytes of the
concatenated batch."""


class RayOnPolicyIteration(OnPolicyIteration):
    """On-policy iteration over ``runners``, Ray actor handles of
    :class:`~softrl_tf.distributed.runner.EnvRunner` stepping ``num_envs / len(runners)``
    environments each.

    Args:
      agent: the learner's ``ActorCriticAgent``.
      runners: the actor handles, in environment order.
      num_envs: ``B``, the environments of all runners together.
      diagnostics_every: as for ``OnPolicyIteration``.
      timeout_s: seconds one segment may take before the run stops with a fault.
    """

    def __init__(self, agent, runners, num_envs: int, diagnostics_every: int = 0, timeout_s=600):
        super().__init__(agent, tf_env=None, diagnostics_every=diagnostics_every)
        self._runners = list(runners)
        self._num_envs = num_envs
        self._timeout_s = timeout_s
        self._version = 0
        self._episodes: list[tuple[EpisodeStats, np.ndarray | None]] = []
        spec = agent.collect_data_spec
        self._spec = spec
        self._shapes = [[num_envs, agent.n_steps + 1, *s.shape] for s in tf.nest.flatten(spec)]
        self.costs = dict.fromkeys(COSTS, 0.0)
        """Sums over the segments gathered so far (see :data:`COSTS`)."""

    def train_step(self):
        """The parent's iteration, traced into the Keras training function directly.

        Not a nested ``tf.function``: under a ``MirroredStrategy`` the optimizer's gradient
        all-reduce is a ``merge_call``, which TensorFlow refuses inside one.
        """
        return OnPolicyIteration.train_step.python_function(self)

    @property
    def env_steps_per_call(self) -> int:
        """Environment steps one :meth:`train_step` takes (over all runners)."""
        return self._n_steps * self._num_envs

    def segment(self):
        """The ``Trajectory`` ``[B, n_steps + 1]`` gathered from the runners with the current
        weights (see the module docstring); under a strategy of ``R`` replicas, this replica's
        shard ``[B / R, n_steps + 1]`` of it (replica ``r`` holds environments ``r B / R`` on)."""
        return tf.distribute.get_replica_context().merge_call(self._gather_shards)

    def _gather_shards(self, strategy):
        """Gathers the batch once, for all replicas (the cross-replica step of :meth:`segment`)."""
        policy = self._agent.collect_policy
        state = policy.generator.state
        weights = [tf.identity(v) for v in policy.variables()]
        dtypes = [s.dtype for s in tf.nest.flatten(self._spec)]
        *flat, new_state = tf.numpy_function(
            self._gather, [state.read_value(), *weights], [*dtypes, tf.int64], stateful=True
        )
        for tensor, shape in zip(flat, self._shapes, strict=True):
            tensor.set_shape(shape)
        with tf.control_dependencies([state.assign(new_state)]):
            flat = [tf.identity(t) for t in flat]
        return split_between_replicas(strategy, tf.nest.pack_sequence_as(self._spec, flat))

    def _gather(self, generator_state, *weights):
        import ray

        self._version += 1
        version = self._version
        started = time.perf_counter()
        ref = ray.put(list(weights))
        put = time.perf_counter() - started
        calls = [r.collect.remote(ref, generator_state, version) for r in self._runners]
        parts = ray.get(calls, timeout=self._timeout_s)
        stale = [k for k, part in enumerate(parts) if part.version != version]
        if stale:  # cannot happen while every call carries this version's weights
            raise RuntimeError(f"runners {stale} collected with another weights version")
        flat = [np.concatenate(xs, axis=0) for xs in zip(*(p.flat for p in parts), strict=True)]
        self._episodes.extend((p.episodes, p.finish_keys) for p in parts)
        costs = {
            "segments": 1,
            "put_s": put,
            "gather_s": time.perf_counter() - started,
            "collect_s": max(p.seconds for p in parts),
            "segment_bytes": sum(x.nbytes for x in flat),
        }
        self.costs = {name: self.costs[name] + costs[name] for name in COSTS}
        return (*flat, parts[0].generator_state)

    def pop_finished_episodes(self) -> EpisodeStats:
        """Every episode that ended on any runner since the previous call, in the order one
        process would report them (by step, then environment), segment by segment."""
        episodes, self._episodes = self._episodes, []
        if not episodes:
            return EpisodeStats(
                np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int64)
            )
        merged = []
        # Consecutive runs of one segment's reports (one per runner) are merged by their keys.
        per_segment = len(self._runners)
        for start in range(0, len(episodes), per_segment):
            group = episodes[start : start + per_segment]
            stats = [g[0] for g in group]
            joined = EpisodeStats(*(np.concatenate(f) for f in zip(*stats, strict=True)))
            if all(g[1] is not None for g in group):
                order = np.argsort(np.concatenate([g[1] for g in group]), kind="stable")
                joined = EpisodeStats(*(f[order] for f in joined))
            merged.append(joined)
        return EpisodeStats(*(np.concatenate(f) for f in zip(*merged, strict=True)))


class RayOffPolicyIteration(OffPolicyIteration):
    """Off-policy iteration whose batch steps come from env runners on Ray (soft_dqn, dqn).

    Collection is asynchronous: each runner is always one call ahead, stepping
    ``runner_steps`` batch steps of its environments with the weights and update counter it got
    when the call began, while the learner trains on what it already has. Each
    :meth:`collect` takes the next batch step ``[num_envs]`` (the runners' steps concatenated in
    runner order) into the replay buffer the learner holds, exactly as one process's batch step;
    when the chunk is used up the learner takes the runners' next one and at once sends them the
    current weights for the following. The data in replay is thus up to two chunks behind the
    weights (off-policy agents learn from older data anyway). Steps counted are the steps put
    into replay: exact, whatever the runners have stepped ahead.

    Args:
      agent: the learner's ``SoftDQNAgent``.
      runners: the actor handles, in environment order.
      num_envs: ``B``, the environments of all runners together.
      replay: the run's ``ReplayConfig``.
      chunk: ``runner_steps``, batch steps per runner call.
      timeout_s: seconds one chunk may take before the run stops with a fault.
    """

    def __init__(self, agent, runners, num_envs: int, replay, chunk: int, timeout_s=600):
        super().__init__(agent, types.SimpleNamespace(batch_size=num_envs), replay)
        self._runners = list(runners)
        self._num_envs = num_envs
        self._chunk_steps = chunk
        self._timeout_s = timeout_s
        self._version = 0
        self._in_flight = None
        self._chunk = None
        self._position = chunk
        self._pending: list[tuple[int, EpisodeStats]] = []
        self._released: list[EpisodeStats] = []
        self._put_s = 0.0
        self._spec = agent.collect_data_spec
        self._shapes = [[num_envs, *s.shape] for s in tf.nest.flatten(self._spec)]
        self.costs = dict.fromkeys(COSTS, 0.0)
        """Sums over the chunks gathered so far (see :data:`COSTS`)."""

    def train_step(self):
        """The parent's iteration, traced into the Keras training function directly (see
        :meth:`RayOnPolicyIteration.train_step`)."""
        return OffPolicyIteration.train_step.python_function(self)

    @tf.function(autograph=False)
    def collect(self):
        """The runners' next batch step into the replay buffer."""
        policy = self._agent.collect_policy
        weights = [tf.identity(v) for v in policy.variables()]
        counter = self._agent.train_step_counter.read_value()
        dtypes = [s.dtype for s in tf.nest.flatten(self._spec)]
        flat = tf.numpy_function(self._next_step, [counter, *weights], dtypes, stateful=True)
        for tensor, shape in zip(flat, self._shapes, strict=True):
            tensor.set_shape(shape)
        self.store(tf.nest.pack_sequence_as(self._spec, flat))

    def _submit(self, counter, weights):
        import ray

        self._version += 1
        started = time.perf_counter()
        ref = ray.put(list(weights))
        self._put_s = time.perf_counter() - started
        return [r.collect.remote(ref, None, self._version, counter) for r in self._runners]

    def _next_step(self, counter, *weights):
        import ray

        if self._position >= self._chunk_steps:
            started = time.perf_counter()
            if self._in_flight is None:
                self._in_flight = self._submit(counter, weights)
            parts = ray.get(self._in_flight, timeout=self._timeout_s)
            put = self._put_s
            self._in_flight = self._submit(counter, weights)  # the runners step on meanwhile
            # [B, runner_steps, ...]: the bootstrap item of each runner's segment is not used.
            self._chunk = [
                np.concatenate(xs, axis=0)[:, :-1]
                for xs in zip(*(p.flat for p in parts), strict=True)
            ]
            self._position = 0
            self._released.extend(stats for _, stats in self._pending)
            self._pending = sorted(
                (
                    (int(key), EpisodeStats(*(f[k : k + 1] for f in part.episodes)))
                    for part in parts
                    for k, key in enumerate(self._finish_keys(part))
                ),
                key=lambda item: item[0],
            )
            costs = {
                "segments": 1,
                "put_s": put,
                "gather_s": time.perf_counter() - started,
                "collect_s": max(p.seconds for p in parts),
                "segment_bytes": sum(x.nbytes for x in self._chunk),
            }
            self.costs = {name: self.costs[name] + costs[name] for name in COSTS}
        step = self._position
        self._position += 1
        return [x[:, step] for x in self._chunk]

    def finish(self, timeout_s: float = 30.0) -> None:
        """Waits (up to ``timeout_s``) for the runners' calls in flight, so that ending them
        interrupts nothing; their steps were never counted and are dropped."""
        if self._in_flight is not None:
            import ray

            ray.wait(self._in_flight, num_returns=len(self._in_flight), timeout=timeout_s)
            self._in_flight = None

    def _finish_keys(self, part) -> np.ndarray:
        """``step * num_envs + env`` of each episode a runner reported (its chunk's last step
        for a restarted runner's, whose count does not match its steps)."""
        if part.finish_keys is not None:
            return part.finish_keys
        last = (self._chunk_steps - 1) * self._num_envs
        return last + part.episodes.env_ids.astype(np.int64)

    def pop_finished_episodes(self) -> EpisodeStats:
        """The episodes that ended in the batch steps put into replay since the previous call,
        in the order one process would report them (by step, then environment)."""
        limit = self._position * self._num_envs
        done = self._released + [stats for key, stats in self._pending if key < limit]
        self._released = []
        self._pending = [(key, stats) for key, stats in self._pending if key >= limit]
        if not done:
            return EpisodeStats(
                np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int64)
            )
        return EpisodeStats(*(np.concatenate(f) for f in zip(*done, strict=True)))
