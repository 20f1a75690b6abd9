"""The estimators: fit / predict / evaluate / save / load / export, and Keras callbacks on fit."""

import csv
import glob
import json
import os

import softrl_tf
from softrl_tf.config import ConfigError

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

SMALL = dict(num_envs=4, hidden_sizes=(16,), log_every_steps=200, seed=0)
REPLAY = dict(learning_starts=100, batch_size=16, target_update_period=20)
CLASSES = {"a2c": softrl_tf.A2C, "softq": softrl_tf.SoftQ, "soft_dqn": softrl_tf.SoftDQN}
CLASSES["dqn"] = softrl_tf.DQN


def _make(name, **extra):
    settings = dict(SMALL, **(REPLAY if name in ("soft_dqn", "dqn") else {}), **extra)
    return CLASSES[name]("CartPole-v1", **settings)


@pytest.fixture(scope="module")
def fitted():
    """One estimator of each agent after 400 steps; closed at the end."""
    models = {name: _make(name) for name in CLASSES}
    for model in models.values():
        model.fit(400, progress=False)
    yield models
    for model in models.values():
        model.close()


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_predict_takes_one_observation_or_a_batch(fitted, name):
    model = fitted[name]
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    single = model.predict(obs[0])
    assert np.ndim(single) == 0 and single in (0, 1)
    actions = model.predict(obs)
    assert actions.shape == (5,) and set(actions.tolist()) <= {0, 1}
    assert model.predict(obs[0].tolist()) == single  # lists and float64 are converted
    actions, values = model.predict(obs, return_values=True)
    assert values.shape == (5, 2) and values.dtype == np.float32
    # The greedy action is the argmax of the values (logits or Q-values).
    np.testing.assert_array_equal(actions, values.argmax(-1))
    sampled = model.predict(np.repeat(obs[:1], 200, axis=0), deterministic=False)
    assert set(sampled.tolist()) <= {0, 1}
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        model.predict(np.zeros(3))


def test_sampling_follows_the_boltzmann_policy(fitted):
    model = fitted["softq"]
    obs = np.zeros((4000, 4), np.float32)
    _, logits = model.predict(obs[:1], return_values=True)
    q = logits[0]
    tau = model.run_config.agent.tau
    pi = np.exp((q - q.max()) / tau)
    pi /= pi.sum()
    freq = np.bincount(model.predict(obs, deterministic=False), minlength=2) / len(obs)
    np.testing.assert_allclose(freq, pi, atol=0.03)


def test_fit_continues_where_it_stopped():
    model = _make("a2c")
    first = model.fit(200, progress=False)
    updates = int(model.agent.train_step_counter)
    second = model.fit(200, progress=False)
    assert (first.env_steps, second.env_steps, model.env_steps) == (200, 400, 400)
    assert int(model.agent.train_step_counter) == 2 * updates == second.updates
    model.close()


def test_evaluate_returns_mean_and_std_of_fresh_episodes(fitted):
    evaluation = fitted["a2c"].evaluate(episodes=5)
    assert len(evaluation.returns) == 5
    assert evaluation.mean == pytest.approx(np.mean(evaluation.returns))
    assert evaluation.std == pytest.approx(np.std(evaluation.returns))
    assert all(r >= 1 for r in evaluation.returns)
    with pytest.raises(ConfigError, match="episodes"):
        fitted["a2c"].evaluate(episodes=0)


@pytest.mark.parametrize("name", ["softq", "dqn"])
def test_save_and_load_predict_identically_and_continue(fitted, name, tmp_path):
    model = fitted[name]
    model.save(str(tmp_path / "saved"))
    loaded = softrl_tf.load(str(tmp_path / "saved"))
    assert type(loaded) is type(model)
    assert loaded.env_steps == model.env_steps
    assert int(loaded.agent.train_step_counter) == int(model.agent.train_step_counter)
    obs = np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32)
    a1, v1 = model.predict(obs, return_values=True)
    a2, v2 = loaded.predict(obs, return_values=True)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(v1, v2)
    loaded.fit(200, progress=False)
    assert loaded.env_steps == model.env_steps + 200
    loaded.close()


def test_export_writes_a_plain_tensorflow_savedmodel(fitted, tmp_path):
    model = fitted["a2c"]
    model.export(str(tmp_path))
    exported = tf.saved_model.load(str(tmp_path / "saved_model"))
    obs = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
    out = exported.signatures["serving_default"](observation=tf.constant(obs))
    np.testing.assert_array_equal(out["action"].numpy(), model.predict(obs))


def test_settings_are_validated_like_the_command_line():
    with pytest.raises(ConfigError, match=r"--entropy-mode .*not used by --agent=softq.*a2c"):
        softrl_tf.SoftQ("CartPole-v1", entropy_mode="naive")
    with pytest.raises(ConfigError, match=r"--tau \(tau\) must be a finite number > 0"):
        softrl_tf.A2C("CartPole-v1", tau=0)
    with pytest.raises(ConfigError, match="CartPol-v1"):
        softrl_tf.A2C("CartPol-v1")


def test_a_root_dir_holding_a_run_is_not_overwritten_by_accident(tmp_path):
    root = str(tmp_path / "run")
    model = _make("a2c", root_dir=root)
    model.fit(200, progress=False)
    model.close()
    with open(os.path.join(root, "metrics.csv"), encoding="utf-8") as f:
        before = f.read()
    with pytest.raises(ConfigError, match="already holds a run: pass --resume"):
        _make("a2c", root_dir=root)
    from softrl_tf.training.loop import train

    with pytest.raises(ConfigError, match="already holds a run"):
        train(softrl_tf.presets.resolve("a2c", overrides={"root_dir": root}))
    with open(os.path.join(root, "metrics.csv"), encoding="utf-8") as f:
        assert f.read() == before
    resumed = _make("a2c", root_dir=root, resume=True)
    assert resumed.env_steps == 200
    resumed.close()
    fresh = _make("a2c", root_dir=root, overwrite=True)
    assert fresh.env_steps == 0 and not os.path.exists(os.path.join(root, "metrics.csv"))
    fresh.close()


class _RecordEpochs(tf_keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs = []

    def on_epoch_end(self, epoch, logs=None):
        self.logs.append(dict(logs))


def test_keras_callbacks_see_the_metric_row_and_early_stopping_stops(tmp_path):
    model = _make("softq")
    record = _RecordEpochs()
    # A return of at least 1 is reached as soon as any episode ends: patience 0 then stops at
    # the second epoch, when the return cannot have grown by more than min_delta = 1e9.
    early = tf_keras.callbacks.EarlyStopping(
        monitor="episode/return_mean100", mode="max", patience=0, min_delta=1e9
    )
    csv_path = str(tmp_path / "keras.csv")
    board = str(tmp_path / "tb")
    callbacks = [
        record,
        early,
        tf_keras.callbacks.CSVLogger(csv_path),
        tf_keras.callbacks.TensorBoard(board, write_graph=False),
    ]
    result = model.fit(4000, callbacks=callbacks, progress=False)
    assert result.env_steps == 400  # stopped after two epochs of 200 steps, not 4000
    assert [row["env_steps"] for row in record.logs] == [200, 400]
    for row in record.logs:
        assert {"loss", "episode/return_mean100", "episodes", "env_steps_per_s"} <= set(row)
    with open(csv_path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["env_steps"]) for r in rows] == [200.0, 400.0]
    assert glob.glob(os.path.join(board, "train", "events.out.tfevents.*"))
    model.close()


def test_learning_rate_scheduler_sets_the_agents_optimizer():
    model = _make("a2c", lr_schedule="constant", learning_rate=1e-3)
    seen = []

    def schedule(epoch, lr):
        seen.append(float(lr))
        return 0.5e-3

    model.fit(400, callbacks=[tf_keras.callbacks.LearningRateScheduler(schedule)], progress=False)
    assert seen[0] == pytest.approx(1e-3) and seen[1] == pytest.approx(0.5e-3)
    assert float(model.agent.optimizer.learning_rate) == pytest.approx(0.5e-3)
    model.close()


def test_model_checkpoint_saves_the_agents_weights(tmp_path):
    model = _make("a2c")
    path = str(tmp_path / "weights" / "ckpt")
    callback = tf_keras.callbacks.ModelCheckpoint(path, save_weights_only=True)
    model.fit(200, callbacks=[callback], progress=False)
    reader = tf.train.load_checkpoint(path)
    saved = [name for name in reader.get_variable_to_shape_map() if "agent" in name]
    assert saved, "the checkpoint holds no agent variable"
    model.close()


def test_progress_bar_prints_per_epoch(capsys):
    model = _make("a2c")
    model.fit(400, progress=True)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "episode/return_mean100" in out
    model.close()


def test_every_update_trains_on_the_segment_its_own_weights_collected(monkeypatch):
    """On-policy exactness: update k trains on the segment collected right before it, while the
    train-step counter still read k (no update between collection and training)."""
    from softrl_tf.training import collect, iterations

    seen = []
    model = _make("a2c")
    agent = model.agent

    def record(kind, experience):
        tag = tf.identity(agent.train_step_counter)
        total = tf.reduce_sum(tf.cast(experience.observation, tf.float64))
        tf.py_function(lambda c, o: seen.append((kind, int(c), float(o))), [tag, total], [])

    original_collect = collect.collect_segment

    def collect_segment(tf_env, policy, num_steps):
        experience, time_step = original_collect(tf_env, policy, num_steps)
        record("collect", experience)
        return experience, time_step

    original_train = agent.train

    def train(experience, weights=None):
        record("train", experience)
        return original_train(experience, weights)

    monkeypatch.setattr(iterations, "collect_segment", collect_segment)
    agent.train = train
    model.fit(200, progress=False)
    model.close()
    assert len(seen) == 2 * (200 // 20)
    for k in range(len(seen) // 2):
        collected, trained = seen[2 * k], seen[2 * k + 1]
        assert collected[0] == "collect" and trained[0] == "train"
        assert collected[1:] == trained[1:] == (k, collected[2])


@pytest.mark.parametrize("name", ["a2c", "softq"])
def test_a_loaded_estimator_trains_on_exactly_as_if_never_interrupted(name, tmp_path):
    """In-process environments and a fixed seed: save after 400 steps, then 400 more steps from
    the live estimator and from the loaded one give the same episodes, metrics and weights."""
    model = _make(name, backend="sync")
    model.fit(400, progress=False)
    model.save(str(tmp_path / "saved"))
    record_a = _RecordEpochs()
    uninterrupted = model.fit(400, callbacks=[record_a], progress=False)
    loaded = softrl_tf.load(str(tmp_path / "saved"))
    record_b = _RecordEpochs()
    resumed = loaded.fit(400, callbacks=[record_b], progress=False)
    assert resumed.episode_returns == uninterrupted.episode_returns
    assert resumed.episode_lengths == uninterrupted.episode_lengths
    assert len(uninterrupted.episode_returns) > 0
    for row_a, row_b in zip(record_a.logs, record_b.logs, strict=True):
        for key in ("loss", "episode/return_mean100", "episodes", "env_steps"):
            assert row_a[key] == row_b[key], key
    for a, b in zip(model.agent.trainable_variables, loaded.agent.trainable_variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    model.close()
    loaded.close()


@pytest.mark.parametrize("name", ["a2c", "softq"])
def test_separate_torsos_train_and_round_trip(name, tmp_path):
    with _make(name, shared_torso=False) as model:
        network = model.agent.network
        assert network._value_torso is not network._torso
        before = [v.numpy() for v in network._value_torso.trainable_variables]
        model.fit(200, progress=False)
        after = [v.numpy() for v in network._value_torso.trainable_variables]
        assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
        model.save(str(tmp_path / "saved"))
        obs = np.random.default_rng(4).normal(size=(8, 4)).astype(np.float32)
        _, values = model.predict(obs, return_values=True)
    loaded = softrl_tf.load(str(tmp_path / "saved"))
    try:
        assert loaded.agent.network._value_torso is not loaded.agent.network._torso
        np.testing.assert_array_equal(loaded.predict(obs, return_values=True)[1], values)
    finally:
        loaded.close()


def test_a_save_older_than_a_setting_loads_with_that_settings_default(tmp_path):
    """A save whose config.json predates shared_torso and normalize_observations ran with one
    torso and raw observations: load rebuilds that network (its checkpoint fits nothing else),
    not the classic_control preset's torso per head and normaliser."""
    with _make("a2c", shared_torso=True, normalize_observations=False) as model:
        model.fit(200, progress=False)
        model.save(str(tmp_path / "saved"))
        obs = np.random.default_rng(5).normal(size=(8, 4)).astype(np.float32)
        _, values = model.predict(obs, return_values=True)
    path = tmp_path / "saved" / "config.json"
    config = json.loads(path.read_text())
    del config["agent"]["shared_torso"], config["agent"]["normalize_observations"]
    path.write_text(json.dumps(config))
    loaded = softrl_tf.load(str(tmp_path / "saved"))
    try:
        agent = loaded.run_config.agent
        assert agent.shared_torso and not agent.normalize_observations
        np.testing.assert_array_equal(loaded.predict(obs, return_values=True)[1], values)
    finally:
        loaded.close()
