"""A runner that dies is restarted by Ray and the run goes on with an exact step count."""

import threading

import softrl_tf

import pytest
import tf_keras

STEPS = 2_000
# (estimator, extra settings, updates after STEPS steps of 4 environments): a2c updates every
# 4 x 5 steps; soft_dqn collects 200 steps, then takes 4 updates per batch step of 4.
CASES = [
    (softrl_tf.A2C, {}, STEPS // 20),
    (softrl_tf.SoftDQN, {"learning_starts": 200, "runner_steps": 8}, STEPS - 200),
]


@pytest.mark.slow
@pytest.mark.parametrize("estimator, settings, updates", CASES, ids=["a2c", "soft_dqn"])
def test_killed_runners_are_restarted_and_the_run_goes_on(
    ray_cluster, estimator, settings, updates
):
    ray = ray_cluster
    with estimator(
        "CartPole-v1",
        runners=2,
        ray_address="local",
        num_envs=4,
        steps_per_execution=1,
        log_every_steps=500,
        **settings,
    ) as model:
        runners = model._trainer.scale_out.runners
        before = ray.get([r.ready.remote() for r in runners])
        killed = []

        class KillBetweenUpdates(tf_keras.callbacks.Callback):
            """Kills runner 0 after the 3rd training call."""

            def on_train_batch_end(self, batch, logs=None):
                if batch == 2 and "between" not in killed:
                    ray.kill(runners[0], no_restart=False)
                    killed.append("between")

        def kill_during_training():
            # Runner 1 is most likely inside a call then: the call is retried on the new one.
            ray.kill(runners[1], no_restart=False)
            killed.append("during")

        timer = threading.Timer(3.0, kill_during_training)
        timer.start()
        try:
            result = model.fit(STEPS, callbacks=[KillBetweenUpdates()], progress=False)
        finally:
            timer.cancel()
        assert sorted(killed) == ["between", "during"]
        assert result.env_steps == model.env_steps == STEPS
        assert result.updates == updates
        assert int(model.agent.train_step_counter.numpy()) == updates
        after = ray.get([r.ready.remote() for r in runners])
        assert after[0] != before[0] and after[1] != before[1]
        # Training goes on after the restarts.
        more = model.fit(200, progress=False)
        assert more.env_steps == STEPS + 200 and more.updates > updates
        assert result.episodes > 0
