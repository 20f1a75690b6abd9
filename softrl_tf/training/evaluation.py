"""Greedy-policy evaluation on separate environments.

``evaluate_policy`` runs a TF-Agents policy on a batched environment of its own until each
environment has finished the same number of episodes, and returns the raw (unclipped) returns of
the first episodes of every environment, in environment order. Taking the first episodes of each
environment, rather than the first ``N`` to finish overall, avoids the bias towards short episodes
that a batched evaluation otherwise has.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from tf_agents.environments import tf_py_environment

MAX_EVAL_ENVS = 16


class EvalResult(tuple):
    """``(returns [N] float64, lengths [N] int64)`` of the evaluated episodes."""

    __slots__ = ()

    def __new__(cls, returns, lengths):
        return super().__new__(cls, (np.asarray(returns, np.float64), np.asarray(lengths)))

    @property
    def returns(self) -> np.ndarray:
        return self[0]

    @property
    def lengths(self) -> np.ndarray:
        return self[1]


def eval_num_envs(episodes: int) -> int:
    """Environments used to evaluate ``episodes`` episodes (one each, up to 16)."""
    return max(1, min(int(episodes), MAX_EVAL_ENVS))


def evaluate_policy(policy, py_env, episodes: int, *, max_steps: int = 1_000_000) -> EvalResult:
    """Runs ``policy`` on ``py_env`` until ``episodes`` episodes are collected fairly.

    Args:
      policy: a TF-Agents policy for the environment's specs (e.g. an agent's greedy ``policy``).
      py_env: a batched environment from :func:`softrl_tf.envs.make_env`, used by nothing else;
        it is reset here and left open.
      episodes: ``N``, episodes to return.
      max_steps: batch steps after which evaluation gives up (a policy that never ends an
        episode), raising ``RuntimeError``.

    Returns:
      :class:`EvalResult` with the first ``ceil(N / B)`` episodes of each of the ``B``
      environments, in environment order, cut to ``N``.
    """
    tf_env = tf_py_environment.TFPyEnvironment(py_env)
    per_env = math.ceil(episodes / tf_env.batch_size)

    @tf.function(autograph=False)
    def step(time_step):
        return tf_env.step(policy.action(time_step).action)

    py_env.pop_finished_episodes()
    time_step = tf_env.reset()
    collected: list[list[tuple[float, int]]] = [[] for _ in range(tf_env.batch_size)]
    for _ in range(max_steps):
        time_step = step(time_step)
        finished = py_env.pop_finished_episodes()
        for env_id, ret, length in zip(
            finished.env_ids, finished.returns, finished.lengths, strict=True
        ):
            if len(collected[env_id]) < per_env:
                collected[env_id].append((float(ret), int(length)))
        if all(len(c) >= per_env for c in collected):
            break
    else:
        raise RuntimeError(
            f"evaluation did not finish {episodes} episodes within {max_steps} steps."
        )
    ordered = [item for env_items in collected for item in env_items][:episodes]
    returns, lengths = zip(*ordered, strict=True)
    return EvalResult(returns, lengths)
