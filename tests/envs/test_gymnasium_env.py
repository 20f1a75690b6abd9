"""Tests of softrl_tf.envs.gymnasium_env: specs, termination vs truncation, autoreset, stats."""

import functools

import softrl_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from softrl_tf.envs.gymnasium_env import (
    GymnasiumPyEnvironment,
    GymnasiumVectorPyEnvironment,
    as_seed,
)

import gymnasium
import numpy as np
import pytest
from _env_fakes import REWARD_SCALE, CountingEnv, counting_env, reference_time_steps
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st
from tf_agents.specs import array_spec

FIRST, MID, LAST = 0, 1, 2


def _vector(lengths, time_limit=None, autoreset_mode=gymnasium.vector.AutoresetMode.NEXT_STEP):
    return gymnasium.vector.SyncVectorEnv(
        [functools.partial(counting_env, n, time_limit) for n in lengths],
        autoreset_mode=autoreset_mode,
    )


# --- One environment ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.int64])
def test_single_env_specs_keep_observation_dtype(dtype):
    env = GymnasiumPyEnvironment(CountingEnv(3, obs_dtype=dtype, n_actions=4, action_start=-1))
    assert env.action_spec() == array_spec.BoundedArraySpec((), np.int64, 0, 3, name="action")
    assert env.observation_spec().dtype == dtype
    assert env.observation_spec().shape == (3,)
    assert not env.batched
    time_step = env.reset()
    assert time_step.observation.dtype == dtype
    array_spec.check_arrays_nest(time_step, env.time_step_spec())
    array_spec.check_arrays_nest(env.step(np.int64(2)), env.time_step_spec())


class _BoolGridEnv(gymnasium.Env):
    """MinAtar-like: ``bool`` grid observations, ``t`` cells set after ``t`` steps."""

    metadata = {"render_modes": []}

    def __init__(self):
        self.observation_space = spaces.Box(0.0, 1.0, (2, 3), bool)
        self.action_space = spaces.Discrete(2)
        self._t = 0

    def _obs(self):
        return np.arange(6).reshape(2, 3) < self._t

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 1
        return self._obs(), {}

    def step(self, action):
        self._t += 1
        return self._obs(), 0.0, self._t >= 4, False, {}


def test_bool_observations_become_float_zeros_and_ones():
    single = GymnasiumPyEnvironment(_BoolGridEnv())
    vector = GymnasiumVectorPyEnvironment(_vector_of(_BoolGridEnv, 2))
    expected_spec = array_spec.BoundedArraySpec((2, 3), np.float32, 0.0, 1.0, name="observation")
    for env in (single, vector):
        assert env.observation_spec() == expected_spec
        time_step = env.reset()
        for t in (1, 2, 3):
            observation = np.asarray(time_step.observation)
            assert observation.dtype == np.float32
            assert np.all(observation.reshape(-1, 6).sum(-1) == t)
            assert set(np.unique(observation)) <= {0.0, 1.0}
            time_step = env.step(np.zeros(env.batch_size or (), np.int64))
        env.close()


def _vector_of(make, n):
    return gymnasium.vector.SyncVectorEnv(
        [make] * n, autoreset_mode=gymnasium.vector.AutoresetMode.NEXT_STEP
    )


def test_single_env_termination_gives_discount_zero_then_first():
    env = GymnasiumPyEnvironment(CountingEnv(2))  # Discrete(3, start=-1)
    first = env.reset()
    assert (first.step_type, first.reward, first.discount) == (FIRST, 0.0, 1.0)
    mid = env.step(2)  # gymnasium action 2 + (-1) = 1: reward 2.5
    assert (mid.step_type, mid.reward, mid.discount) == (MID, REWARD_SCALE, 1.0)
    last = env.step(0)  # gymnasium action -1: reward -2.5; t = 2 = length: terminated
    assert (last.step_type, last.reward, last.discount) == (LAST, -REWARD_SCALE, 0.0)
    np.testing.assert_array_equal(last.observation[:2], [0, 2])
    again = env.step(1)  # auto-reset: the action is ignored
    assert (again.step_type, again.reward, again.discount) == (FIRST, 0.0, 1.0)
    np.testing.assert_array_equal(again.observation[:2], [1, 0])


def test_single_env_truncation_keeps_discount():
    env = GymnasiumPyEnvironment(counting_env(length=10, time_limit=2))
    env.reset()
    assert env.step(1).step_type == MID
    last = env.step(1)
    assert (last.step_type, last.discount) == (LAST, 1.0)
    assert env.step(1).step_type == FIRST


def test_single_env_termination_at_the_time_limit_is_termination():
    env = GymnasiumPyEnvironment(counting_env(length=2, time_limit=2))
    env.reset()
    env.step(1)
    last = env.step(1)  # terminated and truncated together: the episode really ended
    assert (last.step_type, last.discount) == (LAST, 0.0)


def test_single_env_seed_goes_to_reset():
    def first_obs(seed):
        env = GymnasiumPyEnvironment(gymnasium.make("CartPole-v1"), seed=seed)
        obs = [env.reset().observation]
        env.seed(seed + 100)  # the next reset is seeded with seed + 100
        obs.append(env.reset().observation)
        env.close()
        return obs

    a, b, c = first_obs(5), first_obs(5), first_obs(6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0], a[1])


def test_continuous_action_space_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"'Pendulum-v1'.*Discrete action space.*ActionWrapper"):
        GymnasiumPyEnvironment(gymnasium.make("Pendulum-v1"))


def test_unsupported_observation_space_is_refused_with_the_fix():
    env = CountingEnv(2)
    env.observation_space = spaces.Dict({"a": spaces.Discrete(2)})
    with pytest.raises(ValueError, match="FlattenObservation"):
        GymnasiumPyEnvironment(env)


def test_as_seed():
    assert as_seed(None) is None
    assert as_seed(np.int64(3)) == 3 and type(as_seed(np.int64(3))) is int
    with pytest.raises(ValueError, match="seed must be an integer"):
        as_seed(1.5)


# --- Batched adapter over a vector env ---------------------------------------------------------


def test_batched_specs_and_dtypes():
    env = GymnasiumVectorPyEnvironment(_vector([2, 3]))
    assert env.batched and env.batch_size == 2
    assert env.action_spec() == array_spec.BoundedArraySpec((), np.int64, 0, 2, name="action")
    spec = env.time_step_spec()
    assert spec.step_type.dtype == np.int32 and spec.reward.dtype == np.float32
    assert spec.discount.dtype == np.float32 and spec.observation.dtype == np.int64
    time_step = env.reset()
    for field, dtype in zip(time_step, (np.int32, np.float32, np.float32, np.int64), strict=True):
        assert field.dtype == dtype and field.shape[0] == 2
    assert time_step.observation.shape == (2, 3)


def test_batched_autoreset_sequence_by_hand():
    # Env 0 terminates after 2 steps; env 1 has length 10 but a time limit of 3 (truncation).
    env = GymnasiumVectorPyEnvironment(
        gymnasium.vector.SyncVectorEnv(
            [functools.partial(counting_env, 2), functools.partial(counting_env, 10, 3)]
        )
    )
    first = env.reset()
    np.testing.assert_array_equal(first.step_type, [FIRST, FIRST])
    got = [env.step(np.array([2, 0])) for _ in range(6)]
    # step:            1     2     3      4      5      6
    # env 0 (term 2): MID  LAST  FIRST  MID   LAST  FIRST
    # env 1 (trunc 3): MID  MID   LAST  FIRST  MID   MID
    np.testing.assert_array_equal(
        [t.step_type for t in got],
        [[MID, MID], [LAST, MID], [FIRST, LAST], [MID, FIRST], [LAST, MID], [FIRST, MID]],
    )
    np.testing.assert_array_equal(
        [t.discount for t in got], [[1, 1], [0, 1], [1, 1], [1, 1], [0, 1], [1, 1]]
    )
    # Actions 2 and 0 are gymnasium actions 1 and -1: rewards +2.5 and -2.5; 0 on FIRST.
    np.testing.assert_array_equal(
        [t.reward for t in got],
        [[2.5, -2.5], [2.5, -2.5], [0, -2.5], [2.5, 0], [2.5, -2.5], [0, -2.5]],
    )
    # Observation [episode, t]: FIRST shows the new episode's reset observation.
    np.testing.assert_array_equal(
        [t.observation[:, :2] for t in got],
        [
            [[0, 1], [0, 1]],
            [[0, 2], [0, 2]],
            [[1, 0], [0, 3]],
            [[1, 1], [1, 0]],
            [[1, 2], [1, 1]],
            [[2, 0], [1, 2]],
        ],
    )


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    time_limit=st.one_of(st.none(), st.integers(1, 5)),
    clip=st.booleans(),
    data=st.data(),
)
def test_batched_matches_reference_model(lengths, time_limit, clip, data):
    num_steps = data.draw(st.integers(1, 14), label="num_steps")
    actions = data.draw(
        st.lists(
            st.lists(st.integers(0, 2), min_size=len(lengths), max_size=len(lengths)),
            min_size=num_steps,
            max_size=num_steps,
        ),
        label="actions",
    )
    step_types, rewards, discounts, obs, finished = reference_time_steps(
        lengths, time_limit, actions, clip=clip
    )
    finished.sort()  # in the order they ended: by step, then by environment
    env = GymnasiumVectorPyEnvironment(_vector(lengths, time_limit), reward_clipping=clip)
    env.reset()
    seen = []
    for k, action in enumerate(actions):
        time_step = env.step(np.array(action, np.int64))
        np.testing.assert_array_equal(time_step.step_type, step_types[k])
        np.testing.assert_array_equal(time_step.reward, rewards[k])
        np.testing.assert_array_equal(time_step.discount, discounts[k])
        np.testing.assert_array_equal(time_step.observation[:, :2], obs[k])
        stats = env.finished_episodes
        np.testing.assert_array_equal(stats.env_ids, np.flatnonzero(time_step.is_last()))
        seen += [(k, *row) for row in zip(stats.env_ids, stats.returns, stats.lengths, strict=True)]
    # Statistics count raw rewards (never clipped) and the actions of each episode.
    assert seen == finished
    popped = env.pop_finished_episodes()
    assert list(popped.env_ids) == [f[1] for f in finished]
    assert list(popped.returns) == [f[2] for f in finished]
    assert list(popped.lengths) == [f[3] for f in finished]
    assert env.pop_finished_episodes().env_ids.size == 0
    env.close()


def test_reward_clipping_clips_time_steps_not_statistics():
    env = GymnasiumVectorPyEnvironment(_vector([2]), reward_clipping=True)
    env.reset()
    assert env.step(np.array([2])).reward[0] == 1.0  # raw +2.5
    assert env.step(np.array([0])).reward[0] == -1.0  # raw -2.5
    stats = env.finished_episodes
    assert stats.returns[0] == 0.0 and stats.lengths[0] == 2
    env.step(np.array([2]))  # FIRST: no reward, not an action of the new episode
    env.step(np.array([2]))
    env.step(np.array([2]))
    np.testing.assert_array_equal(env.finished_episodes.returns, [5.0])
    np.testing.assert_array_equal(env.pop_finished_episodes().lengths, [2, 2])


def test_step_before_reset_resets():
    env = GymnasiumVectorPyEnvironment(_vector([2, 2]), seed=0)
    time_step = env.step(np.array([1, 1]))
    np.testing.assert_array_equal(time_step.step_type, [FIRST, FIRST])
    np.testing.assert_array_equal(time_step.observation[:, :2], [[0, 0], [0, 0]])


def test_reset_restarts_every_environment_and_the_statistics():
    env = GymnasiumVectorPyEnvironment(_vector([3, 3]))
    env.reset()
    env.step(np.array([2, 2]))
    env.reset()
    for _ in range(3):
        time_step = env.step(np.array([2, 2]))
    np.testing.assert_array_equal(time_step.step_type, [LAST, LAST])
    np.testing.assert_array_equal(env.finished_episodes.lengths, [3, 3])
    np.testing.assert_array_equal(env.finished_episodes.returns, [7.5, 7.5])


def test_seeds_of_the_batch():
    def draws(seed):  # the third observation entry is drawn from each env's np_random
        env = GymnasiumVectorPyEnvironment(_vector([2, 2, 2]), seed=seed)
        out = env.reset().observation[:, 2].copy()
        env.close()
        return out

    a, b, c = draws(7), draws(7), draws(8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Environment i is seeded with seed + i: seed 8 shifts the batch by one.
    np.testing.assert_array_equal(a[1:], c[:-1])


def test_same_step_autoreset_is_refused_with_the_fix():
    vector_env = _vector([2], autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP)
    with pytest.raises(ValueError, match="autoreset_mode=gymnasium.vector.AutoresetMode.NEXT_STEP"):
        GymnasiumVectorPyEnvironment(vector_env)


def test_continuous_vector_env_is_refused_naming_it():
    vector_env = gymnasium.vector.SyncVectorEnv([lambda: gymnasium.make("Pendulum-v1")])
    with pytest.raises(ValueError, match=r"'my pendulum' has the action space Box"):
        GymnasiumVectorPyEnvironment(vector_env, name="'my pendulum'")


def test_time_steps_do_not_alias_between_steps():
    env = GymnasiumVectorPyEnvironment(_vector([5]))
    first = env.reset()
    second = env.step(np.array([1]))
    env.step(np.array([1]))
    np.testing.assert_array_equal(first.observation[0, :2], [0, 0])
    np.testing.assert_array_equal(second.observation[0, :2], [0, 1])
