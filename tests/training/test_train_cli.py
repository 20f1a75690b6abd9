"""Tests of the training command line (softrl_tf.train_cli, scripts/train.py): every agent end
to end, exports, bad input, the non-finite-loss guard, determinism, signals, kill and resume."""

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf import train_cli as cli
from softrl_tf.agents import AGENTS

import gymnasium
import numpy as np
import pytest
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN_SCRIPT = os.path.join(REPO, "scripts", "train.py")
TINY = ["--total-steps=800", "--log-every-steps=400", "--hidden-sizes=16", "--num-envs=4"]
# Off-policy agents: a short warm-up so that they take updates within the tiny budget.
OFF_POLICY = ["--learning-starts=200", "--batch-size=16", "--target-update-period=20"]


def _args(agent, root, *extra):
    args = [f"--agent={agent}", f"--root-dir={root}", *TINY, *extra]
    if not AGENTS[agent].on_policy:
        args += OFF_POLICY
    return args


def _rows(root):
    with open(os.path.join(root, "metrics.csv"), encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _checkpoint_steps(root):
    state = tf.train.get_checkpoint_state(os.path.join(root, "checkpoints"))
    if state is None:
        return []
    return [int(p.rsplit("-", 1)[1]) for p in state.all_model_checkpoint_paths]


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    """One tiny training run per agent through the command line, in this process."""
    runs = {}
    for agent in sorted(AGENTS):
        root = str(tmp_path_factory.mktemp(agent))
        status = cli.main(_args(agent, root, "--eval-every-steps=400", "--eval-episodes=2"))
        runs[agent] = (status, root)
    return runs


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_every_agent_trains_logs_checkpoints_and_exports(trained_runs, agent):
    status, root = trained_runs[agent]
    assert status == 0
    rows = _rows(root)
    assert [int(r["step"]) for r in rows] == [400, 800]
    assert rows[-1]["train/loss"] != ""  # the agent took updates
    assert np.isfinite(float(rows[-1]["train/loss"]))
    assert rows[-1]["eval/return_mean"] != ""
    assert float(rows[-1]["eval/return_mean"]) >= 1.0  # a CartPole episode lasts >= 1 step
    with open(os.path.join(root, "config.json"), encoding="utf-8") as f:
        saved = json.load(f)
    assert saved["train"]["agent"] == agent
    assert saved["agent"]["hidden_sizes"] == [16]
    assert _checkpoint_steps(root) == [800]
    for export_dir in ("saved_model", "policy"):
        assert os.path.isfile(os.path.join(root, export_dir, "saved_model.pb"))
    events = [n for n in os.listdir(root) if n.startswith("events.out.tfevents")]
    assert events, "no TensorBoard event file"


def test_exports_run_in_plain_tensorflow_without_softrl_tf_tf_agents_tfp(trained_runs):
    """Every agent's saved_model/ loads and acts in a process where softrl_tf, tf_agents,
    tensorflow_probability and tf_keras cannot be imported."""
    exports = {
        agent: os.path.join(root, "saved_model") for agent, (_, root) in trained_runs.items()
    }
    code = textwrap.dedent(
        f"""
        import json, sys
        BLOCKED = ("softrl_tf", "tf_agents", "tensorflow_probability", "tf_keras")
        # None in sys.modules makes a module uninstalled: import raises ImportError and
        # importlib.util.find_spec answers None (TensorFlow probes for tf_keras that way).
        for name in BLOCKED:
            sys.modules[name] = None
        import numpy as np, tensorflow as tf
        out = {{}}
        for agent, path in {exports!r}.items():
            model = tf.saved_model.load(path)
            obs = tf.constant(np.random.default_rng(0).normal(size=(5, 4)), tf.float32)
            greedy = model.signatures["serving_default"](observation=obs)
            sampled = model.signatures["sample"](observation=obs, temperature=tf.constant(1.0))
            out[agent] = {{
                "action": greedy["action"].numpy().tolist(),
                "logits_shape": list(greedy["logits"].shape),
                "sampled": sampled["action"].numpy().tolist(),
            }}
        loaded = [m for m in BLOCKED if sys.modules.get(m) is not None]
        print(json.dumps({{"out": out, "loaded": loaded}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    for agent, got in report["out"].items():
        assert got["logits_shape"] == [5, 2], agent
        assert all(a in (0, 1) for a in got["action"] + got["sampled"]), agent


BAD_INPUTS = [
    (["--agent=ppo"], "unknown agent 'ppo'; valid agents: a2c, dqn, soft_dqn, softq"),
    (["--env=Pendulum-v1"], "Discrete action space"),
    (["--env=CartPol-v1"], "did you mean 'CartPole-v1'"),
    (["--tau=0"], "--tau (tau) must be a finite number > 0, got 0.0"),
    (["--tau=-0.5"], "--tau (tau) must be a finite number > 0"),
    (["--tau=inf"], "--tau (tau) must be a finite number > 0, got inf"),
    (["--n-steps=0"], "--n-steps (n_steps) must be an integer in [1, 10,000] (a segment is held"),
    (["--n-steps=1000000000"], "--n-steps (n_steps) must be an integer in [1, 10,000]"),
    (["--agent=dqn", "--n-steps=20000"], "--n-steps (n_steps) must be an integer in [1, 10,000]"),
    (["--learning-rate=-1e-3"], "--learning-rate (learning_rate) must be a finite number > 0"),
    (["--learning-rate=inf"], "--learning-rate (learning_rate) must be a finite number > 0"),
    (["--num-envs=0"], "--num-envs (num_envs) must be an integer in [1, 4,096] (each environment"),
    (["--num-envs=1000000000"], "--num-envs (num_envs) must be an integer in [1, 4,096]"),
    (["--total-steps=" + "1" * 30], "--total-steps (total_steps) must be at most 2**53"),
    (["--seed=-1"], "--seed (seed) must be an integer >= 0, got -1"),
    (["--gamma=1.5"], "--gamma (gamma) must be a number in [0, 1]"),
    (["--agent=a2c", "--entropy-mode=fancy"], "--entropy-mode (entropy_mode) must be one of naive"),
    (["--prior=0.9,0.2"], "--prior (prior) must be uniform, counting, or comma-separated"),
    # A setting of another agent is refused, naming the agents that use it.
    (
        ["--entropy-mode=naive"],
        "--entropy-mode is not used by --agent=softq; it is a setting of a2c",
    ),
    (["--agent=dqn", "--tau=0.1"], "--tau is not used by --agent=dqn; it is a setting of a2c, "),
    (["--agent=a2c", "--batch-size=8"], "--batch-size is not used by --agent=a2c; it is a setting"),
    (["--agent=a2c", "--no-double-q"], "--double-q is not used by --agent=a2c"),
    (["--preset=mujoco"], "unknown preset 'mujoco'"),
    (["--resume"], "--resume: there is no checkpoint in"),
    (["--resume", "--overwrite"], "--resume and --overwrite contradict each other"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_exits_2_with_one_sentence(argv, message, tmp_path, capsys):
    status = cli.main([f"--root-dir={tmp_path / 'run'}", *argv])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err


def test_unwritable_root_dir_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    status = cli.main([f"--root-dir={blocker / 'run'}"])
    err = capsys.readouterr().err
    assert status == 2
    assert "is not writable" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["abc", "1e-3x"])
def test_non_numeric_values_exit_2_from_the_parser(value, capsys):
    assert cli.main([f"--tau={value}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"train.py: error: argument --tau: expected a number such as 0.01, got '{value}'; "
        "see train.py --help."
    )


def test_a_second_run_in_the_same_root_dir_needs_resume_or_overwrite(trained_runs, capsys):
    _, root = trained_runs["softq"]
    status = cli.main(_args("softq", root))
    assert status == 2
    assert "already holds a run: pass --resume" in capsys.readouterr().err


def test_help_documents_every_field():
    text = cli.build_parser("soft_dqn").format_help()
    for flag in ("--tau", "--backup", "--double-q", "--total-steps", "--resume", "--preset"):
        assert flag in text
    assert "Temperature of the soft backup" in text


def test_precedence_defaults_preset_flags():
    (train, agent, _), _ = cli.parse_configs(["--agent=a2c", "--preset=atari", "--tau=0.05"])
    assert train.env == "PongNoFrameskip-v4" and train.num_envs == 16  # preset
    assert agent.lr_schedule == "linear" and agent.learning_rate == 7e-4  # preset
    assert agent.tau == 0.05  # the flag beats the preset
    (train, agent, replay), _ = cli.parse_configs(["--agent=dqn"])
    assert agent.double_q is True and replay.batch_size == 64  # auto: classic_control


def test_an_atari_env_gets_the_atari_preset_and_help_shows_its_values():
    (train, agent, _), _ = cli.parse_configs(["--agent=a2c", "--env=BreakoutNoFrameskip-v4"])
    assert train.env == "BreakoutNoFrameskip-v4" and train.num_envs == 16
    assert agent.torso == "nature_cnn" and agent.learning_rate == 7e-4
    (train, agent, _), _ = cli.parse_configs(
        ["--agent=a2c", "--env=BreakoutNoFrameskip-v4", "--preset=classic_control"]
    )
    assert agent.learning_rate == 1e-2 and train.num_envs == 8  # a named preset wins
    text = cli.build_parser("a2c", None, "PongNoFrameskip-v4").format_help()
    assert "(default: nature_cnn)" in " ".join(text.split())


def test_help_shows_the_values_a_run_uses():
    """The default preset's tuned learning rate, not the dataclass default."""
    text = " ".join(cli.build_parser("a2c").format_help().split())
    assert "Initial learning rate. (default: 0.01)" in text
    assert "(default: linear)" in text
    text = " ".join(cli.build_parser("a2c", "atari").format_help().split())
    assert "Initial learning rate. (default: 0.0007)" in text


def test_resume_keeps_the_saved_config_and_flags_still_win(tmp_path):
    root = tmp_path / "run"
    root.mkdir()
    (root / "config.json").write_text(
        json.dumps({"train": {"agent": "a2c", "num_envs": 3}, "agent": {"tau": 0.2}})
    )
    (train, agent, _), _ = cli.parse_configs(
        ["--agent=a2c", f"--root-dir={root}", "--resume", "--n-steps=7"]
    )
    assert (train.num_envs, agent.tau, agent.n_steps) == (3, 0.2, 7)


class NanRewardAfter(gymnasium.Wrapper):
    """CartPole whose rewards turn nan after ``after`` steps (of this environment)."""

    def __init__(self, after):
        super().__init__(gymnasium.make("CartPole-v1"))
        self.after, self.count = after, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.count += 1
        return obs, (np.nan if self.count > self.after else reward), terminated, truncated, info


gymnasium.register("softrl_test/NanReward-v0", entry_point=NanRewardAfter, kwargs={"after": 300})


def test_non_finite_loss_stops_naming_step_and_term_and_keeps_checkpoint(tmp_path, capsys):
    root = str(tmp_path / "run")
    argv = _args("a2c", root, "--env=softrl_test/NanReward-v0", "--checkpoint-every-steps=400")
    argv = [a for a in argv if not a.startswith("--total-steps")] + ["--total-steps=4000"]
    status = cli.main(argv)
    err = capsys.readouterr().err
    assert status == 1
    assert "non-finite train/" in err and "at update" in err and "environment step" in err
    steps = _checkpoint_steps(root)
    # Each of the 4 environments turns nan after 300 of its steps, i.e. at batch step 1200.
    assert steps and max(steps) <= 1200
    checkpoint = tf.train.Checkpoint(env_steps=tf.Variable(0, dtype=tf.int64))
    checkpoint.restore(
        tf.train.latest_checkpoint(os.path.join(root, "checkpoints"))
    ).expect_partial()
    assert int(checkpoint.env_steps.numpy()) == max(steps)
    assert not os.path.exists(os.path.join(root, "saved_model"))


def test_same_seed_gives_identical_metrics(tmp_path):
    """Two runs with in-process environments and one seed log the same numbers."""
    tables = []
    for name in ("a", "b"):
        root = str(tmp_path / name)
        assert cli.main(_args("softq", root, "--seed=3", "--no-export")) == 0
        tables.append(
            [
                {k: v for k, v in r.items() if k not in ("wall_time", "env_steps_per_s")}
                for r in _rows(root)
            ]
        )
    assert tables[0] == tables[1]
    root = str(tmp_path / "c")
    assert cli.main(_args("softq", root, "--seed=4", "--no-export")) == 0
    other = [
        {k: v for k, v in r.items() if k not in ("wall_time", "env_steps_per_s")}
        for r in _rows(root)
    ]
    assert other != tables[0]


def _start(root, *extra, total=200_000):
    argv = [sys.executable, TRAIN_SCRIPT, *_args("a2c", root), "--no-export", *extra]
    argv = [a for a in argv if not a.startswith("--total-steps")] + [f"--total-steps={total}"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_rows(root, proc, count, timeout=120):
    deadline = time.monotonic() + timeout
    path = os.path.join(root, "metrics.csv")
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        if os.path.exists(path) and len(_rows(root)) >= count:
            return
        time.sleep(0.1)
    raise AssertionError("training logged nothing in time")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_a_checkpoint_and_exits_cleanly(tmp_path, sig):
    root = str(tmp_path / "run")
    proc = _start(root, "--checkpoint-every-steps=1000000")
    _wait_for_rows(root, proc, 2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err[-2000:]
    assert "Traceback" not in err
    assert f"{signal.Signals(sig).name} received at environment step" in err
    steps = _checkpoint_steps(root)
    assert len(steps) == 1 and steps[0] >= 800  # saved at the interruption, not before


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_reaches_total_steps(tmp_path):
    """Killed with SIGKILL three times; each resume loads the latest checkpoint, loses at most one
    checkpoint interval of work, and the run ends at --total-steps with a monotone metrics.csv."""
    root = str(tmp_path / "run")
    interval, total = 2000, 16_000
    rng = np.random.default_rng(1234)
    resume = []
    for _ in range(3):
        proc = _start(root, f"--checkpoint-every-steps={interval}", *resume, total=total)
        _wait_for_rows(root, proc, 1)
        time.sleep(float(rng.uniform(0.0, 2.5)))
        proc.kill()
        proc.communicate(timeout=30)
        if not _checkpoint_steps(root):
            resume = []  # killed before the first checkpoint: a fresh start is the only option
            continue
        logged = max(int(r["step"]) for r in _rows(root))
        latest = max(_checkpoint_steps(root))
        assert logged - latest <= interval + 400  # one interval, plus the last logging period
        resume = ["--resume"]
    proc = _start(root, f"--checkpoint-every-steps={interval}", *resume, total=total)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    steps = [int(r["step"]) for r in _rows(root)]
    assert steps[-1] == total
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    assert max(_checkpoint_steps(root)) == total


def test_steps_to_threshold_counts_the_run_steps_at_which_episodes_ended():
    from softrl_tf.training.loop import TrainResult

    # Window 2: means 1.5, 2.5, 3.5 after episodes 2, 3, 4; 3.0 is first reached by episode 4,
    # seen when the run had taken 400 steps (its own length, 10, does not matter).
    result = TrainResult(
        env_steps=500,
        updates=0,
        episode_returns=[1.0, 2.0, 3.0, 4.0],
        episode_lengths=[10, 10, 10, 10],
        episode_end_steps=[100, 200, 300, 400],
    )
    assert result.steps_to_threshold(3.0, window=2) == 400
    assert result.steps_to_threshold(2.5, window=2) == 300
    assert result.steps_to_threshold(5.0, window=2) is None


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_every_agent_trains_and_exports_in_mixed_bfloat16(tmp_path, agent):
    """--precision=mixed_bfloat16: finite losses, a checkpoint, and an export that answers raw
    observations with actions in the action space (float32 Q-values or logits)."""
    root = str(tmp_path / "run")
    assert cli.main(_args(agent, root, "--precision=mixed_bfloat16")) == 0
    rows = _rows(root)
    assert np.isfinite(float(rows[-1]["train/loss"]))
    with open(os.path.join(root, "config.json"), encoding="utf-8") as f:
        assert json.load(f)["agent"]["precision"] == "mixed_bfloat16"
    loaded = tf.saved_model.load(os.path.join(root, "saved_model"))
    observations = tf.constant(np.random.default_rng(0).normal(size=[7, 4]), tf.float32)
    actions = loaded.signatures["serving_default"](observation=observations)["action"].numpy()
    assert actions.shape == (7,) and set(actions.tolist()) <= {0, 1}


def test_a_run_logs_the_preset_it_uses(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="softrl_tf"):
        assert cli.main(_args("a2c", str(tmp_path / "run"), "--no-export")) == 0
    assert "preset: classic_control (auto, for CartPole-v1)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="softrl_tf"):
        args = _args("a2c", str(tmp_path / "run"), "--no-export", "--resume", "--total-steps=1200")
        assert cli.main(args) == 0
    assert "preset: none (resumed: the run's config.json)" in caplog.text
