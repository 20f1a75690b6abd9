"""One training iteration of each kind: on-policy segments, or replay collection and updates.

The Keras training step (:mod:`softrl_tf.training.keras_model`) drives either kind through the
same small interface: ``train_step()`` is one iteration in the graph and returns the train metrics
(and, on-policy, the gradient-equivalence diagnostics: NaN where none was due), advancing the
environments ``env_steps_per_call`` steps and the agent ``updates_per_call`` times;
``checkpointed()`` names what a checkpoint must hold beyond the agent; ``total_updates`` sizes the
agent's schedules before it is built. Off-policy, ``collect()`` alone fills the replay buffer
until ``learning_starts``.

* :class:`OnPolicyIteration` (a2c, softq): ``n_steps`` batch steps of collection and one update,
  in one ``tf.function`` call (the environment is stepped through ``TFPyEnvironment``, so no Python
  runs per step besides the environment itself). Every update's segment is collected by the
  weights that update changes.
* :class:`OffPolicyIteration` (soft_dqn, dqn): one batch step into replay and
  ``num_envs / env_steps_per_update`` updates on minibatches sampled in the same graph;
  collection only until ``learning_starts``. The replay comes from
  :func:`softrl_tf.replay.make_replay_buffer`: each frame stored once for uint8 frame stacks
  (Atari), TF-Agents' ``TFUniformReplayBuffer`` otherwise, its memory estimated before it is
  allocated.

Under a ``tf.distribute`` strategy of several replicas (the learner of
:mod:`softrl_tf.distributed` over several GPUs) the Keras step runs once per replica, but the
environments are stepped and the replay is written and sampled once per iteration, in
cross-replica context (``merge_call``); each replica then updates on its shard of the batch
(:func:`split_between_replicas`) and the agents sum the shards' gradients
(:mod:`softrl_tf.agents.base`). The iterations are built outside the strategy's scope, so that
the replay is held once, in host memory, rather than mirrored on every device.
"""

from __future__ import annotations

import math

from softrl_tf.replay import make_replay_buffer
from softrl_tf.training.collect import collect_segment

import tensorflow as tf
from tf_agents.trajectories import trajectory


def split_between_replicas(strategy, batch):
    """A nest of ``[N, ...]`` tensors made in cross-replica context, as the value each replica
    of ``strategy`` takes: replica ``r`` of ``R`` holds rows ``r N / R`` to ``(r + 1) N / R``
    (``N`` a multiple of ``R``); the batch itself for one replica."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return batch
    flat = tf.nest.flatten(batch)
    shards = [tf.split(x, replicas) for x in flat]
    return strategy.experimental_distribute_values_from_function(
        lambda context: tf.nest.pack_sequence_as(
            batch, [parts[context.replica_id_in_sync_group] for parts in shards]
        )
    )


class OnPolicyIteration(tf.Module):
    """One on-policy iteration: ``n_steps`` batch steps of collection and one update.

    Args:
      agent: an ``ActorCriticAgent`` (``agent.n_steps`` sets the segment length).
      tf_env: a batched ``TFPyEnvironment``.
      diagnostics_every: updates between gradient-equivalence measurements; 0 disables them.
    """

    def __init__(self, agent, tf_env, diagnostics_every: int = 0):
        super().__init__(name="on_policy_iteration")
        self._agent = agent
        self._tf_env = tf_env
        self._n_steps = agent.n_steps
        self._diagnostics_every = diagnostics_every
        # The latest gradient-equivalence measurement and how many were taken: read between
        # calls of the training function, which may run several iterations.
        self._diagnostics = tf.Variable([math.nan, math.nan], trainable=False)
        self._measurements = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._measurements_read = 0

    @staticmethod
    def total_updates(total_steps: int, n_steps: int, num_envs: int, replay=None) -> int:
        """Updates a run of ``total_steps`` environment steps takes."""
        del replay
        return math.ceil(total_steps / (n_steps * num_envs))

    @tf.function(autograph=False)
    def train_step(self):
        """Collects a segment with the current weights and takes one update on it.

        Every ``diagnostics_every`` updates the gradient-equivalence diagnostics are measured
        first, while the batch is on-policy (see :meth:`new_diagnostics`).

        Returns:
          The agent's train metrics.
        """
        experience = self.segment()
        if self._diagnostics_every:
            due = tf.equal((self._agent.train_step_counter + 1) % self._diagnostics_every, 0)

            def measure():
                measured = self._agent.gradient_equivalence(experience)
                values = tf.cast(
                    tf.stack([measured["grad_cosine"], measured["grad_rel_error"]]), tf.float32
                )
                self._diagnostics.assign(values)
                self._measurements.assign_add(1)

            tf.cond(due, measure, lambda: None)
        extra = self._agent.train(experience).extra
        if self._agent.normalizes_observations:
            # After the update, so that the segment was acted on and trained on with the same
            # statistics; the next segment is collected with the new ones and the new weights.
            # (Without statistics, no merge_call: under several replicas it is a sync point.)
            tf.distribute.get_replica_context().merge_call(
                self._update_statistics, args=(experience.observation[:, :-1],)
            )
        return extra

    def _update_statistics(self, strategy, observation):
        """Folds a segment's observations into the agent's observation statistics, once, in
        cross-replica context: every replica's shard ``[B / R, T, ...]`` in replica order, which
        is the whole segment."""
        whole = tf.concat(strategy.experimental_local_results(observation), axis=0)
        return self._agent.update_observation_statistics(whole)

    def segment(self):
        """The ``Trajectory`` ``[B, n_steps + 1]`` the next update trains on, collected with the
        current weights (here, from the in-process environments; env runners on Ray override
        it, :mod:`softrl_tf.distributed`)."""
        experience, _ = collect_segment(self._tf_env, self._agent.collect_policy, self._n_steps)
        return experience

    def new_diagnostics(self) -> dict:
        """The latest diagnostics if one was measured since the last call, else ``{}``."""
        count = int(self._measurements.numpy())
        if count == self._measurements_read:
            return {}
        self._measurements_read = count
        cosine, relative = self._diagnostics.numpy().tolist()
        return {"diagnostics/grad_cosine": cosine, "diagnostics/grad_rel_error": relative}

    updates_per_call = 1

    def warming_up(self) -> bool:
        """On-policy training needs no warm-up."""
        return False

    @property
    def env_steps_per_call(self) -> int:
        """Environment steps one :meth:`train_step` takes (over all environments)."""
        return self._n_steps * self._tf_env.batch_size

    def checkpointed(self, with_replay: bool) -> dict:
        """Nothing beyond the agent: each segment is collected afresh."""
        del with_replay
        return {}


class OffPolicyIteration(tf.Module):
    """One off-policy iteration: one batch step into replay, then minibatch updates.

    Args:
      agent: a ``SoftDQNAgent`` (its ``train_sequence_length`` sets the sampled window).
      tf_env: a batched ``TFPyEnvironment``.
      replay: the run's :class:`~softrl_tf.config.ReplayConfig`.
    """

    def __init__(self, agent, tf_env, replay):
        super().__init__(name="off_policy_iteration")
        self._agent = agent
        self._tf_env = tf_env
        batch = tf_env.batch_size
        self._num_steps = agent.train_sequence_length
        self._max_length = max(replay.replay_capacity // batch, self._num_steps + 1)
        # Refuses, before allocating, a buffer that would not fit in memory.
        self.replay_buffer = make_replay_buffer(
            agent.collect_data_spec, batch, self._max_length, replay.replay_capacity
        )
        self._batch_size = replay.batch_size
        self._learning_starts = replay.learning_starts
        self.updates_per_call = max(1, round(batch / replay.env_steps_per_update))

    @staticmethod
    def total_updates(total_steps: int, n_steps: int, num_envs: int, replay=None) -> int:
        """Updates a run of ``total_steps`` environment steps takes (after ``learning_starts``)."""
        del n_steps, num_envs
        return max(1, (total_steps - replay.learning_starts) // replay.env_steps_per_update)

    @tf.function(autograph=False)
    def collect(self):
        """One batch step of the collect policy into the replay buffer."""
        time_step = self._tf_env.current_time_step()
        action_step = self._agent.collect_policy.action(time_step)
        next_time_step = self._tf_env.step(action_step.action)
        self.store(trajectory.from_transition(time_step, action_step, next_time_step))

    def store(self, batch_step):
        """Puts a batch step ``[num_envs]`` into replay and folds its observations into the
        agent's observation statistics (a no-op without ``normalize_observations``)."""
        self.replay_buffer.add_batch(batch_step)
        self._agent.update_observation_statistics(batch_step.observation)

    @tf.function(autograph=False)
    def train_step(self):
        """One batch step into replay, then ``updates_per_call`` minibatch updates.

        Under a strategy of several replicas the step into replay is taken once and each
        minibatch is sampled once, in cross-replica context (see the module docstring).

        Returns:
          The agent's train metrics of the last update.
        """
        tf.distribute.get_replica_context().merge_call(lambda _: self.collect())
        # The first update sets the metrics' structure, which the graph loop needs up front.
        extra = self._train_once()
        if tf.distribute.has_strategy():
            # A strategy other than the default one (a MirroredStrategy, even over one GPU)
            # cannot merge_call (sampling, the optimizer, the target update) inside a graph
            # loop: the few updates of a call are unrolled instead.
            for _ in range(self.updates_per_call - 1):
                extra = self._train_once()
        elif self.updates_per_call > 1:
            extra = tf.while_loop(
                lambda i, _: i < self.updates_per_call - 1,
                lambda i, _: (i + 1, self._train_once()),
                (tf.constant(0), extra),
            )[1]
        return extra

    def _train_once(self):
        experience = tf.distribute.get_replica_context().merge_call(self._sample_shards)
        return self._agent.train(experience).extra

    def _sample_shards(self, strategy):
        """One minibatch ``[batch_size, n + 1]`` drawn once, split between the replicas."""
        return split_between_replicas(strategy, self.sample())

    def sample(self):
        """A minibatch ``Trajectory`` ``[batch_size, train_sequence_length]`` drawn uniformly
        from the replay.

        ``get_next``, not ``as_dataset``: the dataset calls ``get_next`` itself and adds a
        tf.data iterator per minibatch; each minibatch is drawn after the batch step just
        collected.
        """
        experience, _ = self.replay_buffer.get_next(
            sample_batch_size=self._batch_size, num_steps=self._num_steps
        )
        return experience

    def new_diagnostics(self) -> dict:
        """Replay agents measure no diagnostics."""
        return {}

    def warming_up(self) -> bool:
        """Whether the replay buffer holds too little to learn from: fewer than
        ``learning_starts`` transitions, or too few for one sampled window. Counted in the
        buffer, so a run resumed without its replay buffer refills it before updating."""
        batch = self._tf_env.batch_size
        needed = max(self._learning_starts, batch * (self._num_steps + 1))
        needed = min(needed, self._max_length * batch)  # a full buffer is enough
        return int(self.replay_buffer.num_frames()) < needed

    @property
    def env_steps_per_call(self) -> int:
        """Environment steps one :meth:`train_step` or :meth:`collect` takes (one batch step)."""
        return self._tf_env.batch_size

    def checkpointed(self, with_replay: bool) -> dict:
        """The replay buffer, when asked for (``--checkpoint-replay-buffer``)."""
        return {"replay_buffer": self.replay_buffer} if with_replay else {}
