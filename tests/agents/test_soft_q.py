"""SoftQAgent: the soft n-step Q loss on a fixed-weight network against numpy, the stream-scaled
gradients at the heads, and the plain (unscaled) variant."""

import math

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.agents import SoftQAgent
from softrl_tf.networks import SoftQNetwork

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
N_STEPS = 4


def make_agent(network, **kwargs):
    kwargs = {"tau": TAU, "gamma": GAMMA, "n_steps": N_STEPS, "max_grad_norm": None, **kwargs}
    return SoftQAgent(TIME_STEP_SPEC, ACTION_SPEC, network, tf.keras.optimizers.SGD(0.1), **kwargs)


def expected_soft_q(weights, arrays, value_scale, advantage_scale, log_prior=None, tau=TAU):
    """numpy: loss, extras and head-bias gradients of 1/2 (Q - y)^2 with stream scales c and k.

    Q(s, a) = V(s) + tau (log pi(a|s) - log prior(a)); y_t = G_t + tau KL_t with G the proper
    return (penalty KL inside it, docs/theory.md §4). dQ/d(value bias) = 1 and
    dQ/d(logits bias) = tau (onehot(a) - pi), scaled by c and k respectively.
    """
    logits, values = np_actor_critic(weights, arrays["observation"])
    logp = log_softmax(logits)
    pi = np.exp(logp)
    log_prior = -math.log(NUM_ACTIONS) * np.ones(NUM_ACTIONS) if log_prior is None else log_prior
    kl = (pi * (logp - log_prior)).sum(-1)
    ent = -(pi * logp).sum(-1)
    t = N_STEPS
    targets = np_returns(
        arrays["reward"][:, :t],
        arrays["discount"][:, :t],
        arrays["step_type"][:, :t],
        kl[:, :t],
        values[:, :t],
        values[:, t],
        GAMMA,
        tau,
    )
    y = targets + tau * kl[:, :t]
    actions = arrays["action"][:, :t]
    logp_a = np.take_along_axis(logp[:, :t], actions[..., None], -1)[..., 0]
    q = values[:, :t] + tau * (logp_a - log_prior[actions])
    td = q - y
    mask = (arrays["step_type"][:, :t] != LAST).astype(np.float64)
    count = mask.sum()

    def mean(x):
        return (x * mask).sum() / count

    onehot = np.eye(NUM_ACTIONS)[actions]
    grad_logits = advantage_scale * tau * td[..., None] * (onehot - pi[:, :t])
    return {
        "loss": mean(0.5 * td**2),
        "q_taken": mean(q),
        "td_error_abs": mean(np.abs(td)),
        "entropy": mean(ent[:, :t]),
        "kl": mean(kl[:, :t]),
        "grad_value_bias": np.array([mean(value_scale * td)]),
        "grad_logits_bias": (grad_logits * mask[..., None]).sum((0, 1)) / count,
    }


def head_bias_gradients(agent, network, experience):
    bias_logits, bias_value = network.trainable_variables[3], network.trainable_variables[5]
    assert "logits/bias" in bias_logits.name and "value/bias" in bias_value.name
    with tf.GradientTape() as tape:
        loss = agent.loss(experience).loss
    return tape.gradient(loss, [bias_value, bias_logits])


@pytest.mark.parametrize(
    "kwargs, c, k",
    [
        ({}, 0.5, 1 / TAU),  # the paper's section 6.3 scaling: value 0.5, advantage 1/tau
        ({"value_scale": 0.25, "advantage_scale": 2.0}, 0.25, 2.0),
        ({"scale_streams": False}, 1.0, 1.0),  # plain soft n-step Q-learning
    ],
    ids=["paper", "custom", "plain"],
)
@pytest.mark.parametrize("prior", ["uniform", "skewed"])
def test_loss_and_stream_scaled_gradients_match_numpy(kwargs, c, k, prior):
    network, weights = fixed_actor_critic(seed=3, logit_scale=2.0)
    experience, arrays = boundary_segment()
    log_prior = None if prior == "uniform" else np.log(np.array([0.6, 0.3, 0.1]))
    agent = make_agent(network, log_prior=log_prior, **kwargs)
    expected = expected_soft_q(weights, arrays, c, k, log_prior)

    info = agent.loss(experience)
    np.testing.assert_allclose(info.loss.numpy(), expected["loss"], rtol=1e-5)
    for key in ("q_taken", "td_error_abs", "entropy", "kl"):
        np.testing.assert_allclose(info.extra[key].numpy(), expected[key], rtol=1e-5, err_msg=key)
    grad_value_bias, grad_logits_bias = head_bias_gradients(agent, network, experience)
    np.testing.assert_allclose(grad_value_bias.numpy(), expected["grad_value_bias"], rtol=1e-5)
    np.testing.assert_allclose(
        grad_logits_bias.numpy(), expected["grad_logits_bias"], rtol=1e-4, atol=1e-7
    )


def test_q_taken_is_the_soft_q_head_of_the_network():
    """The agent's Q(s_t, a_t) is SoftQNetwork's Q at the taken actions (paper section 6.3)."""
    network, _ = fixed_actor_critic(seed=3, logit_scale=2.0)
    experience, arrays = boundary_segment()
    q_all, _ = SoftQNetwork(network, TAU)(experience.observation)
    q_taken = tf.gather(q_all, experience.action, batch_dims=2).numpy()[:, :N_STEPS]
    mask = arrays["step_type"][:, :N_STEPS] != LAST
    info = make_agent(network).loss(experience)
    np.testing.assert_allclose(info.extra["q_taken"].numpy(), q_taken[mask].mean(), rtol=1e-5)


def test_policies_sample_the_boltzmann_policy_and_act_greedily():
    network, weights = fixed_actor_critic(seed=3, logit_scale=3.0)
    agent = make_agent(network)
    experience, arrays = boundary_segment()
    obs = tf.repeat(experience.observation[:1, 0], 4000, axis=0)
    time_step = TIME_STEP_SPEC.__class__(
        tf.zeros([4000], tf.int32), tf.zeros([4000]), tf.ones([4000]), obs
    )
    actions = tf.function(agent.collect_policy.action)(time_step).action.numpy()
    logits, _ = np_actor_critic(weights, arrays["observation"][0, 0])
    pi = np.exp(log_softmax(logits))
    freq = np.bincount(actions, minlength=NUM_ACTIONS) / 4000
    # 4 standard errors of a frequency of 4000 samples: <= 4 * 0.5 / sqrt(4000) = 0.032.
    np.testing.assert_allclose(freq, pi, atol=0.032)
    greedy = agent.policy.action(time_step).action.numpy()
    assert (greedy == pi.argmax()).all()


def test_value_coef_and_entropy_mode_are_not_arguments_of_soft_q():
    """The value weight is the stream scale; the returns are always proper."""
    network, _ = fixed_actor_critic()
    with pytest.raises(TypeError):
        make_agent(network, entropy_mode="naive")
    with pytest.raises(TypeError):
        make_agent(network, value_coef=1.0)
