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
import signal
import threading
import time
from dataclasses import dataclass, field

from softrl_tf import envs, export
from softrl_tf.agents import build_agent, get_entry
from softrl_tf.networks import SoftQNetwork
from softrl_tf.training.collect import collect_segment
from softrl_tf.training.config import ConfigError, TrainConfig, to_dict, validate
from softrl_tf.training.evaluation import eval_num_envs, evaluate_policy
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
      episode_end_steps: the environment steps of the run when each of them finished.
      last_metrics: the last metric row written.
      root_dir: where metrics, checkpoints and exports went.
      episodes_before: episodes finished before the checkpoint this run resumed from.
    """

    env_steps: int
    updates: int
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    episode_end_steps: list[int] = field(default_factory=list)
    last_metrics: dict = field(default_factory=dict)
    root_dir: str = ""
    episodes_before: int = 0

    @property
    def episodes(self) -> int:
        """Finished episodes of the whole run, those before a resume included."""
        return self.episodes_before + len(self.episode_returns)

    def mean_return(self, last: int = RETURN_WINDOW) -> float:
        """Mean raw return of the last ``last`` finished episodes (nan if none)."""
        if not self.episode_returns:
            return float("nan")
        return float(np.mean(self.episode_returns[-last:]))

    def steps_to_threshold(self, threshold: float, window: int = RETURN_WINDOW) -> int | None:
        """Environment steps (over all environments) taken when the ``window``-episode mean
        return first reached ``threshold``; ``None`` if it never did.

        Counted from ``episode_end_steps``, the run's step counter when each episode was seen to
        finish: summing the finished episodes' lengths would leave out the steps of the episodes
        still running in the other environments.
        """
        returns = np.asarray(self.episode_returns, np.float64)
        for i in range(window - 1, len(returns)):
            if returns[i - window + 1 : i + 1].mean() >= threshold:
                return int(self.episode_end_steps[i])
        return None


def seed_everything(seed: int) -> None:
    """Seeds Python's ``random``, numpy and TensorFlow (environments are seeded by ``make_env``).

    ``tf.keras.utils.set_random_seed`` covers all three: unseeded ``tf_keras`` initialisers draw
    their op seeds from Python's ``random``, so ``tf.random.set_seed`` alone leaves the network's
    initial weights different from run to run.
    """
    tf.keras.utils.set_random_seed(seed)


class OnPolicyIteration(tf.Module):
    """One on-policy iteration: ``n_steps`` batch steps of collection and one update."""

    def __init__(self, agent, tf_env, n_steps: int):
        super().__init__(name="on_policy_iteration")
        self._agent = agent
        self._tf_env = tf_env
        self._n_steps = n_steps
        self.last_experience = None

    @tf.function(autograph=False)
    def __call__(self, diagnose: bool = False):
        """Returns ``(train metrics, diagnostics)``; with ``diagnose`` (a Python bool: one trace
        each way) the diagnostics are the agent's ``gradient_equivalence`` on the batch, measured
        before the update while the batch is on-policy; otherwise ``{}``."""
        experience, _ = collect_segment(self._tf_env, self._agent.collect_policy, self._n_steps)
        diagnostics = self._agent.gradient_equivalence(experience) if diagnose else {}
        return self._agent.train(experience).extra, diagnostics

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

    @property
    def env_steps_per_call(self) -> int:
        return self._tf_env.batch_size


def _scalars(extra) -> dict:
    return {f"train/{k}": float(v) for k, v in extra.items()}


class NonFiniteLossError(RuntimeError):
    """A loss term became nan or inf; training stopped without overwriting the last checkpoint."""


class TrainingInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped training after a checkpoint was written.

    Attributes:
      signal_number: the signal received.
      result: the :class:`TrainResult` up to the interruption.
    """

    def __init__(self, signal_number: int, result: TrainResult, checkpoint: str | None):
        self.signal_number = signal_number
        self.result = result
        self.checkpoint = checkpoint
        name = signal.Signals(signal_number).name
        super().__init__(
            f"{name} received at environment step {result.env_steps}: checkpoint saved to "
            f"{checkpoint}; continue with --resume."
        )


def checkpoint_dir(root_dir: str) -> str:
    """Where :func:`train` keeps its checkpoints: ``<root_dir>/checkpoints``."""
    return os.path.join(root_dir, "checkpoints")


def _check_writable(root_dir: str) -> None:
    try:
        os.makedirs(root_dir, exist_ok=True)
        probe = os.path.join(root_dir, ".write-test")
        with open(probe, "w", encoding="utf-8") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as error:
        raise ConfigError(
            f"--root-dir {root_dir!r} is not writable ({error.strerror}): choose another directory."
        ) from None


class _StopSignals:
    """Turns SIGINT and SIGTERM into a flag that the loop checks between iterations."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool):
        self.received: int | None = None
        self._previous = {}
        self._enabled = enabled and threading.current_thread() is threading.main_thread()

    def _handle(self, signal_number, frame):
        del frame
        self.received = signal_number

    def __enter__(self):
        if self._enabled:
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def export_network(agent, agent_name: str, tau: float):
    """``(network, tau)`` to export for an agent (see :mod:`softrl_tf.export`).

    a2c exports its policy logits; softq the paper's Q = V + tau log(pi / prior) over its
    actor-critic network (whose Boltzmann policy is pi itself); soft_dqn and dqn their Q-values,
    sampled at temperature ``tau``.
    """
    if agent_name == "softq":
        return SoftQNetwork(agent.network, tau=tau, log_prior=agent.log_prior), None
    if hasattr(agent, "q_network"):
        return agent.q_network, tau
    return agent.network, None


def _export(agent, tf_env, config, agent_config) -> None:
    network, tau = export_network(agent, config.agent, agent_config.tau)
    metadata = {"agent": config.agent, "train": to_dict(config), "config": to_dict(agent_config)}
    export.export_saved_model(
        network,
        tf_env.observation_spec(),
        os.path.join(config.root_dir, "saved_model"),
        tau=tau,
        env_id=config.env,
        metadata=json.loads(json.dumps(metadata, default=str)),
    )
    export.export_policy(agent.policy, os.path.join(config.root_dir, "policy"))


def train(
    config: TrainConfig,
    agent_config=None,
    *,
    resume: bool = False,
    progress: bool | None = None,
    handle_signals: bool = True,
) -> TrainResult:
    """Trains ``config.agent`` on ``config.env`` for ``config.total_steps`` environment steps.

    Writes under ``config.root_dir``: ``config.json``, ``metrics.csv`` and TensorBoard summaries,
    ``checkpoints/`` (every ``checkpoint_every_steps`` and at the end), and with ``config.export``
    the exports ``saved_model/`` (plain TensorFlow) and ``policy/`` (TF-Agents ``PolicySaver``).

    Checkpoints hold the networks, optimizer, counters, the recent returns and, optionally, the
    replay buffer. ``tf.train.CheckpointManager`` writes the checkpoint files first and the index
    file that names the latest checkpoint last (an atomic rename), so a crash mid-write leaves the
    previous checkpoint the latest. ``resume=True`` restores the latest one and continues from its
    step counter; the environments restart with fresh episodes.

    SIGINT and SIGTERM (with ``handle_signals``, in the main thread) finish the current iteration,
    write a checkpoint and raise :class:`TrainingInterrupted`. A non-finite loss term raises
    :class:`NonFiniteLossError` naming the term and the step, without writing a checkpoint.

    Raises:
      ConfigError: a value out of range, an unwritable root dir, ``resume`` without a checkpoint.
      ValueError: an unknown agent or environment (from the registry and ``make_env``).
    """
    try:
        entry = get_entry(config.agent)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    agent_config = agent_config if agent_config is not None else entry.default_config()
    validate(config, agent_config)
    _check_writable(config.root_dir)
    ckpt_dir = checkpoint_dir(config.root_dir)
    if resume and tf.train.latest_checkpoint(ckpt_dir) is None:
        raise ConfigError(
            f"--resume: there is no checkpoint in {ckpt_dir}; run without --resume to start anew."
        )
    with open(os.path.join(config.root_dir, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"train": to_dict(config), "agent": to_dict(agent_config)}, f, indent=2)

    seed_everything(config.seed)
    try:
        py_env = envs.make_env(
            config.env, config.num_envs, backend=config.backend, seed=config.seed
        )
    except ValueError as error:  # make_env's messages name the input and the fix
        raise ConfigError(f"--env: {error}") from None
    eval_env = None
    try:
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

        counters = {
            "env_steps": tf.Variable(0, dtype=tf.int64, trainable=False),
            "updates": tf.Variable(0, dtype=tf.int64, trainable=False),
            "recent_returns": tf.Variable(tf.zeros([RETURN_WINDOW], tf.float64), trainable=False),
            "recent_count": tf.Variable(0, dtype=tf.int64, trainable=False),
            "episodes": tf.Variable(0, dtype=tf.int64, trainable=False),
        }
        tracked = dict(agent=agent, **counters)
        if not entry.on_policy and config.checkpoint_replay_buffer:
            tracked["replay_buffer"] = iteration.replay_buffer
        manager = tf.train.CheckpointManager(
            tf.train.Checkpoint(**tracked), ckpt_dir, max_to_keep=config.keep_checkpoints
        )
        recent = collections.deque(maxlen=RETURN_WINDOW)
        result = TrainResult(env_steps=0, updates=0, root_dir=config.root_dir)
        if resume:
            manager.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
            result.env_steps = int(counters["env_steps"].numpy())
            result.updates = int(counters["updates"].numpy())
            result.episodes_before = int(counters["episodes"].numpy())
            count = int(counters["recent_count"].numpy())
            recent.extend(counters["recent_returns"].numpy()[RETURN_WINDOW - count :].tolist())
            logger.info("resumed from %s at step %d", manager.latest_checkpoint, result.env_steps)

        def save() -> str:
            counters["env_steps"].assign(result.env_steps)
            counters["updates"].assign(result.updates)
            counters["episodes"].assign(result.episodes)
            padded = np.zeros(RETURN_WINDOW)
            if recent:
                padded[RETURN_WINDOW - len(recent) :] = list(recent)
            counters["recent_returns"].assign(padded)
            counters["recent_count"].assign(len(recent))
            return manager.save(checkpoint_number=result.env_steps)

        if config.eval_every_steps:
            eval_env = envs.make_env(
                config.env,
                eval_num_envs(config.eval_episodes),
                backend=config.backend,
                seed=config.seed + 1_000_003,
            )

        def evaluate_row() -> dict:
            evaluation = evaluate_policy(agent.policy, eval_env, config.eval_episodes)
            return {
                "eval/return_mean": float(np.mean(evaluation.returns)),
                "eval/return_std": float(np.std(evaluation.returns)),
                "eval/length_mean": float(np.mean(evaluation.lengths)),
            }

        next_log = (result.env_steps // config.log_every_steps + 1) * config.log_every_steps
        next_checkpoint = result.env_steps + config.checkpoint_every_steps
        next_eval = result.env_steps + config.eval_every_steps if config.eval_every_steps else None
        tf_env.reset()
        started, started_step = time.monotonic(), result.env_steps
        metrics = MetricsLogger(
            config.root_dir, resume_from_step=result.env_steps if resume else None
        )
        bar = ProgressBar(
            config.total_steps,
            initial_step=result.env_steps,
            disable=None if progress is None else not progress,
        )
        extra = None
        diagnostics = {}  # the latest gradient-equivalence measurement, until a row takes it
        try:
            with _StopSignals(handle_signals) as stop:
                while result.env_steps < config.total_steps:
                    if entry.on_policy:
                        every = config.diagnostics_every_updates
                        extra, measured = iteration(
                            bool(every) and (result.updates + 1) % every == 0
                        )
                        if measured:
                            diagnostics = {
                                f"diagnostics/{name}": float(value)
                                for name, value in measured.items()
                            }
                        result.updates += 1
                    elif result.env_steps < agent_config.learning_starts:
                        iteration.collect()
                    else:
                        extra = iteration()
                        result.updates += iteration.updates_per_call
                    result.env_steps += iteration.env_steps_per_call
                    if extra is not None:
                        extra = {name: float(value) for name, value in extra.items()}
                        bad = [name for name, value in extra.items() if not math.isfinite(value)]
                        if bad:
                            raise NonFiniteLossError(
                                f"non-finite {', '.join(f'train/{b}={extra[b]}' for b in bad)} "
                                f"at update {result.updates} (environment step "
                                f"{result.env_steps}); training stopped and the last checkpoint "
                                f"({manager.latest_checkpoint}) was kept."
                            )
                    finished = py_env.pop_finished_episodes()
                    if len(finished.returns):
                        result.episode_returns.extend(finished.returns.tolist())
                        result.episode_lengths.extend(finished.lengths.tolist())
                        result.episode_end_steps.extend([result.env_steps] * len(finished.returns))
                        recent.extend(finished.returns.tolist())
                    done = result.env_steps >= config.total_steps
                    row = {}
                    if next_eval is not None and (result.env_steps >= next_eval or done):
                        next_eval += config.eval_every_steps
                        row.update(evaluate_row())
                    if row or result.env_steps >= next_log or done:
                        next_log = (
                            result.env_steps // config.log_every_steps + 1
                        ) * config.log_every_steps
                        elapsed = max(time.monotonic() - started, 1e-9)
                        row["env_steps_per_s"] = (result.env_steps - started_step) / elapsed
                        row["episodes"] = result.episodes
                        if recent:
                            row["episode/return_mean100"] = float(np.mean(recent))
                        if result.episode_lengths:
                            row["episode/length_mean100"] = float(
                                np.mean(result.episode_lengths[-RETURN_WINDOW:])
                            )
                        if extra is not None:
                            row.update(_scalars(extra))
                        row.update(diagnostics)
                        diagnostics = {}
                        metrics.write(result.env_steps, row)
                        result.last_metrics = row
                        bar.update(
                            result.env_steps,
                            ret=row.get("episode/return_mean100", float("nan")),
                        )
                    if result.env_steps >= next_checkpoint and not done:
                        next_checkpoint = result.env_steps + config.checkpoint_every_steps
                        save()
                    if stop.received is not None:
                        path = save()
                        raise TrainingInterrupted(stop.received, result, path)
            save()
        finally:
            bar.close()
            metrics.close()
        if config.export:
            _export(agent, tf_env, config, agent_config)
    finally:
        py_env.close()
        if eval_env is not None:
            eval_env.close()
    result.agent = agent
    return result
