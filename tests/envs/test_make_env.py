"""Tests of softrl_tf.envs.make_env: every backend, TF-Agents drivers, seeds, errors."""

import functools
import logging
import sys

import softrl_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from softrl_tf.envs import BatchedEnvironment, make_env

import numpy as np
import pytest
import tensorflow as tf
from _env_fakes import counting_env, reference_time_steps
from tf_agents.drivers import dynamic_step_driver, py_driver
from tf_agents.environments import tf_py_environment
from tf_agents.policies import random_py_policy, random_tf_policy
from tf_agents.specs import array_spec

CPU_BACKENDS = ["sync", "async", "parallel"]


def _clear_error(excinfo) -> str:
    """The message of a ValueError that reads as one sentence, without chained library errors."""
    error = excinfo.value
    assert type(error) is ValueError
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    message = str(error)
    assert "\n" not in message and message[-1] in ".?"
    return message


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_random_policy_py_driver_in_every_backend(backend):
    env = make_env("CartPole-v1", 3, backend=backend, seed=0)
    try:
        assert isinstance(env, BatchedEnvironment) and env.batched and env.batch_size == 3
        assert env.action_spec() == array_spec.BoundedArraySpec((), np.int64, 0, 1, name="action")
        assert env.observation_spec().shape == (4,)
        assert env.observation_spec().dtype == np.float32
        policy = random_py_policy.RandomPyPolicy(
            env.time_step_spec(), env.action_spec(), outer_dims=(3,)
        )
        seen = []

        def observer(trajectory):
            array_spec.check_arrays_nest(trajectory.observation, env.observation_spec())
            assert trajectory.step_type.shape == (3,) and trajectory.action.dtype == np.int64
            seen.append(trajectory)

        driver = py_driver.PyDriver(env, policy, [observer], max_steps=150)
        time_step, _ = driver.run(env.reset())
        # PyDriver counts the environment steps that are not episode boundaries (LAST -> FIRST).
        counted = np.cumsum([np.sum(~t.is_boundary()) for t in seen])
        assert counted[-1] >= 150 and (len(counted) == 1 or counted[-2] < 150)
        # Random CartPole episodes last about 20 steps: these 50-odd steps end some episodes, and
        # each LAST is followed by FIRST in the same environment.
        step_types = np.stack([t.step_type for t in seen])
        next_types = np.stack([t.next_step_type for t in seen])
        assert (step_types == 2).any()
        np.testing.assert_array_equal(step_types[1:], next_types[:-1])
        np.testing.assert_array_equal(next_types[step_types == 2], 0)
        assert len(env.pop_finished_episodes().returns) == (next_types == 2).sum()
        assert time_step.observation.shape == (3, 4)
    finally:
        env.close()


def test_dynamic_step_driver_over_tf_py_environment():
    tf_env = tf_py_environment.TFPyEnvironment(make_env("CartPole-v1", 4, backend="sync"))
    assert tf_env.batch_size == 4
    policy = random_tf_policy.RandomTFPolicy(tf_env.time_step_spec(), tf_env.action_spec())
    steps = []
    driver = dynamic_step_driver.DynamicStepDriver(
        tf_env, policy, observers=[steps.append], num_steps=40
    )
    time_step, _ = driver.run(tf_env.reset())
    # num_steps counts transitions over the batch, leaving out the LAST -> FIRST boundary items:
    # 40 / 4 = 10 batched steps, more if an episode ended on the way (the policy is unseeded).
    counted = sum(int(np.sum(~s.is_boundary().numpy())) for s in steps)
    assert 40 <= counted < 44 and len(steps) >= 10
    assert steps[0].observation.dtype == tf.float32 and steps[0].action.dtype == tf.int64
    assert time_step.observation.shape == (4, 4)
    tf_env.close()


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_autoreset_sequence_in_every_backend(backend):
    # counting_env(None, 4) has episodes of 2 + seed steps, truncated at 4: with seed 0, env 0 and
    # 1 terminate after 2 and 3 steps, env 2 terminates at the limit, env 3 is truncated.
    lengths, limit = [2, 3, 4, 5], 4
    env = make_env(functools.partial(counting_env, None, limit), 4, backend=backend, seed=0)
    actions = np.random.default_rng(0).integers(0, 3, (13, 4))
    step_types, rewards, discounts, obs, finished = reference_time_steps(lengths, limit, actions)
    try:
        first = env.reset()
        np.testing.assert_array_equal(first.step_type, [0, 0, 0, 0])
        for k, action in enumerate(actions):
            time_step = env.step(action)
            np.testing.assert_array_equal(time_step.step_type, step_types[k], err_msg=str(k))
            np.testing.assert_array_equal(time_step.reward, rewards[k], err_msg=str(k))
            np.testing.assert_array_equal(time_step.discount, discounts[k], err_msg=str(k))
            np.testing.assert_array_equal(time_step.observation[:, :2], obs[k], err_msg=str(k))
        stats = env.pop_finished_episodes()
        finished.sort()
        assert list(stats.env_ids) == [f[1] for f in finished]
        assert list(stats.returns) == [f[2] for f in finished]
        assert list(stats.lengths) == [f[3] for f in finished]
    finally:
        env.close()


def _observations(backend, seed, steps=30):
    env = make_env("CartPole-v1", 3, backend=backend, seed=seed)
    actions = np.random.default_rng(1).integers(0, 2, (steps, 3))
    try:
        return np.stack([env.reset().observation] + [env.step(a).observation for a in actions])
    finally:
        env.close()


def test_same_seed_same_observations_in_every_backend_different_seed_differs():
    reference = _observations("sync", seed=3)
    np.testing.assert_array_equal(_observations("sync", seed=3), reference)
    for backend in ("async", "parallel"):
        np.testing.assert_array_equal(_observations(backend, seed=3), reference, err_msg=backend)
    other = _observations("sync", seed=4)
    assert not np.array_equal(other[0], reference[0])
    # Environment i is seeded with seed + i.
    np.testing.assert_array_equal(other[0, :2], reference[0, 1:])


def test_reseed_reproduces_the_first_episode():
    env = make_env("CartPole-v1", 2, backend="sync", seed=11)
    first = env.reset().observation
    env.step(np.array([0, 1]))
    env.seed(11)
    np.testing.assert_array_equal(env.reset().observation, first)
    env.close()


@pytest.mark.parametrize(
    "env_id, expected", [("CartPole-v1", "sync"), (functools.partial(counting_env, 2), "parallel")]
)
def test_auto_backend_logs_its_choice(caplog, env_id, expected):
    with caplog.at_level(logging.INFO, logger="softrl_tf.envs"):
        env = make_env(env_id, 1)
    env.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "softrl_tf.envs"]
    assert any(f"chose '{expected}'" in m for m in messages), messages


def test_numpy_integers_are_accepted():
    env = make_env("CartPole-v1", np.int64(2), backend="sync", seed=np.int32(5))
    assert env.batch_size == 2 and type(env.batch_size) is int
    np.testing.assert_array_equal(env.reset().observation, _observations("sync", 5)[0, :2])
    env.close()


def test_reward_clipping_option_for_gymnasium_ids():
    env = make_env("CartPole-v1", 2, backend="sync", reward_clipping=True)
    assert env.reward_clipping
    env.close()
    assert not make_env("CartPole-v1", 1, backend="sync").reward_clipping


# --- Errors: one sentence naming the input and the fix -----------------------------------------


@pytest.mark.parametrize("backend", ["auto", *CPU_BACKENDS])
def test_continuous_action_space(backend):
    with pytest.raises(ValueError) as excinfo:
        make_env("Pendulum-v1", 2, backend=backend)
    message = _clear_error(excinfo)
    assert "'Pendulum-v1' has the action space Box" in message
    assert "need a Discrete action space" in message and "gymnasium.ActionWrapper" in message


@pytest.mark.parametrize(
    "env_id, suggestion",
    [
        ("CartPole-v9", "'CartPole-v1'"),
        ("cartpole", "'CartPole-v1'"),
        ("ALE/Pongg-v5", "'ALE/Pong-v5'"),
    ],
)
def test_unknown_id_suggests_close_ids(env_id, suggestion):
    if env_id.startswith("ALE/"):
        pytest.importorskip("ale_py")  # without it the answer is how to install it (tested below)
    with pytest.raises(ValueError) as excinfo:
        make_env(env_id, 2)
    message = _clear_error(excinfo)
    assert message.startswith(f"Unknown environment id {env_id!r}: did you mean ")
    assert suggestion in message


def test_unknown_id_without_close_ids_points_to_the_registry():
    with pytest.raises(ValueError) as excinfo:
        make_env("Zzzzzzzzzzzz-v0", 2)
    assert "gymnasium.pprint_registry()" in _clear_error(excinfo)


@pytest.mark.parametrize("num_envs", [0, -3, 2.5, True, "8", None])
def test_bad_num_envs(num_envs):
    with pytest.raises(ValueError) as excinfo:
        make_env("CartPole-v1", num_envs)
    assert _clear_error(excinfo).startswith(
        f"num_envs must be an integer >= 1 (the number of environments in the batch), got "
        f"{num_envs!r}"
    )


@pytest.mark.parametrize(
    "env_id", ["ALE/Pong-v5", "PongNoFrameskip-v4", "Pong-v4", "Breakout-v0", "ALE/Tetris-v5"]
)
def test_atari_id_without_ale_py(monkeypatch, env_id):
    monkeypatch.setitem(sys.modules, "ale_py", None)  # `import ale_py` now raises ImportError
    with pytest.raises(ValueError) as excinfo:
        make_env(env_id, 2)
    message = _clear_error(excinfo)
    assert message.startswith(f"{env_id!r} is an Atari game, which needs ale-py")
    assert message.endswith('install the atari extra with `pip install "softrl_tf[atari]"`.')


def test_unknown_non_atari_id_without_ale_py_is_still_unknown(monkeypatch):
    monkeypatch.setitem(sys.modules, "ale_py", None)
    with pytest.raises(ValueError) as excinfo:
        make_env("Zzzzzzzzzzzz-v0", 2)
    assert _clear_error(excinfo).startswith("Unknown environment id 'Zzzzzzzzzzzz-v0'")


def test_minatar_id_without_minatar(monkeypatch):
    monkeypatch.setitem(sys.modules, "minatar", None)
    monkeypatch.setitem(sys.modules, "minatar.gym", None)
    with pytest.raises(ValueError) as excinfo:
        make_env("MinAtar/Zzzz-v1", 2)  # never registered, so registration is attempted
    message = _clear_error(excinfo)
    assert message.startswith("'MinAtar/Zzzz-v1' is a MinAtar game, which needs minatar")
    assert message.endswith('install the minatar extra with `pip install "softrl_tf[minatar]"`.')


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_minatar_bool_grids_arrive_as_float_zeros_and_ones(backend):
    pytest.importorskip("minatar")
    env = make_env("MinAtar/Breakout-v1", 2, backend=backend, seed=0)
    try:
        spec = env.observation_spec()
        assert spec.shape == (10, 10, 4) and spec.dtype == np.float32
        assert (spec.minimum, spec.maximum) == (0.0, 1.0)
        assert int(env.action_spec().maximum) + 1 == 3  # v1: the minimal action set
        time_step = env.reset()
        for _ in range(10):
            observation = time_step.observation
            assert observation.dtype == np.float32 and observation.shape == (2, 10, 10, 4)
            assert set(np.unique(observation)) <= {0.0, 1.0} and observation.sum() > 0
            time_step = env.step(np.ones(2, dtype=np.int64))
    finally:
        env.close()


def test_minatar_registration_keeps_ids_registered_before():
    pytest.importorskip("minatar")
    import gymnasium

    own = gymnasium.registry.get("MinAtar/Asterix-v1")
    marker = gymnasium.envs.registration.EnvSpec("MinAtar/Asterix-v1", entry_point="x:y")
    gymnasium.registry["MinAtar/Asterix-v1"] = marker
    try:
        make_env("MinAtar/Freeway-v0", 1).close()  # registers the other MinAtar ids if missing
        assert gymnasium.registry["MinAtar/Asterix-v1"] is marker
        assert "MinAtar/Freeway-v1" in gymnasium.registry
    finally:
        if own is None:
            del gymnasium.registry["MinAtar/Asterix-v1"]
        else:
            gymnasium.registry["MinAtar/Asterix-v1"] = own


def test_non_atari_ids_work_without_ale_py(monkeypatch):
    monkeypatch.setitem(sys.modules, "ale_py", None)
    env = make_env("CartPole-v1", 1)
    env.close()


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"backend": "gpu"}, "Unknown backend 'gpu': choose one of 'auto', 'sync'"),
        ({"backend": "ale"}, "backend 'ale' runs only Atari games, and 'CartPole-v1' is not one"),
        ({"max_episode_step": 5}, "'CartPole-v1' could not be created with the given options"),
        ({"seed": "zero"}, "seed must be an integer or None, got 'zero'."),
    ],
)
def test_other_bad_arguments(kwargs, fragment):
    with pytest.raises(ValueError) as excinfo:
        make_env("CartPole-v1", 2, **kwargs)
    assert fragment in _clear_error(excinfo)


def test_constructor_errors():
    make = functools.partial(counting_env, 2)
    with pytest.raises(ValueError) as excinfo:
        make_env(make, 2, backend="ale")
    assert "takes an Atari id" in _clear_error(excinfo)
    with pytest.raises(ValueError) as excinfo:
        make_env(make, 2, noop_max=3)
    assert "pass them to the constructor instead" in _clear_error(excinfo)
    with pytest.raises(ValueError) as excinfo:
        make_env(42, 2)
    assert "env_id must be a gymnasium id or a callable" in _clear_error(excinfo)


# --- "module:EnvId" ids, constructors' descriptions, observation spaces ------------------------


@pytest.fixture
def lineworld_unimported(monkeypatch):
    """``lineworld_pkg`` not imported yet and ``LineWorld-v0`` not registered (restored after)."""
    import gymnasium

    monkeypatch.delitem(sys.modules, "lineworld_pkg", raising=False)
    monkeypatch.delitem(gymnasium.registry, "LineWorld-v0", raising=False)
    return gymnasium.registry


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_module_prefixed_id_imports_the_module_that_registers_it(lineworld_unimported, backend):
    with pytest.raises(ValueError, match="Unknown environment id 'LineWorld-v0'"):
        make_env("LineWorld-v0", 2, backend=backend)
    env = make_env("lineworld_pkg:LineWorld-v0", 2, backend=backend, seed=0)
    try:
        assert "lineworld_pkg" in sys.modules and "LineWorld-v0" in lineworld_unimported
        assert env.observation_spec().shape == (1,) and int(env.action_spec().maximum) == 1
        time_step = env.reset()
        for _ in range(5):  # always step right: position 4 ends the episode on the 4th step
            time_step = env.step(np.ones(2, np.int64))
            positions = time_step.observation[:, 0]
        assert list(time_step.step_type) == [0, 0] and list(positions) == [0.0, 0.0]
        assert list(env.pop_finished_episodes().returns) == [1.0, 1.0]
    finally:
        env.close()


def test_module_prefixed_id_whose_module_cannot_be_imported(lineworld_unimported):
    with pytest.raises(ValueError) as excinfo:
        make_env("no_such_pkg.envs:LineWorld-v0", 2)
    message = _clear_error(excinfo)
    assert message.startswith(
        "Environment id 'no_such_pkg.envs:LineWorld-v0' names the module 'no_such_pkg.envs', "
        "which cannot be imported (No module named 'no_such_pkg')"
    )
    assert "LineWorld-v0" not in lineworld_unimported


@pytest.mark.parametrize(
    "env_id, start",
    [
        ("lineworld_pkg:LineWorld-v7", "Unknown environment id 'lineworld_pkg:LineWorld-v7': "),
        ("lineworld_pkg:", "Malformed environment id 'lineworld_pkg:'"),
        ("a:b:LineWorld-v0", "Malformed environment id 'a:b:LineWorld-v0'"),
    ],
)
def test_module_prefixed_id_that_registers_nothing_or_is_malformed(env_id, start):
    with pytest.raises(ValueError) as excinfo:
        make_env(env_id, 2)
    assert _clear_error(excinfo).startswith(start)


def test_describe_env_names_ids_and_constructors():
    from softrl_tf.envs import describe_env, described_constructor

    from lineworld_pkg import LineWorld, make_line_world

    assert describe_env("CartPole-v1") == "CartPole-v1"
    assert describe_env(make_line_world) == "callable:lineworld_pkg.make_line_world"
    assert describe_env(LineWorld) == "callable:lineworld_pkg.LineWorld"
    partial = functools.partial(counting_env, 3, time_limit=5)
    assert describe_env(partial) == (
        "callable:functools.partial(_env_fakes.counting_env, 3, time_limit=5)"
    )
    assert described_constructor(describe_env(make_line_world)) == "lineworld_pkg.make_line_world"
    assert described_constructor("CartPole-v1") is None
    assert described_constructor(make_line_world) is None


def test_a_constructor_description_is_not_an_id():
    with pytest.raises(ValueError) as excinfo:
        make_env("callable:lineworld_pkg.make_line_world", 2)
    assert _clear_error(excinfo) == (
        "'callable:lineworld_pkg.make_line_world' describes an environment constructor, not an "
        "environment id: pass the constructor itself (env_id=lineworld_pkg.make_line_world) from "
        "Python."
    )


def _with_observation_space(space):
    env = counting_env(2)
    env.observation_space = space
    return env


def _spaces():
    from gymnasium import spaces

    box = spaces.Box(0.0, 1.0, (2,), np.float32)
    return {
        "Dict": (spaces.Dict({"position": box, "key": spaces.Discrete(3)}), True),
        "Tuple": (spaces.Tuple((box, spaces.Discrete(3))), True),
        "MultiDiscrete": (spaces.MultiDiscrete([2, 3]), True),
        "Text": (spaces.Text(5), False),
        "Graph": (spaces.Graph(box, None), False),
        "Sequence": (spaces.Sequence(spaces.Discrete(2)), False),
    }


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("kind", list(_spaces()))
def test_observation_spaces_the_networks_cannot_take(backend, kind):
    space, flattenable = _spaces()[kind]
    make = functools.partial(_with_observation_space, space)
    with pytest.raises(ValueError) as excinfo:
        make_env(make, 2, backend=backend)
    message = _clear_error(excinfo)
    assert f"has the observation space {space}, a {kind} space, which softrl_tf's networks " in (
        message
    )
    assert ("gymnasium.wrappers.FlattenObservation" in message) == flattenable
    assert ("gymnasium.ObservationWrapper" in message) == (not flattenable)


def test_flattened_observations_are_taken():
    import gymnasium

    space, _ = _spaces()["Dict"]
    make = functools.partial(_with_observation_space, space)

    def flattened():
        return gymnasium.wrappers.FlattenObservation(make())

    env = make_env(flattened, 2, backend="sync")
    try:
        assert env.observation_spec().shape == (2 + 3,)  # Box(2) and a one-hot Discrete(3)
    finally:
        env.close()
