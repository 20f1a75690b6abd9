"""Experiment specifications: run names, override order, quick mode, and the registry."""

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf import presets
from softrl_tf.agents import A2CConfig, SoftDQNConfig
from softrl_tf.config import validate
from softrl_tf.experiments import registry
from softrl_tf.experiments.specs import EnvBudget, RunSpec, TrainingExperiment, Variant

import pytest


def _experiment(**kwargs):
    values = dict(
        name="e",
        title="E",
        description="",
        variants=(Variant("v", "a2c", {"tau": 0.3, "n_steps": 7}),),
        envs=(
            EnvBudget(
                "MinAtar/Breakout-v1",
                total_steps=1000,
                quick_steps=100,
                train_overrides={"num_envs": 3},
                agent_overrides={"tau": 0.2, "gamma": 0.9},
            ),
            EnvBudget("CartPole-v1", total_steps=500),
        ),
        seeds=(4, 5, 6),
        train_overrides={"num_envs": 2, "backend": "sync"},
        agent_overrides={"tau": 0.1, "gamma": 0.5, "value_coef": 0.25},
    )
    values.update(kwargs)
    return TrainingExperiment(**values)


def test_runs_names_and_quick_mode():
    runs = _experiment().runs()
    assert [r.name for r in runs] == [
        "v-MinAtar-Breakout-v1-s4",
        "v-MinAtar-Breakout-v1-s5",
        "v-MinAtar-Breakout-v1-s6",
        "v-CartPole-v1-s4",
        "v-CartPole-v1-s5",
        "v-CartPole-v1-s6",
    ]
    assert [r.log_every_steps for r in runs] == [10] * 3 + [5] * 3  # total // 100
    quick = _experiment().runs(quick=True)
    # Only environments with a quick budget, at that budget, with the first two seeds.
    assert [(r.name, r.total_steps, r.quick) for r in quick] == [
        ("v-MinAtar-Breakout-v1-s4", 100, True),
        ("v-MinAtar-Breakout-v1-s5", 100, True),
    ]


def test_override_order_preset_then_experiment_then_env_then_variant_then_run():
    run = _experiment().runs()[0]
    train, agent, replay = run.resolve("/tmp/x")
    assert replay is None
    assert isinstance(agent, A2CConfig)
    assert agent.tau == 0.3 and agent.n_steps == 7  # variant beats env and experiment
    assert agent.gamma == 0.9  # env beats experiment
    assert agent.value_coef == 0.25  # experiment beats the default (0.5)
    assert agent.learning_rate == presets.experiments("a2c")["learning_rate"]  # preset
    assert train.num_envs == 3 and train.backend == "sync"
    assert (train.env, train.seed, train.total_steps, train.root_dir) == (
        "MinAtar/Breakout-v1",
        4,
        1000,
        "/tmp/x",
    )
    assert train.export is False and train.checkpoint_every_steps == 200
    assert train.checkpoint_replay_buffer is False  # on-policy: no replay buffer


def test_preset_comes_first_and_off_policy_checkpoints_the_replay_buffer():
    run = RunSpec(
        "e",
        "v",
        "soft_dqn",
        "CartPole-v1",
        0,
        100,
        10,
        preset="atari",
        agent_overrides={"batch_size": 8},
    )
    train, agent, replay = run.resolve("/tmp/x")
    assert isinstance(agent, SoftDQNConfig)
    assert agent.torso == "nature_cnn" and replay.replay_capacity == 1_000_000  # the preset
    assert replay.batch_size == 8  # overrides beat the preset
    assert train.env == "CartPole-v1" and train.total_steps == 100  # the run beats the preset
    assert train.checkpoint_replay_buffer is True


def test_unknown_fields_and_presets_are_errors():
    run = RunSpec("e", "v", "a2c", "CartPole-v1", 0, 100, 10, agent_overrides={"backup": "max"})
    with pytest.raises(ValueError, match="--backup.*not used by --agent=a2c.*soft_dqn"):
        run.resolve("/tmp/x")
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        RunSpec("e", "v", "a2c", "CartPole-v1", 0, 100, 10, preset="nope").resolve("/tmp/x")


def test_registry_experiments_are_valid():
    assert list(registry.EXPERIMENTS) == [
        "equivalence",
        "entropy_returns",
        "soft_dqn",
        "softq_vs_a2c",
        "npg",
        "atari_pong",
    ]
    for experiment in registry.EXPERIMENTS.values():
        assert len(experiment.seeds) >= 3
        if experiment.kind != "training":
            continue
        runs = experiment.runs()
        assert len({r.name for r in runs}) == len(runs)
        for run in runs + experiment.runs(quick=True):
            validate(*run.resolve("/tmp/x"))
    # The same environments across experiments 2-4, and the hyperparameters shared by variants.
    names = ("entropy_returns", "soft_dqn", "softq_vs_a2c")
    envs = {e: {r.env for r in registry.EXPERIMENTS[e].runs()} for e in names}
    assert envs["entropy_returns"] == envs["soft_dqn"] == envs["softq_vs_a2c"]
    assert len(envs["entropy_returns"]) == 3
    proper = registry.ENTROPY_RETURNS.runs()[3]
    a2c = registry.SOFTQ_VS_A2C.runs()[0]
    assert (proper.variant, a2c.variant) == ("proper", "a2c")
    assert proper.resolve("/x") == a2c.resolve("/x")  # reused between the two experiments
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        registry.get_experiment("nope")


def test_registry_experiments_pin_their_hyperparameters(monkeypatch):
    """Retuning the default (classic_control) preset does not change the experiments' configurations
    (which would make the committed results stale)."""
    names = ("entropy_returns", "soft_dqn", "softq_vs_a2c", "tuning_classic_control")
    before = {
        name: [run.resolve("/x") for run in registry.get_experiment(name).runs()] for name in names
    }

    def retuned(agent):
        changed = {"learning_rate": 0.123, "lr_schedule": "constant"}
        if agent in ("a2c", "softq"):
            changed.update(shared_torso=True, normalize_observations=False, n_steps=3)
        if agent in ("soft_dqn", "dqn"):
            changed.update(double_q=True, target_update_period=7, epsilon_end=0.2)
        return changed

    monkeypatch.setitem(presets.PRESETS, "classic_control", retuned)
    assert presets.resolve("a2c").agent.learning_rate == 0.123
    for name, configs in before.items():
        assert [run.resolve("/x") for run in registry.get_experiment(name).runs()] == configs
    _, agent, _ = registry.ENTROPY_RETURNS.runs()[0].resolve("/x")
    assert (agent.learning_rate, agent.lr_schedule) == (7e-4, "constant")
    _, agent, _ = registry.SOFT_DQN.runs()[0].resolve("/x")
    assert (agent.learning_rate, agent.double_q, agent.target_update_period) == (1e-3, False, 500)


def test_the_paper_scale_atari_experiment_is_by_name_only():
    """``atari_paper`` (scripts/atari_gpu.sh) resolves on every run, keeps the Atari preset's
    settings, and stays out of ``all`` and its laptop-scale budget."""
    experiment = registry.get_experiment("atari_paper")
    assert "atari_paper" not in registry.EXPERIMENTS
    runs = experiment.runs()
    assert len(runs) == 3 * len(registry.ATARI_GAMES) * len(experiment.seeds) == 45
    for run in runs:
        train, agent, replay = run.resolve("/tmp/x")
        validate(train, agent, replay)
        assert train.total_steps == 10_000_000 and train.env.endswith("NoFrameskip-v4")
        assert agent.torso == "nature_cnn"
        if run.agent == "soft_dqn":
            assert (replay.replay_capacity, agent.tau, train.num_envs) == (1_000_000, 0.1, 8)
        else:
            assert (agent.learning_rate, agent.lr_schedule, train.num_envs) == (7e-4, "linear", 16)


def test_tuning_experiments_never_use_the_benchmark_seeds():
    """The presets are tuned on seeds the benchmark and the paper's experiments never report."""
    tunings = [
        experiment
        for name, experiment in registry.LARGE_EXPERIMENTS.items()
        if name.startswith("tuning_")
    ]
    assert {e.name for e in tunings} >= {"tuning_minatar", "tuning_minatar_replay"}
    for experiment in tunings:
        assert not set(experiment.seeds) & set(registry.SEEDS), experiment.name
