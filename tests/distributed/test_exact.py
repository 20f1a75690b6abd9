"""2 runners x 4 environments take exactly the updates of one process with 8 environments."""

import softrl_tf
from softrl_tf import distributed
from softrl_tf.distributed.iteration import RayOnPolicyIteration

import numpy as np
import pytest
import tensorflow as tf

# 25 updates of 8 environments x 5 steps: CartPole episodes end inside segments many times.
STEPS = 1_000
SETTINGS = dict(seed=3, num_envs=8, steps_per_execution=4, log_every_steps=200)


def _weights(estimator):
    return [v.numpy() for v in estimator.agent.collect_policy.variables()]


def _check_same_updates(estimator, steps=STEPS, **extra):
    settings = dict(SETTINGS, **extra)
    with estimator("CartPole-v1", **settings) as single:
        initial = _weights(single)
        alone = single.fit(steps, progress=False)
        expected = _weights(single)
        expected_state = single.agent.collect_policy.generator.state.numpy()
    assert any(not np.array_equal(w, e) for w, e in zip(initial, expected, strict=True))
    with estimator("CartPole-v1", runners=2, ray_address="local", **settings) as scaled:
        for before, value in zip(initial, _weights(scaled), strict=True):
            np.testing.assert_array_equal(before, value)
        spread = scaled.fit(steps, progress=False)
        iteration = scaled._trainer.iteration
        assert type(iteration) is RayOnPolicyIteration
        # Every batch came from the runners: 8 environments x 6 items of CartPole (float32 [4]).
        assert iteration.costs["segments"] == steps // 40
        assert iteration.costs["segment_bytes"] >= steps // 40 * 8 * 6 * 4 * 4
        assert spread.env_steps == alone.env_steps == steps
        assert spread.updates == alone.updates == steps // 40
        for want, got in zip(expected, _weights(scaled), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(
            scaled.agent.collect_policy.generator.state.numpy(), expected_state
        )
        # The episodes, in the order one process reports them.
        assert spread.episode_returns == alone.episode_returns
        assert spread.episode_lengths == alone.episode_lengths
        assert spread.last_metrics["episode/return_mean100"] == pytest.approx(
            alone.last_metrics["episode/return_mean100"]
        )
        return scaled.model.distribute_strategy


@pytest.mark.slow
@pytest.mark.parametrize("estimator", [softrl_tf.A2C, softrl_tf.SoftQ])
def test_two_runners_are_one_process(ray_cluster, estimator):
    strategy = _check_same_updates(estimator)
    assert strategy is tf.distribute.get_strategy()  # no GPU here: the default strategy


@pytest.mark.slow
def test_two_runners_are_one_process_with_normalized_observations(ray_cluster):
    """The observation statistics go to the runners with the weights (they are variables of the
    network) and take the runners' segments in one process's order."""
    _check_same_updates(softrl_tf.A2C, normalize_observations=True)


@pytest.mark.slow
def test_the_learner_under_mirrored_strategy_takes_the_same_updates(ray_cluster, monkeypatch):
    """The learner's path on a GPU machine (a MirroredStrategy of one replica), on the CPU.

    Three updates: the strategy's graph (its gradient all-reduce, its variables) rounds one
    update differently in the last bits (~1e-8 here), which RMSProp's step, divided by small
    running averages early on, amplifies over tens of updates (~1e-4 after 25).
    """
    monkeypatch.setattr(
        distributed, "learner_strategy", lambda: tf.distribute.MirroredStrategy(["/cpu:0"])
    )
    strategy = _check_same_updates(softrl_tf.A2C, steps=120)
    assert isinstance(strategy, tf.distribute.MirroredStrategy)


@pytest.mark.slow
def test_save_load_and_export_on_runners(ray_cluster, tmp_path):
    """An estimator on runners saves, loads (onto new runners) and exports as in one process."""
    observations = np.zeros((3, 4), np.float32)
    with softrl_tf.A2C("CartPole-v1", runners=2, ray_address="local", num_envs=4) as model:
        model.fit(400, progress=False)
        weights = _weights(model)
        actions = model.predict(observations)
        model.save(str(tmp_path / "saved"))
    loaded = softrl_tf.load(str(tmp_path / "saved"))
    try:
        assert type(loaded._trainer.iteration) is RayOnPolicyIteration
        assert loaded.env_steps == 400
        for want, got in zip(weights, _weights(loaded), strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(loaded.predict(observations), actions)
        assert loaded.fit(200, progress=False).env_steps == 600
        loaded.export(str(tmp_path / "export"))
    finally:
        loaded.close()
    served = tf.saved_model.load(str(tmp_path / "export" / "saved_model"))
    assert served.signatures["serving_default"] is not None
