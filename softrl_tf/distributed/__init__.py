"""Scaling out: env runners as Ray actors, the learner under a ``tf.distribute`` strategy.

A run with ``runners > 1`` or a ``ray_address`` trains with :class:`RayScaleOut`:

* ``runners`` Ray actors (:mod:`softrl_tf.distributed.runner`), one CPU each, each holding
  ``M = num_envs / runners`` environments from :func:`softrl_tf.envs.make_env` and a copy of the
  collect policy;
* the learner in this process: the agent, its Keras model
  (:class:`softrl_tf.training.keras_model.AgentModel`) and optimizer are built under
  :func:`learner_strategy` (``MirroredStrategy`` over the GPUs TensorFlow sees, TensorFlow's
  default strategy on a CPU-only machine), and trained by the library's own ``Trainer``:
  metrics, checkpoints, ``--resume``, exports and the non-finite guard are the single-process
  ones;
* on-policy agents (a2c, softq) collect synchronously (:mod:`softrl_tf.distributed.iteration`):
  each update's batch ``[num_envs, n_steps + 1, ...]`` is the runners' segments, all collected
  with the weights of that update, which go out once per update through Ray's object store.
  ``runners`` x ``M`` environments give exactly the updates of one process with ``num_envs``;
* off-policy agents (soft_dqn, dqn) collect asynchronously: each runner steps ``runner_steps``
  batch steps per call with the weights (and update counter, for the epsilon schedule) it got
  when the call began, always one call ahead of the learner, which puts the batch steps into the
  replay it holds (once, in host memory, whatever the replicas), one per iteration as in one
  process;
* with several replicas, each updates on its shard of every batch and the gradients are summed
  before the clip: the update of one device on the whole batch.

Nothing here reimplements what Ray or ``tf.distribute`` provide: actors, restarts
(``max_restarts``), the object store and the cluster are Ray's; device placement and replicas
are the strategy's. Hand-written, because neither provides it: the bridge between the Keras
training function and Ray (:mod:`~softrl_tf.distributed.iteration`) and the one-sentence checks
of a cluster before joining it (:mod:`~softrl_tf.distributed.cluster`).
"""

from __future__ import annotations

import dataclasses
import math

from softrl_tf.agent_configs import agent_config_class
from softrl_tf.config import ConfigError
from softrl_tf.distributed import cluster
from softrl_tf.distributed.runner import EnvRunner

__all__ = [
    "EnvRunner",
    "RayScaleOut",
    "learner_strategy",
    "runners_run_config",
    "scale_out_for",
    "uses_ray",
]

READY_TIMEOUT_S = 300
"""How long the runners may take to start (import TensorFlow, build environments and policy)."""


def uses_ray(train_config) -> bool:
    """Whether a run's ``TrainConfig`` asks for env runners on Ray."""
    return train_config.runners > 1 or train_config.ray_address != ""


def learner_strategy():
    """The learner's ``tf.distribute`` strategy: ``MirroredStrategy`` over the visible GPUs, the
    default strategy on a CPU-only machine."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if not gpus:
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy([gpu.name for gpu in gpus])


def check_replicas(run, replicas: int) -> None:
    """Refuses what a learner of several replicas cannot do (see the README, "Scaling out").

    Each replica updates on its shard of the batch (the on-policy segment split along the
    environments, or the replay minibatch split along its rows), and the agents sum the shards'
    gradients before clipping them (:mod:`softrl_tf.agents.base`).

    Raises:
      ConfigError: gradient diagnostics (measured on one batch), or a batch that does not split
        evenly: ``num_envs`` (on-policy) or ``batch_size`` (replay) not a multiple of
        ``replicas``.
    """
    if replicas == 1:
        return
    cfg = run.train
    devices = f"the learner has {replicas} replicas (one per GPU)"
    if not agent_config_class(cfg.agent).on_policy:
        size = run.replay.batch_size
        if size % replicas:
            raise ConfigError(
                f"{devices}, and --batch-size={size} must be a multiple of it (each replica "
                "updates on as many rows of the minibatch)."
            )
        return
    if cfg.diagnostics_every_updates:
        raise ConfigError(
            f"{devices}, and the gradient diagnostics are measured on one device: use "
            "--diagnostics-every-updates=0 or set CUDA_VISIBLE_DEVICES to one GPU."
        )
    if cfg.num_envs % replicas:
        raise ConfigError(
            f"{devices}, and --num-envs={cfg.num_envs} must be a multiple of it (each replica "
            "updates on as many environments' segments)."
        )


def check(run) -> None:
    """Refuses, before anything starts, a run that cannot train on runners.

    Raises:
      ConfigError: ``num_envs`` not a multiple of ``runners``, Ray not
        installed, more runners than a local cluster has CPUs, a ``HOST:PORT`` where nothing
        answers.
    """

    cfg = run.train
    if cfg.num_envs % cfg.runners:
        low = cfg.num_envs // cfg.runners * cfg.runners or cfg.runners
        raise ConfigError(
            f"--num-envs={cfg.num_envs} must be a multiple of --runners={cfg.runners} (each runner "
            f"steps as many environments): use --num-envs={low} or "
            f"{math.ceil(cfg.num_envs / cfg.runners) * cfg.runners}."
        )
    cluster.check_address(cfg.ray_address, cfg.runners)


def runners_run_config(run):
    """The ``RunConfig`` the runners get: the run's, with ``precision="auto"`` decided here, by
    the learner's hardware, so that the runners act with the network the learner trains (a GPU
    learner in bfloat16 beside CPU runners without it would otherwise act in float32)."""
    from softrl_tf.networks import resolve_precision  # needs TensorFlow: imported when used

    precision = resolve_precision(run.agent.precision)
    return dataclasses.replace(run, agent=dataclasses.replace(run.agent, precision=precision))


class RayScaleOut:
    """Env runners on a Ray cluster and the learner's strategy, for one run (see the module
    docstring); what :class:`softrl_tf.training.loop.Trainer` takes as ``scale_out``.

    Args:
      run: the run's ``RunConfig``.
    """

    def __init__(self, run):
        check(run)
        self._run = run
        self.strategy = learner_strategy()
        check_replicas(run, self.strategy.num_replicas_in_sync)
        self._started = False
        self._iteration = None
        self.runners: list = []

    def iteration(self, agent, run):
        """Connects to the cluster, starts the runners and returns the iteration over them."""
        from softrl_tf.distributed.iteration import RayOffPolicyIteration, RayOnPolicyIteration
        from softrl_tf.distributed.runner import remote_runner_class

        cfg = run.train
        self._started = cluster.connect(cfg.ray_address, cfg.runners)
        import ray

        actor = remote_runner_class()
        per_runner = cfg.num_envs // cfg.runners
        runners_run = runners_run_config(run)
        self.runners = [
            actor.remote(runners_run, k * per_runner, per_runner) for k in range(cfg.runners)
        ]
        ray.get([r.ready.remote() for r in self.runners], timeout=READY_TIMEOUT_S)
        if not agent.on_policy:
            self._iteration = RayOffPolicyIteration(
                agent, self.runners, cfg.num_envs, run.replay, cfg.runner_steps
            )
            return self._iteration
        return RayOnPolicyIteration(
            agent, self.runners, cfg.num_envs, diagnostics_every=cfg.diagnostics_every_updates
        )

    def close(self) -> None:
        """Ends the runners, and Ray if this run started it (idempotent)."""
        if self._iteration is not None:
            self._iteration.finish()
            self._iteration = None
        if self.runners:
            import ray

            for runner in self.runners:
                ray.kill(runner, no_restart=True)
            self.runners = []
        cluster.disconnect(self._started)
        self._started = False


def scale_out_for(run) -> RayScaleOut | None:
    """A :class:`RayScaleOut` for a run that asks for runners, else ``None`` (in this process)."""
    return RayScaleOut(run) if uses_ray(run.train) else None
