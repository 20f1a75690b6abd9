"""Atari with the DeepMind preprocessing, through gymnasium's wrappers or ale-py's C++ vector env.

Both routes give the same time steps: observations uint8 ``[84, 84, 4]`` (channel last, the four
most recent max-pooled grey frames, oldest first, zeros before the first frame of a game), sign-
clipped rewards, sticky actions off, truncation after 108,000 emulator frames, and the same
episode statistics (raw game score).

* gymnasium backends (``sync``, ``async``, ``parallel``): each environment is
  ``AtariEnv(frameskip=1)`` -> [fire on reset] -> ``AtariPreprocessing`` (no-op reset, frame skip
  with max-pool over the last two frames, resize with ``cv2.INTER_AREA``, grey) ->
  ``FrameStackObservation(padding_type="zero")`` -> channel-last ``TransformObservation``.
* ``ale`` backend: ``ale_py.vector_env.AtariVectorEnv`` does the same preprocessing in C++
  threads and returns ``[B, 4, 84, 84]``; :class:`AtariVectorPyEnvironment` moves the stack axis
  last.

Two things are done in the batched adapter rather than inside each environment, identically for
all backends: reward clipping (``np.sign``; inside the environment it would hide the raw score
that the statistics report) and ``episodic_life`` (from the ``lives`` counter; gymnasium's and
ale-py's own life-loss options restart the whole game at each life loss, which is not the
DeepMind semantics, and with them no game score can be reported).

Where the routes differ (documented in the README as well):

* no-op reset: ale-py takes 0..noop_max-1 no-ops, gymnasium's ``AtariPreprocessing`` takes
  1..noop_max;
* truncation: ale-py counts the 108,000 frames from the end of the no-op reset, gymnasium from the
  game reset (at most ``noop_max`` frames apart);
* ``fire_reset`` presses FIRE for one frame after the game reset, then the no-ops, in both; ale-py
  counts that frame as one of its no-ops.
* ``episodic_life`` is not available with the ``parallel`` backend (its processes do not report
  lives).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from softrl_tf.env_ids import import_ale
from softrl_tf.envs.gymnasium_env import GymnasiumVectorPyEnvironment

import gymnasium
import numpy as np
from gymnasium import spaces

try:  # opencv-python-headless comes with the atari extra; numpy is the slower fallback.
    import cv2
except ImportError:  # pragma: no cover - exercised only without the atari extra
    cv2 = None


@dataclasses.dataclass(frozen=True)
class AtariOptions:
    """DeepMind preprocessing options of Atari environments (``make_env(..., **options)``).

    Attributes:
      noop_max: at most this many no-op actions after each game reset (0 turns it off).
      frame_skip: emulator frames per agent step; the observation max-pools the last two.
      screen_size: observations are ``screen_size x screen_size`` grey frames.
      frame_stack: number of most recent frames stacked on the last axis.
      episodic_life: a lost life gives a LAST step with discount 0; the game goes on (the next
        step is FIRST; its action is replaced by NOOP, or FIRE with ``fire_reset``). Episode
        statistics still cover whole games.
      fire_reset: press FIRE after each game reset (and after each lost life with
        ``episodic_life``), for games that wait for it.
      reward_clipping: rewards in time steps are clipped to their sign (statistics stay raw).
      repeat_action_probability: sticky actions; 0 (off) by default, 0.25 in Machado et al.
      full_action_space: use all 18 actions instead of the game's minimal set.
      max_episode_frames: truncate a game after this many emulator frames (108,000 = 30 min).
      num_threads: ``ale`` backend only: C++ threads (default: min(num_envs, CPU count)).
    """

    noop_max: int = 30
    frame_skip: int = 4
    screen_size: int = 84
    frame_stack: int = 4
    episodic_life: bool = False
    fire_reset: bool = False
    reward_clipping: bool = True
    repeat_action_probability: float = 0.0
    full_action_space: bool = False
    max_episode_frames: int = 108_000
    num_threads: int | None = None

    @classmethod
    def from_options(cls, env_id: str, options: dict[str, Any]) -> AtariOptions:
        """Builds the options from ``make_env``'s keyword arguments.

        Raises:
          ValueError: for an unknown option name.
        """
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise ValueError(
                f"Unknown option(s) {', '.join(map(repr, unknown))} for the Atari game {env_id!r}:"
                f" the Atari options are {', '.join(names)}."
            )
        return cls(**options)


def game_of(env_id: str) -> str:
    """ale-py's ROM name (``"pong"``) of a registered Atari id."""
    return gymnasium.registry[env_id].kwargs["game"]


def restart_action(game: str, options: AtariOptions) -> int:
    """The action index used for the step after a lost life: FIRE with ``fire_reset``, else NOOP.

    In ALE's minimal and full action sets NOOP is index 0 and FIRE, when present, index 1.
    """
    if not options.fire_reset:
        return 0
    return 1 if "FIRE" in _action_meanings(game, options.full_action_space) else 0


def _action_meanings(game: str, full_action_space: bool) -> list[str]:
    ale_py = import_ale()
    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.loadROM(ale_py.roms.get_rom_path(game))
    actions = ale.getLegalActionSet() if full_action_space else ale.getMinimalActionSet()
    return [action.name for action in actions]


def channels_last(frames: np.ndarray) -> np.ndarray:
    """``[..., C, H, W]`` uint8 frames -> a new C-contiguous ``[..., H, W, C]`` array.

    ``np.transpose`` + copy of a batch of 16 stacks of 84x84 frames takes about 1 ms; cv2.merge
    into a preallocated array about 0.1 ms.
    """
    *outer, c, h, w = frames.shape
    flat = frames.reshape(-1, c, h, w)
    out = np.empty((flat.shape[0], h, w, c), frames.dtype)
    if cv2 is not None and 1 < c <= 4:
        for i in range(flat.shape[0]):
            cv2.merge(tuple(flat[i]), dst=out[i])
    else:
        for channel in range(c):
            out[..., channel] = flat[:, channel]
    return out.reshape(*outer, h, w, c)


class _FireOnReset(gymnasium.Wrapper):
    """Presses FIRE for one emulator frame after each game reset, as ale-py's ``use_fire_reset``.

    Wraps the ``frameskip=1`` AtariEnv, under ``AtariPreprocessing``, so that the no-ops follow.
    """

    def __init__(self, env: gymnasium.Env):
        super().__init__(env)
        self._fire = env.unwrapped.get_action_meanings().index("FIRE")

    def reset(self, *, seed=None, options=None):
        self.env.reset(seed=seed, options=options)
        obs, _, terminated, truncated, info = self.env.step(self._fire)
        if terminated or truncated:
            obs, info = self.env.reset()
        return obs, info


def make_atari_gymnasium_env(env_id: str, options: AtariOptions) -> gymnasium.Env:
    """One Atari environment with the DeepMind preprocessing built from gymnasium's wrappers.

    Observations are uint8 ``[screen_size, screen_size, frame_stack]``; rewards are raw (the
    batched adapter clips them). Picklable through cloudpickle (for ``AsyncVectorEnv``).
    """
    import_ale(env_id)
    env = gymnasium.make(
        env_id,
        frameskip=1,
        repeat_action_probability=options.repeat_action_probability,
        full_action_space=options.full_action_space,
        max_num_frames_per_episode=options.max_episode_frames,
        # AtariPreprocessing reads the screen from the emulator itself: the cheapest base
        # observation that it accepts is the grey screen.
        obs_type="grayscale",
        disable_env_checker=True,
    )
    if options.fire_reset and "FIRE" in env.unwrapped.get_action_meanings():
        env = _FireOnReset(env)
    env = gymnasium.wrappers.AtariPreprocessing(
        env,
        noop_max=options.noop_max,
        frame_skip=options.frame_skip,
        screen_size=options.screen_size,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    env = gymnasium.wrappers.FrameStackObservation(env, options.frame_stack, padding_type="zero")
    size, stack = options.screen_size, options.frame_stack
    return gymnasium.wrappers.TransformObservation(
        env,
        channels_last,
        spaces.Box(0, 255, (size, size, stack), np.uint8),
    )


def make_ale_vector_env(env_id: str, num_envs: int, options: AtariOptions):
    """ale-py's C++-threaded ``AtariVectorEnv`` with the same preprocessing, raw rewards.

    Its observations are ``[num_envs, frame_stack, size, size]``: wrap it in
    :class:`AtariVectorPyEnvironment` with ``channels_first=True``.
    """
    import_ale(env_id)
    from ale_py.vector_env import AtariVectorEnv

    return AtariVectorEnv(
        game_of(env_id),
        num_envs,
        num_threads=options.num_threads or min(num_envs, os.cpu_count() or 1),
        max_num_frames_per_episode=options.max_episode_frames,
        repeat_action_probability=options.repeat_action_probability,
        full_action_space=options.full_action_space,
        autoreset_mode=gymnasium.vector.AutoresetMode.NEXT_STEP,
        img_height=options.screen_size,
        img_width=options.screen_size,
        grayscale=True,
        stack_num=options.frame_stack,
        frameskip=options.frame_skip,
        maxpool=True,
        noop_max=options.noop_max,
        # Life losses and clipping are handled by AtariVectorPyEnvironment for every backend.
        episodic_life=False,
        life_loss_info=False,
        reward_clipping=False,
        use_fire_reset=options.fire_reset,
    )


class AtariVectorPyEnvironment(GymnasiumVectorPyEnvironment):
    """Batched Atari environment: :class:`GymnasiumVectorPyEnvironment` plus life losses.

    Args:
      vector_env: a NEXT_STEP vector env of Atari games whose infos carry ``lives``.
      seed: sub-environment ``i`` is first reset with ``seed + i``.
      reward_clipping: clip rewards in time steps to their sign; statistics stay raw.
      episodic_life: a lost life (the ``lives`` counter drops, the game goes on) gives LAST with
        discount 0; the next step is FIRST with reward 0, and its action is replaced by
        ``restart_action``. Statistics count whole games. A life lost in that resuming step
        itself is not reported (a FIRST step cannot also be LAST), as in the DeepMind wrappers.
      restart_action: see ``episodic_life`` (:func:`restart_action`).
      channels_first: the vector env returns ``[B, C, H, W]`` (ale-py): move C last.
      name: how error messages name the environment.
    """

    def __init__(
        self,
        vector_env: gymnasium.vector.VectorEnv,
        seed: int | None = None,
        reward_clipping: bool = True,
        episodic_life: bool = False,
        restart_action: int = 0,
        channels_first: bool = False,
        name: str | None = None,
    ):
        super().__init__(vector_env, seed=seed, reward_clipping=reward_clipping, name=name)
        self._channels_first = channels_first
        if channels_first:
            space = vector_env.single_observation_space
            c, h, w = space.shape
            self._observation_spec = self._observation_spec.replace(shape=(h, w, c))
        self._episodic_life = episodic_life
        self._restart_action = restart_action
        self._lives = np.zeros(self._num_envs, np.int64)
        self._life_lost = np.zeros(self._num_envs, bool)

    def _observation(self, observation):
        return channels_last(observation) if self._channels_first else observation

    def _reset(self):
        time_step = super()._reset()
        self._lives = np.array(self._info["lives"])
        self._life_lost = np.zeros(self._num_envs, bool)
        return time_step

    def _step(self, action):
        if not self._episodic_life:
            return super()._step(action)
        resume = self._life_lost
        if resume.any():
            action = np.array(action)
            action[resume] = self._restart_action
        obs, reward, terminated, truncated = self._step_vector_env(action)
        lives = self._info["lives"]
        done = terminated | truncated
        first = self._done | resume
        life_lost = (lives < self._lives) & ~done & ~first
        self._lives, self._life_lost, self._done = lives, life_lost, done
        # A game that ends in a FIRST step (only in the rare step that resumes after a lost life)
        # is recorded, and the environment's reset then gives a second FIRST.
        last = (done | life_lost) & ~first
        terminal = (terminated | life_lost) & ~first
        time_step = self._time_step(obs, reward, first, last, terminal, done)
        if resume.any():
            # The resuming step belongs to the game score but is not a reward of the new "life"
            # episode, which starts with it.
            time_step.reward[resume] = 0.0
        return time_step
