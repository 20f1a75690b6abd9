"""Tests of softrl_tf.replay.FrameReplayBuffer: every sampled stack is the one the environment
produced (fake pixel envs with zero and repeat padding, real Atari games with and without
episodic life), ring wrap-around, TF-Agents' interface and checkpoints."""

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.envs import make_env
from softrl_tf.replay import FrameReplayBuffer

import numpy as np
import pytest
import tensorflow as tf
from _pixel_fakes import batched_pixel_env, data_spec, record
from tf_agents.replay_buffers import tf_uniform_replay_buffer
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import trajectory


def _assert_item_equal(got, want, what):
    for name in ("step_type", "observation", "action", "next_step_type", "reward", "discount"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), f"{what}: {name}")


def _check_windows(buffer, items, num_steps=3, draws=20, batch=32):
    """Every sampled window equals the recorded items of one environment at the window's ids."""
    sample = tf.function(lambda: buffer.get_next(batch, num_steps), autograph=False)
    for _ in range(draws):
        window, info = tf.nest.map_structure(np.asarray, sample())
        assert window.observation.shape[:2] == (batch, num_steps)
        for row in range(batch):
            ids = info.ids[row]
            assert np.all(np.diff(ids) == 1)
            got = tf.nest.map_structure(lambda x, row=row: x[row], window)
            matches = [
                b
                for b in range(len(items))
                if np.array_equal(np.stack([items[b][i].observation for i in ids]), got.observation)
            ]
            assert matches, f"window at ids {ids} matches no environment's stacks"
            # Several environments can show the same frames at the same ids (a game's opening
            # frames): the window must equal, field by field, one of those that match.
            errors = []
            for b in matches:
                want = tf.nest.map_structure(lambda *x: np.stack(x), *[items[b][i] for i in ids])
                try:
                    _assert_item_equal(got, want, f"window at ids {ids}")
                    break
                except AssertionError as error:
                    errors.append(error)
            else:
                raise errors[0]


def _check_all(buffer, items):
    stored = tf.nest.map_structure(np.asarray, buffer.gather_all())
    kept = stored.observation.shape[1]
    assert kept == min(len(items[0]), buffer.max_length)
    for b, env_items in enumerate(items):
        for k, want in enumerate(env_items[-kept:]):
            got = tf.nest.map_structure(lambda x, b=b, k=k: x[b, k], stored)
            _assert_item_equal(got, want, f"environment {b}, item {len(env_items) - kept + k}")


@pytest.mark.parametrize("padding", ["zero", "reset"])
def test_sampled_stacks_are_those_the_environment_produced(padding):
    env = batched_pixel_env(3, padding)
    # 300 steps into 40 items per environment: the rings wrap around many times, and windows
    # cross episode ends (episodes are 3 to 12 steps).
    buffer = FrameReplayBuffer(data_spec(env), 3, 40)
    assert buffer.stores_frames
    items = record(env, buffer, 300)
    assert sum(int(i.step_type == 0) for i in items[0]) > 10  # many episode starts
    _check_all(buffer, items)
    _check_windows(buffer, items)


@pytest.mark.parametrize(
    "env_id, options",
    [
        ("PongNoFrameskip-v4", {"max_episode_frames": 400}),
        ("BreakoutNoFrameskip-v4", {"episodic_life": True, "max_episode_frames": 2000}),
    ],
    ids=["pong", "breakout_episodic_life"],
)
def test_sampled_atari_stacks_are_those_the_environment_produced(env_id, options):
    pytest.importorskip("ale_py")
    env = make_env(env_id, 2, seed=0, **options)
    try:
        buffer = FrameReplayBuffer(data_spec(env), 2, 120)
        items = record(env, buffer, 260)
    finally:
        env.close()
    firsts = [i for i in items[0] + items[1] if i.step_type == 0]
    assert len(firsts) >= 3  # episode (or life) starts inside the record
    if options.get("episodic_life"):
        # A life's FIRST step continues its game's frames; only a game's reset pads with zeros.
        assert any(np.any(i.observation[..., :3]) for i in firsts)
    _check_all(buffer, items)
    _check_windows(buffer, items, num_steps=2, draws=5)


def test_ring_wrap_around_keeps_the_newest_items_and_whole_windows():
    env = batched_pixel_env(2)
    buffer = FrameReplayBuffer(data_spec(env), 2, 5)
    items = record(env, buffer, 3)
    assert int(buffer.num_frames()) == 6
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty"):
        buffer.get_next(4, 4)  # no window of 4 items yet
    items = [a + b for a, b in zip(items, record(env, buffer, 10, seed=1), strict=True)]
    assert int(buffer.num_frames()) == 10  # 2 environments x 5 items
    _check_all(buffer, items)
    ids = np.asarray(buffer.get_next(200, 3)[1].ids)
    # Items 8..12 are kept: windows of 3 start at 8, 9 or 10 and never cross the write head.
    assert set(ids[:, 0].tolist()) == {8, 9, 10}


def test_observations_that_are_not_frame_stacks_are_refused():
    env = batched_pixel_env(1)
    buffer = FrameReplayBuffer(data_spec(env), 1, 5)
    items = record(env, buffer, 2)
    step = items[0][-1]
    bad = tf.nest.map_structure(lambda x: np.asarray(x)[None], step)
    bad = bad._replace(observation=np.full_like(bad.observation, 7) + np.arange(4, dtype=np.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a frame stack"):
        buffer.add_batch(bad)


def _cartpole_spec():
    return trajectory.Trajectory(
        step_type=tf.TensorSpec([], tf.int32),
        observation=tensor_spec.BoundedTensorSpec([4], tf.float32, -5, 5),
        action=tensor_spec.BoundedTensorSpec([], tf.int64, 0, 1),
        policy_info=(),
        next_step_type=tf.TensorSpec([], tf.int32),
        reward=tf.TensorSpec([], tf.float32),
        discount=tf.TensorSpec([], tf.float32),
    )


def test_whole_observations_are_stored_as_tf_agents_does():
    spec = _cartpole_spec()
    ours = FrameReplayBuffer(spec, 3, 7)
    theirs = tf_uniform_replay_buffer.TFUniformReplayBuffer(spec, batch_size=3, max_length=7)
    assert not ours.stores_frames
    for i in range(11):
        item = tf.nest.map_structure(
            lambda s, i=i: tf.cast(
                tf.fill([3, *s.shape], i) + tf.zeros([3, *s.shape], tf.int32), s.dtype
            ),
            spec,
        )
        ours.add_batch(item)
        theirs.add_batch(item)
    tf.nest.map_structure(np.testing.assert_array_equal, ours.gather_all(), theirs.gather_all())
    assert int(ours.num_frames()) == int(theirs.num_frames())
    got, info = ours.get_next(5, 2)
    want, want_info = theirs.get_next(5, 2)
    tf.nest.assert_same_structure(got, want)
    for a, b in zip(tf.nest.flatten(got), tf.nest.flatten(want), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
    assert info.ids.shape == want_info.ids.shape
    np.testing.assert_allclose(info.probabilities, want_info.probabilities)
    dataset_item, _ = next(iter(ours.as_dataset(5, 2)))
    assert dataset_item.observation.shape == (5, 2, 4)


def test_checkpoint_round_trip_restores_items_and_the_stacks_in_progress(tmp_path):
    env = batched_pixel_env(2)
    spec = data_spec(env)
    buffer = FrameReplayBuffer(spec, 2, 30)
    items = record(env, buffer, 45)
    path = tf.train.Checkpoint(replay_buffer=buffer).save(str(tmp_path / "ckpt"))
    restored = FrameReplayBuffer(spec, 2, 30)
    tf.train.Checkpoint(replay_buffer=restored).restore(path).assert_consumed()
    _check_all(restored, items)
    # The restored buffer goes on where the saved one stopped: later stacks continue the saved
    # ones (the environment is the same one, not reset).
    more = record(env, restored, 25, seed=3)
    _check_all(restored, [a + b for a, b in zip(items, more, strict=True)])
