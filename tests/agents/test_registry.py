"""The AGENTS registry and build_agent: every entry builds a working agent from its config."""

import dataclasses

import softrl_tf
from softrl_tf.agents import (
    AGENTS,
    A2CAgent,
    A2CConfig,
    DQNAgent,
    DQNConfig,
    SoftDQNAgent,
    SoftDQNConfig,
    SoftQAgent,
    SoftQConfig,
    build_agent,
    get_agent_class,
)
from softrl_tf.agents.base import RMSpropFromAccumulator
from softrl_tf.config import ConfigError
from softrl_tf.presets import resolve

import numpy as np
import pytest
import tensorflow as tf
from agent_testing import ACTION_SPEC, TIME_STEP_SPEC
from tf_agents.agents import tf_agent
from tf_agents.policies import tf_policy
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory


def test_registry_maps_names_to_agent_classes_that_carry_their_config_class():
    expected = {
        "a2c": (A2CAgent, A2CConfig, True),
        "softq": (SoftQAgent, SoftQConfig, True),
        "soft_dqn": (SoftDQNAgent, SoftDQNConfig, False),
        "dqn": (DQNAgent, DQNConfig, False),
    }
    assert set(AGENTS) == set(expected)
    for name, (agent_class, config_class, on_policy) in expected.items():
        assert AGENTS[name] is agent_class
        assert agent_class.config_class is config_class
        assert agent_class.on_policy is on_policy
        assert type(resolve(name).agent) is config_class


def test_siblings_do_not_inherit_each_others_settings():
    """softq has no entropy_mode or value_coef; dqn has no temperature or soft backup."""
    names = {cls: {f.name for f in dataclasses.fields(cls)} for cls in (A2CConfig, SoftQConfig)}
    assert {"entropy_mode", "value_coef"} <= names[A2CConfig]
    assert not {"entropy_mode", "value_coef"} & names[SoftQConfig]
    assert not issubclass(SoftQAgent, A2CAgent) and not issubclass(A2CAgent, SoftQAgent)
    dqn = {f.name for f in dataclasses.fields(DQNConfig)}
    assert not {"tau", "backup", "exploration"} & dqn
    replay = {"replay_capacity", "batch_size", "learning_starts", "env_steps_per_update"}
    assert not replay & dqn


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_build_agent_from_the_default_config(name):
    config = resolve(name).agent
    agent = build_agent(name, config, TIME_STEP_SPEC, ACTION_SPEC, total_updates=100)
    assert isinstance(agent, tf_agent.TFAgent)
    assert isinstance(agent.policy, tf_policy.TFPolicy)
    assert isinstance(agent.collect_policy, tf_policy.TFPolicy)
    assert agent.train_sequence_length == config.n_steps + 1
    if hasattr(config, "tau"):
        assert agent.tau == config.tau
    assert agent.train_step_counter.dtype == tf.int64


def test_build_agent_passes_the_config_through():
    config = resolve("softq").agent
    config.value_scale, config.advantage_scale, config.n_steps = 0.25, 3.0, 7
    agent = build_agent("softq", config, TIME_STEP_SPEC, ACTION_SPEC, total_updates=10)
    assert (agent._value_scale, agent._advantage_scale, agent._n_steps) == (0.25, 3.0, 7)
    config = resolve("a2c").agent
    config.entropy_mode, config.value_coef = "naive", 0.75
    agent = build_agent("a2c", config, TIME_STEP_SPEC, ACTION_SPEC, total_updates=10)
    assert (agent._entropy_mode, agent._value_coef) == ("naive", 0.75)
    config = resolve("dqn").agent
    config.double_q = False
    agent = build_agent("dqn", config, TIME_STEP_SPEC, ACTION_SPEC, total_updates=10)
    assert (agent._backup, agent._double_q) == ("max", False)
    config = resolve("soft_dqn").agent
    config.backup, config.exploration = "logmeanexp", "boltzmann"
    agent = build_agent("soft_dqn", config, TIME_STEP_SPEC, ACTION_SPEC, total_updates=10)
    assert agent._backup == "logmeanexp"


def test_linear_learning_rate_decays_to_zero_over_total_updates():
    config = resolve("a2c").agent
    assert config.lr_schedule == "linear"
    agent = build_agent("a2c", config, TIME_STEP_SPEC, ACTION_SPEC, total_updates=40)
    schedule = tf.keras.optimizers.schedules.deserialize(
        agent.optimizer.get_config()["learning_rate"]
    )
    assert float(schedule(0)) == pytest.approx(config.learning_rate)
    assert float(schedule(20)) == pytest.approx(config.learning_rate / 2)
    assert float(schedule(40)) == 0.0


@pytest.mark.parametrize("initial", [0.0, 1.0])
def test_rmsprop_from_accumulator_matches_tensorflow_1_and_tf_keras(initial):
    """Accumulator at 1: TensorFlow 1's ``RMSPropOptimizer`` (OpenAI baselines'); at 0:
    tf_keras's RMSprop. Five steps of the same gradients, float64."""
    rng = np.random.default_rng(0)
    grads = [tf.constant(g) for g in rng.normal(size=(5, 3)) * 1e-2]
    start = rng.normal(size=3)
    ours = tf.Variable(start)
    optimizer = RMSpropFromAccumulator(1e-2, rho=0.9, epsilon=1e-5, initial_accumulator=initial)
    reference = tf.Variable(start)
    if initial:
        reference_optimizer = tf.compat.v1.train.RMSPropOptimizer(1e-2, decay=0.9, epsilon=1e-5)
    else:
        reference_optimizer = tf.keras.optimizers.RMSprop(1e-2, rho=0.9, epsilon=1e-5)
    for grad in grads:
        optimizer.apply_gradients([(grad, ours)])
        reference_optimizer.apply_gradients([(grad, reference)])
    # TensorFlow 1's fused kernel orders the float64 arithmetic differently (~1e-11); the other
    # start would differ by whole steps (the first divides g by ~1 instead of ~|g|).
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-9)


def test_schedules_span_schedule_steps_when_set():
    """A 10M-step schedule stays the same whatever the run's length (the Atari preset's)."""
    model = softrl_tf.A2C(
        "CartPole-v1", num_envs=4, lr_schedule="linear", learning_rate=1e-2, schedule_steps=2_000
    )
    try:
        model.fit(100, progress=False)  # 5 updates of 4 x 5 steps
        config = model.agent.optimizer.get_config()["learning_rate"]
        schedule = tf.keras.optimizers.schedules.deserialize(config)
        assert schedule.decay_steps == 100  # 2,000 steps of 4 x 5
        assert float(schedule(50)) == pytest.approx(0.5e-2)
        assert int(model.agent.optimizer.iterations) == 5
    finally:
        model.close()


def test_registry_errors():
    with pytest.raises(ConfigError, match="valid agents: a2c, dqn, soft_dqn, softq"):
        get_agent_class("ppo")
    with pytest.raises(TypeError, match="SoftQConfig"):
        build_agent("softq", A2CConfig(), TIME_STEP_SPEC, ACTION_SPEC, total_updates=10)


@pytest.mark.parametrize("name", ["a2c", "softq"])
def test_atari_preset_builds_the_papers_a2c_setting_and_trains_on_uint8_frames(name):
    """Paper §6.1 with OpenAI baselines' A2C settings: 16 envs, 5 steps, RMSProp 7e-4 (rho 0.99,
    eps 1e-5) decayed linearly, clip 0.5, value coefficient 0.5, tau 0.01, Nature CNN over uint8
    frames."""
    run = resolve(name, "atari")
    assert run.train.num_envs == 16
    config = run.agent
    frames = tensor_spec.BoundedTensorSpec([84, 84, 4], tf.uint8, 0, 255, name="observation")
    actions = tensor_spec.BoundedTensorSpec([], tf.int64, 0, 5, name="action")
    agent = build_agent(name, config, ts.time_step_spec(frames), actions, total_updates=1000)
    assert (agent.tau, agent.gamma, agent.train_sequence_length) == (0.01, 0.99, 6)
    assert agent._max_grad_norm == 0.5
    value_weight = agent._value_scale if name == "softq" else agent._value_coef
    assert value_weight == 0.5
    optimizer = agent.optimizer.get_config()
    assert optimizer["name"] == "RMSprop" and optimizer["rho"] == pytest.approx(0.99)
    assert optimizer["epsilon"] == pytest.approx(1e-5)
    assert optimizer["initial_accumulator"] == 1.0  # TensorFlow 1's RMSProp, as baselines'
    assert run.train.schedule_steps == 80_000_000  # the paper's 320M frames
    schedule = tf.keras.optimizers.schedules.deserialize(optimizer["learning_rate"])
    assert float(schedule(0)) == pytest.approx(7e-4) and float(schedule(1000)) == 0.0
    assert [layer.name for layer in agent.network._torso.layers][:3] == ["conv1", "conv2", "conv3"]

    rng = tf.random.Generator.from_seed(0)
    experience = trajectory.Trajectory(
        step_type=tf.ones([2, 6], tf.int32),
        observation=tf.cast(rng.uniform([2, 6, 84, 84, 4], 0, 256, tf.int32), tf.uint8),
        action=rng.uniform([2, 6], 0, 6, tf.int64),
        policy_info=(),
        next_step_type=tf.ones([2, 6], tf.int32),
        reward=tf.ones([2, 6]),
        discount=tf.ones([2, 6]),
    )
    info = agent.train(experience)
    assert bool(tf.math.is_finite(info.loss)) and int(agent.train_step_counter) == 1


def test_the_agent_names_and_config_classes_agree_with_the_tensorflow_free_registry():
    """AGENT_CONFIGS (TF-free: the CLI and presets read it) and AGENTS name the same agents, each
    with the same config class, and every agent's on_policy is its config class's."""
    from softrl_tf.agent_configs import AGENT_CONFIGS

    assert {name: cls.config_class for name, cls in AGENTS.items()} == AGENT_CONFIGS
    assert {name: cls.on_policy for name, cls in AGENTS.items()} == {
        "a2c": True,
        "softq": True,
        "soft_dqn": False,
        "dqn": False,
    }


def test_an_agent_that_contradicts_its_config_class_on_policy_is_refused():
    with pytest.raises(TypeError, match="contradicts its config class SoftDQNConfig"):

        class _Confused(SoftDQNAgent):
            on_policy = True
