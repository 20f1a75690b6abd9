"""Tests of softrl_tf.envs.atari: DeepMind preprocessing in every backend, both routes agree.

The gymnasium route (``sync``/``async``/``parallel``: gymnasium's ``AtariPreprocessing`` and
``FrameStackObservation``) and the ``ale`` route (ale-py's C++ ``AtariVectorEnv``) are independent
implementations of the same preprocessing; with no-op resets off (their one documented difference)
they must give bit-identical time steps.
"""

import logging

import softrl_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from softrl_tf import env_ids
from softrl_tf.envs import atari, make_env

import gymnasium
import numpy as np
import pytest
from _env_fakes import LivesEnv
from tf_agents.drivers import py_driver
from tf_agents.policies import random_py_policy
from tf_agents.specs import array_spec

pytest.importorskip("ale_py")

FRAME_SPEC = array_spec.BoundedArraySpec((84, 84, 4), np.uint8, 0, 255, name="observation")


def _run(env, actions):
    """Steps ``env`` from a reset through ``actions`` ``[T, B]``; returns the stacked time steps
    ``(step_type, reward, discount, observation)`` with the reset first, and the finished games."""
    steps = [env.reset()] + [env.step(a) for a in actions]
    stacked = [np.stack(field) for field in zip(*steps, strict=True)]
    return stacked, env.pop_finished_episodes()


def test_pong_16_envs_default_backend(caplog):
    # seed=None: a seeded ALE reset reloads the ROM (0.1 s per environment); seeds are tested below.
    with caplog.at_level(logging.INFO, logger="softrl_tf.envs"):
        env = make_env("ALE/Pong-v5", 16, seed=None)
    assert any("chose 'ale'" in r.getMessage() for r in caplog.records)
    try:
        assert env.batch_size == 16
        assert env.observation_spec() == FRAME_SPEC
        assert env.action_spec() == array_spec.BoundedArraySpec((), np.int64, 0, 5, name="action")
        time_step = env.reset()
        assert time_step.observation.shape == (16, 84, 84, 4)
        assert time_step.observation.dtype == np.uint8
        assert time_step.observation.flags.c_contiguous
        actions = np.random.default_rng(0).integers(0, 6, (30, 16))
        for action in actions:
            time_step = env.step(action)
            array_spec.check_arrays_nest(time_step, env.time_step_spec())
        assert time_step.observation.shape == (16, 84, 84, 4)
        assert env.reward_clipping
    finally:
        env.close()


@pytest.mark.parametrize("backend", ["ale", "sync", "async", "parallel"])
def test_random_policy_py_driver_in_every_backend(backend):
    env = make_env("PongNoFrameskip-v4", 2, backend=backend, seed=0)
    try:
        assert env.observation_spec() == FRAME_SPEC
        policy = random_py_policy.RandomPyPolicy(
            env.time_step_spec(), env.action_spec(), outer_dims=(2,)
        )
        seen = []
        driver = py_driver.PyDriver(env, policy, [seen.append], max_steps=20)
        time_step, _ = driver.run(env.reset())
        assert len(seen) == 10
        for trajectory in seen:
            array_spec.check_arrays_nest(trajectory.observation, env.observation_spec())
            assert trajectory.action.dtype == np.int64
        assert time_step.observation.shape == (2, 84, 84, 4)
    finally:
        env.close()


@pytest.mark.parametrize(
    "game, steps, options",
    [
        ("ALE/Pong-v5", 60, {}),
        # Random Breakout loses its first lives within a few hundred steps: life losses, FIRE
        # after each, game overs and resets all happen here.
        ("ALE/Breakout-v5", 300, {"episodic_life": True, "fire_reset": True}),
    ],
)
def test_gymnasium_route_equals_ale_route(game, steps, options):
    runs = {}
    for backend in ("sync", "ale"):
        env = make_env(
            game, 2, backend=backend, seed=0, noop_max=0, reward_clipping=False, **options
        )
        n = env.action_spec().maximum + 1
        actions = np.random.default_rng(0).integers(0, n, (steps, 2))
        runs[backend] = _run(env, actions)
        env.close()
    (gym_steps, gym_stats), (ale_steps, ale_stats) = runs["sync"], runs["ale"]
    for name, gym_field, ale_field in zip(
        ("step_type", "reward", "discount", "observation"), gym_steps, ale_steps, strict=True
    ):
        np.testing.assert_array_equal(gym_field, ale_field, err_msg=name)
    for gym_field, ale_field in zip(gym_stats, ale_stats, strict=True):
        np.testing.assert_array_equal(gym_field, ale_field)
    if options.get("episodic_life"):
        assert len(gym_stats.returns) >= 1, "no game ended: the test saw no game over"
        step_type, reward, discount, _ = ale_steps
        env_id, game_return, length = (field[0] for field in ale_stats)
        lasts = np.flatnonzero(step_type[:, env_id] == 2)[:5]
        # Breakout has 5 lives: 4 life losses and the game over, all LAST with discount 0; the
        # step after a lost life is FIRST with reward 0 (it resumes the game, its score counts).
        assert len(lasts) == 5 and (discount[lasts, env_id] == 0.0).all()
        assert (step_type[lasts[:4] + 1, env_id] == 0).all()
        assert (reward[lasts[:4] + 1, env_id] == 0).all()
        # One statistics record for the whole game: every step from the reset to the game over.
        assert length == lasts[4]
        assert game_return >= reward[: lasts[4] + 1, env_id].sum()
    else:
        # Frame stacks start with zeros, oldest frame first: [0, 0, 0, f0], [0, 0, f0, f1]...
        frames = ale_steps[3]
        assert not frames[0, ..., :3].any() and frames[0, ..., 3].any(axis=(1, 2)).all()
        np.testing.assert_array_equal(frames[1, ..., 2], frames[0, ..., 3])
        np.testing.assert_array_equal(frames[2, ..., 1:3], frames[1, ..., 2:])
        assert not frames[1, ..., :2].any()


def test_game_over_is_termination_and_statistics_count_the_raw_game():
    env = make_env("ALE/Breakout-v5", 2, seed=1, reward_clipping=False)
    actions = np.random.default_rng(1).integers(0, 4, (700, 2))
    (step_type, reward, discount, _), stats = _run(env, actions)
    env.close()
    assert len(stats.returns) >= 2, "random Breakout should lose 5 lives within 700 steps"
    # Without episodic_life, every LAST ends a game: termination gives discount 0.
    np.testing.assert_array_equal(discount[step_type == 2], 0.0)
    for env_id in np.unique(stats.env_ids):
        # The first game of each environment runs from the reset (index 0) to its first LAST.
        end = np.flatnonzero(step_type[:, env_id] == 2)[0]
        record = np.flatnonzero(stats.env_ids == env_id)[0]
        assert stats.lengths[record] == end
        assert stats.returns[record] == reward[1 : end + 1, env_id].sum()
        if end + 1 < len(step_type):
            assert step_type[end + 1, env_id] == 0  # the next step resets the game


def test_reward_clipping_clips_time_steps_and_keeps_raw_scores():
    # Space Invaders scores 5 to 30 points per alien, so clipping is visible. Clipping is done by
    # the batched adapter, the same code for every backend.
    actions = np.random.default_rng(3).integers(0, 6, (150, 2))
    runs = {}
    for clip in (False, True):
        env = make_env("ALE/SpaceInvaders-v5", 2, backend="ale", seed=3, reward_clipping=clip)
        runs[clip] = _run(env, actions)
        env.close()
    raw, clipped = runs[False][0][1], runs[True][0][1]
    assert raw.max() > 1.0, "random Space Invaders should score within 150 steps"
    np.testing.assert_array_equal(clipped, np.sign(raw))
    for raw_field, clipped_field in zip(runs[False][1], runs[True][1], strict=True):
        np.testing.assert_array_equal(raw_field, clipped_field)


@pytest.mark.parametrize("backend", ["ale", "sync"])
def test_truncation_keeps_the_discount(backend):
    # 200 emulator frames = 50 agent steps (plus the no-op reset in the gymnasium route).
    env = make_env("ALE/Pong-v5", 2, backend=backend, seed=0, max_episode_frames=200)
    (step_type, _, discount, _), stats = _run(env, np.zeros((55, 2), np.int64))
    env.close()
    lasts = step_type == 2
    assert lasts.any(axis=0).all()
    np.testing.assert_array_equal(discount[lasts], 1.0)
    assert ((stats.lengths > 40) & (stats.lengths <= 50)).all()


@pytest.mark.parametrize("backend", ["ale", "sync"])
def test_same_seed_same_frames_different_seed_differs(backend):
    env = make_env("ALE/Pong-v5", 2, backend=backend, seed=0)

    def frames(seed):
        env.seed(seed)
        # 40 steps: Pong's first frames do not depend on the no-op count, the ball's do.
        (_, _, _, observation), _ = _run(env, np.ones((40, 2), np.int64))
        return observation

    a, b, c = frames(0), frames(0), frames(1)
    env.close()
    np.testing.assert_array_equal(a, b)
    # The seed draws the number of no-ops at reset, hence where the ball is.
    assert not np.array_equal(a, c)


def test_sticky_actions_off_by_default_and_configurable():
    default = atari.make_atari_gymnasium_env("ALE/Pong-v5", atari.AtariOptions())
    sticky = atari.make_atari_gymnasium_env(
        "ALE/Pong-v5", atari.AtariOptions(repeat_action_probability=0.25)
    )
    # ALE/Pong-v5 is registered with sticky actions (0.25); the DeepMind setting has none.
    assert default.unwrapped.ale.getFloat("repeat_action_probability") == 0.0
    assert sticky.unwrapped.ale.getFloat("repeat_action_probability") == 0.25
    default.close()
    sticky.close()


def test_restart_action_is_fire_only_with_fire_reset():
    assert atari.restart_action("breakout", atari.AtariOptions(fire_reset=True)) == 1
    assert atari.restart_action("breakout", atari.AtariOptions()) == 0
    assert atari._action_meanings("breakout", False)[1] == "FIRE"
    assert atari.restart_action("pong", atari.AtariOptions(fire_reset=True)) == 1
    assert atari._action_meanings("pong", False)[1] == "FIRE"


@pytest.mark.parametrize("shape", [(3, 4, 84, 84), (4, 84, 84), (2, 1, 5, 6), (2, 5, 3, 3)])
def test_channels_last(shape):
    frames = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = atari.channels_last(frames)
    np.testing.assert_array_equal(out, np.moveaxis(frames, -3, -1))
    assert out.flags.c_contiguous and out.dtype == np.uint8


def test_atari_id_forms():
    for env_id in ("ALE/Pong-v5", "PongNoFrameskip-v4", "Pong-v4", "Qbert-v0", "Breakout-v4"):
        assert env_ids.looks_like_atari_id(env_id), env_id
    for env_id in ("CartPole-v1", "Pong-v1", "Zzzz-v4", "MinAtar/Breakout-v1", "PongGame-v4"):
        assert not env_ids.looks_like_atari_id(env_id), env_id


def test_legacy_atari_games_are_the_ones_ale_py_registers():
    ale_py = pytest.importorskip("ale_py")
    gymnasium.register_envs(ale_py)
    registered = {
        env_id[: -len("-v4")]
        for env_id, spec in gymnasium.registry.items()
        if env_ids.is_atari_spec(spec) and env_id.endswith("-v4") and "NoFrameskip" not in env_id
    }
    assert registered == env_ids._LEGACY_ATARI_GAMES
    for game in registered:
        assert env_ids.looks_like_atari_id(f"{game}-v0")
        assert env_ids.looks_like_atari_id(f"{game}-v4")


def test_atari_option_errors():
    with pytest.raises(ValueError, match=r"Unknown option\(s\) 'frame_skp' for the Atari game"):
        make_env("ALE/Pong-v5", 2, frame_skp=3)
    with pytest.raises(ValueError, match="episodic_life needs the lives counter"):
        make_env("ALE/Pong-v5", 2, backend="parallel", episodic_life=True)


def _lives_env(num_envs=1, time_limit=None, **kwargs):
    def make():
        env = LivesEnv()
        return env if time_limit is None else gymnasium.wrappers.TimeLimit(env, time_limit)

    return atari.AtariVectorPyEnvironment(
        gymnasium.vector.SyncVectorEnv([make] * num_envs), **kwargs
    )


def test_episodic_life_sequence_by_hand():
    # LivesEnv: 3 lives, one lost every 3 game steps, reward 10 + action (raw).
    env = _lives_env(episodic_life=True, restart_action=1, reward_clipping=True)
    env.reset()
    got = [env.step(np.array([2])) for _ in range(11)]
    step_type = [int(t.step_type[0]) for t in got]
    # step  1    2    3     4      5    6     7      8    9     10     11
    #       MID  MID  LAST  FIRST  MID  LAST  FIRST  MID  LAST  FIRST  MID
    #                 life  resume      life  resume      game  reset
    assert step_type == [1, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1]
    assert [float(t.discount[0]) for t in got] == [1, 1, 0, 1, 1, 0, 1, 1, 0, 1, 1]
    # Clipped rewards; 0 on the resuming steps (4, 7) and on the reset step (10).
    assert [float(t.reward[0]) for t in got] == [1, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1]
    observations = np.stack([t.observation[0] for t in got])  # [game, t, lives, last action]
    # The resuming steps took the restart action 1 instead of 2; the game went on (t counts up).
    np.testing.assert_array_equal(observations[:, 3], [2, 2, 2, 1, 2, 2, 1, 2, 2, 0, 2])
    np.testing.assert_array_equal(observations[:9, 1], np.arange(1, 10))
    np.testing.assert_array_equal(observations[:, 0], [0] * 9 + [1, 1])
    # One record for the whole game, at step 9: 9 actions, raw rewards 7 x 12 + 2 x 11 = 106
    # (the resuming steps' rewards count for the game).
    env_ids, returns, lengths = env.pop_finished_episodes()
    assert list(env_ids) == [0] and list(returns) == [106.0] and list(lengths) == [9]


def test_without_episodic_life_a_lost_life_is_not_an_episode_end():
    env = _lives_env(reward_clipping=False)
    env.reset()
    got = [env.step(np.array([3])) for _ in range(10)]
    assert [int(t.step_type[0]) for t in got] == [1] * 8 + [2, 0]
    assert float(got[8].discount[0]) == 0.0
    assert [float(t.reward[0]) for t in got] == [13.0] * 9 + [0.0]
    assert list(env.pop_finished_episodes().returns) == [117.0]


def test_episodic_life_truncation_keeps_the_discount_and_records_the_game():
    env = _lives_env(time_limit=5, episodic_life=True, reward_clipping=False)
    env.reset()
    got = [env.step(np.array([0])) for _ in range(7)]
    # Life lost at step 3, resume at 4 (the time limit counts it), truncated at 5.
    assert [int(t.step_type[0]) for t in got] == [1, 1, 2, 0, 2, 0, 1]
    assert [float(t.discount[0]) for t in got] == [1, 1, 0, 1, 1, 1, 1]
    env_ids, returns, lengths = env.pop_finished_episodes()
    assert list(returns) == [50.0] and list(lengths) == [5]


def test_a_life_lost_in_the_resuming_step_is_not_reported():
    # One life lost every step. A FIRST step cannot also be LAST, so (as in the DeepMind wrappers,
    # whose reset steps the game once and reads the lives after it) the loss in a resuming step
    # goes unreported; the game over still ends the game.
    env = atari.AtariVectorPyEnvironment(
        gymnasium.vector.SyncVectorEnv([lambda: LivesEnv(life_length=1)]),
        episodic_life=True,
        reward_clipping=False,
    )
    env.reset()
    got = [env.step(np.array([0])) for _ in range(6)]
    # life 3 -> 2 (LAST), resume with 2 -> 1 (FIRST), 1 -> 0 game over (LAST), reset, 3 -> 2...
    assert [int(t.step_type[0]) for t in got] == [2, 0, 2, 0, 2, 0]
    assert [float(t.discount[0]) for t in got] == [0, 1, 0, 1, 0, 1]
    assert list(env.pop_finished_episodes().lengths) == [3]  # the second game is still on
