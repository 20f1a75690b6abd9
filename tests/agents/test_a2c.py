"""A2CAgent: the loss on a fixed-weight network against numpy, its gradient at the heads, the
Keras training step, and argument checks."""

import math

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.agents import A2CAgent

import numpy as np
import pytest
import tensorflow as tf
from agent_testing import (
    ACTION_SPEC,
    LAST,
    NUM_ACTIONS,
    TIME_STEP_SPEC,
    boundary_segment,
    fixed_actor_critic,
    log_softmax,
    np_actor_critic,
    np_returns,
)

GAMMA = 0.9
TAU = 0.3
VALUE_COEF = 0.7
N_STEPS = 4


def make_agent(network, **kwargs):
    kwargs = {
        "tau": TAU,
        "gamma": GAMMA,
        "value_coef": VALUE_COEF,
        "n_steps": N_STEPS,
        "max_grad_norm": None,
        **kwargs,
    }
    return A2CAgent(
        TIME_STEP_SPEC,
        ACTION_SPEC,
        network,
        tf.keras.optimizers.SGD(0.1),
        **kwargs,
    )


def expected_a2c(weights, arrays, entropy_mode, log_prior=None, tau=TAU, value_coef=VALUE_COEF):
    """numpy: the loss, its extras, and its gradient with respect to the two head biases.

    Returns a dict with ``loss``, ``policy_loss``, ``value_loss``, ``entropy``, ``kl``,
    ``advantage_abs`` (masked means) and ``grad_value_bias [1]``, ``grad_logits_bias [A]``.
    """
    logits, values = np_actor_critic(weights, arrays["observation"])
    logp = log_softmax(logits)
    pi = np.exp(logp)
    log_prior = -math.log(NUM_ACTIONS) * np.ones(NUM_ACTIONS) if log_prior is None else log_prior
    kl = (pi * (logp - log_prior)).sum(-1)
    ent = -(pi * logp).sum(-1)
    t = N_STEPS
    penalty = kl[:, :t] if entropy_mode == "proper" else np.zeros_like(kl[:, :t])
    targets = np_returns(
        arrays["reward"][:, :t],
        arrays["discount"][:, :t],
        arrays["step_type"][:, :t],
        penalty,
        values[:, :t],
        values[:, t],
        GAMMA,
        tau,
    )
    v = values[:, :t]
    adv = targets - v
    actions = arrays["action"][:, :t]
    logp_a = np.take_along_axis(logp[:, :t], actions[..., None], -1)[..., 0]
    policy = -logp_a * adv + tau * kl[:, :t]
    value = 0.5 * (v - targets) ** 2
    mask = (arrays["step_type"][:, :t] != LAST).astype(np.float64)
    count = mask.sum()

    def mean(x):
        return (x * mask).sum() / count

    onehot = np.eye(NUM_ACTIONS)[actions]
    dkl_dlogits = pi[:, :t] * (logp[:, :t] - log_prior - kl[:, :t, None])
    dloss_dlogits = -adv[..., None] * (onehot - pi[:, :t]) + tau * dkl_dlogits
    return {
        "loss": mean(policy + value_coef * value),
        "policy_loss": mean(policy),
        "value_loss": mean(value),
        "entropy": mean(ent[:, :t]),
        "kl": mean(kl[:, :t]),
        "advantage_abs": mean(np.abs(adv)),
        "grad_value_bias": np.array([mean(value_coef * (v - targets))]),
        "grad_logits_bias": (dloss_dlogits * mask[..., None]).sum((0, 1)) / count,
    }


def head_bias_gradients(agent, network, experience):
    bias_logits, bias_value = network.trainable_variables[3], network.trainable_variables[5]
    assert "logits/bias" in bias_logits.name and "value/bias" in bias_value.name
    with tf.GradientTape() as tape:
        loss = agent.loss(experience).loss
    return tape.gradient(loss, [bias_value, bias_logits])


@pytest.mark.parametrize("entropy_mode", ["proper", "naive"])
@pytest.mark.parametrize("prior", ["uniform", "skewed"])
def test_loss_and_head_gradients_match_numpy(entropy_mode, prior):
    network, weights = fixed_actor_critic(seed=3, logit_scale=2.0)
    experience, arrays = boundary_segment()
    log_prior = None if prior == "uniform" else np.log(np.array([0.6, 0.3, 0.1]))
    agent = make_agent(network, entropy_mode=entropy_mode, log_prior=log_prior)
    expected = expected_a2c(weights, arrays, entropy_mode, log_prior)

    info = agent.loss(experience)
    np.testing.assert_allclose(info.loss.numpy(), expected["loss"], rtol=1e-5)
    for key in ("policy_loss", "value_loss", "entropy", "kl", "advantage_abs"):
        np.testing.assert_allclose(info.extra[key].numpy(), expected[key], rtol=1e-5, err_msg=key)
    grad_value_bias, grad_logits_bias = head_bias_gradients(agent, network, experience)
    # Only the value loss reaches the value head (advantages are stop-gradient), and only through
    # V(s_t): no gradient through the targets.
    np.testing.assert_allclose(grad_value_bias.numpy(), expected["grad_value_bias"], rtol=1e-5)
    np.testing.assert_allclose(
        grad_logits_bias.numpy(), expected["grad_logits_bias"], rtol=1e-4, atol=1e-7
    )


def test_proper_and_naive_differ_exactly_by_the_penalty_in_the_returns():
    """Same batch: the advantages of the two modes differ (the -tau*KL terms), so do the losses."""
    network, weights = fixed_actor_critic(seed=3, logit_scale=2.0)
    experience, arrays = boundary_segment()
    proper = make_agent(network, entropy_mode="proper").loss(experience).loss.numpy()
    naive = make_agent(network, entropy_mode="naive").loss(experience).loss.numpy()
    assert abs(proper - naive) > 1e-3
    np.testing.assert_allclose(naive, expected_a2c(weights, arrays, "naive")["loss"], rtol=1e-5)


def test_dummy_boundary_transitions_do_not_reach_the_loss():
    """Changing the reward and action of the LAST -> FIRST items changes nothing."""
    network, _ = fixed_actor_critic(seed=3)
    agent = make_agent(network)
    experience, _ = boundary_segment()
    boundary = experience.step_type == LAST
    changed = experience._replace(
        reward=tf.where(boundary, 100.0, experience.reward),
        action=tf.where(boundary, tf.zeros_like(experience.action), experience.action),
    )
    np.testing.assert_allclose(agent.loss(changed).loss, agent.loss(experience).loss, rtol=1e-6)
    # ... whereas a real transition's reward does change it.
    other = experience._replace(reward=experience.reward + tf.one_hot([[1]] * 3, 5)[:, 0])
    assert abs(float(agent.loss(other).loss) - float(agent.loss(experience).loss)) > 1e-4


def test_train_step_applies_the_clipped_gradient_and_counts():
    """One ``train``: SGD moves every variable by -lr * clipped gradient; the counter ticks."""
    network, _ = fixed_actor_critic(seed=4)
    clip = 0.05
    agent = make_agent(network, max_grad_norm=clip)
    agent.initialize()
    experience, _ = boundary_segment()
    variables = network.trainable_variables
    before = [v.numpy() for v in variables]
    with tf.GradientTape() as tape:
        loss = agent.loss(experience).loss
    grads = tape.gradient(loss, variables)
    norm = tf.linalg.global_norm(grads).numpy()
    assert norm > clip  # the clip is active
    info = agent.train(experience)
    assert int(agent.train_step_counter.numpy()) == 1
    np.testing.assert_allclose(info.extra["grad_norm"].numpy(), norm, rtol=1e-5)
    np.testing.assert_allclose(info.loss.numpy(), loss.numpy(), rtol=1e-6)
    for v, b, g in zip(variables, before, grads, strict=True):
        np.testing.assert_allclose(v.numpy(), b - 0.1 * g.numpy() * clip / norm, atol=1e-6)
    assert set(info.extra) >= {"loss", "grad_norm", "policy_loss", "value_loss", "entropy", "kl"}


def test_train_works_under_tf_function_and_matches_eager():
    experience, _ = boundary_segment()
    results = []
    for wrap in (False, True):
        network, _ = fixed_actor_critic(seed=5)
        agent = make_agent(network, max_grad_norm=0.5)
        train = tf.function(agent.train) if wrap else agent.train
        for _ in range(3):
            info = train(experience)
        results.append((info.loss.numpy(), [v.numpy() for v in network.trainable_variables]))
        assert int(agent.train_step_counter.numpy()) == 3
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_specs_and_policies():
    network, _ = fixed_actor_critic()
    agent = make_agent(network)
    assert agent.train_sequence_length == N_STEPS + 1
    assert agent.collect_data_spec.action == ACTION_SPEC
    assert agent.collect_data_spec.policy_info == ()
    experience, arrays = boundary_segment()
    time_step = tf.nest.map_structure(
        lambda x: x[:, 0],
        type(TIME_STEP_SPEC)(
            experience.step_type,
            experience.reward,
            experience.discount,
            experience.observation,
        ),
    )
    greedy = agent.policy.action(time_step).action.numpy()
    logits, _ = np_actor_critic(fixed_actor_critic()[1], arrays["observation"][:, 0])
    np.testing.assert_array_equal(greedy, logits.argmax(-1))
    sampled = agent.collect_policy.action(time_step).action
    assert sampled.dtype == tf.int64 and sampled.shape == (3,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"entropy_mode": "full"}, "entropy_mode"),
        ({"tau": 0.0}, "tau"),
        ({"n_steps": 0}, "n_steps"),
        ({"gamma": 1.5}, "gamma"),
        ({"reward_scale": 0.0}, "reward_scale"),
    ],
)
def test_argument_errors(kwargs, match):
    network, _ = fixed_actor_critic()
    with pytest.raises(ValueError, match=match):
        make_agent(network, **kwargs)


@pytest.mark.parametrize("entropy_mode", ["proper", "naive"])
def test_reward_scale_multiplies_the_rewards_it_learns_from(entropy_mode):
    """The loss and its head gradients with reward_scale k are numpy's on rewards times k."""
    network, weights = fixed_actor_critic(seed=3, logit_scale=2.0)
    experience, arrays = boundary_segment()
    agent = make_agent(network, entropy_mode=entropy_mode, reward_scale=3.0)
    scaled = dict(arrays, reward=3.0 * arrays["reward"])
    expected = expected_a2c(weights, scaled, entropy_mode)
    unscaled = expected_a2c(weights, arrays, entropy_mode)
    assert abs(expected["loss"] - unscaled["loss"]) > 1e-2  # the scale is visible in the loss
    np.testing.assert_allclose(agent.loss(experience).loss.numpy(), expected["loss"], rtol=1e-5)
    grad_value_bias, _ = head_bias_gradients(agent, network, experience)
    np.testing.assert_allclose(grad_value_bias.numpy(), expected["grad_value_bias"], rtol=1e-5)
