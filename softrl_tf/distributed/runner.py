"""An env runner: a Ray actor that steps a slice of a run's environments with a policy copy.

Runner ``k`` of ``N`` holds ``M = num_envs / N`` environments, built by
:func:`softrl_tf.envs.make_env` (any backend) with seeds ``seed + k * M + i``, i.e. the seeds
environments ``k * M .. k * M + M - 1`` get in one process, and a copy of the agent's collect
policy (the agent is built from the run's config; only its policy is used). Its policy samples as
rows ``k * M ..`` of the whole batch (:meth:`softrl_tf.policies.BoltzmannPolicy.sample_as_rows`),
so the runners together draw the actions one process would.

:meth:`EnvRunner.collect` takes the weights (a list of arrays, one per policy variable, in
``policy.variables()`` order), the sampling generator's state (int64 ``[3]``) and the weights'
version, sets all three, collects one segment with the library's own
:func:`softrl_tf.training.collect.collect_segment` and returns it as a :class:`Collected`. Nothing
here is Ray-specific: :func:`remote_runner_class` wraps the class as an actor with restarts.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Collected(NamedTuple):
    """One runner's segment and what came with it.

    Attributes:
      flat: the ``Trajectory`` ``[M, T + 1, ...]`` flattened (``tf.nest.flatten`` order), numpy.
      episodes: ``EpisodeStats`` of the episodes that ended in the segment, environment ids global.
      finish_keys: int64 ``[k]``, ``t * num_envs + global env id`` of each of those episodes, to
        merge the runners' episodes in the order one process would report them; ``None`` when
        the count does not match (a restarted runner's lost episodes).
      generator_state: int64 ``[3]``, the sampling generator's state after the segment (``None``
        for a policy without one).
      version: the weights' version the segment was collected with.
      seconds: time spent collecting (environment steps and policy forward passes).
    """

    flat: list
    episodes: object
    finish_keys: np.ndarray | None
    generator_state: np.ndarray
    version: int
    seconds: float


class EnvRunner:
    """Steps environments ``first .. first + count - 1`` of a run of ``total`` environments.

    Args:
      run: the run's ``RunConfig``. On-policy agents collect ``n_steps`` per call, off-policy
        ones ``runner_steps``.
      first: the global index of this runner's first environment.
      count: ``M``, the environments this runner steps.
      threads: TensorFlow intra-op threads (a runner has one CPU of the cluster).
    """

    def __init__(self, run, first: int, count: int, threads: int = 1):
        # softrl_tf's Keras-2 guard has run: a Ray worker imports this module, and so the
        # softrl_tf package, before it builds the actor.
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)

        import random

        from softrl_tf import envs
        from softrl_tf.agents import get_agent_class
        from softrl_tf.training.collect import collect_segment
        from softrl_tf.training.iterations import OffPolicyIteration

        from tf_agents.environments import tf_py_environment

        cfg = run.train
        self._first, self._count, self._total = first, count, cfg.num_envs
        self._py_env = envs.make_env(cfg.env, count, backend=cfg.backend, seed=cfg.seed + first)
        tf_env = tf_py_environment.TFPyEnvironment(self._py_env)
        agent_class = get_agent_class(cfg.agent)
        # Off-policy exploration schedules (epsilon) decay over the learner's total updates.
        total_updates = 1
        if not agent_class.on_policy:
            n = getattr(run.agent, "n_steps", 1)
            total_updates = OffPolicyIteration.total_updates(
                cfg.schedule_span(), n, cfg.num_envs, run.replay
            )
        random.seed(cfg.seed)  # the sampling generator's seed, as in the learner
        # TF-Agents' epsilon-greedy flips its coins with op-seeded random ops: seeded, so that a
        # run is reproducible, and per runner and run seed (first < num_envs), so that no two
        # runners of any two seeds flip the same coins. A restarted runner starts them again.
        tf.random.set_seed(cfg.seed * cfg.num_envs + first)
        agent = agent_class.from_config(
            run.agent, tf_env.time_step_spec(), tf_env.action_spec(), total_updates=total_updates
        )
        self._agent = agent
        policy = agent.collect_policy
        if hasattr(policy, "sample_as_rows"):  # Boltzmann; TF-Agents' epsilon-greedy has none
            policy.sample_as_rows(first, cfg.num_envs)
        self._policy = policy
        self._variables = policy.variables()
        n_steps = agent.n_steps if agent_class.on_policy else cfg.runner_steps
        self._collect = tf.function(
            lambda: collect_segment(tf_env, policy, n_steps)[0], autograph=False
        )
        tf_env.reset()

    def ready(self) -> int:
        """This runner's process id, once its environments and policy are built (a start-up
        barrier for the learner; a restarted runner answers with its new process)."""
        import os

        return os.getpid()

    def set_weights(self, weights, generator_state=None, counter=None) -> None:
        """Sets the policy's variables (``policy.variables()`` order) and, when given, the
        sampling generator's state and the agent's update counter (exploration schedules)."""
        for variable, value in zip(self._variables, weights, strict=True):
            variable.assign(value)
        if generator_state is not None:
            self._policy.generator.state.assign(generator_state)
        if counter is not None:
            self._agent.train_step_counter.assign(counter)

    def collect(self, weights, generator_state, version: int, counter=None) -> Collected:
        """One segment with ``weights``, the generator at ``generator_state`` (``None``: where
        it is) and the update counter at ``counter`` (``None``: unchanged)."""
        import time

        import tensorflow as tf
        from tf_agents.trajectories import time_step as ts

        started = time.perf_counter()
        self.set_weights(weights, generator_state, counter)
        experience = self._collect()
        flat = [np.asarray(x) for x in tf.nest.flatten(experience)]
        episodes = self._py_env.pop_finished_episodes()
        episodes = episodes._replace(env_ids=episodes.env_ids + self._first)
        # One process reports episodes step by step, each step's in environment order.
        last = np.asarray(experience.next_step_type)[:, :-1] == ts.StepType.LAST  # [M, T]
        env, step = np.nonzero(last)
        keys = np.sort(step.astype(np.int64) * self._total + self._first + env)
        if len(keys) != len(episodes.returns):
            keys = None
        generator = getattr(self._policy, "generator", None)
        return Collected(
            flat,
            episodes,
            keys,
            None if generator is None else generator.state.numpy(),
            version,
            time.perf_counter() - started,
        )


MAX_RESTARTS = 3
"""How often Ray restarts a runner that died (its collect call is retried on the new one)."""


def remote_runner_class():
    """:class:`EnvRunner` as a Ray actor class: one CPU, restarted up to :data:`MAX_RESTARTS`
    times with its interrupted call retried."""
    import ray

    return ray.remote(num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)(
        EnvRunner
    )
