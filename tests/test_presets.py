"""The one resolver: defaults -> preset -> saved config -> overrides, and every preset valid."""

import dataclasses
import json

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.agents import AGENTS
from softrl_tf.config import ConfigError, ReplayConfig
from softrl_tf.presets import (
    PRESETS,
    agents_using,
    describe_preset,
    preset_name,
    resolve,
)

import pytest


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_every_preset_resolves_for_every_agent(agent, preset):
    run = resolve(agent, preset)
    assert type(run.agent) is AGENTS[agent].config_class
    assert (run.replay is None) == AGENTS[agent].on_policy


def test_order_defaults_then_preset_then_saved_then_overrides():
    defaults = AGENTS["a2c"].config_class()
    run = resolve("a2c")
    assert run.agent.learning_rate == 1e-2 != defaults.learning_rate  # the default preset
    assert run.agent.gamma == defaults.gamma  # a dataclass default nothing changes
    saved = {"train": {"agent": "a2c", "num_envs": 3}, "agent": {"learning_rate": 0.5, "tau": 0.2}}
    run = resolve("a2c", "classic_control", saved, {"tau": 0.3})
    assert run.train.num_envs == 3 and run.agent.learning_rate == 0.5  # saved beats the preset
    assert run.agent.tau == 0.3  # overrides beat the saved config


def test_a_saved_config_replaces_the_preset_and_lacking_settings_take_their_defaults():
    """A run saved before a setting existed ran with the setting's default: resuming it must not
    pick up a preset's newer value (a2c's classic_control has a torso per head, normalised
    observations; the saved run's network had neither, and its checkpoint fits only that)."""
    preset = resolve("a2c", "classic_control").agent
    assert not preset.shared_torso and preset.normalize_observations
    saved = {"train": {"agent": "a2c"}, "agent": {"learning_rate": 0.01, "tau": 0.01}}
    run = resolve("a2c", "classic_control", saved)
    defaults = AGENTS["a2c"].config_class()
    assert run.agent.shared_torso == defaults.shared_torso is True
    assert run.agent.normalize_observations == defaults.normalize_observations is False
    assert run.agent.lr_schedule == defaults.lr_schedule


def test_saved_configs_of_older_layouts_are_read():
    """Replay settings once lived in the agent's section, and dqn once had a tau."""
    saved = {"train": {"agent": "dqn"}, "agent": {"tau": 0.1, "batch_size": 7, "n_steps": 2}}
    run = resolve("dqn", saved=saved)
    assert run.replay.batch_size == 7 and run.agent.n_steps == 2
    assert not hasattr(run.agent, "tau")


def test_an_override_the_agent_does_not_use_is_refused_naming_who_uses_it():
    with pytest.raises(ConfigError, match=r"--entropy-mode .*not used by --agent=softq.*a2c\."):
        resolve("softq", overrides={"entropy_mode": "naive"})
    with pytest.raises(ConfigError, match="--tau .*not used by --agent=dqn"):
        resolve("dqn", overrides={"tau": 0.1})
    with pytest.raises(ConfigError, match="not a setting of any agent"):
        resolve("a2c", overrides={"learning_rat": 0.1})


def test_replay_settings_belong_to_the_replay_agents_only():
    replay = {f.name for f in dataclasses.fields(ReplayConfig)}
    for name in replay:
        assert agents_using(name) == ["dqn", "soft_dqn"]


def test_preset_values_are_validated():
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        resolve("a2c", "nope")
    with pytest.raises(ConfigError, match="--tau"):
        resolve("a2c", overrides={"tau": -1.0})


def test_atari_preset_is_the_papers_setting():
    a2c = resolve("a2c", "atari")
    assert (a2c.train.num_envs, a2c.agent.torso, a2c.agent.learning_rate) == (
        16,
        "nature_cnn",
        7e-4,
    )
    assert (a2c.agent.tau, a2c.agent.value_coef, a2c.agent.max_grad_norm) == (0.01, 0.5, 0.5)
    # baselines' first A2C release initialised the policy-logit layer at gain 1.0; both
    # actor-critic agents take it on Atari only.
    assert resolve("softq", "atari").agent.policy_head_gain == a2c.agent.policy_head_gain == 1.0
    assert resolve("a2c", "classic_control").agent.policy_head_gain == 0.01
    # The Nature CNN in bfloat16 where the hardware has it, for the actor-critic agents only.
    assert resolve("softq", "atari").agent.precision == a2c.agent.precision == "auto"
    assert resolve("soft_dqn", "atari").agent.precision == "float32"
    assert resolve("a2c", "classic_control").agent.precision == "float32"
    soft = resolve("soft_dqn", "atari")
    assert (soft.agent.tau, soft.replay.replay_capacity, soft.replay.learning_starts) == (
        0.1,
        1_000_000,
        50_000,
    )
    assert resolve("dqn", "atari").agent.double_q is True
    # The actor-critic learning rate decays over the paper's 320M frames; the replay agents'
    # epsilon over baselines' 10M-step benchmark budget.
    assert resolve("softq", "atari").train.schedule_steps == a2c.train.schedule_steps == 80_000_000
    assert soft.train.schedule_steps == resolve("dqn", "atari").train.schedule_steps == 10_000_000


def test_minatar_preset_differs_from_classic_control_only_where_tuned():
    """The replay agents take the classic-control settings but update every 4 environment steps,
    soft DQN at a tenth of its default temperature; the actor-critic agents keep the
    classic-control torsos with their own learning rate and a tenth of the paper's temperature."""
    for agent in ("soft_dqn", "dqn"):
        classic, minatar = resolve(agent, "classic_control"), resolve(agent, "minatar")
        assert minatar.replay.env_steps_per_update == 4
        assert classic.replay.env_steps_per_update == 1
        if agent == "soft_dqn":
            assert (minatar.agent.tau, classic.agent.tau) == (0.01, 0.1)
            assert dataclasses.replace(minatar.agent, tau=classic.agent.tau) == classic.agent
        else:
            assert minatar.agent == classic.agent
    for agent in ("a2c", "softq"):
        classic, minatar = resolve(agent, "classic_control").agent, resolve(agent, "minatar").agent
        assert (minatar.shared_torso, minatar.normalize_observations) == (False, True)
        assert minatar.learning_rate < classic.learning_rate
        assert (minatar.tau, classic.tau) == (0.001, 0.01)
        assert (
            dataclasses.replace(minatar, learning_rate=classic.learning_rate, tau=0.01) == classic
        )


@pytest.mark.parametrize(
    "env, expected",
    [
        (None, "classic_control"),  # TrainConfig's default, CartPole-v1
        ("CartPole-v1", "classic_control"),
        ("Acrobot-v1", "classic_control"),
        ("MinAtar/Breakout-v1", "minatar"),
        ("MinAtar/SpaceInvaders-v0", "minatar"),
        ("my_package:MyEnv-v0", "classic_control"),  # a user-registered environment
        ("PongNoFrameskip-v4", "atari"),
        ("ALE/Breakout-v5", "atari"),
    ],
)
def test_auto_picks_the_preset_of_the_environments_family(env, expected):
    assert preset_name(None, env) == preset_name("auto", env) == expected
    overrides = {} if env is None else {"env": env}
    run = resolve("a2c", overrides=overrides)
    assert run == resolve("a2c", expected, overrides=overrides)
    assert describe_preset(None, env) == f"{expected} (auto, for {env or 'CartPole-v1'})"
    assert describe_preset("experiments", env) == "experiments"


def test_a_resumed_run_keeps_its_saved_configuration():
    saved = resolve("a2c", overrides={"env": "BreakoutNoFrameskip-v4"}).to_dict()
    run = resolve("a2c", saved=json.loads(json.dumps(saved)))
    assert run.train.env == "BreakoutNoFrameskip-v4"
    assert run.agent.torso == "nature_cnn" and run.train.num_envs == 16  # the atari preset
    assert run == resolve("a2c", overrides={"env": "BreakoutNoFrameskip-v4"})


def test_train_takes_the_preset_of_its_environment_or_the_saved_run(tmp_path):
    """``train(TrainConfig(...))`` without an agent config: the ``auto`` preset of its env; with
    ``resume``, the saved run's settings (a setting the saved run lacks takes its default)."""
    from softrl_tf.config import TrainConfig
    from softrl_tf.training.loop import _run_config

    pong = _run_config(TrainConfig(agent="a2c", env="PongNoFrameskip-v4"), None, None)
    assert pong.agent == resolve("a2c", "atari").agent
    saved = {"train": {"agent": "a2c", "env": "CartPole-v1"}, "agent": {"learning_rate": 0.02}}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    config = TrainConfig(agent="a2c", root_dir=str(tmp_path))
    resumed = _run_config(config, None, None, resume=True).agent
    assert resumed.learning_rate == 0.02 and resumed.shared_torso
    assert not resumed.normalize_observations
    assert not _run_config(config, None, None).agent.shared_torso  # a new run: the preset
