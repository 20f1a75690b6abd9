"""The training loop: collect -> train -> log -> checkpoint -> evaluate -> export, every agent.

:func:`train` wires the pieces that live in their own modules: the environments
(``softrl_tf.envs``), the agent (``softrl_tf.agents``, built from its config), one iteration of
its kind (:mod:`softrl_tf.training.iterations`), checkpoints and the run's counters
(:mod:`softrl_tf.training.checkpoints`), metrics (:mod:`softrl_tf.training.logging`), signals
(:mod:`softrl_tf.training.signals`) and the exports (``softrl_tf.export``).

Episode returns and lengths come from the environment layer's ``pop_finished_episodes()`` (raw,
unclipped rewards), not from per-step observers.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from softrl_tf import envs, export
from softrl_tf.agents import get_agent_class
from softrl_tf.config import ConfigError, RunConfig, TrainConfig, validate
from softrl_tf.training.checkpoints import (
    RETURN_WINDOW,
    Checkpointer,
    RunState,
    check_writable,
    checkpoint_dir,
    latest_checkpoint,
)
from softrl_tf.training.evaluation import eval_num_envs, evaluate_policy
from softrl_tf.training.iterations import OffPolicyIteration, OnPolicyIteration
from softrl_tf.training.logging import MetricsLogger, ProgressBar
from softrl_tf.training.signals import StopSignals

import numpy as np
import tensorflow as tf
from tf_agents.environments import tf_py_environment

logger = logging.getLogger("softrl_tf.training")

__all__ = [
    "NonFiniteLossError",
    "TrainResult",
    "TrainingInterrupted",
    "checkpoint_dir",
    "seed_everything",
    "train",
]


@dataclass
class TrainResult:
    """What a finished (or stopped) training run produced.

    Attributes:
      env_steps: environment steps taken (over all environments).
      updates: gradient updates taken.
      episode_returns: raw returns of every episode finished in this call, in order.
      episode_lengths: their lengths.
      episode_end_steps: the environment steps of the run when each of them finished.
      last_metrics: the last metric row written.
      root_dir: where metrics, checkpoints and exports went.
      episodes_before: episodes finished before the checkpoint this run resumed from.
      agent: the trained TF-Agents agent (``None`` until training has built it).
    """

    env_steps: int
    updates: int
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    episode_end_steps: list[int] = field(default_factory=list)
    last_metrics: dict = field(default_factory=dict)
    root_dir: str = ""
    episodes_before: int = 0
    agent: Any = None

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


class NonFiniteLossError(RuntimeError):
    """A loss term became nan or inf; training stopped without overwriting the last checkpoint."""


class TrainingInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped training after a checkpoint was written.

    Attributes:
      signal_number: the signal received.
      result: the :class:`TrainResult` up to the interruption.
      checkpoint: the path of the checkpoint written.
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


def seed_everything(seed: int) -> None:
    """Seeds Python's ``random``, numpy and TensorFlow (environments are seeded by ``make_env``).

    ``tf.keras.utils.set_random_seed`` covers all three: unseeded ``tf_keras`` initialisers draw
    their op seeds from Python's ``random``, so ``tf.random.set_seed`` alone leaves the network's
    initial weights different from run to run.
    """
    tf.keras.utils.set_random_seed(seed)


def _run_config(config, agent_config, replay_config) -> RunConfig:
    """A validated :class:`RunConfig` from ``train``'s arguments (defaults from the presets)."""
    if isinstance(config, RunConfig):
        return config
    from softrl_tf.presets import resolve  # the presets import every agent: only when needed

    defaults = resolve(config.agent)
    run = RunConfig(
        train=config,
        agent=defaults.agent if agent_config is None else agent_config,
        replay=defaults.replay if replay_config is None else replay_config,
    )
    expected = get_agent_class(config.agent).config_class
    if type(run.agent) is not expected:
        raise ConfigError(
            f"agent {config.agent!r} takes a {expected.__name__}, got {type(run.agent).__name__}."
        )
    validate(*run.sections().values())
    return run


def _finite_or_raise(extra: dict, state: RunState, kept: str | None) -> dict:
    extra = {name: float(value) for name, value in extra.items()}
    bad = [name for name, value in extra.items() if not math.isfinite(value)]
    if bad:
        raise NonFiniteLossError(
            f"non-finite {', '.join(f'train/{b}={extra[b]}' for b in bad)} at update "
            f"{state.updates} (environment step {state.env_steps}); training stopped and the last "
            f"checkpoint ({kept}) was kept."
        )
    return extra


def _described(run: RunConfig) -> RunConfig:
    """``run`` with its environment as :func:`softrl_tf.envs.describe_env` names it: an id as it
    is, a constructor as ``"callable:<module>.<name>"`` (what ``config.json`` can hold)."""
    train = dataclasses.replace(run.train, env=envs.describe_env(run.train.env))
    return dataclasses.replace(run, train=train)


def _write_config(run: RunConfig) -> None:
    """Writes ``config.json`` atomically: serialised first, then a temporary file moved over the
    old one, so that a failure leaves the previous file (or none), never a truncated one."""
    text = json.dumps(_described(run).to_dict(), indent=2) + "\n"
    path = os.path.join(run.train.root_dir, "config.json")
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _refuse_constructor_description(cfg: TrainConfig, resume: bool) -> None:
    """A saved config's constructor description in place of the constructor: one sentence."""
    name = envs.described_constructor(cfg.env)
    if name is None:
        return
    what = "resume it" if resume else "train on it"
    raise ConfigError(
        f"--env: this run trained on an environment constructor ({name}), which config.json "
        f"records by name only; {what} from Python with TrainConfig(env=<that constructor>)."
    )


def _export(agent, tf_env, run: RunConfig) -> None:
    network, tau = agent.export_network()
    run = _described(run)
    metadata = {"agent": run.train.agent, **run.to_dict()}
    export.export_saved_model(
        network,
        tf_env.observation_spec(),
        os.path.join(run.train.root_dir, "saved_model"),
        tau=tau,
        env_id=run.train.env,
        metadata=json.loads(json.dumps(metadata, default=str)),
    )
    export.export_policy(agent.policy, os.path.join(run.train.root_dir, "policy"))


def train(
    config: TrainConfig | RunConfig,
    agent_config=None,
    replay_config=None,
    *,
    resume: bool = False,
    progress: bool | None = None,
    handle_signals: bool = True,
) -> TrainResult:
    """Trains ``config.agent`` on ``config.env`` for ``config.total_steps`` environment steps.

    Args:
      config: a :class:`TrainConfig`, or a whole :class:`RunConfig` (then the next two are unused).
      agent_config: the agent's config; ``None`` takes the default preset's.
      replay_config: a ``ReplayConfig`` for replay-based agents; ``None`` takes the preset's.
      resume: restore the latest checkpoint in ``root_dir`` and continue from its step counter
        (the environments restart with fresh episodes).
      progress: show a progress bar (``None``: on a terminal or in CI logs, see ``ProgressBar``).
      handle_signals: turn SIGINT/SIGTERM into a checkpoint and :class:`TrainingInterrupted`.

    ``config.env`` may be a callable returning an environment (see ``softrl_tf.envs.make_env``);
    ``config.json`` then records its name (``"callable:mypkg.make_line_world"``), and resuming
    needs the callable again.

    Writes under ``root_dir``: ``config.json`` (atomically, once the configuration is known to
    fit: after the checkpoint of a resumed run is restored), ``metrics.csv`` and TensorBoard
    summaries, ``checkpoints/`` (every ``checkpoint_every_steps`` and at the end), and with
    ``export`` the exports ``saved_model/`` (plain TensorFlow) and ``policy/`` (TF-Agents
    ``PolicySaver``).

    Raises:
      ConfigError: a value out of range, an unwritable root dir, ``resume`` without a checkpoint,
        an environment the environment layer refuses, a saved constructor's name as ``env``.
      NonFiniteLossError: a loss term became nan or inf (no checkpoint is written over the last).
      TrainingInterrupted: SIGINT or SIGTERM, after a checkpoint was written.
    """
    run = _run_config(config, agent_config, replay_config)
    cfg = run.train
    _refuse_constructor_description(cfg, resume)
    agent_class = get_agent_class(cfg.agent)
    check_writable(cfg.root_dir)
    if resume and latest_checkpoint(cfg.root_dir) is None:
        raise ConfigError(
            f"--resume: there is no checkpoint in {checkpoint_dir(cfg.root_dir)}; run without "
            "--resume to start anew."
        )
    seed_everything(cfg.seed)
    try:
        py_env = envs.make_env(cfg.env, cfg.num_envs, backend=cfg.backend, seed=cfg.seed)
    except ValueError as error:  # make_env's messages name the input and the fix
        raise ConfigError(f"--env: {error}") from None
    eval_env = None
    try:
        tf_env = tf_py_environment.TFPyEnvironment(py_env)
        kind = OnPolicyIteration if agent_class.on_policy else OffPolicyIteration
        n_steps = getattr(run.agent, "n_steps", 1)
        agent = agent_class.from_config(
            run.agent,
            tf_env.time_step_spec(),
            tf_env.action_spec(),
            total_updates=kind.total_updates(cfg.total_steps, n_steps, cfg.num_envs, run.replay),
        )
        agent.initialize()
        if agent_class.on_policy:
            iteration = OnPolicyIteration(agent, tf_env, cfg.diagnostics_every_updates)
        else:
            iteration = OffPolicyIteration(agent, tf_env, run.replay)
        state = RunState()
        checkpointer = Checkpointer(
            cfg.root_dir,
            state,
            cfg.keep_checkpoints,
            agent=agent,
            **iteration.checkpointed(cfg.checkpoint_replay_buffer),
        )
        result = TrainResult(env_steps=0, updates=0, root_dir=cfg.root_dir, agent=agent)
        if resume:
            path = checkpointer.restore()
            result.env_steps, result.updates = state.env_steps, state.updates
            result.episodes_before = state.episodes
            logger.info("resumed from %s at step %d", path, state.env_steps)
        _write_config(run)
        if cfg.eval_every_steps:
            eval_env = envs.make_env(
                cfg.env,
                eval_num_envs(cfg.eval_episodes),
                backend=cfg.backend,
                seed=cfg.seed + 1_000_003,
            )
        _loop(
            cfg,
            iteration,
            py_env,
            tf_env,
            agent,
            state,
            checkpointer,
            result,
            eval_env,
            resume=resume,
            progress=progress,
            handle_signals=handle_signals,
        )
        if cfg.export:
            _export(agent, tf_env, run)
    finally:
        py_env.close()
        if eval_env is not None:
            eval_env.close()
    return result


def _loop(
    cfg,
    iteration,
    py_env,
    tf_env,
    agent,
    state,
    checkpointer,
    result,
    eval_env,
    *,
    resume,
    progress,
    handle_signals,
) -> None:
    """Iterates until ``total_steps``, writing metric rows, checkpoints and evaluations."""

    def evaluate_row() -> dict:
        evaluation = evaluate_policy(agent.policy, eval_env, cfg.eval_episodes)
        return {
            "eval/return_mean": float(np.mean(evaluation.returns)),
            "eval/return_std": float(np.std(evaluation.returns)),
            "eval/length_mean": float(np.mean(evaluation.lengths)),
        }

    next_log = (state.env_steps // cfg.log_every_steps + 1) * cfg.log_every_steps
    next_checkpoint = state.env_steps + cfg.checkpoint_every_steps
    next_eval = state.env_steps + cfg.eval_every_steps if cfg.eval_every_steps else None
    tf_env.reset()
    started, started_step = time.monotonic(), state.env_steps
    metrics = MetricsLogger(cfg.root_dir, resume_from_step=state.env_steps if resume else None)
    bar = ProgressBar(
        cfg.total_steps,
        initial_step=state.env_steps,
        disable=None if progress is None else not progress,
    )
    extra = None
    diagnostics = {}  # the latest gradient-equivalence measurement, until a row takes it
    try:
        with StopSignals(handle_signals) as stop:
            while state.env_steps < cfg.total_steps:
                updates = iteration.updates(state.env_steps)
                step_extra, measured = iteration.run(state.updates + 1, state.env_steps)
                state.updates += updates
                state.env_steps += iteration.env_steps_per_call
                if measured:
                    diagnostics = {f"diagnostics/{k}": float(v) for k, v in measured.items()}
                if step_extra is not None:
                    extra = _finite_or_raise(step_extra, state, checkpointer.latest)
                finished = py_env.pop_finished_episodes()
                if len(finished.returns):
                    result.episode_returns.extend(finished.returns.tolist())
                    result.episode_lengths.extend(finished.lengths.tolist())
                    result.episode_end_steps.extend([state.env_steps] * len(finished.returns))
                    state.recent.extend(finished.returns.tolist())
                    state.episodes += len(finished.returns)
                result.env_steps, result.updates = state.env_steps, state.updates
                done = state.env_steps >= cfg.total_steps
                row = {}
                if next_eval is not None and (state.env_steps >= next_eval or done):
                    next_eval += cfg.eval_every_steps
                    row.update(evaluate_row())
                if row or state.env_steps >= next_log or done:
                    next_log = (state.env_steps // cfg.log_every_steps + 1) * cfg.log_every_steps
                    elapsed = max(time.monotonic() - started, 1e-9)
                    row["env_steps_per_s"] = (state.env_steps - started_step) / elapsed
                    row["episodes"] = result.episodes
                    if state.recent:
                        row["episode/return_mean100"] = float(np.mean(state.recent))
                    if result.episode_lengths:
                        row["episode/length_mean100"] = float(
                            np.mean(result.episode_lengths[-RETURN_WINDOW:])
                        )
                    if extra is not None:
                        row.update({f"train/{k}": v for k, v in extra.items()})
                    row.update(diagnostics)
                    diagnostics = {}
                    metrics.write(state.env_steps, row)
                    result.last_metrics = row
                    bar.update(state.env_steps, ret=row.get("episode/return_mean100", math.nan))
                if state.env_steps >= next_checkpoint and not done:
                    next_checkpoint = state.env_steps + cfg.checkpoint_every_steps
                    checkpointer.save()
                if stop.received is not None:
                    raise TrainingInterrupted(stop.received, result, checkpointer.save())
        checkpointer.save()
    finally:
        bar.close()
        metrics.close()
