"""A runner that dies is restarted by Ray and the run goes on with an exact step count."""

import threading

import softrl_tf

import pytest
import tf_keras

STEPS = 2_000  # 100 updates of 4 environments x 5 steps


@pytest.mark.slow
def test_killed_runners_are_restarted_and_the_run_goes_on(ray_cluster):
    ray = ray_cluster
    with softrl_tf.A2C(
        "CartPole-v1", runners=2, ray_address="local", num_envs=4, steps_per_execution=1
    ) as model:
        runners = model._trainer.scale_out.runners
        before = ray.get([r.ready.remote() for r in runners])
        killed = []

        class KillBetweenUpdates(tf_keras.callbacks.Callback):
            """Kills runner 0 after the 3rd update, while no call is in flight."""

            def on_train_batch_end(self, batch, logs=None):
                if batch == 2 and not killed:
                    ray.kill(runners[0], no_restart=False)
                    killed.append("between")

        def kill_during_training():
            # Runner 1 is most likely inside a segment then: its call is retried on the new one.
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
        assert result.updates == STEPS // 20
        assert int(model.agent.train_step_counter.numpy()) == STEPS // 20
        after = ray.get([r.ready.remote() for r in runners])
        assert after[0] != before[0] and after[1] != before[1]
        # Training went on after the restarts: more updates, finite weights, more episodes.
        more = model.fit(200, progress=False)
        assert more.env_steps == STEPS + 200 and more.updates == STEPS // 20 + 10
        assert result.episodes > 0
