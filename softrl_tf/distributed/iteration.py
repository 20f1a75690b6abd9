"""The on-policy iteration whose segments come from env runners on Ray.

:class:`RayOnPolicyIteration` is :class:`softrl_tf.training.iterations.OnPolicyIteration` with
one method replaced: :meth:`~RayOnPolicyIteration.segment`. Everything else (the agent's own
``train``, the gradient-equivalence diagnostics, the Keras training step around it, callbacks,
checkpoints, the non-finite guard) is the single-process code path.

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
merge of the runners' finished-episode reports into one process's order.
"""

from __future__ import annotations

import time

from softrl_tf.envs import EpisodeStats
from softrl_tf.training.iterations import OnPolicyIteration

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
        weights (see the module docstring)."""
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
        return tf.nest.pack_sequence_as(self._spec, flat)

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
