"""Tests of softrl_tf.export: SavedModel round trips, sampling, plain-TF loading, errors."""

import json
import os
import subprocess
import sys
import textwrap

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf import export
from softrl_tf.networks import ActorCriticNetwork, QNetwork, SoftQNetwork

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.policies import greedy_policy, q_policy
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

NUM_ACTIONS = 3
Q_TAU = 0.5
SOFT_TAU = 0.1
LOG_PRIOR = np.log([0.5, 0.3, 0.2]).astype(np.float32)
ACTION_SPEC = tensor_spec.BoundedTensorSpec([], tf.int64, 0, NUM_ACTIONS - 1)
FRAME_SPEC = tensor_spec.TensorSpec([4, 3], tf.uint8)  # uint8, as Atari frames
VECTOR_SPEC = tensor_spec.TensorSpec([4], tf.float32)
BLOCKED = ("softrl_tf", "tf_agents", "tensorflow_probability", "tf_keras")


def _observations(spec, batch, seed):
    rng = np.random.default_rng(seed)
    if spec.dtype == tf.uint8:
        return rng.integers(0, 256, size=(batch, *spec.shape), dtype=np.uint8)
    return (2.0 * rng.standard_normal((batch, *spec.shape))).astype(np.float32)


def _softmax(x):
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """One export per output kind: actor-critic (uint8 frames), Q, and the paper's soft-Q head.

    Each entry: (network, observation spec, ExportedModel, live policy logits function).
    """
    tf.random.set_seed(0)
    root = tmp_path_factory.mktemp("exports")
    actor_critic = ActorCriticNetwork(FRAME_SPEC, ACTION_SPEC, hidden_sizes=(16,))
    actor_critic.create_variables()
    # The policy head starts near uniform (gain 0.01); sharpen it so frequencies are informative.
    for variable in actor_critic.variables:
        if "logits" in variable.name and "kernel" in variable.name:
            variable.assign(variable * 150.0)
    q_net = QNetwork(VECTOR_SPEC, ACTION_SPEC, hidden_sizes=(16,))
    soft_q = SoftQNetwork(actor_critic, tau=SOFT_TAU, log_prior=LOG_PRIOR)

    def ac_logits(obs):
        return actor_critic(obs, training=False)[0][0].numpy()

    def q_logits(obs):
        return q_net(obs, training=False)[0].numpy() / Q_TAU

    built = {}
    for kind, net, spec, kwargs, policy_logits in [
        ("actor_critic", actor_critic, FRAME_SPEC, {}, ac_logits),
        ("q", q_net, VECTOR_SPEC, {"tau": Q_TAU}, q_logits),
        # tau and log_prior are read off the SoftQNetwork; its Boltzmann policy is pi itself.
        ("soft_q", soft_q, FRAME_SPEC, {}, ac_logits),
    ]:
        path = export.export_saved_model(
            net, spec, root / kind, env_id="CartPole-v1", metadata={"agent": kind}, **kwargs
        )
        built[kind] = (net, spec, export.load_exported(path), policy_logits)
    return built


KINDS = ("actor_critic", "q", "soft_q")


@pytest.mark.parametrize("kind", KINDS)
def test_greedy_action_is_argmax_of_live_network(exports, kind):
    net, spec, exported, _ = exports[kind]
    obs = _observations(spec, 16, seed=1)
    live = net(obs, training=False)[0]
    live_per_action = (live[0] if kind == "actor_critic" else live).numpy()
    out = exported.greedy(obs)
    assert out["action"].dtype == np.int64 and out["action"].shape == (16,)
    np.testing.assert_array_equal(out["action"], live_per_action.argmax(-1))
    np.testing.assert_allclose(out["logits"], live_per_action, rtol=1e-5, atol=1e-6)
    if kind == "actor_critic":
        np.testing.assert_allclose(out["value"], live[1].numpy(), rtol=1e-5, atol=1e-6)
        assert "q" not in out
    else:
        np.testing.assert_array_equal(out["q"], out["logits"])
        assert "value" not in out


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seeded", [True, False], ids=["sample_seeded", "sample"])
def test_sample_frequencies_follow_softmax_over_temperature(exports, kind, seeded):
    _, spec, exported, policy_logits = exports[kind]
    temperature, draws = 0.7, 20_000
    obs = _observations(spec, 2, seed=2)
    expected = _softmax(policy_logits(obs) / temperature)
    assert expected.max() - expected.min() > 0.2, "test needs a non-uniform policy"
    actions = exported.sample(
        np.repeat(obs, draws, axis=0), temperature, seed=[7, 11] if seeded else None
    ).reshape(2, draws)
    assert actions.dtype == np.int64
    assert actions.min() >= 0 and actions.max() < NUM_ACTIONS
    frequencies = np.stack([np.bincount(row, minlength=NUM_ACTIONS) / draws for row in actions])
    # Binomial std <= sqrt(0.25 / 20000) = 0.0035: 0.015 is over 4 standard deviations.
    np.testing.assert_allclose(frequencies, expected, atol=0.015)


def test_sample_seeded_is_reproducible(exports):
    _, spec, exported, _ = exports["q"]
    obs = _observations(spec, 64, seed=3)
    first = exported.sample(obs, 1.0, seed=[1, 2])
    np.testing.assert_array_equal(first, exported.sample(obs, 1.0, seed=[1, 2]))
    assert not np.array_equal(first, exported.sample(obs, 1.0, seed=[3, 4]))


def test_metadata_file(exports):
    _, _, exported, _ = exports["soft_q"]
    with open(os.path.join(exported.path, export.EXPORT_METADATA_FILE)) as f:
        info = json.load(f)
    assert info["observation"] == {"shape": [4, 3], "dtype": "uint8"}
    assert info["num_actions"] == NUM_ACTIONS
    assert info["output"] == "q"
    assert info["tau"] == pytest.approx(SOFT_TAU)
    np.testing.assert_allclose(info["log_prior"], LOG_PRIOR, rtol=1e-6)
    assert info["env_id"] == "CartPole-v1"
    assert info["metadata"] == {"agent": "soft_q"}
    assert exports["actor_critic"][2].metadata["output"] == "actor_critic"
    assert exports["actor_critic"][2].metadata["tau"] is None
    assert exported.observation_shape == (4, 3) and exported.observation_dtype == tf.uint8


def test_exports_run_in_plain_tensorflow_without_softrl_tf_tf_agents_tfp(exports, tmp_path):
    """One subprocess loads all three exports, with softrl_tf, tf_agents, tfp, tf_keras blocked."""
    cases = {}
    for kind, (net, spec, exported, _) in exports.items():
        obs = _observations(spec, 5, seed=4)
        np.save(tmp_path / f"{kind}.npy", obs)
        live = net(obs, training=False)[0]
        cases[kind] = (exported.path, (live[0] if kind == "actor_critic" else live).numpy())
    code = textwrap.dedent(
        f"""
        import json, sys
        BLOCKED = {BLOCKED!r}

        # None in sys.modules makes a module uninstalled: import raises ImportError and
        # importlib.util.find_spec answers None (TensorFlow probes for tf_keras that way).
        for name in BLOCKED:
            sys.modules[name] = None
        for name in BLOCKED:
            try:
                __import__(name)
            except ImportError:
                pass
            else:
                raise SystemExit(name + " is importable: the block does not work")

        import numpy as np
        import tensorflow as tf

        results = {{}}
        for kind, path in json.loads(sys.argv[1]).items():
            model = tf.saved_model.load(path)
            obs = tf.constant(np.load(sys.argv[2] + "/" + kind + ".npy"))
            greedy = model.signatures["serving_default"](observation=obs)
            sampled = model.signatures["sample"](observation=obs, temperature=tf.constant(1.0))
            results[kind] = {{
                "action": greedy["action"].numpy().tolist(),
                "logits": greedy["logits"].numpy().tolist(),
                "sampled": sampled["action"].numpy().tolist(),
            }}
        loaded = [m for m in BLOCKED if sys.modules.get(m) is not None]
        print(json.dumps({{"results": results, "loaded": loaded}}))
        """
    )
    paths = json.dumps({kind: path for kind, (path, _) in cases.items()})
    proc = subprocess.run(
        [sys.executable, "-c", code, paths, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        # A plain TensorFlow user: Keras 2 not requested (softrl_tf set it in this process).
        env={
            **{k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"},
            "TF_CPP_MIN_LOG_LEVEL": "2",
        },
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    for kind, (_, live_per_action) in cases.items():
        result = report["results"][kind]
        np.testing.assert_array_equal(result["action"], live_per_action.argmax(-1))
        np.testing.assert_allclose(result["logits"], live_per_action, rtol=1e-5, atol=1e-6)
        assert all(0 <= a < NUM_ACTIONS for a in result["sampled"])


def test_wrong_observation_shape_names_the_expected_shape(exports):
    _, _, exported, _ = exports["q"]
    message = r"observation must have shape \[batch, 4\] \(float32\), got shape"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message + r"\] \[2 5\]"):
        exported.greedy(np.zeros([2, 5], np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message + r"\] \[4\]"):
        exported.greedy(np.zeros([4], np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message + r"\] \[3 2 2\]"):
        exported.sample(np.zeros([3, 2, 2], np.float32), 1.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        exported.greedy(np.float32(1.0))
    # A numpy array handed straight to a signature is rejected by TensorFlow's own binding check,
    # whose message names the expected spec too.
    with pytest.raises(TypeError, match=r"shape=\(None, 4\)"):
        exported.model.signatures["serving_default"](observation=np.zeros([2, 5], np.float32))


@pytest.mark.parametrize("temperature", [0.0, -1.0, np.inf, np.nan])
def test_temperature_must_be_finite_and_positive(exports, temperature):
    _, spec, exported, _ = exports["actor_critic"]
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="temperature must be a finite number > 0"
    ):
        exported.sample(_observations(spec, 2, seed=5), temperature)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_observations_are_refused_by_every_signature(exports, bad):
    """Loaded with plain TensorFlow: no signature answers a nan or inf observation."""
    model = tf.saved_model.load(exports["q"][2].path)
    observation = np.zeros([3, 4], np.float32)
    observation[1, 2] = bad
    observation = tf.constant(observation)
    one = tf.constant(1.0)
    calls = {
        "serving_default": lambda f: f(observation=observation),
        "sample": lambda f: f(observation=observation, temperature=one),
        "sample_seeded": lambda f: f(
            observation=observation, temperature=one, seed=tf.constant([1, 2], tf.int64)
        ),
    }
    for name, call in calls.items():
        with pytest.raises(
            tf.errors.InvalidArgumentError, match="softrl_tf export: observation must be finite"
        ):
            call(model.signatures[name])


def test_huge_finite_observations_never_give_an_action_outside_the_spec(exports):
    _, _, exported, _ = exports["q"]
    observation = np.full([2, 4], 3e38, np.float32)
    try:
        actions = exported.sample(observation, 1.0)
    except tf.errors.InvalidArgumentError as error:
        assert "not finite for this observation" in error.message
    else:
        assert all(0 <= a < NUM_ACTIONS for a in actions)


def test_load_exported_rejects_what_is_not_a_softrl_tf_saved_model(exports, tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(ValueError, match=f"{missing} is not a SavedModel directory"):
        export.load_exported(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"{empty} is not a SavedModel directory"):
        export.load_exported(empty)
    a_file = tmp_path / "file.txt"
    a_file.write_text("hello")
    with pytest.raises(ValueError, match="is not a SavedModel directory"):
        export.load_exported(a_file)

    module = tf.Module()
    module.f = tf.function(lambda x: x + 1.0, input_signature=[tf.TensorSpec([None])])
    foreign = tmp_path / "foreign"
    tf.saved_model.save(module, str(foreign))
    with pytest.raises(ValueError, match=f"{foreign} is a SavedModel but not a softrl_tf export"):
        export.load_exported(foreign)
    # Metadata present but the signatures missing: a SavedModel someone else wrote.
    with open(os.path.join(exports["q"][2].path, export.EXPORT_METADATA_FILE)) as f:
        (foreign / export.EXPORT_METADATA_FILE).write_text(f.read())
    with pytest.raises(ValueError, match=f"{foreign} is a SavedModel but lacks the softrl_tf"):
        export.load_exported(foreign)


def test_export_replaces_atomically_and_a_failed_export_keeps_the_old_one(
    exports, tmp_path, monkeypatch
):
    net, spec, _, _ = exports["q"]
    target = tmp_path / "saved_model"
    export.export_saved_model(net, spec, target, tau=Q_TAU, env_id="first")
    export.export_saved_model(net, spec, target, tau=Q_TAU, env_id="second")
    assert export.read_export_metadata(target)["env_id"] == "second"
    assert sorted(os.listdir(tmp_path)) == ["saved_model"]

    def crash(module, tmp_dir, signatures=None):
        with open(os.path.join(tmp_dir, "saved_model.pb"), "wb") as f:
            f.write(b"half written")
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        export.export_saved_model(net, spec, target, tau=Q_TAU, env_id="third")
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["saved_model"]
    assert export.load_exported(target).metadata["env_id"] == "second"


def test_export_argument_errors(exports, tmp_path):
    ac, frame_spec, _, _ = exports["actor_critic"]
    q_net, vector_spec, _, _ = exports["q"]
    with pytest.raises(ValueError, match="log_prior applies to Q-value outputs only"):
        export.export_saved_model(ac, frame_spec, tmp_path / "a", log_prior=LOG_PRIOR)
    with pytest.raises(ValueError, match=r"log_prior must have shape \[3\]"):
        export.export_saved_model(q_net, vector_spec, tmp_path / "b", log_prior=[0.0, 0.0])
    with pytest.raises(ValueError, match="tau must be > 0"):
        export.export_saved_model(q_net, vector_spec, tmp_path / "c", tau=0.0)
    with pytest.raises(ValueError, match="output must be 'auto' or one of"):
        export.export_saved_model(q_net, vector_spec, tmp_path / "d", output="policy")
    with pytest.raises(ValueError, match="single \\(non-nested\\) observation spec"):
        export.export_saved_model(q_net, {"a": vector_spec}, tmp_path / "e")
    assert not any(name.startswith(".") for name in os.listdir(tmp_path))


def test_export_policy_writes_a_policy_saver_export(exports, tmp_path):
    q_net, vector_spec, _, _ = exports["q"]
    # QPolicy alone samples from Categorical(logits=q); GreedyPolicy takes its mode.
    policy = greedy_policy.GreedyPolicy(
        q_policy.QPolicy(ts.time_step_spec(vector_spec), ACTION_SPEC, q_network=q_net)
    )
    path = export.export_policy(policy, tmp_path / "policy")
    assert sorted(os.listdir(tmp_path)) == ["policy"]
    loaded = tf.saved_model.load(path)
    obs = _observations(vector_spec, 4, seed=6)
    time_step = ts.restart(tf.constant(obs), batch_size=4)
    action = loaded.action(time_step).action.numpy()
    np.testing.assert_array_equal(action, q_net(obs)[0].numpy().argmax(-1))
