"""SoftDQNAgent (soft_dqn and dqn): the TD loss on fixed-weight online and target networks against
numpy for every backup, double Q, n-step windows with boundaries; the target-network updates;
the exploration policies; the registry's dqn entry."""

import math

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.agents import AGENTS, SoftDQNAgent, build_agent
from softrl_tf.policies import BoltzmannPolicy
from softrl_tf.presets import resolve

import numpy as np
import pytest
import tensorflow as tf
from agent_testing import (
    ACTION_SPEC,
    FIRST,
    LAST,
    MID,
    NUM_ACTIONS,
    OBS_DIM,
    TIME_STEP_SPEC,
    assign,
    fixed_q_network,
    make_trajectory,
    np_q_network,
)
from tf_agents.policies import epsilon_greedy_policy, greedy_policy

GAMMA = 0.9
TAU = 0.7


def window_batch(n_steps, seed=2):
    """``[B = 4, n_steps + 1]`` replay windows; item 0 is the transition trained on.

    * row 0: MID MID MID (plain n-step window);
    * row 1: MID MID(-> LAST, discount 0) LAST: terminates after item 1;
    * row 2: MID(-> LAST, discount 1) LAST FIRST: truncated after item 0, so the target
      bootstraps from V of item 1's (final) observation whatever n is;
    * row 3: LAST FIRST MID: item 0 is a dummy LAST -> FIRST transition: no loss.

    Rewards are large enough that the Huber loss is in both its regimes.
    """
    rng = np.random.default_rng(seed)
    step_type = np.array(
        [[MID, MID, MID], [MID, MID, LAST], [MID, LAST, FIRST], [LAST, FIRST, MID]]
    )
    reward = np.array([[0.4, -0.8, 0.0], [3.0, 0.6, 0.0], [-0.2, 5.0, 0.0], [9.0, 1.0, 0.0]])
    discount = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    action = rng.integers(0, NUM_ACTIONS, size=(4, 3))
    observation = rng.normal(size=(4, 3, OBS_DIM)).astype(np.float32)
    k = n_steps + 1
    arrays = dict(
        step_type=step_type[:, :k],
        reward=reward[:, :k].astype(np.float32).astype(np.float64),
        discount=discount[:, :k],
        action=action[:, :k],
        observation=observation[:, :k].astype(np.float64),
    )
    traj = make_trajectory(
        step_type[:, :k], reward[:, :k], discount[:, :k], action[:, :k], observation[:, :k]
    )
    return traj, arrays


def np_backup(q_target, q_online, backup, double_q, tau=TAU):
    """``[..., A] -> ([...], [...])``: the backed-up value of a state and the KL of the backup's
    Boltzmann policy to its measure (0 for ``"max"``; docs/theory.md §8)."""
    if backup == "max":
        best = (q_online if double_q else q_target).argmax(-1)
        return np.take_along_axis(q_target, best[..., None], -1)[..., 0], np.zeros(best.shape)
    z = (q_online if double_q else q_target) / tau
    logp = z - z.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    pi = np.exp(logp)
    kl = (pi * logp).sum(-1)  # KL to the counting measure
    if backup == "logmeanexp":
        kl = kl + math.log(NUM_ACTIONS)
    if not double_q:  # the soft value, by a max-shifted log-sum-exp
        m = q_target.max(-1)
        lse = m + tau * np.log(np.exp((q_target - m[..., None]) / tau).sum(-1))
        return (lse if backup == "logsumexp" else lse - tau * math.log(NUM_ACTIONS)), kl
    return (pi * q_target).sum(-1) - tau * kl, kl


def expected_loss(online_w, target_w, arrays, backup, double_q, loss_kind, nstep_target="paper"):
    q_online = np_q_network(online_w, arrays["observation"])
    q_target = np_q_network(target_w, arrays["observation"])
    values, kl = np_backup(q_target, q_online, backup, double_q)  # [B, n + 1] each
    penalty = TAU * kl if nstep_target == "paper" else np.zeros_like(kl)
    batch, k = arrays["reward"].shape
    targets = np.zeros(batch)
    for b in range(batch):
        # Forward: y = r_0 + sum_{d >= 1} (prod of discounts) (r_d - tau KL_d) + ... V_k, stopping
        # at a dummy LAST -> FIRST transition (bootstrap with V there, no KL).
        total, weight = arrays["reward"][b, 0], GAMMA * arrays["discount"][b, 0]
        for d in range(1, k):
            if d == k - 1 or arrays["step_type"][b, d] == LAST:
                total += weight * values[b, d]
                break
            total += weight * (arrays["reward"][b, d] - penalty[b, d])
            weight *= GAMMA * arrays["discount"][b, d]
        targets[b] = total
    q_taken = q_online[np.arange(batch), 0, arrays["action"][:, 0]]
    td = targets - q_taken
    if loss_kind == "huber":
        per = np.where(np.abs(td) <= 1.0, 0.5 * td**2, np.abs(td) - 0.5)
    else:
        per = 0.5 * td**2
    mask = arrays["step_type"][:, 0] != LAST
    return per[mask].mean(), np.abs(td)[mask].mean(), td


def make_agent(n_steps=1, seed=0, **kwargs):
    online, online_w = fixed_q_network(seed=seed, scale=1.5)
    kwargs = {
        "tau": TAU,
        "gamma": GAMMA,
        "n_steps": n_steps,
        "max_grad_norm": None,
        "target_update_period": 2,
        **kwargs,
    }
    agent = SoftDQNAgent(
        TIME_STEP_SPEC, ACTION_SPEC, online, tf.keras.optimizers.SGD(0.05), **kwargs
    )
    agent.initialize()
    # Different target weights, so that a test sees which network each value comes from.
    target_w = [w * 0.5 + 0.1 for w in online_w]
    assign(agent.target_q_network, target_w)
    return agent, online_w, target_w


@pytest.mark.parametrize("backup", ["max", "logsumexp", "logmeanexp"])
@pytest.mark.parametrize("double_q", [False, True], ids=["single", "double"])
@pytest.mark.parametrize("n_steps, nstep_target", [(1, "paper"), (2, "paper"), (2, "rewards")])
def test_loss_matches_numpy(backup, double_q, n_steps, nstep_target):
    agent, online_w, target_w = make_agent(
        n_steps, backup=backup, double_q=double_q, nstep_target=nstep_target
    )
    experience, arrays = window_batch(n_steps)
    loss, td_abs, td = expected_loss(
        online_w, target_w, arrays, backup, double_q, "huber", nstep_target
    )
    assert (np.abs(td[:3]) > 1).any() and (np.abs(td[:3]) < 1).any()  # both Huber regimes
    info = agent.loss(experience)
    np.testing.assert_allclose(info.loss.numpy(), loss, rtol=1e-5)
    np.testing.assert_allclose(info.extra["td_error_abs"].numpy(), td_abs, rtol=1e-5)


@pytest.mark.parametrize("backup", ["max", "logsumexp"])
def test_reward_scale_multiplies_the_rewards_it_learns_from(backup):
    """The loss with reward_scale k is numpy's on rewards times k (2-step soft targets)."""
    agent, online_w, target_w = make_agent(2, backup=backup, reward_scale=0.25)
    experience, arrays = window_batch(2)
    scaled = dict(arrays, reward=0.25 * arrays["reward"])
    loss, _, _ = expected_loss(online_w, target_w, scaled, backup, False, "huber", "paper")
    unscaled, _, _ = expected_loss(online_w, target_w, arrays, backup, False, "huber", "paper")
    assert abs(loss - unscaled) > 1e-2  # the scale is visible in the loss
    np.testing.assert_allclose(agent.loss(experience).loss.numpy(), loss, rtol=1e-5)


@pytest.mark.parametrize("backup", ["max", "logsumexp", "logmeanexp"])
@pytest.mark.parametrize("n_steps", [1, 2])
def test_nstep_target_forms_differ_only_with_kl_terms(backup, n_steps):
    """The KL terms enter only at intermediate states of a soft backup: n = 2 with the soft
    backups separates the forms (row 0 of the window has an intermediate state), n = 1 or "max"
    does not."""
    experience, _ = window_batch(n_steps)
    paper, rewards = (
        make_agent(n_steps, backup=backup, nstep_target=form)[0].loss(experience).loss.numpy()
        for form in ("paper", "rewards")
    )
    if n_steps == 2 and backup != "max":
        assert abs(paper - rewards) > 1e-3
    else:
        assert paper == rewards


@pytest.mark.parametrize("backup", ["max", "logsumexp"])
def test_loss_under_tf_function_matches_numpy(backup):
    agent, online_w, target_w = make_agent(2, backup=backup, double_q=True)
    experience, arrays = window_batch(2)
    loss, _, _ = expected_loss(online_w, target_w, arrays, backup, True, "huber")
    np.testing.assert_allclose(tf.function(agent.loss)(experience).loss.numpy(), loss, rtol=1e-5)


def test_l2_loss_and_no_gradient_into_the_target_network():
    agent, online_w, target_w = make_agent(1, backup="logsumexp", loss="l2")
    experience, arrays = window_batch(1)
    loss, _, _ = expected_loss(online_w, target_w, arrays, "logsumexp", False, "l2")
    variables = agent.q_network.trainable_variables + agent.target_q_network.trainable_variables
    with tf.GradientTape() as tape:
        info = agent.loss(experience)
    np.testing.assert_allclose(info.loss.numpy(), loss, rtol=1e-5)
    grads = tape.gradient(info.loss, variables)
    n = len(agent.q_network.trainable_variables)
    assert all(g is not None for g in grads[:n])
    assert all(g is None for g in grads[n:])


def test_target_network_is_copied_every_period():
    agent, _, target_w = make_agent(1, backup="max")
    experience, _ = window_batch(1)

    def target_matches_online():
        return all(
            np.array_equal(a.numpy(), b.numpy())
            for a, b in zip(
                agent.q_network.variables, agent.target_q_network.variables, strict=True
            )
        )

    train = tf.function(agent.train)
    train(experience)  # update 1: online moves, target stays
    assert not target_matches_online()
    for t, w in zip(agent.target_q_network.trainable_variables, target_w, strict=True):
        np.testing.assert_array_equal(t.numpy(), w)
    train(experience)  # update 2 (period 2): target := online
    assert target_matches_online()
    train(experience)
    assert not target_matches_online()
    assert int(agent.train_step_counter.numpy()) == 3


def test_initialize_copies_online_into_target():
    online, _ = fixed_q_network(seed=0)
    agent = SoftDQNAgent(TIME_STEP_SPEC, ACTION_SPEC, online, tf.keras.optimizers.SGD(0.1))
    assert not all(
        np.array_equal(a.numpy(), b.numpy())
        for a, b in zip(online.variables, agent.target_q_network.variables, strict=True)
    )
    agent.initialize()
    for a, b in zip(online.variables, agent.target_q_network.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _time_step(batch):
    obs = tf.constant(np.random.default_rng(0).normal(size=(batch, OBS_DIM)), tf.float32)
    return TIME_STEP_SPEC.__class__(
        tf.ones([batch], tf.int32), tf.zeros([batch]), tf.ones([batch]), obs
    )


def test_greedy_policy_is_argmax_q():
    agent, online_w, _ = make_agent(1)
    time_step = _time_step(16)
    assert isinstance(agent.policy, greedy_policy.GreedyPolicy)
    expected = np_q_network(online_w, time_step.observation.numpy()).argmax(-1)
    np.testing.assert_array_equal(agent.policy.action(time_step).action.numpy(), expected)


def test_epsilon_greedy_exploration_follows_its_schedule():
    """epsilon = 1: uniform actions; epsilon = 0: the greedy action (paper section 6.2)."""
    epsilon = tf.Variable(1.0)
    agent, online_w, _ = make_agent(1, exploration="epsilon", epsilon=lambda: epsilon)
    assert isinstance(agent.collect_policy, epsilon_greedy_policy.EpsilonGreedyPolicy)
    time_step = _time_step(3000)
    action = agent.collect_policy.action
    freq = np.bincount(action(time_step).action.numpy(), minlength=NUM_ACTIONS) / 3000
    # 4 standard errors: 4 * sqrt(1/3 * 2/3 / 3000) = 0.034.
    np.testing.assert_allclose(freq, np.full(NUM_ACTIONS, 1 / 3), atol=0.034)
    epsilon.assign(0.0)
    expected = np_q_network(online_w, time_step.observation.numpy()).argmax(-1)
    np.testing.assert_array_equal(action(time_step).action.numpy(), expected)


def test_boltzmann_exploration_samples_softmax_q_over_tau():
    agent, online_w, _ = make_agent(1, exploration="boltzmann")
    assert isinstance(agent.collect_policy, BoltzmannPolicy)
    time_step = _time_step(1)
    many = tf.nest.map_structure(lambda x: tf.repeat(x, 4000, axis=0), time_step)
    actions = tf.function(agent.collect_policy.action)(many).action.numpy()
    q = np_q_network(online_w, time_step.observation.numpy())[0]
    pi = np.exp(q / TAU - (q / TAU).max())
    pi /= pi.sum()
    freq = np.bincount(actions, minlength=NUM_ACTIONS) / 4000
    np.testing.assert_allclose(freq, pi, atol=0.032)  # 4 * 0.5 / sqrt(4000)


def test_registry_dqn_is_soft_dqn_with_the_max_backup():
    assert issubclass(AGENTS["dqn"], SoftDQNAgent) and AGENTS["soft_dqn"] is SoftDQNAgent
    dqn_config = resolve("dqn").agent
    soft_config = resolve("soft_dqn").agent
    assert not hasattr(dqn_config, "backup") and not hasattr(dqn_config, "tau")
    assert soft_config.backup == "logsumexp"
    expected = {"dqn": "max", "soft_dqn": "logsumexp"}
    for name, config in (("dqn", dqn_config), ("soft_dqn", soft_config)):
        agent = build_agent(name, config, TIME_STEP_SPEC, ACTION_SPEC, total_updates=100)
        assert agent._backup == expected[name]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"backup": "mean"}, "backup"),
        ({"exploration": "ucb"}, "exploration"),
        ({"loss": "l1"}, "loss"),
        ({"n_steps": 0}, "n_steps"),
        ({"nstep_target": "soft"}, "nstep_target"),
        ({"tau": -1.0}, "tau"),
        ({"reward_scale": -2.0}, "reward_scale"),
    ],
)
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_agent(**kwargs)
