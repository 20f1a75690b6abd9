"""Gymnasium environments as TF-Agents ``PyEnvironment``s, one at a time or batched.

Three classes:

* :class:`GymnasiumPyEnvironment`: one ``gymnasium.Env`` with a ``Discrete`` action space.
* :class:`GymnasiumVectorPyEnvironment`: a whole ``gymnasium.vector.VectorEnv`` (``SyncVectorEnv``,
  ``AsyncVectorEnv``, ale-py's ``AtariVectorEnv``) as one batched ``PyEnvironment``: one vectorized
  call per step.
* :class:`ParallelBatchedPyEnvironment`: TF-Agents' ``ParallelPyEnvironment`` (one process per
  environment) for users' own environments.

All batched classes derive from :class:`BatchedEnvironment`, which adds what a training loop needs
and TF-Agents lacks: reward sign clipping applied after the raw reward is counted, and the raw
returns and lengths of finished episodes (:attr:`BatchedEnvironment.finished_episodes`,
:meth:`BatchedEnvironment.pop_finished_episodes`), so that 100-episode means need no per-step
Python observer.

Time-step conventions (TF-Agents' ``TimeStep``, batched arrays of length ``batch_size``):

* ``step_type`` int32: FIRST (0) after a reset, MID (1), LAST (2) when the episode ends.
* ``discount`` float32: 0.0 on a LAST caused by termination; 1.0 on a LAST caused by truncation
  (a time limit), so that the final observation is bootstrapped; 1.0 on FIRST and MID.
* ``reward`` float32 (sign-clipped when ``reward_clipping``); 0.0 on FIRST.
* After a LAST, the next ``step`` starts a new episode for that environment: it ignores the action
  and returns FIRST with the reset observation. This is exactly gymnasium's
  ``AutoresetMode.NEXT_STEP``, so the batched adapter only relabels what the vector env returns.

Why our own batched adapter instead of TF-Agents' ``BatchedPyEnvironment``: that one steps a list
of single environments in Python and stacks nests of arrays every step, reaching about a third
of ``SyncVectorEnv``'s speed on CartPole-v1 x 8; ours does a fixed handful of numpy operations on
the vector env's arrays per step and nothing per environment, and reaches 85% of it
(benchmarks/RESULTS.md, section "Environment throughput").
"""

from __future__ import annotations

import collections
import logging
import operator
import pickle
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import cloudpickle
import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from tf_agents.environments import parallel_py_environment, py_environment
from tf_agents.specs import array_spec
from tf_agents.system.default import multiprocessing_core
from tf_agents.trajectories import time_step as ts

logger = logging.getLogger("softrl_tf.envs")

_FIRST = np.int32(ts.StepType.FIRST)
_LAST = np.int32(ts.StepType.LAST)

# Finished-episode records kept for pop_finished_episodes(): one record per step that finished at
# least one episode. Bounded so that a caller that never pops does not grow memory without end.
MAX_PENDING_EPISODE_RECORDS = 100_000


class EpisodeStats(NamedTuple):
    """Episodes (whole games) that finished, one entry per episode, in the order they finished.

    Attributes:
      env_ids: int64 ``[k]``, the index of the environment in the batch.
      returns: float64 ``[k]``, the undiscounted sum of raw rewards (before reward clipping) over
        the whole episode: the game score for Atari. With ``episodic_life`` an episode is the whole
        game, across lives, not one life.
      lengths: int64 ``[k]``, the number of agent steps (actions taken) in the episode.
    """

    env_ids: np.ndarray
    returns: np.ndarray
    lengths: np.ndarray


def _no_episodes() -> EpisodeStats:
    return EpisodeStats(np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int64))


_NO_EPISODES = _no_episodes()


def action_spec_from_space(space: spaces.Space, what: str) -> array_spec.BoundedArraySpec:
    """The TF-Agents action spec of a ``Discrete`` gymnasium space.

    Args:
      space: the (single-environment) action space.
      what: how to name the environment in an error message.

    Returns:
      ``BoundedArraySpec(shape=(), dtype=int64, minimum=0, maximum=n - 1)``.

    Raises:
      ValueError: if the space is not ``Discrete``.
    """
    if not isinstance(space, spaces.Discrete):
        raise ValueError(
            f"{what} has the action space {space}, but softrl_tf's agents need a Discrete action "
            "space: choose an environment with discrete actions or discretise the actions with a "
            "gymnasium.ActionWrapper."
        )
    return array_spec.BoundedArraySpec(
        shape=(), dtype=np.int64, minimum=0, maximum=int(space.n) - 1, name="action"
    )


def observation_spec_from_space(space: spaces.Space, what: str) -> array_spec.ArraySpec:
    """The TF-Agents observation spec of a ``Box`` or ``Discrete`` gymnasium space.

    Bounds that are the same for every element become scalars (as in TF-Agents' gym wrapper);
    the dtype is kept (Atari frames stay uint8), except that a ``bool`` ``Box`` (MinAtar's object
    grids) becomes float32 with bounds 0 and 1: a bool spec has no numeric bounds, and uint8 would
    be read as image frames and divided by 255. The adapters convert such observations with
    :func:`observation_from_space`.

    Raises:
      ValueError: for any other space, in one sentence naming it: ``Dict``, ``Tuple``,
        ``MultiBinary`` and ``MultiDiscrete`` spaces with a pointer to
        ``gymnasium.wrappers.FlattenObservation``; spaces without one fixed-size array form
        (``Text``, ``Graph``, ``Sequence``, ``OneOf``, custom ones) with a pointer to a
        ``gymnasium.ObservationWrapper``.
    """
    if _is_bool_box(space):
        return array_spec.BoundedArraySpec(
            shape=space.shape, dtype=np.float32, minimum=0.0, maximum=1.0, name="observation"
        )
    if isinstance(space, spaces.Box):
        low, high = space.low, space.high
        if low.size and np.all(low == low.flat[0]):
            low = low.flat[0]
        if high.size and np.all(high == high.flat[0]):
            high = high.flat[0]
        return array_spec.BoundedArraySpec(
            shape=space.shape, dtype=space.dtype, minimum=low, maximum=high, name="observation"
        )
    if isinstance(space, spaces.Discrete):
        return array_spec.BoundedArraySpec(
            shape=(),
            dtype=np.int64,
            minimum=int(space.start),
            maximum=int(space.start + space.n - 1),
            name="observation",
        )
    if _flattens_to_box(space):
        fix = "wrap the environment in gymnasium.wrappers.FlattenObservation to get a Box"
    else:
        fix = (
            "it has no fixed-size array form, so turn each observation into a fixed-size Box "
            "with a gymnasium.ObservationWrapper"
        )
    raise ValueError(
        f"{what} has the observation space {space}, a {type(space).__name__} space, which "
        f"softrl_tf's networks cannot take (they take Box and Discrete): {fix}."
    )


_FLATTENABLE = (spaces.Dict, spaces.Tuple, spaces.MultiBinary, spaces.MultiDiscrete)


def _flattens_to_box(space: spaces.Space) -> bool:
    """Whether ``FlattenObservation`` makes a ``Box`` of ``space`` (not of a Dict of Graphs)."""
    if not isinstance(space, _FLATTENABLE):
        return False
    try:
        return isinstance(spaces.flatten_space(space), spaces.Box)
    except (NotImplementedError, TypeError, ValueError):
        return False


def _is_bool_box(space: spaces.Space) -> bool:
    return isinstance(space, spaces.Box) and space.dtype == np.bool_


def observation_from_space(space: spaces.Space) -> Callable[[Any], np.ndarray]:
    """The conversion of ``space``'s observations to :func:`observation_spec_from_space`'s spec:
    ``bool`` to float32 0/1, anything else unchanged (as an array)."""
    if _is_bool_box(space):
        return lambda observation: np.asarray(observation, dtype=np.float32)
    return np.asarray


def _env_name(env: Any) -> str:
    spec = getattr(env, "spec", None)
    return repr(spec.id) if spec is not None and spec.id else type(env).__name__


def as_seed(seed: Any) -> int | None:
    """``seed`` as a Python int (numpy integers included), or None.

    gymnasium's and ale-py's vector envs accept only a Python ``int`` as the seed of a batch.

    Raises:
      ValueError: if ``seed`` is neither None nor an integer.
    """
    if seed is None:
        return None
    try:
        return operator.index(seed)
    except TypeError:
        raise ValueError(f"seed must be an integer or None, got {seed!r}.") from None


class GymnasiumPyEnvironment(py_environment.PyEnvironment):
    """One gymnasium environment with a ``Discrete`` action space as a TF-Agents PyEnvironment.

    Termination gives a LAST step with discount 0; truncation (a time limit) gives a LAST step with
    discount 1, so that bootstrapping from the final observation stays correct. The step after a
    LAST resets the environment (TF-Agents' auto-reset) and returns FIRST. Observations keep the
    dtype of the observation space.

    Args:
      env: the gymnasium environment; closed by :meth:`close`.
      seed: seed of the first reset (``env.reset(seed=seed)``); later resets continue the
        environment's random stream. :meth:`seed` sets the seed of the next reset.
    """

    def __init__(self, env: gymnasium.Env, seed: int | None = None):
        super().__init__(handle_auto_reset=True)
        self._env = env
        what = f"The environment {_env_name(env)}"
        self._action_spec = action_spec_from_space(env.action_space, what)
        self._observation_spec = observation_spec_from_space(env.observation_space, what)
        self._convert = observation_from_space(env.observation_space)
        self._action_start = int(env.action_space.start)
        self._pending_seed = as_seed(seed)
        self._info: dict[str, Any] = {}

    @property
    def gymnasium_env(self) -> gymnasium.Env:
        """The wrapped gymnasium environment."""
        return self._env

    def observation_spec(self) -> array_spec.ArraySpec:
        return self._observation_spec

    def action_spec(self) -> array_spec.BoundedArraySpec:
        return self._action_spec

    def seed(self, seed: int | None) -> None:
        """Seeds the next reset with ``seed`` (``env.reset(seed=seed)``)."""
        self._pending_seed = as_seed(seed)

    def get_info(self) -> dict[str, Any]:
        """The ``info`` dict of the last reset or step."""
        return self._info

    def _reset(self) -> ts.TimeStep:
        obs, self._info = self._env.reset(seed=self._pending_seed)
        self._pending_seed = None
        return ts.TimeStep(
            np.asarray(_FIRST),
            np.asarray(0.0, np.float32),
            np.asarray(1.0, np.float32),
            self._convert(obs),
        )

    def _step(self, action) -> ts.TimeStep:
        obs, reward, terminated, truncated, self._info = self._env.step(
            int(action) + self._action_start
        )
        return ts.TimeStep(
            np.asarray(_LAST if terminated or truncated else ts.StepType.MID, np.int32),
            np.asarray(reward, np.float32),
            np.asarray(0.0 if terminated else 1.0, np.float32),
            self._convert(obs),
        )

    def close(self) -> None:
        self._env.close()


class BatchedEnvironment(py_environment.PyEnvironment):
    """Base of softrl_tf's batched environments: batch bookkeeping, reward clipping, statistics.

    Every environment that :func:`softrl_tf.envs.make_env` returns is one of these. Beyond the
    ``PyEnvironment`` interface it offers:

    * :attr:`finished_episodes`: the episodes that ended in the most recent ``step()``;
    * :meth:`pop_finished_episodes`: every episode that ended since the previous call;
    * :meth:`seed`: the seed of the next ``reset()`` (environment ``i`` gets ``seed + i``).

    An episode's return is the sum of the *raw* rewards, counted before reward clipping, and it
    ends when the game ends (termination or truncation); with ``episodic_life`` the LAST steps at
    life losses do not end it. Its length counts agent steps from the first action to the last.
    """

    def __init__(self, num_envs: int, reward_clipping: bool, seed: int | None):
        super().__init__(handle_auto_reset=False)
        self._num_envs = num_envs
        self._reward_clipping = bool(reward_clipping)
        self._pending_seed = as_seed(seed)
        self._ep_return = np.zeros(num_envs, np.float64)
        self._ep_length = np.zeros(num_envs, np.int64)
        self._last_finished = _NO_EPISODES
        self._pending_episodes: collections.deque[EpisodeStats] = collections.deque(
            maxlen=MAX_PENDING_EPISODE_RECORDS
        )

    @property
    def batched(self) -> bool:
        return True

    @property
    def batch_size(self) -> int:
        return self._num_envs

    @property
    def reward_clipping(self) -> bool:
        """Whether rewards in time steps are clipped to their sign (statistics stay raw)."""
        return self._reward_clipping

    def seed(self, seed: int | None) -> None:
        """Seeds the next ``reset()``: environment ``i`` is reset with seed ``seed + i``."""
        self._pending_seed = as_seed(seed)

    @property
    def finished_episodes(self) -> EpisodeStats:
        """The episodes that ended in the most recent ``step()`` (empty arrays if none).

        Read it right after ``step()``; the next ``step()`` or ``reset()`` replaces it. The
        environments listed returned LAST in that step.
        """
        return self._last_finished

    def pop_finished_episodes(self) -> EpisodeStats:
        """Every episode that ended since the previous call, in the order they ended.

        This is what a training loop wants after a driver ran many steps: for example
        ``recent.extend(env.pop_finished_episodes().returns)`` with a ``deque(maxlen=100)``.
        At most ``MAX_PENDING_EPISODE_RECORDS`` steps' worth of episodes are kept between calls.
        """
        if not self._pending_episodes:
            return _no_episodes()
        records = list(self._pending_episodes)
        self._pending_episodes.clear()
        return EpisodeStats(*(np.concatenate(field) for field in zip(*records, strict=True)))

    def _first(self, observation) -> ts.TimeStep:
        """The all-FIRST time step of a full reset; also clears the running episode sums."""
        n = self._num_envs
        self._ep_return[:] = 0.0
        self._ep_length[:] = 0
        self._last_finished = _NO_EPISODES
        return ts.TimeStep(
            np.zeros(n, np.int32),
            np.zeros(n, np.float32),
            np.ones(n, np.float32),
            observation,
        )

    def _time_step(self, observation, raw_reward, first, last, terminal, ended) -> ts.TimeStep:
        """Builds the batched time step and counts the episode statistics.

        Args:
          observation: batched observation.
          raw_reward: ``[B]`` rewards before clipping (0 where an environment was just reset).
          first: bool ``[B]``, FIRST steps. Never also in ``last``.
          last: bool ``[B]``, LAST steps.
          terminal: bool ``[B]``, LAST steps with discount 0 (termination; life loss).
          ended: bool ``[B]``, games that ended in this step (recorded in the statistics).
        """
        step_type = np.add(last, 1, dtype=np.int32)  # MID = 1, LAST = 2
        step_type -= first  # FIRST = 0
        discount = np.subtract(1.0, terminal, dtype=np.float32)
        if self._reward_clipping:
            reward = np.sign(raw_reward, dtype=np.float32)
        else:
            reward = np.asarray(raw_reward, dtype=np.float32)
        self._ep_return += raw_reward
        self._ep_length += 1
        if np.count_nonzero(ended):  # a third of the cost of ended.any() on small arrays
            ids = np.flatnonzero(ended)
            record = EpisodeStats(ids, self._ep_return[ids], self._ep_length[ids])
            self._pending_episodes.append(record)
            self._last_finished = record
            self._ep_return[ids] = 0.0
            # The next step of these environments is their FIRST step, which is not an action of
            # the new episode: it brings the length back to 0.
            self._ep_length[ids] = -1
        else:
            self._last_finished = _NO_EPISODES
        return ts.TimeStep(step_type, reward, discount, observation)


class GymnasiumVectorPyEnvironment(BatchedEnvironment):
    """A gymnasium vector environment as one batched TF-Agents ``PyEnvironment``.

    ``batch_size`` is the vector env's ``num_envs``; each ``step`` is one call of the vector env's
    ``step`` plus a few numpy operations. The vector env must use
    ``gymnasium.vector.AutoresetMode.NEXT_STEP`` (gymnasium's default): a sub-environment that
    returned terminated or truncated is reset by the following ``step`` call, which ignores its
    action and returns reward 0. That maps one to one onto TF-Agents' LAST -> FIRST.

    Args:
      vector_env: the vector environment (``SyncVectorEnv``, ``AsyncVectorEnv``,
        ``ale_py.vector_env.AtariVectorEnv``...); closed by :meth:`close`.
      seed: seed of the first reset: sub-environment ``i`` gets ``seed + i``; ``None`` leaves the
        environments unseeded.
      reward_clipping: clip rewards in time steps to their sign; statistics stay raw.
      name: how error messages name the environment (default: the vector env's spec id or class).
    """

    def __init__(
        self,
        vector_env: gymnasium.vector.VectorEnv,
        seed: int | None = None,
        reward_clipping: bool = False,
        name: str | None = None,
    ):
        mode = vector_env.metadata.get("autoreset_mode")
        if mode is not None and AutoresetMode(mode) != AutoresetMode.NEXT_STEP:
            raise ValueError(
                f"The vector environment uses autoreset mode {AutoresetMode(mode).name}, but "
                "softrl_tf needs NEXT_STEP: create it with "
                "autoreset_mode=gymnasium.vector.AutoresetMode.NEXT_STEP."
            )
        super().__init__(vector_env.num_envs, reward_clipping, seed)
        self._env = vector_env
        what = f"The environment {name or _env_name(vector_env)}"
        self._action_spec = action_spec_from_space(vector_env.single_action_space, what)
        self._observation_spec = observation_spec_from_space(
            vector_env.single_observation_space, what
        )
        self._convert = observation_from_space(vector_env.single_observation_space)
        self._action_start = int(vector_env.single_action_space.start)
        # Environments whose next step is a reset (they returned LAST): FIRST in the next step.
        self._done = np.zeros(self._num_envs, bool)
        self._info: dict[str, Any] = {}

    @property
    def vector_env(self) -> gymnasium.vector.VectorEnv:
        """The wrapped gymnasium vector environment."""
        return self._env

    _STATE = (
        "_done",
        "_ep_return",
        "_ep_length",
        "_pending_seed",
        "_last_finished",
        "_pending_episodes",
        "_current_time_step",
        "_info",
    )

    def get_state(self) -> bytes:
        """The whole state of an in-process (``SyncVectorEnv``) batch, as bytes: every
        sub-environment (its physics and random generator), the running episodes' statistics and
        the current time step, so that :meth:`set_state` continues exactly where this left off.

        Raises:
          NotImplementedError: for environments in other processes or C++ threads.
        """
        if not isinstance(self._env, gymnasium.vector.SyncVectorEnv):
            raise NotImplementedError(
                f"get_state needs in-process environments (backend 'sync'), not "
                f"{type(self._env).__name__}."
            )
        return cloudpickle.dumps(
            {"env": self._env, **{name: getattr(self, name) for name in self._STATE}}
        )

    def set_state(self, state: bytes) -> None:
        """Restores a state from :meth:`get_state` (of an environment of the same specs)."""
        values = pickle.loads(state)
        self._env.close()
        self._env = values.pop("env")
        for name, value in values.items():
            setattr(self, name, value)

    def observation_spec(self) -> array_spec.ArraySpec:
        return self._observation_spec

    def action_spec(self) -> array_spec.BoundedArraySpec:
        return self._action_spec

    def get_info(self) -> dict[str, Any]:
        """The vector env's ``info`` dict of the last reset or step."""
        return self._info

    def _observation(self, observation):
        """Hook for subclasses that convert the vector env's observations (here: bool grids to
        float32 0/1, see :func:`observation_spec_from_space`)."""
        return self._convert(observation)

    def _reset_vector_env(self):
        obs, self._info = self._env.reset(seed=self._pending_seed)
        self._pending_seed = None
        self._done = np.zeros(self._num_envs, bool)
        return self._observation(obs)

    def _reset(self) -> ts.TimeStep:
        return self._first(self._reset_vector_env())

    def _step_vector_env(self, action):
        action = np.asarray(action)
        if self._action_start:
            action = action + self._action_start
        obs, reward, terminated, truncated, self._info = self._env.step(action)
        return self._observation(obs), reward, terminated, truncated

    def _step(self, action) -> ts.TimeStep:
        obs, reward, terminated, truncated = self._step_vector_env(action)
        first = self._done
        done = self._done = terminated | truncated
        return self._time_step(obs, reward, first, done, terminated, done)

    def close(self) -> None:
        self._env.close()


class _SeededPyEnvConstructor:
    """Picklable constructor of one sub-environment of :class:`ParallelBatchedPyEnvironment`.

    Runs in the worker process: wraps a ``gymnasium.Env`` in :class:`GymnasiumPyEnvironment` and
    seeds the first reset.
    """

    def __init__(self, constructor: Callable[[], Any], seed: int | None):
        self._constructor = constructor
        self._seed = seed

    def __call__(self) -> py_environment.PyEnvironment:
        env = self._constructor()
        if isinstance(env, gymnasium.Env):
            return GymnasiumPyEnvironment(env, seed=self._seed)
        if not isinstance(env, py_environment.PyEnvironment):
            raise ValueError(
                f"The environment constructor returned a {type(env).__name__}; it must return a "
                "gymnasium.Env or a tf_agents PyEnvironment."
            )
        if env.batched:
            raise ValueError(
                "The environment constructor returned a batched PyEnvironment; it must return "
                "one unbatched environment (make_env builds the batch)."
            )
        if self._seed is not None:
            try:
                env.seed(self._seed)
            except NotImplementedError:
                logger.debug("%s does not implement seed(); left unseeded", type(env).__name__)
        return env


def _raise_worker_value_error(error: AssertionError) -> None:
    """Re-raises, as itself, a ValueError that a worker of TF-Agents' ``ParallelPyEnvironment``
    raised while building its environment (such as an unsupported space); returns otherwise.

    TF-Agents reports such a failure as ``AssertionError((EXCEPTION, traceback_text))``, raised
    in ``wait_start`` where that tuple is the local ``result``; gin re-raises it as a proxy without
    ``args``, hence the look into the frame. Our own ValueErrors are one sentence, the traceback's
    last line.
    """
    payload = error.args[0] if error.args else None
    if payload is None and error.__traceback__ is not None:
        tb = error.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        payload = tb.tb_frame.f_locals.get("result")
    exception_tag = parallel_py_environment.ProcessPyEnvironment._EXCEPTION
    if not (isinstance(payload, tuple) and len(payload) == 2 and payload[0] == exception_tag):
        return
    last_line = str(payload[1]).strip().rsplit("\n", 1)[-1]
    prefix = "ValueError: "
    if last_line.startswith(prefix):
        raise ValueError(last_line[len(prefix) :]) from None


class ParallelBatchedPyEnvironment(BatchedEnvironment):
    """TF-Agents' ``ParallelPyEnvironment`` (one process per environment) with statistics.

    For users' own environments, and for environments whose step costs far more than a process
    round trip. Sub-environments handle their own auto-reset (the step after LAST is FIRST).

    Args:
      env_constructors: one picklable (cloudpickle) callable per environment, returning an
        unbatched ``PyEnvironment`` or a ``gymnasium.Env`` (wrapped in
        :class:`GymnasiumPyEnvironment`).
      seed: environment ``i`` is seeded with ``seed + i`` (gymnasium: first reset; PyEnvironment:
        ``env.seed`` if it implements it).
      reward_clipping: clip rewards in time steps to their sign; statistics stay raw.
    """

    def __init__(
        self,
        env_constructors: Sequence[Callable[[], Any]],
        seed: int | None = None,
        reward_clipping: bool = False,
    ):
        super().__init__(len(env_constructors), reward_clipping, None)
        seed = as_seed(seed)
        if not multiprocessing_core.initialized():
            # TF-Agents refuses to start processes unless the program's main() went through
            # handle_main(); a library cannot ask that of its users.
            multiprocessing_core.enable_interactive_mode()
        try:
            self._env = parallel_py_environment.ParallelPyEnvironment(
                [
                    _SeededPyEnvConstructor(ctor, None if seed is None else seed + i)
                    for i, ctor in enumerate(env_constructors)
                ],
                start_serially=False,
            )
        except AssertionError as error:
            _raise_worker_value_error(error)
            raise

    @property
    def parallel_env(self) -> parallel_py_environment.ParallelPyEnvironment:
        """The wrapped TF-Agents ``ParallelPyEnvironment``."""
        return self._env

    def observation_spec(self):
        return self._env.observation_spec()

    def action_spec(self):
        return self._env.action_spec()

    def time_step_spec(self) -> ts.TimeStep:
        return self._env.time_step_spec()

    def _reset(self) -> ts.TimeStep:
        if self._pending_seed is not None:
            self._env.seed([self._pending_seed + i for i in range(self._num_envs)])
            self._pending_seed = None
        return self._first(self._env.reset().observation)

    def _step(self, action) -> ts.TimeStep:
        time_step = self._env.step(action)
        first = time_step.step_type == _FIRST
        last = time_step.step_type == _LAST
        terminal = last & (time_step.discount == 0.0)
        return self._time_step(time_step.observation, time_step.reward, first, last, terminal, last)

    def close(self) -> None:
        self._env.close()
