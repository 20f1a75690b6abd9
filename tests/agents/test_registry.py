"""The AGENTS registry and build_agent: every entry builds a working agent from its config."""

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.agents import AGENTS, A2CAgent, SoftDQNAgent, SoftQAgent, build_agent, get_entry
from softrl_tf.training.config import A2CConfig, SoftDQNConfig, SoftQConfig
from softrl_tf.training.presets import PRESETS

import pytest
import tensorflow as tf
from agent_testing import ACTION_SPEC, TIME_STEP_SPEC
from tf_agents.agents import tf_agent
from tf_agents.policies import tf_policy
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory


def test_registry_names_classes_and_config_classes():
    assert set(AGENTS) == {"a2c", "softq", "soft_dqn", "dqn"}
    expected = {
        "a2c": (A2CAgent, A2CConfig, True),
        "softq": (SoftQAgent, SoftQConfig, True),
        "soft_dqn": (SoftDQNAgent, SoftDQNConfig, False),
        "dqn": (SoftDQNAgent, SoftDQNConfig, False),
    }
    for name, (agent_class, config_class, on_policy) in expected.items():
        entry = AGENTS[name]
        assert entry.agent_class is agent_class
        assert type(entry.default_config()) is config_class
        assert entry.on_policy is on_policy
    # default_config() returns a fresh dataclass each time.
    config = AGENTS["a2c"].default_config()
    config.tau = 0.5
    assert AGENTS["a2c"].default_config().tau != 0.5


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_build_agent_from_the_default_config(name):
    config = AGENTS[name].default_config()
    agent = build_agent(name, config, TIME_STEP_SPEC, ACTION_SPEC, total_updates=100)
    assert isinstance(agent, tf_agent.TFAgent)
    assert isinstance(agent.policy, tf_policy.TFPolicy)
    assert isinstance(agent.collect_policy, tf_policy.TFPolicy)
    assert agent.train_sequence_length == config.n_steps + 1
    assert agent.tau == config.tau
    assert agent.train_step_counter.dtype == tf.int64


def test_build_agent_passes_the_config_through():
    config = AGENTS["softq"].default_config()
    config.value_scale, config.advantage_scale, config.n_steps = 0.25, 3.0, 7
    agent = build_agent("softq", config, TIME_STEP_SPEC, ACTION_SPEC, total_updates=10)
    assert (agent._value_scale, agent._advantage_scale, agent._n_steps) == (0.25, 3.0, 7)
    config = AGENTS["a2c"].default_config()
    config.entropy_mode, config.value_coef = "naive", 0.75
    agent = build_agent("a2c", config, TIME_STEP_SPEC, ACTION_SPEC, total_updates=10)
    assert (agent._entropy_mode, agent._value_coef) == ("naive", 0.75)
    config = AGENTS["dqn"].default_config()
    config.double_q, config.exploration = False, "boltzmann"
    agent = build_agent("dqn", config, TIME_STEP_SPEC, ACTION_SPEC, total_updates=10)
    assert (agent._backup, agent._double_q) == ("max", False)


def test_linear_learning_rate_decays_to_zero_over_total_updates():
    config = AGENTS["a2c"].default_config()
    assert config.lr_schedule == "linear"
    agent = build_agent("a2c", config, TIME_STEP_SPEC, ACTION_SPEC, total_updates=40)
    schedule = tf.keras.optimizers.schedules.deserialize(
        agent.optimizer.get_config()["learning_rate"]
    )
    assert float(schedule(0)) == pytest.approx(config.learning_rate)
    assert float(schedule(20)) == pytest.approx(config.learning_rate / 2)
    assert float(schedule(40)) == 0.0


def test_registry_errors():
    with pytest.raises(ValueError, match="valid agents: a2c, dqn, soft_dqn, softq"):
        get_entry("ppo")
    with pytest.raises(TypeError, match="SoftQConfig"):
        build_agent("softq", A2CConfig(), TIME_STEP_SPEC, ACTION_SPEC, total_updates=10)


@pytest.mark.parametrize("name", ["a2c", "softq"])
def test_atari_preset_builds_the_papers_a2c_setting_and_trains_on_uint8_frames(name):
    """Paper §6.1 with OpenAI baselines' A2C settings: 16 envs, 5 steps, RMSProp 7e-4 (rho 0.99,
    eps 1e-5) decayed linearly, clip 0.5, value coefficient 0.5, tau 0.01, Nature CNN over uint8
    frames."""
    train_overrides, agent_overrides = PRESETS["atari"](name)
    assert train_overrides["num_envs"] == 16
    config = AGENTS[name].default_config()
    for key, value in agent_overrides.items():
        setattr(config, key, value)
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
