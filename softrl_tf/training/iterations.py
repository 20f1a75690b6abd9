"""One training iteration of each kind: on-policy segments, or replay collection and updates.

The loop (:mod:`softrl_tf.training.loop`) drives either kind through the same small interface:
``run(update_index)`` returns ``(train metrics or None, diagnostics)`` and advances the
environments ``env_steps_per_call`` steps and the agent ``updates`` times; ``checkpointed()``
names what a checkpoint must hold beyond the agent; ``total_updates(total_steps)`` sizes the
agent's schedules before it is built.

* :class:`OnPolicyIteration` (a2c, softq): ``n_steps`` batch steps of collection and one update,
  in one ``tf.function`` call (the environment is stepped through ``TFPyEnvironment``, so no Python
  runs per step besides the environment itself). Every update's segment is collected by the
  weights that update changes.
* :class:`OffPolicyIteration` (soft_dqn, dqn): one batch step into a TF-Agents
  ``TFUniformReplayBuffer`` and ``num_envs / env_steps_per_update`` updates on minibatches sampled
  in the same graph; collection only until ``learning_starts``.
"""

from __future__ import annotations

import math

from softrl_tf.training.collect import collect_segment

import tensorflow as tf
from tf_agents.replay_buffers import tf_uniform_replay_buffer
from tf_agents.trajectories import trajectory


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

    @staticmethod
    def total_updates(total_steps: int, n_steps: int, num_envs: int, replay=None) -> int:
        """Updates a run of ``total_steps`` environment steps takes."""
        del replay
        return math.ceil(total_steps / (n_steps * num_envs))

    @tf.function(autograph=False)
    def _iterate(self, diagnose: bool = False):
        experience, _ = collect_segment(self._tf_env, self._agent.collect_policy, self._n_steps)
        # Measured before the update, while the batch is on-policy (one trace each way).
        diagnostics = self._agent.gradient_equivalence(experience) if diagnose else {}
        return self._agent.train(experience).extra, diagnostics

    def run(self, update_index: int, env_steps: int = 0):
        """Collects a segment and trains on it; ``update_index`` (the update about to be taken,
        counted from 1) decides whether the diagnostics are measured."""
        del env_steps
        every = self._diagnostics_every
        return self._iterate(bool(every) and update_index % every == 0)

    def updates(self, env_steps: int) -> int:
        """Updates one :meth:`run` takes (always one)."""
        del env_steps
        return 1

    @property
    def env_steps_per_call(self) -> int:
        """Environment steps one :meth:`run` takes (over all environments)."""
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
        self.replay_buffer = tf_uniform_replay_buffer.TFUniformReplayBuffer(
            agent.collect_data_spec,
            batch_size=batch,
            max_length=max(replay.replay_capacity // batch, self._num_steps + 1),
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
        self.replay_buffer.add_batch(
            trajectory.from_transition(time_step, action_step, next_time_step)
        )

    @tf.function
    def _collect_and_train(self):
        self.collect()
        # The first update sets the metrics' structure, which the graph loop needs up front.
        extra = self._train_once()
        for _ in tf.range(self.updates_per_call - 1):
            extra = self._train_once()
        return extra

    def _train_once(self):
        experience, _ = self.replay_buffer.get_next(
            sample_batch_size=self._batch_size, num_steps=self._num_steps
        )
        return self._agent.train(experience).extra

    def updates(self, env_steps: int) -> int:
        """Updates the next :meth:`run` takes when the run is at ``env_steps``."""
        return 0 if env_steps < self._learning_starts else self.updates_per_call

    def run(self, update_index: int, env_steps: int = 0):
        """Collects one batch step; trains too once ``learning_starts`` steps are in replay."""
        del update_index
        if env_steps < self._learning_starts:
            self.collect()
            return None, {}
        return self._collect_and_train(), {}

    @property
    def env_steps_per_call(self) -> int:
        """Environment steps one :meth:`run` takes (one batch step)."""
        return self._tf_env.batch_size

    def checkpointed(self, with_replay: bool) -> dict:
        """The replay buffer, when asked for (``--checkpoint-replay-buffer``)."""
        return {"replay_buffer": self.replay_buffer} if with_replay else {}
