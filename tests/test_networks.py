"""Tests of softrl_tf.networks: shapes, uint8 rescaling, init, the soft-Q head, copy."""

import math

import softrl_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from softrl_tf import networks

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec

VEC = tensor_spec.TensorSpec([4], tf.float32)
IMG = tensor_spec.BoundedTensorSpec([84, 84, 4], tf.uint8, 0, 255)
ACT = tensor_spec.BoundedTensorSpec([], tf.int32, 0, 2)
A = 3


@pytest.fixture(autouse=True)
def _seed():
    # Python's random, numpy and TensorFlow: unseeded tf_keras initialisers take their seeds from
    # Python's random module, so tf.random.set_seed alone does not fix the initial weights.
    tf.keras.utils.set_random_seed(0)


def _obs(spec, outer, rng=None):
    rng = rng or np.random.default_rng(0)
    shape = list(outer) + spec.shape.as_list()
    if spec.dtype == tf.uint8:
        return tf.constant(rng.integers(0, 256, shape), tf.uint8)
    return tf.constant(rng.normal(size=shape), spec.dtype)


def _soft_q(spec=VEC, tau=0.1, log_prior=None):
    return networks.SoftQNetwork(networks.ActorCriticNetwork(spec, ACT), tau, log_prior=log_prior)


def _outputs(net, obs):
    out, state = net(obs)
    assert state == ()
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("spec", [VEC, IMG], ids=["vector", "uint8_image"])
@pytest.mark.parametrize("outer", [[5], [2, 3]], ids=["B", "BT"])
def test_output_shapes_and_dtypes(spec, outer):
    ac = networks.ActorCriticNetwork(spec, ACT)
    q_net = networks.QNetwork(spec, ACT)
    soft_q = networks.SoftQNetwork(ac, tau=0.1)
    obs = _obs(spec, outer)
    logits, value = _outputs(ac, obs)
    (q,) = _outputs(q_net, obs)
    (soft,) = _outputs(soft_q, obs)
    assert logits.shape == outer + [A] and logits.dtype == tf.float32
    assert value.shape == outer and value.dtype == tf.float32
    assert q.shape == outer + [A] and q.dtype == tf.float32
    assert soft.shape == outer + [A] and soft.dtype == tf.float32


def test_outer_dims_are_restored_in_order():
    """[B, T] outputs equal the [B*T] outputs reshaped: no mixing of batch and time entries."""
    ac = networks.ActorCriticNetwork(VEC, ACT)
    obs = _obs(VEC, [3, 5])
    logits, value = _outputs(ac, obs)
    flat_logits, flat_value = _outputs(ac, tf.reshape(obs, [15, 4]))
    np.testing.assert_allclose(logits, tf.reshape(flat_logits, [3, 5, A]), atol=1e-6)
    np.testing.assert_allclose(value, tf.reshape(flat_value, [3, 5]), atol=1e-6)
    # A single unbatched observation works too.
    single_logits, single_value = _outputs(ac, obs[1, 2])
    np.testing.assert_allclose(single_logits, logits[1, 2], atol=1e-6)
    assert single_value.shape == []


def test_static_shapes_inside_tf_function():
    ac = networks.ActorCriticNetwork(VEC, ACT)
    fn = tf.function(lambda o: ac(o)[0])
    logits, value = fn.get_concrete_function(tf.TensorSpec([None, 7, 4], tf.float32)).outputs
    assert logits.shape.as_list() == [None, 7, A]
    assert value.shape.as_list() == [None, 7]
    eager_logits, _ = _outputs(ac, _obs(VEC, [2, 7]))
    np.testing.assert_allclose(fn(_obs(VEC, [2, 7]))[0], eager_logits, atol=1e-6)


def test_auto_torso_is_nature_cnn_for_frames_and_mlp_otherwise():
    cnn = networks.build_torso(IMG)
    assert [type(layer).__name__ for layer in cnn.layers] == [
        "Conv2D",
        "Conv2D",
        "Conv2D",
        "Flatten",
        "Dense",
    ]
    assert [(c.filters, c.kernel_size, c.strides) for c in cnn.layers[:3]] == [
        (32, (8, 8), (4, 4)),
        (64, (4, 4), (2, 2)),
        (64, (3, 3), (1, 1)),
    ]
    features = cnn(tf.zeros([2, 84, 84, 4]))
    assert features.shape == [2, 512]
    assert cnn.layers[3].output_shape[1:] == (7 * 7 * 64,)
    assert cnn.layers[4].activation.__name__ == "relu"

    mlp = networks.build_torso(VEC, hidden_sizes=(32, 16), activation="tanh")
    assert [layer.units for layer in mlp.layers[1:]] == [32, 16]
    assert mlp(tf.zeros([2, 4])).shape == [2, 16]
    # Small grids (MinAtar 10x10xC) are too small for the Nature CNN: "auto" gives the MLP.
    small = tensor_spec.TensorSpec([10, 10, 4], tf.float32)
    assert networks.build_torso(small).name == "mlp"
    assert networks.build_torso(small)(tf.zeros([2, 10, 10, 4])).shape == [2, 64]


def test_torso_errors():
    with pytest.raises(ValueError, match="torso must be one of"):
        networks.build_torso(VEC, torso="resnet")
    with pytest.raises(ValueError, match="nature_cnn needs"):
        networks.build_torso(VEC, torso="nature_cnn")
    with pytest.raises(ValueError, match="at least 36x36"):
        networks.build_torso(tensor_spec.TensorSpec([10, 10, 4], tf.uint8), torso="nature_cnn")


def test_action_spec_errors():
    with pytest.raises(ValueError, match="scalar, bounded, integer"):
        networks.QNetwork(VEC, tensor_spec.BoundedTensorSpec([2], tf.int32, 0, 2))
    with pytest.raises(ValueError, match="scalar, bounded, integer"):
        networks.QNetwork(VEC, tensor_spec.BoundedTensorSpec([], tf.float32, 0.0, 1.0))
    assert networks.num_actions(tensor_spec.BoundedTensorSpec([], tf.int64, 2, 7)) == 6


@pytest.mark.parametrize("torso", ["nature_cnn", "mlp"])
def test_uint8_frames_are_rescaled_inside_the_network(torso):
    """A uint8 network on frames u == the same weights as a float32 network on u / 255."""
    float_spec = tensor_spec.TensorSpec(IMG.shape, tf.float32)
    kwargs = dict(torso=torso, hidden_sizes=(16,))
    uint8_net = networks.ActorCriticNetwork(IMG, ACT, **kwargs)
    float_net = networks.ActorCriticNetwork(float_spec, ACT, **kwargs)
    uint8_net.create_variables()
    float_net.create_variables()
    float_net.set_weights(uint8_net.get_weights())

    frames = _obs(IMG, [2])
    got_logits, got_value = _outputs(uint8_net, frames)
    want_logits, want_value = _outputs(float_net, tf.cast(frames, tf.float32) / 255.0)
    np.testing.assert_allclose(got_logits, want_logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_value, want_value, rtol=1e-4, atol=1e-4)
    # Negative control: the unscaled frames give other outputs, so the check above can fail.
    _, raw_value = _outputs(float_net, tf.cast(frames, tf.float32))
    assert np.max(np.abs(raw_value - want_value)) > 1e-2


def _orthogonality(kernel):
    """kernel as a [fan_in, fan_out] matrix M: M^T M (or M M^T for wide M), = gain^2 * I."""
    m = np.reshape(kernel, [-1, kernel.shape[-1]])
    return m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T


@pytest.mark.parametrize("spec", [VEC, IMG], ids=["mlp", "nature_cnn"])
def test_orthogonal_init_gains_and_zero_biases(spec):
    ac = networks.ActorCriticNetwork(spec, ACT)
    ac.create_variables()
    hidden = [layer for layer in ac._torso.layers if layer.weights]
    assert len(hidden) == (5 - 1 if spec is IMG else 2)  # conv x3 + fc, or dense x2
    heads = {"logits": 0.01, "value": 1.0}
    for layer, gain in [(layer, math.sqrt(2.0)) for layer in hidden] + [
        (ac._logits_layer, heads["logits"]),
        (ac._value_layer, heads["value"]),
    ]:
        kernel, bias = (w.numpy() for w in layer.weights)
        gram = _orthogonality(kernel)
        np.testing.assert_allclose(gram, gain**2 * np.eye(len(gram)), atol=1e-4 * max(gain**2, 1))
        assert not np.any(bias)
    q_net = networks.QNetwork(spec, ACT)
    q_net.create_variables()
    gram = _orthogonality(q_net._q_layer.kernel.numpy())
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-4)


def test_policy_head_gain_sets_the_logit_layers_init_and_copies_keep_it():
    """gain 1.0 (the paper's A2C code) in place of the default 0.01; the value head keeps 1.0."""
    paper = networks.ActorCriticNetwork(IMG, ACT, policy_head_gain=1.0)
    for net in (paper, paper.copy(name="copy")):
        net.create_variables()
        for layer in (net._logits_layer, net._value_layer):
            gram = _orthogonality(layer.kernel.numpy())
            np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-4)
    # Negative control: the default network's logit layer is not at gain 1.
    default = networks.ActorCriticNetwork(IMG, ACT)
    default.create_variables()
    assert np.max(np.abs(_orthogonality(default._logits_layer.kernel.numpy()))) < 1e-3


def test_initial_policy_is_near_uniform_and_value_is_not_tiny():
    ac = networks.ActorCriticNetwork(VEC, ACT)
    logits, value = _outputs(ac, _obs(VEC, [256]) * 3.0)
    # Gain 0.01 on tanh features (|f| <= 1, 64 of them): |logit| <= 0.01 * 8.
    assert np.max(np.abs(logits)) < 0.08
    assert np.std(value) > 10 * np.std(logits)


def _peaked(soft_q, scale=1000.0):
    """Scales the policy-logit head so that the policy is far from uniform (logits O(1))."""
    ac = soft_q.actor_critic_network
    ac.create_variables()
    ac._logits_layer.kernel.assign(ac._logits_layer.kernel * scale)
    ac._logits_layer.bias.assign([0.5, -0.3, 0.1])
    return ac


@pytest.mark.parametrize("tau", [0.01, 0.5])
@pytest.mark.parametrize("prior", [None, [0.6, 0.3, 0.1]], ids=["uniform", "non_uniform"])
def test_soft_q_head_soft_value_is_v_and_boltzmann_policy_is_softmax(tau, prior):
    log_prior = None if prior is None else np.log(prior).astype(np.float32)
    soft_q = _soft_q(tau=tau, log_prior=log_prior)
    ac = _peaked(soft_q)
    obs = _obs(VEC, [64])
    logits, value = _outputs(ac, obs)
    (q,) = _outputs(soft_q, obs)
    lp = np.full(A, -math.log(A), np.float32) if prior is None else log_prior
    # Soft value by hand: V_Q = tau * log E_prior exp(Q / tau).
    soft_value = tau * tf.reduce_logsumexp(q / tau + lp, axis=-1)
    np.testing.assert_allclose(soft_value, value, atol=2e-5)
    # Its Boltzmann policy prior * exp((Q - V) / tau) is the network's softmax.
    boltzmann = np.exp(lp) * np.exp((q - value[:, None]) / tau)
    np.testing.assert_allclose(boltzmann, tf.nn.softmax(logits), atol=1e-5)
    assert np.max(tf.nn.softmax(logits)) > 0.9  # far from uniform: the checks are not trivial
    greedy = tf.argmax(tf.nn.log_softmax(logits) - lp, axis=-1)
    np.testing.assert_array_equal(tf.argmax(q, axis=-1), greedy)
    if prior is None:
        np.testing.assert_array_equal(tf.argmax(q, axis=-1), tf.argmax(logits, axis=-1))


def test_soft_q_shares_the_wrapped_variables():
    soft_q = _soft_q()
    ac = _peaked(soft_q)
    soft_q.create_variables()
    assert {v.ref() for v in soft_q.variables} == {v.ref() for v in ac.variables}
    obs = _obs(VEC, [8])
    (before,) = _outputs(soft_q, obs)
    ac._value_layer.bias.assign([1.5])
    (after,) = _outputs(soft_q, obs)
    np.testing.assert_allclose(after - before, np.full([8, A], 1.5), atol=1e-5)


def test_soft_q_argument_errors():
    with pytest.raises(ValueError, match=r"log_prior must have shape \[3\]"):
        _soft_q(log_prior=[0.0, 0.0])
    with pytest.raises(ValueError, match="tau must be > 0"):
        _soft_q(tau=0.0)
    with pytest.raises(ValueError, match="wraps a network returning"):
        networks.SoftQNetwork(networks.QNetwork(VEC, ACT), tau=1.0)


def _copy_is_independent(net, obs):
    net.create_variables()
    target = net.copy(name="target")
    target.create_variables()
    assert target.name == "target"
    assert not {v.ref() for v in net.variables} & {v.ref() for v in target.variables}
    assert len(net.variables) == len(target.variables)
    for t, s in zip(target.variables, net.variables, strict=True):
        t.assign(s)
    before = _outputs(target, obs)
    np.testing.assert_allclose(before[0], _outputs(net, obs)[0], atol=1e-6)
    for v in net.trainable_variables:
        v.assign_add(tf.ones_like(v) * 0.1)
    after = _outputs(target, obs)
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(_outputs(net, obs)[0] - before[0])) > 1e-3
    return target


@pytest.mark.parametrize(
    "make",
    [
        lambda: networks.ActorCriticNetwork(VEC, ACT),
        lambda: networks.QNetwork(VEC, ACT, hidden_sizes=(8,)),
        lambda: networks.QNetwork(IMG, ACT),
    ],
    ids=["actor_critic", "q_mlp", "q_nature_cnn"],
)
def test_copy_gives_independent_variables(make):
    net = make()
    spec = net.input_tensor_spec
    _copy_is_independent(net, _obs(spec, [2]))


def test_soft_q_copy_copies_the_wrapped_network():
    prior = np.log([0.5, 0.25, 0.25]).astype(np.float32)
    soft_q = _soft_q(tau=0.3, log_prior=prior)
    target = _copy_is_independent(soft_q, _obs(VEC, [4]))
    assert target.actor_critic_network is not soft_q.actor_critic_network
    assert target.tau == 0.3
    np.testing.assert_array_equal(target.log_prior, prior)


def test_create_variables_for_plain_uint8_spec():
    """TF-Agents' own create_variables samples the spec, which fails for uint8 under numpy 2."""
    spec = tensor_spec.TensorSpec([84, 84, 4], tf.uint8)
    out = networks.ActorCriticNetwork(spec, ACT).create_variables()
    assert out == (tf.TensorSpec([A], tf.float32), tf.TensorSpec([], tf.float32))
    assert networks.QNetwork(spec, ACT).create_variables() == tf.TensorSpec([A], tf.float32)


@pytest.mark.parametrize("spec", [VEC, IMG], ids=["mlp", "nature_cnn"])
def test_mixed_bfloat16_computes_the_torso_in_bfloat16_and_keeps_float32_elsewhere(spec):
    """precision="mixed_bfloat16": the torso's layers compute in bfloat16 with float32 weights;
    the heads, and so every output, stay float32; the outputs are close to float32's with the
    same weights (bfloat16 keeps 8 significant bits)."""
    nets = {
        precision: networks.ActorCriticNetwork(spec, ACT, precision=precision)
        for precision in ("float32", "mixed_bfloat16")
    }
    obs = _obs(spec, [5])
    outputs = {}
    for precision, net in nets.items():
        outputs[precision], _ = net(obs)
    nets["mixed_bfloat16"].set_weights(nets["float32"].get_weights())
    (logits, value), _ = nets["mixed_bfloat16"](obs)
    assert logits.dtype == value.dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in nets["mixed_bfloat16"].variables)
    torso = nets["mixed_bfloat16"]._torso
    assert {layer.compute_dtype for layer in torso.layers} == {"bfloat16"}
    assert nets["mixed_bfloat16"]._logits_layer.compute_dtype == "float32"
    assert torso(tf.zeros([1, *spec.shape.as_list()])).dtype == tf.bfloat16
    reference_logits, reference_value = outputs["float32"]
    np.testing.assert_allclose(logits, reference_logits, rtol=0.05, atol=0.01)
    np.testing.assert_allclose(value, reference_value, rtol=0.05, atol=0.05)
    assert not np.allclose(value, reference_value, rtol=0, atol=0)  # bfloat16 was really used


@pytest.mark.parametrize(
    "flags, expected",
    [
        ("fpu sse2 avx512f avx512_bf16 avx512_vnni", True),
        ("fpu sse2 amx_bf16 amx_tile", True),
        ("fpu sse2 avx2 avx512f avx512_vnni", False),
        ("fpu sse2 avx512_bf16x", False),  # a flag that only starts like one
    ],
)
def test_cpu_has_bfloat16_reads_the_flags_line_of_cpuinfo(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n\n")
    assert networks.cpu_has_bfloat16(str(cpuinfo)) is expected


def test_cpu_has_bfloat16_is_false_without_cpuinfo(tmp_path):
    assert networks.cpu_has_bfloat16(str(tmp_path / "absent")) is False


@pytest.mark.parametrize("native, expected", [(True, "mixed_bfloat16"), (False, "float32")])
def test_auto_precision_follows_the_hardware(monkeypatch, native, expected):
    """precision="auto" builds the torso in bfloat16 exactly where the hardware has it; the
    explicit settings ignore the hardware."""
    monkeypatch.setattr(networks, "bfloat16_is_native", lambda: native)
    assert networks.resolve_precision("auto") == expected
    assert networks.resolve_precision("float32") == "float32"
    assert networks.resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    torso = networks.ActorCriticNetwork(IMG, ACT, precision="auto")._torso
    assert {layer.compute_dtype for layer in torso.layers} == {expected.removeprefix("mixed_")}


@pytest.mark.parametrize(
    "gpus, capability, cpu, expected",
    [
        (["GPU:0"], (8, 0), False, True),
        (["GPU:0"], (9, 0), False, True),
        (["GPU:0"], (7, 5), True, False),
        (["GPU:0"], None, True, False),  # no capability: not an NVIDIA GPU
        ([], None, True, True),
        ([], None, False, False),
    ],
)
def test_bfloat16_is_native_asks_the_gpu_if_any_else_the_cpu(
    monkeypatch, gpus, capability, cpu, expected
):
    """With a GPU the GPU decides (compute capability 8.0 or later), whatever the CPU has;
    without one, the CPU's flags."""
    details = {} if capability is None else {"compute_capability": capability}
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus)
    monkeypatch.setattr(tf.config.experimental, "get_device_details", lambda device: details)
    monkeypatch.setattr(networks, "cpu_has_bfloat16", lambda: cpu)
    networks.bfloat16_is_native.cache_clear()
    try:
        assert networks.bfloat16_is_native() is expected
    finally:
        networks.bfloat16_is_native.cache_clear()


def test_unknown_precision_is_one_clear_error():
    with pytest.raises(ValueError, match="Unknown precision 'float16'"):
        networks.ActorCriticNetwork(VEC, ACT, precision="float16")


@pytest.mark.parametrize("spec", [VEC, IMG], ids=["mlp", "nature_cnn"])
def test_separate_torsos_keep_each_heads_gradient_on_its_own_torso(spec):
    shared = networks.ActorCriticNetwork(spec, ACT, hidden_sizes=(8,))
    separate = networks.ActorCriticNetwork(spec, ACT, hidden_sizes=(8,), shared_torso=False)
    shared.create_variables()
    separate.create_variables()
    torso = shared._torso.trainable_variables
    assert len(separate.trainable_variables) == len(shared.trainable_variables) + len(torso)
    policy_torso = separate._torso.trainable_variables
    value_torso = separate._value_torso.trainable_variables
    assert not {id(v) for v in policy_torso} & {id(v) for v in value_torso}
    obs = _obs(spec, [5])
    with tf.GradientTape(persistent=True) as tape:
        logits, value = separate(obs)[0]
        policy_loss = tf.reduce_sum(tf.nn.log_softmax(logits)[:, 0])
        value_loss = tf.reduce_sum(value**2)
    for loss, own, other in (
        (policy_loss, policy_torso, value_torso),
        (value_loss, value_torso, policy_torso),
    ):
        assert all(g is None for g in tape.gradient(loss, other))
        assert any(float(tf.reduce_max(tf.abs(g))) > 0 for g in tape.gradient(loss, own))
    # Shared: the value loss reaches the one torso.
    with tf.GradientTape() as tape:
        value_loss = tf.reduce_sum(shared(obs)[0][1] ** 2)
    assert all(g is not None for g in tape.gradient(value_loss, torso))
    # A copy (target networks, runners) keeps the layout.
    copy = separate.copy(name="copy")
    copy.create_variables()
    assert len(copy.trainable_variables) == len(separate.trainable_variables)
