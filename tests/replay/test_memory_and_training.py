"""Tests of the replay's memory estimate and refusal, and of the frame replay in training: the
estimate is the buffers' own variables, 1M Atari transitions fit in 8 GB, a run that would not
fit stops with one sentence, and soft DQN trains, checkpoints and resumes on Pong with it."""

import os

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf import replay
from softrl_tf import train_cli as cli
from softrl_tf.config import ConfigError
from softrl_tf.replay import memory

import pytest
import tensorflow as tf
from tf_agents.replay_buffers import tf_uniform_replay_buffer
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import trajectory


def _spec(observation):
    return trajectory.Trajectory(
        step_type=tf.TensorSpec([], tf.int32, "step_type"),
        observation=observation,
        action=tensor_spec.BoundedTensorSpec([], tf.int64, 0, 5, "action"),
        policy_info=(),
        next_step_type=tf.TensorSpec([], tf.int32, "step_type"),
        reward=tf.TensorSpec([], tf.float32, "reward"),
        discount=tf.TensorSpec([], tf.float32, "discount"),
    )


ATARI = _spec(tensor_spec.BoundedTensorSpec([84, 84, 4], tf.uint8, 0, 255, "observation"))
CARTPOLE = _spec(tensor_spec.TensorSpec([4], tf.float32, "observation"))


@pytest.mark.parametrize("spec", [ATARI, CARTPOLE], ids=["atari", "cartpole"])
def test_the_estimate_is_the_bytes_of_the_buffers_variables(spec):
    built = replay.make_replay_buffer(spec, 3, 50, 150)
    frames = isinstance(built, replay.FrameReplayBuffer)
    assert frames == (spec is ATARI)
    assert replay.replay_bytes(spec, 3, 50, frames) == replay.variable_bytes(built)
    theirs = tf_uniform_replay_buffer.TFUniformReplayBuffer(spec, batch_size=3, max_length=50)
    assert replay.replay_bytes(spec, 3, 50, False) == replay.variable_bytes(theirs)


def test_a_million_atari_transitions_fit_in_8_gb():
    frames = replay.replay_bytes(ATARI, 16, 62_500, frames=True)
    stacks = replay.replay_bytes(ATARI, 16, 62_500, frames=False)
    assert frames <= 8e9 < 28e9 < stacks
    assert 7056 <= frames / 1e6 < 7100  # one 84x84 frame and a few scalars per transition


def test_a_buffer_that_does_not_fit_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 2 * 10**9)
    with pytest.raises(ConfigError) as error:
        replay.make_replay_buffer(ATARI, 16, 62_500, 1_000_000)
    message = str(error.value)
    assert message == (
        "--replay-capacity 1000000: the replay buffer would take about 7.1 GB (7,082 bytes per "
        "transition, frames stored once) but 2.0 GB of memory is available: lower "
        "--replay-capacity."
    )
    assert replay.check_replay_fits(ATARI, 16, 100, 1600) < 2 * 10**9


PONG = [
    "--agent=soft_dqn",
    "--env=PongNoFrameskip-v4",
    "--torso=nature_cnn",
    "--num-envs=2",
    "--learning-starts=64",
    "--batch-size=4",
    "--replay-capacity=1000",
    "--log-every-steps=100",
    "--checkpoint-replay-buffer",
    "--no-export",
]


def test_soft_dqn_on_pong_trains_checkpoints_and_resumes_with_the_frame_replay(tmp_path):
    pytest.importorskip("ale_py")
    root = str(tmp_path / "run")
    assert cli.main([*PONG, f"--root-dir={root}", "--total-steps=200"]) == 0
    checkpoint = tf.train.latest_checkpoint(os.path.join(root, "checkpoints"))
    names = [name for name, _ in tf.train.list_variables(checkpoint)]
    frames = [n for n in names if n.startswith("replay_buffer/_frames")]
    shapes = dict(tf.train.list_variables(checkpoint))
    assert frames and shapes[frames[0]] == [2 * (500 + 3), 84, 84]  # frames, not stacks
    assert cli.main([*PONG, f"--root-dir={root}", "--total-steps=260", "--resume"]) == 0
    assert tf.train.latest_checkpoint(os.path.join(root, "checkpoints")).endswith("-260")


def test_a_run_whose_replay_does_not_fit_exits_2_with_one_sentence(tmp_path, monkeypatch, capsys):
    pytest.importorskip("ale_py")
    monkeypatch.setattr(memory, "available_memory", lambda: 10**9)
    root = str(tmp_path / "run")
    status = cli.main(
        [*PONG, f"--root-dir={root}", "--total-steps=200", "--replay-capacity=200000"]
    )
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("lower --replay-capacity.") and "1.4 GB" in err[-1]
    assert not os.path.exists(os.path.join(root, "config.json"))
