"""Training a run: :class:`Trainer` holds it between ``fit`` calls; :func:`train` runs one.

A :class:`Trainer` wires the pieces that live in their own modules: the environments
(``softrl_tf.envs``), the agent (``softrl_tf.agents``, built from its config), one iteration of
its kind (:mod:`softrl_tf.training.iterations`), the Keras model whose ``train_step`` runs it and
the library's callback (:mod:`softrl_tf.training.keras_model`), checkpoints and the run's
counters (:mod:`softrl_tf.training.checkpoints`), metrics (:mod:`softrl_tf.training.logging`),
signals (:mod:`softrl_tf.training.signals`) and the exports (``softrl_tf.export``). Training is
``tf_keras.Model.fit``: every Keras callback works.

Episode returns and lengths come from the environment layer's ``pop_finished_episodes()`` (raw,
unclipped rewards), not from per-step observers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

from softrl_tf import envs, export
from softrl_tf._quiet import quiet_stack
from softrl_tf.agents import get_agent_class
from softrl_tf.config import CONFIG_JSON, ConfigError, RunConfig, TrainConfig, validate
from softrl_tf.env_ids import refuse_constructor_description
from softrl_tf.training.checkpoints import (
    RETURN_WINDOW,
    Checkpointer,
    RunState,
    latest_checkpoint,
)
from softrl_tf.training.evaluation import eval_num_envs, evaluate_policy
from softrl_tf.training.faults import RunFault
from softrl_tf.training.iterations import OffPolicyIteration, OnPolicyIteration
from softrl_tf.training.keras_model import (
    NON_FINITE,
    AgentModel,
    NonFiniteLossError,
    RunCallback,
)
from softrl_tf.training.logging import MetricsLogger
from softrl_tf.training.run_dir import (
    check_root_dir,
    clear_run,
    no_checkpoint_error,
    read_config,
)
from softrl_tf.training.signals import StopSignals

import numpy as np
import tensorflow as tf
from tf_agents.environments import tf_py_environment

logger = logging.getLogger("softrl_tf.training")

__all__ = [
    "NonFiniteLossError",
    "TrainResult",
    "Trainer",
    "TrainingInterrupted",
    "WorkerDiedError",
    "seed_everything",
    "train",
    "write_config",
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


class WorkerDiedError(RunFault):
    """An environment worker process died during training; the last checkpoint was kept."""


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


def _run_config(config, agent_config, replay_config, resume: bool = False) -> RunConfig:
    """A validated :class:`RunConfig` from ``train``'s arguments: sections not given come from
    the saved ``config.json`` when resuming, else from the ``auto`` preset of ``config.env``."""
    if isinstance(config, RunConfig):
        return config
    from softrl_tf.presets import resolve  # the presets import every agent: only when needed

    saved = read_config(config.root_dir) if resume else None
    env = {"env": config.env} if isinstance(config.env, str) else None
    defaults = resolve(config.agent, saved=saved, overrides=env)
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


def _described(run: RunConfig) -> RunConfig:
    """``run`` with its environment as :func:`softrl_tf.envs.describe_env` names it: an id as it
    is, a constructor as ``"callable:<module>.<name>"`` (what ``config.json`` can hold)."""
    train = dataclasses.replace(run.train, env=envs.describe_env(run.train.env))
    return dataclasses.replace(run, train=train)


def write_config(run: RunConfig, directory: str) -> None:
    """Writes ``directory/config.json`` atomically: serialised first, then a temporary file moved
    over the old one, so that a failure leaves the previous file (or none), never a truncated
    one. A constructor environment is recorded by name (:func:`softrl_tf.envs.describe_env`)."""
    text = json.dumps(_described(run).to_dict(), indent=2) + "\n"
    path = os.path.join(directory, CONFIG_JSON)
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


_WORKER_ERRORS = (
    "ConnectionResetError",
    "BrokenPipeError",
    "ConnectionRefusedError",
    "EOFError",
    "RayActorError",  # an env runner (softrl_tf.distributed) lost beyond its restarts
)


def _worker_died(error: tf.errors.OpError, checkpointer) -> Exception:
    """The one-sentence fault for an environment worker process that died under a training step
    (its ``ConnectionResetError`` arrives wrapped in TensorFlow's op error); any other op error
    as it is."""
    died = next((name for name in _WORKER_ERRORS if name in error.message), None)
    if died is None:
        return error
    kept = None if checkpointer is None else checkpointer.latest
    return WorkerDiedError(
        f"an environment worker process died ({died}); training stopped and the last "
        f"checkpoint ({kept}) was kept: continue with --resume."
    )


def _verbosity(progress: bool | None) -> int:
    """Keras ``fit`` verbosity: a progress bar on a terminal, a line per epoch elsewhere."""
    if progress is False:
        return 0
    return 1 if sys.stdout.isatty() else 2


class Trainer:
    """A run in progress: its environments, agent, Keras model, counters and checkpoints.

    Args:
      run: the run's validated :class:`RunConfig`. ``run.train.root_dir`` ``None`` writes
        nothing (no ``config.json``, metrics, checkpoints); otherwise the directory must be
        writable.
      resume: restore the latest checkpoint in ``root_dir`` (its counters, networks, optimizer,
        recent returns and, when checkpointed, the replay buffer); environments restart with
        fresh episodes.
      overwrite: delete a previous run's files in ``root_dir`` first. Without ``resume`` or
        ``overwrite``, a ``root_dir`` that holds a run is refused: nothing is overwritten by
        accident.
      scale_out: where the environments run when not here: an object with ``strategy`` (the
        ``tf.distribute`` strategy the agent and model are built under), ``iteration(agent,
        run)`` (an on-policy iteration whose ``segment()`` gathers the batch from elsewhere and
        whose ``pop_finished_episodes()`` reports its episodes) and ``close()``;
        :mod:`softrl_tf.distributed` makes it (Ray env runners). ``None``: in this process. With
        one, this process builds a single environment, for the specs only.

    ``config.json`` is written once the configuration is known to fit (after the checkpoint of a
    resumed run is restored), atomically.
    """

    def __init__(
        self, run: RunConfig, *, resume: bool = False, overwrite: bool = False, scale_out=None
    ):
        self.run = run
        self.scale_out = scale_out
        cfg = run.train
        if scale_out is None and (cfg.runners > 1 or cfg.ray_address):
            raise ConfigError(
                "--runners and --ray-address need the env runners of softrl_tf.distributed: "
                "train through the command line or an estimator, or pass "
                "scale_out=softrl_tf.distributed.scale_out_for(run)."
            )
        refuse_constructor_description(cfg.env, resume)
        self.agent_class = get_agent_class(cfg.agent)
        root = cfg.root_dir
        check_root_dir(root, resume=resume, overwrite=overwrite)
        if root is not None and overwrite:
            clear_run(root)
        if resume and latest_checkpoint(root) is None:  # a checkpoint dir without an index
            raise no_checkpoint_error(root)
        seed_everything(cfg.seed)
        try:
            local_envs = cfg.num_envs if scale_out is None else 1
            self.py_env = envs.make_env(cfg.env, local_envs, backend=cfg.backend, seed=cfg.seed)
        except ValueError as error:  # make_env's messages name the input and the fix
            raise ConfigError(f"--env: {error}") from None
        self.eval_env = None
        try:
            self._build(resume)
        except BaseException:
            self.close()
            raise

    def _build(self, resume: bool) -> None:
        self.tf_env = tf_py_environment.TFPyEnvironment(self.py_env)
        on_policy = self.agent_class.on_policy
        kind = OnPolicyIteration if on_policy else OffPolicyIteration
        n_steps = getattr(self.run.agent, "n_steps", 1)
        with self._strategy_scope():
            self._build_agent(kind, n_steps)
        # Outside the strategy's scope: the replay is held once, in host memory, however many
        # devices the learner mirrors its weights on (softrl_tf.training.iterations).
        self._build_iteration()
        with self._strategy_scope():
            self.model = AgentModel(self.agent, self.iteration, self.run.train.steps_per_execution)
        self._finish_build(resume)

    def _strategy_scope(self):
        """The scale-out learner's ``tf.distribute`` scope; none in one process."""
        if self.scale_out is None:
            return contextlib.nullcontext()
        return self.scale_out.strategy.scope()

    def _build_agent(self, kind, n_steps: int) -> None:
        """The agent, its schedules sized for the run."""
        cfg = self.run.train
        self.agent = self.agent_class.from_config(
            self.run.agent,
            self.tf_env.time_step_spec(),
            self.tf_env.action_spec(),
            total_updates=kind.total_updates(
                cfg.schedule_span(), n_steps, cfg.num_envs, self.run.replay
            ),
        )
        self.agent.initialize()

    def _build_iteration(self) -> None:
        """What one training step does: here, or over the scale-out's env runners."""
        cfg = self.run.train
        if self.scale_out is not None:
            self.iteration = self.scale_out.iteration(self.agent, self.run)
        elif self.agent_class.on_policy:
            self.iteration = OnPolicyIteration(
                self.agent, self.tf_env, cfg.diagnostics_every_updates
            )
        else:
            self.iteration = OffPolicyIteration(self.agent, self.tf_env, self.run.replay)

    def _finish_build(self, resume: bool) -> None:
        cfg = self.run.train
        self.state = RunState()
        self._envs_started = False
        self.checkpointer = None
        if cfg.root_dir is not None:
            self.checkpointer = Checkpointer(
                cfg.root_dir,
                self.state,
                cfg.keep_checkpoints,
                agent=self.agent,
                **self.iteration.checkpointed(cfg.checkpoint_replay_buffer),
            )
        self.resumed = resume
        if resume:
            path = self.checkpointer.restore()
            logger.info("resumed from %s at step %d", path, self.state.env_steps)
        if cfg.root_dir is not None:
            write_config(self.run, cfg.root_dir)
        if cfg.eval_every_steps:
            self.eval_env = envs.make_env(
                cfg.env,
                eval_num_envs(cfg.eval_episodes),
                backend=cfg.backend,
                seed=cfg.seed + 1_000_003,
            )

    def _evaluate_row(self) -> dict:
        evaluation = evaluate_policy(self.agent.policy, self.eval_env, self.run.train.eval_episodes)
        return {
            "eval/return_mean": float(np.mean(evaluation.returns)),
            "eval/return_std": float(np.std(evaluation.returns)),
            "eval/length_mean": float(np.mean(evaluation.lengths)),
        }

    def fit(
        self,
        target_steps: int,
        *,
        callbacks=(),
        progress: bool | None = None,
        handle_signals: bool = True,
    ) -> TrainResult:
        """Trains until ``target_steps`` environment steps (over all environments) in all.

        Args:
          target_steps: the environment step at which to stop (a run's ``total_steps``).
          callbacks: Keras callbacks, after the library's own.
          progress: Keras's progress output (``None``: a bar on a terminal, a line per logging
            period elsewhere; ``False``: none).
          handle_signals: turn SIGINT/SIGTERM into a checkpoint and :class:`TrainingInterrupted`.

        Raises:
          NonFiniteLossError: a loss term became nan or inf (no checkpoint is written over the
            last).
          TrainingInterrupted: SIGINT or SIGTERM, after a checkpoint was written.
        """
        cfg, state = self.run.train, self.state
        result = TrainResult(
            env_steps=state.env_steps,
            updates=state.updates,
            root_dir=cfg.root_dir or "",
            episodes_before=state.episodes,
            agent=self.agent,
        )
        metrics = None
        if cfg.root_dir is not None:
            metrics = MetricsLogger(
                cfg.root_dir, resume_from_step=state.env_steps if self.resumed else None
            )
            self.resumed = True  # a later fit continues the same metrics.csv
        if not self._envs_started:
            # The first fit starts the episodes; a later one continues them where they stopped.
            self.tf_env.reset()
            self._envs_started = True
        try:
            with StopSignals(handle_signals) as stop, quiet_stack():
                run_callback = RunCallback(
                    cfg,
                    self.py_env if self.scale_out is None else self.iteration,
                    self.iteration,
                    state,
                    result,
                    target_steps,
                    metrics=metrics,
                    checkpointer=self.checkpointer,
                    evaluate=self._evaluate_row if self.eval_env is not None else None,
                    stop=stop,
                )
                stopped = self._warm_up(run_callback, target_steps)
                if not stopped and state.env_steps < target_steps:
                    try:
                        self._fit(run_callback, target_steps, list(callbacks), progress)
                    except tf.errors.InvalidArgumentError as error:
                        if NON_FINITE not in error.message:
                            raise _worker_died(error, self.checkpointer) from None
                        raise run_callback.non_finite(error) from None
                    except tf.errors.OpError as error:
                        raise _worker_died(error, self.checkpointer) from None
            if run_callback.interrupted_by is not None:
                raise TrainingInterrupted(
                    run_callback.interrupted_by, result, run_callback.interruption_checkpoint
                )
            if self.checkpointer is not None:
                self.checkpointer.save()
        finally:
            if metrics is not None:
                metrics.close()
        return result

    def _warm_up(self, run_callback: RunCallback, target_steps: int) -> bool:
        """Off-policy: collection alone until the replay buffer can be learned from
        (``learning_starts``), a metric row per log period. Returns True when a signal stopped it.
        """
        while self.iteration.warming_up() and self.state.env_steps < target_steps:
            self.iteration.collect()
            run_callback.record_steps(0)
            if run_callback.after_iteration() and self.state.env_steps < target_steps:
                return True
        return False

    def _fit(self, run_callback, target_steps, callbacks, progress) -> None:
        """One ``model.fit`` call: epochs of one logging period each, until the budget (the
        library's callback stops it there exactly)."""
        per_call = self.iteration.env_steps_per_call
        per_epoch = max(1, math.ceil(self.run.train.log_every_steps / per_call))
        batches = math.ceil((target_steps - self.state.env_steps) / per_call)
        initial_epoch = self.state.env_steps // (per_epoch * per_call)
        # The data are unused (the iteration collects its own); one item per replica, because a
        # strategy of several replicas splits each batch between them.
        replicas = self.model.distribute_strategy.num_replicas_in_sync
        self.model.fit(
            tf.data.Dataset.from_tensors(tf.zeros([replicas])).repeat(),
            epochs=initial_epoch + math.ceil(batches / per_epoch),
            initial_epoch=initial_epoch,
            steps_per_epoch=per_epoch,
            callbacks=[run_callback, *callbacks],
            verbose=_verbosity(progress),
        )

    def export(self, root_dir: str) -> None:
        """Writes ``saved_model/`` (plain TensorFlow) and ``policy/`` (``PolicySaver``)."""
        with quiet_stack():
            self._export(root_dir)

    def _export(self, root_dir: str) -> None:
        network, tau = self.agent.export_network()
        run = _described(self.run)
        metadata = {"agent": run.train.agent, **run.to_dict()}
        export.export_saved_model(
            network,
            self.tf_env.observation_spec(),
            os.path.join(root_dir, "saved_model"),
            tau=tau,
            env_id=run.train.env,
            metadata=json.loads(json.dumps(metadata, default=str)),
        )
        export.export_policy(self.agent.policy, os.path.join(root_dir, "policy"))

    def env_state(self) -> bytes | None:
        """The training environments' state (``get_state``) once they have started, when they
        run in process; ``None`` otherwise."""
        if not self._envs_started or self.scale_out is not None:
            return None
        try:
            return self.py_env.get_state()
        except NotImplementedError:
            return None

    def restore_env_state(self, state: bytes) -> None:
        """Restores :meth:`env_state`: the next ``fit`` continues those episodes."""
        self.py_env.set_state(state)
        # TFPyEnvironment keeps its own copy of the current time step.
        self.tf_env._time_step = self.py_env.current_time_step()
        self._envs_started = True

    def close(self) -> None:
        """Closes the environments (idempotent)."""
        for env in (getattr(self, "py_env", None), self.eval_env):
            if env is not None:
                env.close()
        self.eval_env = None
        if self.scale_out is not None:
            self.scale_out.close()


def train(
    config: TrainConfig | RunConfig,
    agent_config=None,
    replay_config=None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
    handle_signals: bool = True,
    callbacks=(),
    scale_out=None,
) -> TrainResult:
    """Trains ``config.agent`` on ``config.env`` for ``config.total_steps`` environment steps.

    Args:
      config: a :class:`TrainConfig`, or a whole :class:`RunConfig` (then the next two are unused).
      agent_config: the agent's config; ``None`` takes the saved run's with ``resume``, else
        that of the ``auto`` preset for ``config.env``.
      replay_config: a ``ReplayConfig`` for replay-based agents; ``None`` as ``agent_config``.
      resume: continue the run in ``root_dir`` from its latest checkpoint.
      overwrite: delete a previous run's files in ``root_dir`` first (a ``root_dir`` holding a
        run is refused without ``resume`` or ``overwrite``).
      progress: Keras's progress output (``None``: automatic; ``False``: none).
      handle_signals: turn SIGINT/SIGTERM into a checkpoint and :class:`TrainingInterrupted`.
      callbacks: Keras callbacks for ``fit``.
      scale_out: env runners elsewhere (see :class:`Trainer`); ``None`` runs them here.

    ``config.env`` may be a callable returning an environment (see ``softrl_tf.envs.make_env``);
    ``config.json`` then records its name (``"callable:mypkg.make_line_world"``), and resuming
    needs the callable again.

    Writes under ``root_dir``: ``config.json``, ``metrics.csv`` and TensorBoard summaries,
    ``checkpoints/`` (every ``checkpoint_every_steps`` and at the end), and with ``export`` the
    exports ``saved_model/`` (plain TensorFlow) and ``policy/`` (TF-Agents ``PolicySaver``).

    Raises:
      ConfigError: a value out of range, an unwritable root dir, ``resume`` without a checkpoint.
      NonFiniteLossError: a loss term became nan or inf (no checkpoint is written over the last).
      RunFault: any other fault (a damaged checkpoint, a failed checkpoint write, a dead
        environment worker), naming what was kept; ``NonFiniteLossError`` is one too.
      TrainingInterrupted: SIGINT or SIGTERM, after a checkpoint was written.
    """
    run = _run_config(config, agent_config, replay_config, resume)
    trainer = Trainer(run, resume=resume, overwrite=overwrite, scale_out=scale_out)
    try:
        result = trainer.fit(
            run.train.total_steps,
            callbacks=callbacks,
            progress=progress,
            handle_signals=handle_signals,
        )
        if run.train.export and run.train.root_dir is not None:
            trainer.export(run.train.root_dir)
    finally:
        trainer.close()
    return result
