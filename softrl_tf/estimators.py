"""Estimators: ``A2C``, ``SoftQ``, ``SoftDQN`` and ``DQN`` with fit / predict / evaluate / save /
load / export, in the manner of Keras models and Stable-Baselines3 algorithms.

An estimator is one run held open (:class:`softrl_tf.training.loop.Trainer`): its environments,
its TF-Agents agent (``.agent``), the Keras model whose ``train_step`` is the agent's update
(``.model``) and its counters. Settings are keyword arguments with the command line's names,
resolved by the same :func:`softrl_tf.presets.resolve` with the same validation and messages.
Without ``root_dir`` nothing is written but what callbacks write; with one, the run directory gets
what the command line writes (``config.json``, ``metrics.csv``, events, checkpoints).

Example::

    import softrl_tf
    model = softrl_tf.SoftQ("CartPole-v1", seed=0)
    model.fit(50_000)
    action = model.predict(observation)
    model.save("softq_cartpole"); model = softrl_tf.load("softq_cartpole")
"""

from __future__ import annotations

import logging
import os
from typing import Any, ClassVar, NamedTuple

from softrl_tf import envs
from softrl_tf._quiet import quiet_stack
from softrl_tf.config import ConfigError
from softrl_tf.distributed import scale_out_for
from softrl_tf.presets import describe_preset, resolve
from softrl_tf.training.evaluation import eval_num_envs, evaluate_policy
from softrl_tf.training.loop import Trainer, TrainResult, write_config
from softrl_tf.training.run_dir import read_config

import numpy as np
import tensorflow as tf

logger = logging.getLogger("softrl_tf.estimators")
from tf_agents.trajectories import time_step as ts

CHECKPOINT = "estimator"
ENV_STATE = "env_state.pkl"


class Evaluation(NamedTuple):
    """Mean and standard deviation of the raw returns of the evaluated episodes, and the returns."""

    mean: float
    std: float
    returns: np.ndarray


class Estimator:
    """The common estimator; use :class:`A2C`, :class:`SoftQ`, :class:`SoftDQN` or :class:`DQN`.

    Args:
      env: a gymnasium id (``"CartPole-v1"``, ``"mypkg.envs:LineWorld-v0"``, an Atari or MinAtar
        id) or a callable returning a ``gymnasium.Env``.
      root_dir: a run directory to write to, or ``None`` to write nothing.
      preset: a preset of ``softrl_tf.presets`` (``None``: the default one).
      resume: continue the run in ``root_dir`` from its latest checkpoint.
      overwrite: delete a previous run's files in ``root_dir`` first.
      **settings: any setting of the run (``seed=1``, ``num_envs=16``, ``tau=0.05``...); a setting
        this agent does not use is refused, naming the agents that use it.

    Raises:
      ConfigError: a bad or unused setting, an unknown environment, or a ``root_dir`` that holds
        a run when neither ``resume`` nor ``overwrite`` is given.
    """

    agent_name: ClassVar[str] = ""

    def __init__(
        self,
        env: Any = "CartPole-v1",
        *,
        root_dir: str | None = None,
        preset: str | None = None,
        resume: bool = False,
        overwrite: bool = False,
        **settings,
    ):
        saved = read_config(root_dir) if resume and root_dir is not None else None
        self._start(env, root_dir, preset, saved, settings, resume=resume, overwrite=overwrite)

    def _start(self, env, root_dir, preset, saved, settings, *, resume=False, overwrite=False):
        """Resolves the run (``saved``, a ``config.json``, replaces the preset) and builds it."""
        overrides = {**settings, "root_dir": root_dir}
        if env is not None:
            overrides["env"] = env
        run = resolve(self.agent_name, preset, saved, overrides)
        logger.info("preset: %s", describe_preset(preset, run.train.env, saved is not None))
        self._trainer = Trainer(
            run, resume=resume, overwrite=overwrite, scale_out=scale_out_for(run)
        )

    @property
    def run_config(self):
        """The resolved :class:`~softrl_tf.config.RunConfig`."""
        return self._trainer.run

    @property
    def agent(self):
        """The TF-Agents agent: ``agent.policy`` (greedy) and ``agent.collect_policy`` work with
        TF-Agents drivers, replay buffers and ``PolicySaver``."""
        return self._trainer.agent

    @property
    def model(self):
        """The ``tf_keras.Model`` whose ``train_step`` is the agent's update."""
        return self._trainer.model

    @property
    def env_steps(self) -> int:
        """Environment steps trained so far (over all environments)."""
        return self._trainer.state.env_steps

    def fit(
        self,
        total_steps: int,
        callbacks=None,
        *,
        progress: bool | None = None,
        handle_signals: bool = True,
    ) -> TrainResult:
        """Trains ``total_steps`` more environment steps (over all environments).

        Called again, it continues where it stopped: the same weights, optimizer state,
        counters and environments.

        Args:
          total_steps: environment steps to train for in this call.
          callbacks: Keras callbacks (``tf_keras.callbacks``), run after the library's own.
          progress: Keras's progress output (``None``: automatic; ``False``: none).
          handle_signals: turn SIGINT/SIGTERM into a checkpoint (with ``root_dir``) and a
            ``TrainingInterrupted``.

        Returns:
          The :class:`~softrl_tf.training.loop.TrainResult` of this call.
        """
        if not isinstance(total_steps, int) or isinstance(total_steps, bool) or total_steps < 1:
            raise ConfigError(f"total_steps must be an integer >= 1, got {total_steps!r}.")
        return self._trainer.fit(
            self.env_steps + total_steps,
            callbacks=list(callbacks or ()),
            progress=progress,
            handle_signals=handle_signals,
        )

    def _batch(self, observation) -> tuple[np.ndarray, bool]:
        spec = self._trainer.tf_env.observation_spec()
        shape = tuple(spec.shape.as_list())
        array = np.asarray(observation)
        single = array.shape == shape
        if not single and array.shape[1:] != shape:
            raise ValueError(
                f"predict: an observation must have shape {shape} (or a batch of them, "
                f"[N, {', '.join(map(str, shape))}]), got {array.shape}."
            )
        batch = array[None] if single else array
        return batch.astype(spec.dtype.as_numpy_dtype, copy=False), single

    def predict(self, observation, deterministic: bool = True, return_values: bool = False):
        """Actions for one observation or a batch: numpy in, numpy out.

        Args:
          observation: ``[*obs_shape]`` or ``[N, *obs_shape]``.
          deterministic: the greedy action; ``False`` samples the agent's exploration policy
            (the Boltzmann policy; epsilon-greedy for the DQN family).
          return_values: also return the network's outputs: policy logits (a2c) or Q-values
            (softq's Q = V + tau log(pi / prior), soft_dqn, dqn), ``[A]`` or ``[N, A]``.

        Returns:
          ``action`` (a scalar or ``[N]``), or ``(action, values)`` with ``return_values``.
        """
        batch, single = self._batch(observation)
        time_step = ts.restart(tf.constant(batch), batch_size=batch.shape[0])
        agent = self._trainer.agent
        policy = agent.policy if deterministic else agent.collect_policy
        with quiet_stack():
            action = policy.action(time_step).action.numpy()
        if single:
            action = action[0]
        if not return_values:
            return action
        network, _ = agent.export_network()
        values, _ = network(tf.constant(batch), training=False)
        if isinstance(values, tuple):  # an actor-critic network: (logits, value)
            values = values[0]
        values = values.numpy()
        return action, (values[0] if single else values)

    def evaluate(self, episodes: int = 10, env: Any = None, seed: int | None = None) -> Evaluation:
        """Mean and std of the raw returns of ``episodes`` greedy episodes on fresh environments.

        Args:
          episodes: how many episodes (>= 1).
          env: an environment id or constructor; ``None`` is the training environment's.
          seed: the first environment's seed; ``None`` is the run's seed + 2,000,003.
        """
        if not isinstance(episodes, int) or episodes < 1:
            raise ConfigError(f"episodes must be an integer >= 1, got {episodes!r}.")
        cfg = self._trainer.run.train
        py_env = envs.make_env(
            cfg.env if env is None else env,
            eval_num_envs(episodes),
            backend=cfg.backend,
            seed=cfg.seed + 2_000_003 if seed is None else seed,
        )
        try:
            with quiet_stack():
                result = evaluate_policy(self._trainer.agent.policy, py_env, episodes)
        finally:
            py_env.close()
        return Evaluation(
            float(np.mean(result.returns)), float(np.std(result.returns)), result.returns
        )

    def _checkpoint(self) -> tf.train.Checkpoint:
        return tf.train.Checkpoint(agent=self._trainer.agent, **self._trainer.state.trackables)

    def save(self, path: str) -> str:
        """Saves the networks, optimizer, counters, recent returns, the policy's random
        generator and the configuration; with in-process environments (backend ``sync``) also
        the environments' state.

        ``softrl_tf.load(path)`` gives back an estimator that predicts identically and trains
        on from the same counters; with in-process environments and an on-policy agent (a2c,
        softq), it trains on exactly as if never interrupted: the same actions, episodes and
        metrics. Returns ``path``.
        """
        os.makedirs(path, exist_ok=True)
        self._trainer.state.store()
        self._checkpoint().write(os.path.join(path, CHECKPOINT))
        env_state = self._trainer.env_state()
        if env_state is not None:
            with open(os.path.join(path, ENV_STATE), "wb") as f:
                f.write(env_state)
        write_config(self._trainer.run, path)
        return path

    def export(self, path: str) -> str:
        """Writes ``path/saved_model`` (plain TensorFlow, see ``softrl_tf.export``) and
        ``path/policy`` (TF-Agents ``PolicySaver``). Returns ``path``."""
        self._trainer.export(path)
        return path

    def close(self) -> None:
        """Closes the environments."""
        self._trainer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self) -> str:
        cfg = self._trainer.run.train
        return (
            f"{type(self).__name__}(env={envs.describe_env(cfg.env)!r}, env_steps={self.env_steps})"
        )


class A2C(Estimator):
    """Entropy-regularised A2C, naive or proper (``entropy_mode``); docs/theory.md §5."""

    agent_name = "a2c"


class SoftQ(Estimator):
    """Soft n-step Q-learning on Q = V + tau log(pi / prior), no target network, no epsilon;
    docs/theory.md §6, §9."""

    agent_name = "softq"


class SoftDQN(Estimator):
    """Soft DQN (logsumexp or logmeanexp backup) with replay and a target network;
    docs/theory.md §4, §8."""

    agent_name = "soft_dqn"


class DQN(Estimator):
    """DQN, the hard-max case of soft DQN."""

    agent_name = "dqn"


ESTIMATORS = {cls.agent_name: cls for cls in (A2C, SoftQ, SoftDQN, DQN)}


def load(path: str, env: Any = None, **settings) -> Estimator:
    """The estimator saved at ``path`` by :meth:`Estimator.save`.

    Args:
      path: the directory ``save`` wrote.
      env: the environment, needed when the saved run trained on a constructor; an id replaces
        the saved one.
      **settings: settings that replace saved ones (``root_dir=...`` to write a run directory).
    """
    saved = read_config(path) or {}
    agent = saved.get("train", {}).get("agent")
    if agent not in ESTIMATORS:
        raise ConfigError(f"{path} holds no saved estimator (agent {agent!r}).")
    saved_env = saved.get("train", {}).get("env")
    if env is None and envs.described_constructor(saved_env) is not None:
        raise ConfigError(
            f"{path} was trained on an environment constructor "
            f"({envs.described_constructor(saved_env)}): pass it as load(path, env=...)."
        )
    # The saved config replaces the preset (a setting it lacks is newer than the save and takes
    # its default), so the checkpoint's networks are rebuilt as they were saved.
    cls = ESTIMATORS[agent]
    estimator = cls.__new__(cls)
    estimator._start(env, settings.pop("root_dir", None), None, saved, settings)
    status = estimator._checkpoint().read(os.path.join(path, CHECKPOINT))
    status.assert_existing_objects_matched()
    estimator._trainer.state.load()
    env_state = os.path.join(path, ENV_STATE)
    if os.path.isfile(env_state) and env is None:
        with open(env_state, "rb") as f:
            estimator._trainer.restore_env_state(f.read())
    return estimator
