"""softrl-evaluate (softrl_tf.evaluate): end to end on exports built here, exact episode
counts, errors."""

import importlib.util
import json
import os
import re
import subprocess
import sys

from softrl_tf import envs, evaluate, export
from softrl_tf.networks import ActorCriticNetwork, QNetwork

import gymnasium
import numpy as np
import pytest
import tensorflow as tf
from gymnasium import spaces
from tf_agents.specs import tensor_spec

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CARTPOLE_OBS = tensor_spec.TensorSpec([4], tf.float32)
TWO_ACTIONS = tensor_spec.BoundedTensorSpec([], tf.int64, 0, 1)
FAKE_ID = "SoftrlTest/FixedLength-v0"
FAKE_REWARD = -3.0  # |r| > 1, so sign clipping would change every return


class FixedLengthEnv(gymnasium.Env):
    """Episodes of ``2 + seed % 3`` steps (2 when reset unseeded), reward -3 per step.

    Observations are CartPole-shaped (float32 [4]) and there are two actions, so a CartPole export
    plays it; the returns do not depend on the actions.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode=None):
        self.observation_space = spaces.Box(-np.inf, np.inf, (4,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.render_mode = render_mode
        self._length = self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._length = 2 + (seed % 3 if seed is not None else 0)
        self._t = 0
        return np.full(4, 0.5, np.float32), {}

    def step(self, action):
        self._t += 1
        terminated = self._t >= self._length
        return np.full(4, 0.5, np.float32), FAKE_REWARD, terminated, False, {}

    def render(self):
        return np.full((32, 48, 3), 40 * self._t % 256, np.uint8)


if FAKE_ID not in gymnasium.registry:
    gymnasium.register(FAKE_ID, entry_point=FixedLengthEnv)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """CartPole exports of small untrained networks, and exports that do not fit CartPole."""
    root = tmp_path_factory.mktemp("exports")
    tf.random.set_seed(3)
    q_net = QNetwork(CARTPOLE_OBS, TWO_ACTIONS, hidden_sizes=(16,))
    actor_critic = ActorCriticNetwork(CARTPOLE_OBS, TWO_ACTIONS, hidden_sizes=(16,))
    three_obs = tensor_spec.TensorSpec([3], tf.float32)
    paths = {
        "q": export.export_saved_model(q_net, CARTPOLE_OBS, root / "q", env_id="CartPole-v1"),
        "actor_critic": export.export_saved_model(
            actor_critic, CARTPOLE_OBS, root / "ac", env_id="CartPole-v1"
        ),
        "no_env_id": export.export_saved_model(q_net, CARTPOLE_OBS, root / "no_env_id"),
        "three_obs": export.export_saved_model(
            QNetwork(three_obs, TWO_ACTIONS, hidden_sizes=(8,)),
            three_obs,
            root / "three_obs",
            env_id="CartPole-v1",
        ),
    }
    plain = str(root / "plain_saved_model")
    tf.saved_model.save(tf.Module(), plain)
    paths["plain"] = plain
    return {"paths": paths, "q_net": q_net}


def _main(argv, capsys):
    """``(status, stdout, stderr)`` of ``evaluate.main(argv)`` in this process."""
    try:
        status = evaluate.main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's errors
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def _live_greedy_episodes(network, seeds):
    """(return, length) of greedy episodes of the live Q network on plain gymnasium CartPole."""
    episodes = []
    for seed in seeds:
        env = gymnasium.make("CartPole-v1")
        observation, _ = env.reset(seed=seed)
        total, length, done = 0.0, 0, False
        while not done:
            q = network(observation[None].astype(np.float32), training=False)[0].numpy()
            observation, reward, terminated, truncated, _ = env.step(int(np.argmax(q[0])))
            total, length, done = total + reward, length + 1, terminated or truncated
        env.close()
        episodes.append((total, length))
    return episodes


def test_json_returns_match_live_network_on_same_seeds(exports):
    """The CLI in a subprocess: the exported greedy policy replays the live network's episodes."""
    seed, episodes = 7, 4
    result = subprocess.run(
        [sys.executable, "-m", "softrl_tf.evaluate", exports["paths"]["q"], "--json"]
        + [f"--episodes={episodes}", f"--seed={seed}"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    live = _live_greedy_episodes(exports["q_net"], [seed + i for i in range(episodes)])
    live_returns = [r for r, _ in live]
    assert len({*live_returns}) > 1, "test needs episodes of different returns"
    assert summary["episodes"] == episodes
    assert summary["env"] == "CartPole-v1"  # from the export's metadata: no --env given
    assert summary["policy"] == "greedy"
    assert summary["returns"] == live_returns
    assert summary["lengths"] == [n for _, n in live]
    assert summary["mean_return"] == pytest.approx(np.mean(live_returns))
    assert summary["std_return"] == pytest.approx(np.std(live_returns))
    progress = [line for line in result.stderr.splitlines() if line.startswith("[evaluate]")]
    assert len(progress) == episodes
    assert progress[-1].startswith(f"[evaluate] episode {episodes}/{episodes}: return ")


def test_counts_exactly_n_unclipped_episodes_seeded_per_episode(exports, capsys):
    status, out, err = _main(
        [exports["paths"]["q"], "--env", FAKE_ID, "--episodes", 5, "--seed", 4, "--json"], capsys
    )
    assert status == 0, err
    summary = json.loads(out)
    # Episode i is reset with seed 4 + i: lengths 2 + (4, 5, 6, 7, 8) % 3 = 3, 4, 2, 3, 4, and
    # returns -3 per step: -9, -12, -6, -9, -12 (clipped rewards would give -3, -4, -2, ...).
    assert summary["episodes"] == 5
    assert summary["lengths"] == [3, 4, 2, 3, 4]
    assert summary["returns"] == [-9.0, -12.0, -6.0, -9.0, -12.0]
    assert summary["mean_return"] == pytest.approx(-9.6)  # -48 / 5
    # Deviations 0.6, -2.4, 3.6, 0.6, -2.4: squares sum to 25.2; 25.2 / 5 = 5.04.
    assert summary["std_return"] == pytest.approx(np.sqrt(5.04))
    assert summary["env"] == FAKE_ID


def test_text_output_agrees_with_json(exports, capsys):
    path = exports["paths"]["actor_critic"]
    status, text, err = _main([path, "--episodes", 3, "--seed", 11], capsys)
    assert status == 0, err
    status, out, _ = _main([path, "--episodes", 3, "--seed", 11, "--json", "--quiet"], capsys)
    assert status == 0
    summary = json.loads(out)
    match = re.search(r"3 episodes, greedy actions: mean return (\S+) \+- (\S+) \(std", text)
    assert match, text
    assert float(match[1]) == pytest.approx(summary["mean_return"], abs=0.005)
    assert float(match[2]) == pytest.approx(summary["std_return"], abs=0.005)
    assert text.startswith("CartPole-v1: ")
    assert err.count("[evaluate] episode") == 3


def test_root_dir_of_a_run_finds_its_saved_model(exports, capsys, tmp_path):
    run_dir = tmp_path / "run"
    export.export_saved_model(
        exports["q_net"], CARTPOLE_OBS, run_dir / "saved_model", env_id="CartPole-v1"
    )
    status, out, err = _main([run_dir, "--episodes", 1, "--json", "--quiet"], capsys)
    assert status == 0, err
    assert json.loads(out)["export"] == str(run_dir / "saved_model")


def test_seeded_sampling_is_reproducible(exports, capsys):
    common = [exports["paths"]["q"], "--seed", 5, "--episodes", 4, "--json", "--quiet"]
    argv = common + ["--sample", "--temperature", 2.0]
    first = json.loads(_main(argv, capsys)[1])
    second = json.loads(_main(argv, capsys)[1])
    assert first["policy"] == "sample" and first["temperature"] == 2.0
    assert first["returns"] == second["returns"]
    # The sampled policy (Boltzmann over small Q-values at T = 2) is close to uniform, unlike the
    # greedy one: the returns differ from the greedy episodes on the same environment seeds.
    greedy = json.loads(_main(common, capsys)[1])
    assert greedy["policy"] == "greedy"
    assert first["returns"] != greedy["returns"]


def _bad_inputs(paths, tmp):
    """(argv, phrase the one-line error must contain) for every kind of bad input."""
    return [
        ([tmp / "missing"], "is not a SavedModel directory"),
        ([paths["plain"]], "not a softrl_tf export"),
        ([paths["q"], "--env", "CartPoleX-v1"], "Unknown environment id 'CartPoleX-v1'"),
        ([paths["q"], "--env", "Pendulum-v1"], "Discrete action space"),
        ([paths["q"], "--env", "Acrobot-v1"], "has 3 actions but the export has 2"),
        ([paths["three_obs"]], "observation must have shape [batch, 3] (float32)"),
        ([paths["no_env_id"]], "records no environment id: pass one with --env=ID"),
        ([paths["q"], "--episodes", 0], "argument --episodes: must be an integer >= 1"),
        ([paths["q"], "--episodes", -3], "argument --episodes: must be an integer >= 1"),
        ([paths["q"], "--sample", "--temperature", 0], "argument --temperature: must be"),
        ([paths["q"], "--sample", "--temperature", -0.5], "argument --temperature: must be"),
        ([paths["q"], "--video", tmp / "out.gif"], "--video must name an .mp4 file"),
    ]


def test_bad_inputs_exit_2_with_one_sentence(exports, capsys, tmp_path):
    for argv, phrase in _bad_inputs(exports["paths"], tmp_path):
        status, out, err = _main(argv + ["--episodes=1"] * ("--episodes" not in argv), capsys)
        assert status == 2, (argv, err)
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1, (argv, err)
        assert lines[0].startswith("softrl-evaluate: error: "), (argv, err)
        assert phrase in lines[0], (argv, err)
        assert out == ""


def test_bad_input_exits_2_in_a_subprocess(exports):
    result = subprocess.run(
        [sys.executable, "-m", "softrl_tf.evaluate", exports["paths"]["q"], "--episodes=0"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "softrl-evaluate: error: argument --episodes: must be an integer >= 1, got 0 (see --help)."
    )


def test_video(exports, capsys, tmp_path):
    """Records the first episode with moviepy, or says in one sentence to install it."""
    out_path = tmp_path / "videos" / "fake.mp4"
    argv = [exports["paths"]["q"], "--env", FAKE_ID, "--episodes", 2, "--video", out_path]
    status, out, err = _main(argv + ["--quiet"], capsys)
    if importlib.util.find_spec("moviepy") is None:
        assert status == 2
        assert err.strip() == (
            "softrl-evaluate: error: Recording a video needs moviepy, which is not installed: run "
            "`pip install moviepy` (or leave out --video)."
        )
        assert not out_path.exists()
    else:
        assert status == 0, err
        assert out_path.stat().st_size > 0
        assert os.listdir(out_path.parent) == ["fake.mp4"]  # no temporary files left


def test_run_episodes_needs_a_batch_of_one():
    env = envs.make_env("CartPole-v1", 2, backend="sync")
    try:
        with pytest.raises(ValueError, match="batch size 1, got 2"):
            evaluate.run_episodes(env, lambda obs, episode, t: np.zeros(1), 1)
    finally:
        env.close()
