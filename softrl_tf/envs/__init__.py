"""Environments: gymnasium and Atari as batched TF-Agents ``PyEnvironment``s.

``make_env(env_id, num_envs, backend="auto", seed=0, **options)`` is the entry point; see its
docstring for the backends and options, and :mod:`softrl_tf.envs.gymnasium_env` for the time-step
and episode-statistics conventions. :func:`describe_env` names an environment in ``config.json``:
an id as it is, a constructor as ``"callable:<module>.<name>"``.
"""

from __future__ import annotations

import functools
import logging
import operator
import typing
from collections.abc import Callable
from typing import Any

from softrl_tf.config import Backend
from softrl_tf.env_ids import (
    CONSTRUCTOR_PREFIX,
    callable_name,
    describe_env,
    described_constructor,
    is_atari_spec,
    registered_spec,
)
from softrl_tf.envs import atari
from softrl_tf.envs.atari import AtariOptions, AtariVectorPyEnvironment
from softrl_tf.envs.gymnasium_env import (
    BatchedEnvironment,
    EpisodeStats,
    GymnasiumPyEnvironment,
    GymnasiumVectorPyEnvironment,
    ParallelBatchedPyEnvironment,
    action_spec_from_space,
    as_seed,
    observation_spec_from_space,
)

import gymnasium

logger = logging.getLogger("softrl_tf.envs")

BACKENDS = typing.get_args(Backend)  # the one list: softrl_tf.config.Backend
"""Backends of :func:`make_env`:

* ``sync``: gymnasium ``SyncVectorEnv``, all environments in this process. For cheap environments.
* ``async``: gymnasium ``AsyncVectorEnv``, one process per environment, shared memory.
* ``parallel``: TF-Agents ``ParallelPyEnvironment``, one process per environment; takes
  constructors of users' own ``PyEnvironment``s too.
* ``ale``: ale-py's ``AtariVectorEnv``, Atari in C++ threads. Atari only.
* ``auto``: ``ale`` for Atari ids, ``parallel`` for a constructor, ``sync`` otherwise.
"""

__all__ = [
    "BACKENDS",
    "CONSTRUCTOR_PREFIX",
    "AtariOptions",
    "AtariVectorPyEnvironment",
    "BatchedEnvironment",
    "EpisodeStats",
    "GymnasiumPyEnvironment",
    "GymnasiumVectorPyEnvironment",
    "ParallelBatchedPyEnvironment",
    "described_constructor",
    "describe_env",
    "make_env",
]


def make_env(
    env_id: str | Callable[[], Any],
    num_envs: int,
    backend: str = "auto",
    seed: int | None = 0,
    **options: Any,
) -> BatchedEnvironment:
    """A batched TF-Agents ``PyEnvironment`` of ``num_envs`` copies of an environment.

    Args:
      env_id: a gymnasium id (``"CartPole-v1"``, ``"ALE/Pong-v5"``, ``"PongNoFrameskip-v4"``,
        ``"MinAtar/Breakout-v1"``), gymnasium's ``"module:EnvId"`` (``"mypkg.envs:LineWorld-v0"``
        imports ``mypkg.envs``, which registers ``LineWorld-v0``, exactly as ``gymnasium.make``
        does), or a callable returning a ``gymnasium.Env`` or an unbatched ``PyEnvironment``
        (your own). MinAtar ids are registered on first use; their ``bool`` object grids arrive
        as float32 0/1 (as do any ``bool`` ``Box`` observations).
      num_envs: batch size, >= 1.
      backend: one of :data:`BACKENDS`. ``"auto"`` picks ``ale`` for Atari ids, ``parallel`` for
        a callable, ``sync`` otherwise, and logs its choice (logger ``softrl_tf.envs``).
      seed: environment ``i`` is seeded with ``seed + i`` at the first reset; ``None`` leaves
        them unseeded. ``env.seed(s)`` reseeds the next ``reset()``.
      **options: for Atari ids, the fields of :class:`AtariOptions` (DeepMind preprocessing;
        ``reward_clipping`` defaults to True). For other ids, ``reward_clipping`` (default False)
        and keyword arguments of ``gymnasium.make``. For a callable, ``reward_clipping`` only.

    Returns:
      A :class:`BatchedEnvironment`: ``batched`` is True, ``batch_size == num_envs``, step types
      FIRST/MID/LAST with gymnasium's termination (discount 0) and truncation (discount 1), raw
      episode statistics in ``finished_episodes`` / ``pop_finished_episodes()``.

    Observation spaces: ``Box`` (any shape and dtype; ``bool`` becomes float32 0/1) and
    ``Discrete`` only. Others are refused rather than flattened behind the caller's back, since
    the flattening (one-hot codes, key order) then belongs in the environment the caller
    evaluates and exports with too: ``Dict``, ``Tuple``, ``MultiBinary`` and ``MultiDiscrete``
    with a pointer to ``gymnasium.wrappers.FlattenObservation``; ``Text``, ``Graph``,
    ``Sequence`` and other spaces without one fixed-size array form with a pointer to a
    ``gymnasium.ObservationWrapper`` of one's own.

    Raises:
      ValueError: for an unknown id (with close ids), a ``module:`` id whose module cannot be
        imported, a :func:`describe_env` description instead of its constructor, a continuous
        action space, an observation space listed above as refused, ``num_envs < 1``, an
        unknown backend or option, or an Atari (MinAtar) id without ale-py (minatar) installed.
    """
    num_envs = _num_envs(num_envs)
    seed = as_seed(seed)
    if backend not in BACKENDS:
        raise ValueError(
            f"Unknown backend {backend!r}: choose one of {', '.join(map(repr, BACKENDS))}."
        )
    if callable(env_id) and not isinstance(env_id, str):
        return _make_from_constructor(env_id, num_envs, backend, seed, options)
    if not isinstance(env_id, str):
        raise ValueError(
            f"env_id must be a gymnasium id or a callable returning an environment, got {env_id!r}."
        )
    described = described_constructor(env_id)
    if described is not None:
        raise ValueError(
            f"{env_id!r} describes an environment constructor, not an environment id: pass the "
            f"constructor itself (env_id={described}) from Python."
        )
    spec = registered_spec(env_id)
    if is_atari_spec(spec):
        # spec.id drops a "module:" prefix: the module is imported, and the Atari code parses ids.
        return _make_atari(spec.id, num_envs, backend, seed, options)
    if backend == "ale":
        raise ValueError(
            f"backend 'ale' runs only Atari games, and {env_id!r} is not one: use 'sync' or "
            "'async'."
        )
    backend = _chosen(backend, "sync", env_id, "not an Atari game")
    reward_clipping = options.pop("reward_clipping", False)
    make_one = functools.partial(gymnasium.make, env_id, **options)
    return _make_batched(env_id, make_one, num_envs, backend, seed, reward_clipping)


def _num_envs(num_envs: Any) -> int:
    """``num_envs`` as an int >= 1 (numpy integers included); ValueError otherwise."""
    try:
        if isinstance(num_envs, bool):
            raise TypeError
        value = operator.index(num_envs)
    except TypeError:
        value = None
    if value is None or value < 1:
        raise ValueError(
            f"num_envs must be an integer >= 1 (the number of environments in the batch), got "
            f"{num_envs!r}."
        )
    return value


def _chosen(backend: str, auto_choice: str, env_id: Any, why: str) -> str:
    if backend == "auto":
        logger.info("make_env(%r): backend 'auto' chose %r (%s)", env_id, auto_choice, why)
        return auto_choice
    logger.debug("make_env(%r): backend %r", env_id, backend)
    return backend


def _make_atari(env_id, num_envs, backend, seed, options) -> BatchedEnvironment:
    opts = AtariOptions.from_options(env_id, options)
    if backend == "auto":
        try:
            import ale_py.vector_env  # noqa: F401
        except ImportError:
            backend = _chosen(backend, "sync", env_id, "this ale-py has no vector env")
        else:
            backend = _chosen(backend, "ale", env_id, "Atari game, ale-py's C++ vector env")
    else:
        backend = _chosen(backend, backend, env_id, "")
    if backend == "parallel" and opts.episodic_life:
        raise ValueError(
            "episodic_life needs the lives counter at every step, which the 'parallel' backend "
            "does not report: use backend 'ale', 'sync' or 'async'."
        )
    if backend == "ale":
        vector_env = atari.make_ale_vector_env(env_id, num_envs, opts)
    elif backend == "parallel":
        make_one = functools.partial(atari.make_atari_gymnasium_env, env_id, opts)
        return _make_batched(env_id, make_one, num_envs, backend, seed, opts.reward_clipping)
    else:
        make_one = functools.partial(atari.make_atari_gymnasium_env, env_id, opts)
        vector_env = _vector_env(env_id, make_one, num_envs, backend)
    return AtariVectorPyEnvironment(
        vector_env,
        seed=seed,
        reward_clipping=opts.reward_clipping,
        episodic_life=opts.episodic_life,
        restart_action=(
            atari.restart_action(atari.game_of(env_id), opts) if opts.episodic_life else 0
        ),
        channels_first=backend == "ale",
        name=repr(env_id),
    )


def _make_from_constructor(constructor, num_envs, backend, seed, options) -> BatchedEnvironment:
    name = callable_name(constructor)
    reward_clipping = options.pop("reward_clipping", False)
    if options:
        raise ValueError(
            f"Options {', '.join(map(repr, sorted(options)))} apply only to environment ids; "
            "with an environment constructor pass them to the constructor instead."
        )
    if backend == "ale":
        raise ValueError(
            "backend 'ale' takes an Atari id such as 'ALE/Pong-v5', not a constructor: use "
            "'parallel', 'sync' or 'async'."
        )
    backend = _chosen(backend, "parallel", name, "an environment constructor")
    return _make_batched(name, constructor, num_envs, backend, seed, reward_clipping, probe=False)


def _make_batched(what, make_one, num_envs, backend, seed, reward_clipping, probe=True):
    if backend == "parallel":
        if probe:
            # Fail here, in one sentence, rather than in a worker process with its stack trace.
            # Users' constructors are checked in the workers instead: they may be expensive.
            probe_env = _call_make(what, make_one)
            try:
                GymnasiumPyEnvironment(probe_env)
            finally:
                probe_env.close()
        return ParallelBatchedPyEnvironment(
            [make_one] * num_envs, seed=seed, reward_clipping=reward_clipping
        )
    vector_env = _vector_env(what, make_one, num_envs, backend)
    try:
        return GymnasiumVectorPyEnvironment(
            vector_env, seed=seed, reward_clipping=reward_clipping, name=repr(what)
        )
    except ValueError:
        vector_env.close()
        raise


def _call_make(what, make_one):
    try:
        return make_one()
    except gymnasium.error.DependencyNotInstalled as error:
        raise ValueError(f"{what!r} needs a package that is not installed: {error}") from None
    except TypeError as error:
        raise ValueError(
            f"{what!r} could not be created with the given options ({error}): check the option "
            "names against the environment's constructor."
        ) from None


def _vector_env(what, make_one, num_envs, backend) -> gymnasium.vector.VectorEnv:
    def checked_make():
        env = _call_make(what, make_one)
        if not isinstance(env, gymnasium.Env):
            env.close()
            raise ValueError(
                f"The constructor {what!r} returned a {type(env).__name__}; backend {backend!r} "
                "needs a gymnasium.Env: use backend 'parallel' for PyEnvironments."
            )
        # Before the vector env batches the spaces: AsyncVectorEnv's shared memory fails on
        # Graph or Sequence spaces with a message about shared memory, not about softrl_tf.
        try:
            action_spec_from_space(env.action_space, f"The environment {what!r}")
            observation_spec_from_space(env.observation_space, f"The environment {what!r}")
        except ValueError:
            env.close()
            raise
        return env

    mode = gymnasium.vector.AutoresetMode.NEXT_STEP
    if backend == "sync":
        return gymnasium.vector.SyncVectorEnv([checked_make] * num_envs, autoreset_mode=mode)
    return gymnasium.vector.AsyncVectorEnv(
        [checked_make] * num_envs, shared_memory=True, autoreset_mode=mode
    )
