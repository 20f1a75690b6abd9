"""``normalize_observations``: the running statistics, where they are updated, and that they
travel with the weights (target networks, save/load, exports). On env runners and under two
replicas: tests/distributed/test_exact.py and test_replicas.py."""

import math

import softrl_tf
from softrl_tf import networks
from softrl_tf.estimators import ESTIMATORS

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from tf_agents.specs import tensor_spec

VEC = tensor_spec.TensorSpec([3], tf.float32)
ACT = tensor_spec.BoundedTensorSpec([], tf.int32, 0, 1)
SMALL = dict(num_envs=4, hidden_sizes=(16,), log_every_steps=200, seed=0)
REPLAY = dict(learning_starts=100, batch_size=16, target_update_period=20)


def _standardised(x, seen):
    mean, var = seen.mean(axis=0), seen.var(axis=0)
    return np.clip((x - mean) / np.sqrt(var + 1e-8), -10.0, 10.0)


def test_before_any_observation_the_normalizer_only_clips():
    normalizer = networks.ObservationNormalizer([3])
    x = np.array([[1.0, -250.0, 3.5]], np.float32)
    np.testing.assert_array_equal(normalizer(tf.constant(x)).numpy(), [[1.0, -10.0, 3.5]])
    mean, variance = normalizer.moments()
    np.testing.assert_array_equal(mean.numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(variance.numpy(), [1.0, 1.0, 1.0])


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=5),
    scale=st.floats(1e-2, 1e3),
    offset=st.floats(-100, 100),
)
def test_statistics_over_several_batches_are_those_of_all_observations(sizes, scale, offset):
    """Any split into batches. Observations lie within ``100 * scale`` of 0 in mean (further,
    float32 inputs no longer resolve the spread). TF-Agents' count starts at 1e-8 rather than 0,
    which adds ``shift**2 * 1e-8 / n`` to the variance: inside the tolerance."""
    shift = offset * scale
    rng = np.random.default_rng(len(sizes))
    batches = [(shift + scale * rng.normal(size=(n, 3))).astype(np.float32) for n in sizes]
    normalizer = networks.ObservationNormalizer([3])
    for batch in batches:
        normalizer.update(tf.constant(batch))
    seen = np.concatenate(batches).astype(np.float64)
    mean, variance = normalizer.moments()
    assert float(normalizer.count) == pytest.approx(len(seen))
    np.testing.assert_allclose(mean.numpy(), seen.mean(axis=0), rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(
        variance.numpy(), seen.var(axis=0), rtol=1e-3, atol=1e-5 * scale**2 + 2e-8 * shift**2
    )


def test_normalized_input_is_standardised_and_clipped():
    rng = np.random.default_rng(0)
    seen = rng.normal([1.0, -2.0, 30.0], [0.5, 2.0, 10.0], size=(200, 3)).astype(np.float32)
    normalizer = networks.ObservationNormalizer([3])
    normalizer.update(tf.constant(seen))
    x = np.array([[1.0, -2.0, 30.0], [100.0, -2.0, 0.0], [1.25, 0.0, -1e6]], np.float32)
    got = normalizer(tf.constant(x)).numpy()
    np.testing.assert_allclose(got, _standardised(x, seen.astype(np.float64)), atol=1e-3)
    assert got[1, 0] == 10.0 and got[2, 2] == -10.0  # clipped both ways


@pytest.mark.parametrize("kind", ["actor_critic", "q"])
def test_the_network_reads_its_normalized_input_and_copies_keep_the_statistics_apart(kind):
    cls = networks.ActorCriticNetwork if kind == "actor_critic" else networks.QNetwork
    net = cls(VEC, ACT, hidden_sizes=(8,), normalize_observations=True)
    plain = cls(VEC, ACT, hidden_sizes=(8,))
    net.create_variables()
    plain.create_variables()
    for mine, theirs in zip(net.trainable_variables, plain.trainable_variables, strict=True):
        mine.assign(theirs)
    # The statistics are variables of the network, never trained.
    assert len(net.variables) == len(plain.variables) + 4
    assert len(net.trainable_variables) == len(plain.trainable_variables)
    seen = np.random.default_rng(1).normal(5.0, 3.0, size=(2, 50, 3)).astype(np.float32)
    net.update_observation_statistics(tf.constant(seen))  # [B, T, 3]: any outer dims
    assert float(net.normalizer.count) == pytest.approx(100)
    x = np.random.default_rng(2).normal(5.0, 3.0, size=(4, 3)).astype(np.float32)
    want = _standardised(x, seen.reshape(-1, 3).astype(np.float64)).astype(np.float32)
    got, _ = net(tf.constant(x))
    expected, _ = plain(tf.constant(want))
    tf.nest.map_structure(
        lambda g, e: np.testing.assert_allclose(g.numpy(), e.numpy(), atol=1e-4), got, expected
    )
    copy = net.copy(name="target")
    copy.create_variables()
    assert copy.normalizer is not None and float(copy.normalizer.count) < 1.0


@pytest.mark.parametrize("name", ["a2c", "softq", "soft_dqn", "dqn"])
def test_training_folds_in_every_acted_observation_once(name):
    """On-policy: each segment's ``B * T`` acted-on observations after its update; off-policy:
    each batch step as it goes into replay. Either way the count is the run's environment
    steps. A target network takes the statistics with the weights at each target update."""
    estimator = ESTIMATORS[name]
    extra = REPLAY if name in ("soft_dqn", "dqn") else {}
    with estimator("CartPole-v1", normalize_observations=True, **SMALL, **extra) as model:
        # 392 for the replay agents: 292 updates, so the last target copy (at 280) is behind.
        result = model.fit(392 if extra else 400, progress=False)
        network = model.agent._trained_networks[0]
        assert float(network.normalizer.count) == pytest.approx(result.env_steps)
        mean, variance = (m.numpy() for m in network.normalizer.moments())
        # CartPole starts near 0 with small velocities; the pole angle stays within 0.21 rad.
        assert np.all(np.abs(mean) < 1.0) and np.all(variance > 0)
        assert np.all(variance[[0, 2]] < 0.25)
        if name in ("soft_dqn", "dqn"):
            # Copied every 20 updates (tau 1): the online count at the last copy. Each call
            # collects one batch step of 4 environments, then takes 4 updates.
            target = model.agent.target_q_network.normalizer
            last_copy = int(model.agent.train_step_counter.numpy()) // 20 * 20
            assert last_copy > 0
            batch_steps = 100 // 4 + math.ceil(last_copy / 4)
            assert float(target.count) == pytest.approx(4 * batch_steps)
            assert float(target.count) < float(network.normalizer.count)


def test_save_load_and_export_carry_the_statistics(tmp_path):
    with softrl_tf.A2C("CartPole-v1", normalize_observations=True, **SMALL) as model:
        model.fit(400, progress=False)
        model.save(str(tmp_path / "saved"))
        model.export(str(tmp_path / "export"))
        obs = np.random.default_rng(3).normal(size=(16, 4)).astype(np.float32)
        actions, values = model.predict(obs, return_values=True)
        moments = [m.numpy() for m in model.agent.network.normalizer.moments()]
    loaded = softrl_tf.load(str(tmp_path / "saved"))
    try:
        for want, got in zip(moments, loaded.agent.network.normalizer.moments(), strict=True):
            np.testing.assert_array_equal(got.numpy(), want)
        again, values_again = loaded.predict(obs, return_values=True)
        np.testing.assert_array_equal(again, actions)
        np.testing.assert_array_equal(values_again, values)
    finally:
        loaded.close()
    # The export takes raw observations: the statistics are inside it.
    exported = tf.saved_model.load(str(tmp_path / "export" / "saved_model"))
    out = exported.signatures["serving_default"](observation=tf.constant(obs))
    np.testing.assert_array_equal(out["action"].numpy(), actions)
