"""The collect -> train -> log -> checkpoint -> evaluate -> export loop, for every agent.

``train(TrainConfig(...), agent_config)`` runs it. On-policy agents (a2c, softq) collect a segment
of ``n_steps`` batch steps and take one update, both in one ``tf.function`` call (the environment is
stepped through ``TFPyEnvironment``, so no Python runs per step besides the environment itself).
Off-policy agents (soft_dqn, dqn) collect one batch step into a TF-Agents ``TFUniformReplayBuffer``
and take ``num_envs / env_steps_per_update`` updates on minibatches sampled in the same graph.

Episode returns and lengths come from the environment layer's
``pop_finished_episodes()`` (raw, unclipped rewards), not from per-step observers.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field

from softrl_tf import envs
from softrl_tf.agents import build_agent, get_entry
from softrl_tf.training.collect import collect_segment
from softrl_tf.training.config import TrainConfig, to_dict
from softrl_tf.training.logging import MetricsLogger, ProgressBar

import numpy as np
import tensorflow as tf
from tf_agents.environments import tf_py_environment
from tf_agents.replay_buffers import tf_uniform_replay_buffer
from tf_agents.trajectories import trajectory

logger = logging.getLogger("softrl_tf.training")

RETURN_WINDOW = 100


@dataclass
class TrainResult:
    """What a finished (or stopped) training run produced.

    Attributes:
      env_steps: environment steps taken (over all environments).
      updates: gradient updates taken.
      episode_returns: raw returns of every finished episode, in order.
      episode_lengths: their lengths.
      last_metrics: the last metric row written.
      root_dir: where metrics, checkpoints and exports went.
    """

    env_steps: int
    updates: int
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    last_metrics: dict = field(default_factory=dict)
    root_dir: str = ""

    def mean_return(self, last: int = RETURN_WINDOW) -> float:
        """Mean raw return of the last ``last`` finished episodes (nan if none)."""
        if not self.episode_returns:
            return float("nan")
        return float(np.mean(self.episode_returns[-last:]))

    def steps_to_threshold(self, threshold: float, window: int = RETURN_WINDOW) -> int | None:
        """Environment steps at which the ``window``-episode mean return first reached
        ``threshold``, from the per-episode step counts; ``None`` if it never did."""
        returns = np.asarray(self.episode_returns, np.float64)
        ends = np.cumsum(np.asarray(self.episode_lengths, np.int64))
        for i in range(window - 1, len(returns)):
            if returns[i - window + 1 : i + 1].mean() >= threshold:
                return int(ends[i])
        return None


def seed_everything(seed: int) -> None:
    """Seeds TensorFlow's global generator and numpy (environments are seeded by ``make_env``)."""
    tf.random.set_seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds code that draws from the global generator


class OnPolicyIteration(tf.Module):
    """One on-policy iteration: ``n_steps`` batch steps of collection and one update."""

    def __init__(self, agent, tf_env, n_steps: int):
        super().__init__(name="on_policy_iteration")
        self._agent = agent
        self._tf_env = tf_env
        self._n_steps = n_steps
        self.last_experience = None

    @tf.function(autograph=False)
    def __call__(self):
        experience, _ = collect_segment(self._tf_env, self._agent.collect_policy, self._n_steps)
        return self._agent.train(experience).extra, experience

    @property
    def env_steps_per_call(self) -> int:
        return self._n_steps * self._tf_env.batch_size


class OffPolicyIteration(tf.Module):
    """One off-policy iteration: one batch step into replay, then ``updates`` minibatch updates."""

    def __init__(self, agent, tf_env, config):
        super().__init__(name="off_policy_iteration")
        self._agent = agent
        self._tf_env = tf_env
        batch = tf_env.batch_size
        self.replay_buffer = tf_uniform_replay_buffer.TFUniformReplayBuffer(
            agent.collect_data_spec,
            batch_size=batch,
            max_length=max(config.replay_capacity // batch, config.n_steps + 2),
        )
        self._batch_size = config.batch_size
        self._num_steps = config.n_steps + 1
        self.updates_per_call = max(1, round(batch / config.env_steps_per_update))

    @tf.function(autograph=False)
    def collect(self):
        time_step = self._tf_env.current_time_step()
        action_step = self._agent.collect_policy.action(time_step)
        next_time_step = self._tf_env.step(action_step.action)
        self.replay_buffer.add_batch(
            trajectory.from_transition(time_step, action_step, next_time_step)
        )

    @tf.function
    def __call__(self):
        self.collect()
        extra = None
        for _ in tf.range(self.updates_per_call):
            experience, _ = self.replay_buffer.get_next(
                sample_batch_size=self._batch_size, num_steps=self._num_steps
            )
            extra = self._agent.train(experience).extra
        return extra

    @property
    def env_steps_per_call(self) -> int:
        return self._tf_env.batch_size


def _scalars(extra) -> dict:
    return {f"train/{k}": float(v) for k, v in extra.items()}


def train(config: TrainConfig, agent_config=None, *, progress: bool | None = None) -> TrainResult:
    """Trains ``config.agent`` on ``config.env`` for ``config.total_steps`` environment steps.

    Writes ``config.json``, ``metrics.csv`` and TensorBoard summaries under ``config.root_dir``.
    Returns a :class:`TrainResult`.
    """
    entry = get_entry(config.agent)
    agent_config = agent_config if agent_config is not None else entry.default_config()
    os.makedirs(config.root_dir, exist_ok=True)
    with open(os.path.join(config.root_dir, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"train": to_dict(config), "agent": to_dict(agent_config)}, f, indent=2)

    seed_everything(config.seed)
    py_env = envs.make_env(config.env, config.num_envs, backend=config.backend, seed=config.seed)
    tf_env = tf_py_environment.TFPyEnvironment(py_env)
    if entry.on_policy:
        steps_per_call = agent_config.n_steps * config.num_envs
        total_updates = math.ceil(config.total_steps / steps_per_call)
    else:
        total_updates = max(
            1,
            (config.total_steps - agent_config.learning_starts)
            // agent_config.env_steps_per_update,
        )
    agent = build_agent(
        config.agent,
        agent_config,
        tf_env.time_step_spec(),
        tf_env.action_spec(),
        total_updates=total_updates,
    )
    agent.initialize()
    if entry.on_policy:
        iteration = OnPolicyIteration(agent, tf_env, agent_config.n_steps)
    else:
        iteration = OffPolicyIteration(agent, tf_env, agent_config)

    result = TrainResult(env_steps=0, updates=0, root_dir=config.root_dir)
    recent = collections.deque(maxlen=RETURN_WINDOW)
    next_log = config.log_every_steps
    tf_env.reset()
    started = time.monotonic()
    metrics = MetricsLogger(config.root_dir)
    bar = ProgressBar(config.total_steps, disable=None if progress is None else not progress)
    extra = None
    try:
        while result.env_steps < config.total_steps:
            if entry.on_policy:
                extra, _ = iteration()
                result.updates += 1
            elif result.env_steps < agent_config.learning_starts:
                iteration.collect()
            else:
                extra = iteration()
                result.updates += iteration.updates_per_call
            result.env_steps += iteration.env_steps_per_call
            finished = py_env.pop_finished_episodes()
            if len(finished.returns):
                result.episode_returns.extend(finished.returns.tolist())
                result.episode_lengths.extend(finished.lengths.tolist())
                recent.extend(finished.returns.tolist())
            if result.env_steps >= next_log or result.env_steps >= config.total_steps:
                next_log += config.log_every_steps
                row = {
                    "env_steps_per_s": result.env_steps / (time.monotonic() - started),
                    "episodes": len(result.episode_returns),
                }
                if recent:
                    row["episode/return_mean100"] = float(np.mean(recent))
                if extra is not None:
                    row.update(_scalars(extra))
                metrics.write(result.env_steps, row)
                result.last_metrics = row
                bar.update(
                    result.env_steps,
                    ret=row.get("episode/return_mean100", float("nan")),
                )
    finally:
        bar.close()
        metrics.close()
        py_env.close()
    result.agent = agent
    return result
