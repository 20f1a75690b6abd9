"""Tests for softrl_tf.losses.

Known values are worked by hand (arithmetic in the comments). The identities of docs/theory.md §10
(T1, T2, T4-T9, T12) are checked in float64 by exact enumeration: over actions on bandits, and over
every trajectory of a 3-state, 3-action MDP with n = 3 steps for the n-step identities.
"""

import softrl_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split
import itertools
import math

from softrl_tf import losses

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

F64 = tf.float64
LOG2, LOG3 = math.log(2.0), math.log(3.0)


def _np(x):
    return tf.nest.map_structure(lambda t: t.numpy(), x)


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _flat_grad(tape, target, variables):
    """Flat gradient; a variable the target does not depend on (e.g. the value head for the policy
    loss of a two-head network) has gradient None, which is 0. All None means the target was not
    recorded on the tape (computed outside it): an error, not a zero gradient."""
    grads = tape.gradient(target, variables)
    assert any(g is not None for g in grads), "target is not connected to the variables"
    return np.concatenate(
        [
            np.zeros(v.shape).ravel() if g is None else g.numpy().ravel()
            for g, v in zip(grads, variables, strict=True)
        ]
    )


# ---------------------------------------------------------------------------------------------
# Known values


def test_soft_value_known_values():
    # q = [1, 2], tau = 1: uniform V = log((e + e^2) / 2) = log(5.053669) = 1.6201145.
    # Counting measure: log(e + e^2) = log(10.107338) = 2.3132617 (= 1.6201145 + log 2).
    q = tf.constant([1.0, 2.0], F64)
    assert losses.soft_value(q, 1.0).numpy() == pytest.approx(1.6201145069582774, rel=1e-14)
    assert losses.soft_value(q, 1.0, entropy_bonus=True).numpy() == pytest.approx(
        2.3132616875182226, rel=1e-14
    )
    # prior [0.25, 0.75], tau = 0.5: V = 0.5 log(0.25 e^2 + 0.75 e^4)
    #   = 0.5 log(1.847264 + 40.948613) = 0.5 log(42.795877) = 1.8782209.
    log_prior = np.log([0.25, 0.75])
    assert losses.soft_value(q, 0.5, log_prior).numpy() == pytest.approx(
        1.878220877823627, rel=1e-14
    )
    # Batched: [2, 2] -> [2]; the second row is constant, so V = 3 for any prior and tau.
    v = losses.soft_value(tf.constant([[1.0, 2.0], [3.0, 3.0]], F64), 1.0)
    np.testing.assert_allclose(v, [1.6201145069582774, 3.0], rtol=1e-14)


def test_boltzmann_log_probs_known_values():
    q = tf.constant([1.0, 2.0], F64)
    # Uniform, tau = 1: softmax([1, 2]) = [1/(1+e), e/(1+e)] = [0.2689414, 0.7310586];
    # logs [-1.3132617, -0.3132617].
    np.testing.assert_allclose(
        losses.boltzmann_log_probs(q, 1.0), [-1.3132616875182228, -0.3132616875182228], rtol=1e-14
    )
    # prior [0.25, 0.75], tau = 0.5: pi ∝ [0.25 e^2, 0.75 e^4] = [1.847264, 40.948613] / 42.795877
    #   = [0.0431645, 0.9568355]; logs [-3.1427361, -0.0441238].
    np.testing.assert_allclose(
        losses.boltzmann_log_probs(q, 0.5, np.log([0.25, 0.75])),
        [-3.1427361167671446, -0.04412382809903519],
        rtol=1e-13,
    )


def test_kl_and_entropy_known_values():
    # logits [0, log 3] -> pi = [0.25, 0.75].
    # H = -(0.25 log 0.25 + 0.75 log 0.75) = 0.3465736 + 0.2157616 = 0.5623351.
    # KL to uniform = 0.25 log(0.25/0.5) + 0.75 log(0.75/0.5) = 0.75 log 3 - log 2 = 0.1308120
    #   (= log 2 - H).
    # KL to [0.75, 0.25] = 0.25 log(1/3) + 0.75 log 3 = 0.5 log 3 = 0.5493061.
    logits = tf.constant([0.0, LOG3], F64)
    assert losses.entropy(logits).numpy() == pytest.approx(0.5623351446188083, rel=1e-14)
    assert losses.kl_to_prior(logits).numpy() == pytest.approx(0.130812035941137, rel=1e-13)
    assert losses.kl_to_prior(logits, np.log([0.5, 0.5])).numpy() == pytest.approx(
        0.130812035941137, rel=1e-13
    )
    assert losses.kl_to_prior(logits, np.log([0.75, 0.25])).numpy() == pytest.approx(
        0.5 * LOG3, rel=1e-14
    )
    # Logits are shift-invariant; batched [2, 2] -> [2].
    np.testing.assert_allclose(
        losses.kl_to_prior(tf.constant([[0.0, LOG3], [5.0, 5.0 + LOG3]], F64)),
        [0.130812035941137] * 2,
        rtol=1e-12,
    )


def test_entropy_regularized_returns_known_values():
    # Column 0: r = [1, 2, 3], discount 0.5, penalty [0.2, 0.4, 0.6], tau = 0.5, bootstrap 10.
    #   proper: G2 = 3 - 0.3 + 0.5 * 10 = 7.7; G1 = 2 - 0.2 + 0.5 * 7.7 = 5.65;
    #           G0 = 1 - 0.1 + 0.5 * 5.65 = 3.725.  y = G + tau * pen = [3.825, 5.85, 8.0].
    #   naive:  G2 = 3 + 5 = 8; G1 = 2 + 4 = 6; G0 = 1 + 3 = 4; y = G.
    # Column 1: r = 1, discount [0.9, 0, 0.9] (termination after t = 1), penalty 0, bootstrap 5:
    #   G2 = 1 + 4.5 = 5.5; G1 = 1 + 0 * 5.5 = 1; G0 = 1 + 0.9 * 1 = 1.9 (same for naive).
    r = tf.constant([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]], F64)
    discount = tf.constant([[0.5, 0.9], [0.5, 0.0], [0.5, 0.9]], F64)
    penalty = tf.constant([[0.2, 0.0], [0.4, 0.0], [0.6, 0.0]], F64)
    bootstrap = tf.constant([10.0, 5.0], F64)
    v, y = losses.entropy_regularized_returns(r, discount, penalty, bootstrap, 0.5)
    np.testing.assert_allclose(v, [[3.725, 1.9], [5.65, 1.0], [7.7, 5.5]], rtol=1e-14)
    np.testing.assert_allclose(y, [[3.825, 1.9], [5.85, 1.0], [8.0, 5.5]], rtol=1e-14)
    v, y = losses.entropy_regularized_returns(r, discount, penalty, bootstrap, 0.5, proper=False)
    np.testing.assert_allclose(v, [[4.0, 1.9], [6.0, 1.0], [8.0, 5.5]], rtol=1e-14)
    np.testing.assert_allclose(y, v)
    # Naive needs no penalty at all.
    v2, _ = losses.entropy_regularized_returns(r, discount, None, bootstrap, 0.5, proper=False)
    np.testing.assert_allclose(v2, v)


def test_entropy_regularized_returns_boundary_truncation_mid_segment():
    # tau = 0.5. Boundary (dummy LAST -> FIRST transition) at t = 1 in both columns.
    # Column 0, truncation at t = 1 (discount_0 = 0.9 is kept): r = [1, 0, 0.5, -1],
    #   discount [0.9, 0.9, 0.9, 0] (termination at the end), pen [0.2, 0.4, 0.1, 0.3],
    #   values [3, 2, 1, 4], bootstrap 7 (unused: discount_3 = 0).
    #   G3 = -1 - 0.15 + 0 = -1.15; G2 = 0.5 - 0.05 + 0.9 * -1.15 = -0.585;
    #   G1 = values_1 = 2 (restart); G0 = 1 - 0.1 + 0.9 * 2 = 2.7.
    #   y = G + 0.5 * pen = [2.8, 2.2, -0.535, -1.0].
    # Column 1, termination at t = 0 (discount_0 = 0): r = [2, 0, 1, 1], discount [0, .9, .9, .9],
    #   pen 0.2 everywhere, values [0, 5, 0, 0], bootstrap 1.
    #   G3 = 1 - 0.1 + 0.9 * 1 = 1.8; G2 = 0.9 + 0.9 * 1.8 = 2.52; G1 = 5; G0 = 2 - 0.1 + 0 = 1.9.
    #   y = G + 0.1 = [2.0, 5.1, 2.62, 1.9].
    r = tf.constant([[1.0, 2.0], [0.0, 0.0], [0.5, 1.0], [-1.0, 1.0]], F64)
    discount = tf.constant([[0.9, 0.0], [0.9, 0.9], [0.9, 0.9], [0.0, 0.9]], F64)
    pen = tf.constant([[0.2, 0.2], [0.4, 0.2], [0.1, 0.2], [0.3, 0.2]], F64)
    values = tf.constant([[3.0, 0.0], [2.0, 5.0], [1.0, 0.0], [4.0, 0.0]], F64)
    boundary = tf.constant([[False, False], [True, True], [False, False], [False, False]])
    v, y = losses.entropy_regularized_returns(
        r, discount, pen, tf.constant([7.0, 1.0], F64), 0.5, values_t=values, is_boundary_t=boundary
    )
    np.testing.assert_allclose(
        v, [[2.7, 1.9], [2.0, 5.0], [-0.585, 2.52], [-1.15, 1.8]], rtol=1e-14
    )
    np.testing.assert_allclose(y, [[2.8, 2.0], [2.2, 5.1], [-0.535, 2.62], [-1.0, 1.9]], rtol=1e-14)
    # Naive column 0: G3 = -1; G2 = 0.5 - 0.9 = -0.4; G1 = 2; G0 = 1 + 1.8 = 2.8.
    v, _ = losses.entropy_regularized_returns(
        r,
        discount,
        pen,
        tf.constant([7.0, 1.0], F64),
        0.5,
        False,
        values_t=values,
        is_boundary_t=boundary,
    )
    np.testing.assert_allclose(v[:, 0], [2.8, 2.0, -0.4, -1.0], rtol=1e-14)
    with pytest.raises(ValueError, match="^entropy_regularized_returns: values_t is required"):
        losses.entropy_regularized_returns(
            r, discount, pen, [7.0, 1.0], 0.5, is_boundary_t=boundary
        )


def test_nstep_discounted_rewards_known_values():
    # Column 0: R = 1 + 0.5 * 2 + 0.25 * 3 = 2.75, D = 0.5^3 = 0.125.
    # Column 1: termination at t = 1: R = 1 + 0.5 * 2 + 0.5 * 0 * 3 = 2, D = 0.
    r = tf.constant([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], F64)
    d = tf.constant([[0.5, 0.5], [0.5, 0.0], [0.5, 0.5]], F64)
    reward_sum, discount = losses.nstep_discounted_rewards(r, d)
    np.testing.assert_allclose(reward_sum, [2.75, 2.0], rtol=1e-15)
    np.testing.assert_allclose(discount, [0.125, 0.0], rtol=1e-15)


# One transition: logits [0, log 3] (pi = [0.25, 0.75]), V = 1, action 1, r = 2, discount 0.5,
# bootstrap 3, tau = 0.1, uniform prior: KL = 0.75 log 3 - log 2 = 0.1308120.
_ONE_STEP = dict(
    logits_t=[[[0.0, LOG3]]],
    values_t=[[1.0]],
    actions_t=[[1]],
    r_t=[[2.0]],
    discount_t=[[0.5]],
    bootstrap_value=[3.0],
    tau=0.1,
)
_KL = 0.75 * LOG3 - LOG2


def _one_step_inputs():
    kw = dict(_ONE_STEP)
    kw["logits_t"] = tf.constant(kw["logits_t"], F64)
    kw["values_t"] = tf.constant(kw["values_t"], F64)
    return kw


def test_a2c_loss_known_values():
    # proper: G0 = 2 - 0.1 * 0.1308120 + 0.5 * 3 = 3.4869188; advantage = 2.4869188;
    #   policy = -log(0.75) * 2.4869188 + 0.1 * 0.1308120 = 0.7154411 + 0.0130812 = 0.7285232;
    #   value = 0.5 * 2.4869188^2 = 3.0923825; loss = 0.7285232 + 0.5 * 3.0923825 = 2.2747144.
    loss, extra = losses.a2c_loss(**_one_step_inputs())
    assert loss.numpy()[0, 0] == pytest.approx(2.274714431942673, rel=1e-13)
    assert extra.value_targets.numpy()[0, 0] == pytest.approx(3.5 - 0.1 * _KL, rel=1e-14)
    assert extra.advantages.numpy()[0, 0] == pytest.approx(2.4869187964058863, rel=1e-14)
    assert extra.policy_loss.numpy()[0, 0] == pytest.approx(0.7285231569634476, rel=1e-13)
    assert extra.value_loss.numpy()[0, 0] == pytest.approx(3.092382549958451, rel=1e-13)
    assert extra.kl.numpy()[0, 0] == pytest.approx(_KL, rel=1e-13)
    assert extra.entropy.numpy()[0, 0] == pytest.approx(LOG2 - _KL, rel=1e-13)
    # naive: G0 = 2 + 1.5 = 3.5; advantage 2.5; policy = 0.2876821 * 2.5 + 0.0130812 = 0.7322864;
    #   value = 3.125; loss = 0.7322864 + 1.5625 = 2.2947864.
    loss, extra = losses.a2c_loss(**_one_step_inputs(), entropy_mode="naive")
    assert loss.numpy()[0, 0] == pytest.approx(2.294786384723566, rel=1e-13)
    assert extra.advantages.numpy()[0, 0] == pytest.approx(2.5, rel=1e-14)
    # value_coef = 2: loss = 0.7322864 + 2 * 3.125 = 6.9822864.
    loss, _ = losses.a2c_loss(**_one_step_inputs(), entropy_mode="naive", value_coef=2.0)
    assert loss.numpy()[0, 0] == pytest.approx(6.982286384723566, rel=1e-13)
    # Prior [0.75, 0.25]: KL = 0.5 log 3 = 0.5493061 (known value above).
    #   proper: G0 = 2 - 0.1 * 0.5493061 + 1.5 = 3.4450694; advantage = 2.4450694;
    #   policy = 0.2876821 * 2.4450694 + 0.0549306 = 0.7034026 + 0.0549306 = 0.7583332;
    #   value = 0.5 * 2.4450694^2 = 2.9891822; loss = 0.7583332 + 0.5 * 2.9891822 = 2.2529243.
    loss, extra = losses.a2c_loss(**_one_step_inputs(), log_prior=np.log([0.75, 0.25]))
    assert loss.numpy()[0, 0] == pytest.approx(2.2529243176203577, rel=1e-13)
    assert extra.kl.numpy()[0, 0] == pytest.approx(0.5 * LOG3, rel=1e-13)
    assert extra.advantages.numpy()[0, 0] == pytest.approx(2.445069385566595, rel=1e-14)
    assert extra.policy_loss.numpy()[0, 0] == pytest.approx(0.7583332425616061, rel=1e-13)
    assert extra.value_loss.numpy()[0, 0] == pytest.approx(2.989182150117503, rel=1e-13)


def test_soft_nstep_q_loss_known_values():
    # Q = V + tau (log pi(1) - log 0.5) = 1 + 0.1 log 1.5 = 1.0405465;
    # y = G0 + tau KL = (3.5 - tau KL) + tau KL = 3.5; td = -2.4594535; loss = 0.5 td^2 = 3.0244557.
    # The stream scaling leaves the forward value unchanged.
    for kw in (dict(), dict(value_scale=None, advantage_scale=1.0), dict(scale_streams=False)):
        loss, extra = losses.soft_nstep_q_loss(**_one_step_inputs(), **kw)
        assert loss.numpy()[0, 0] == pytest.approx(3.024455732742424, rel=1e-13)
        assert extra.q_taken.numpy()[0, 0] == pytest.approx(1.0405465108108165, rel=1e-14)
        assert extra.q_targets.numpy()[0, 0] == pytest.approx(3.5, rel=1e-14)
        assert extra.value_targets.numpy()[0, 0] == pytest.approx(3.5 - 0.1 * _KL, rel=1e-14)
        assert extra.td_error.numpy()[0, 0] == pytest.approx(-2.4594534891891833, rel=1e-13)
    # Prior [0.75, 0.25]: Q = 1 + 0.1 (log 0.75 - log 0.25) = 1 + 0.1 log 3 = 1.1098612;
    # KL = 0.5 log 3 (known value above) and y = 3.5 again.
    loss, extra = losses.soft_nstep_q_loss(**_one_step_inputs(), log_prior=np.log([0.75, 0.25]))
    assert extra.q_taken.numpy()[0, 0] == pytest.approx(1.0 + 0.1 * LOG3, rel=1e-14)
    assert extra.q_targets.numpy()[0, 0] == pytest.approx(3.5, rel=1e-14)
    assert extra.kl.numpy()[0, 0] == pytest.approx(0.5 * LOG3, rel=1e-13)


def test_soft_nstep_q_loss_two_step_known_values():
    # t = 0 as in _ONE_STEP (pi = [0.25, 0.75], V = 1, a = 1, r = 2, discount 0.5); t = 1: logits
    # [log 3, 0] (pi = [0.75, 0.25], the same KL = 0.1308120 to uniform), V = 0.5, a = 0, r = -1,
    # discount 0.5, bootstrap 3, tau = 0.1.
    #   G1 = -1 - 0.0130812 + 0.5 * 3 = 0.4869188;   y1 = G1 + 0.0130812 = 0.5
    #   G0 = 2 - 0.0130812 + 0.5 * 0.4869188 = 2.2303782; y0 = G0 + 0.0130812 = 2.2434594
    #   (= 2 + 0.5 * G1: the d = 1 penalty stays in y0, the d = 0 one does not).
    #   Q0 = 1 + 0.1 log(0.75 / 0.5) = 1.0405465; Q1 = 0.5 + 0.1 log 1.5 = 0.5405465.
    #   td = [-1.2029129, 0.0405465]; loss = 0.5 td^2 = [0.7234997, 0.0008220].
    kw = dict(
        logits_t=tf.constant([[[0.0, LOG3]], [[LOG3, 0.0]]], F64),
        values_t=tf.constant([[1.0], [0.5]], F64),
        actions_t=[[1], [0]],
        r_t=[[2.0], [-1.0]],
        discount_t=[[0.5], [0.5]],
        bootstrap_value=[3.0],
        tau=0.1,
    )
    loss, extra = losses.soft_nstep_q_loss(**kw)
    np.testing.assert_allclose(loss[:, 0], [0.7234997073270316, 0.0008220097694658253], rtol=1e-12)
    np.testing.assert_allclose(extra.q_targets[:, 0], [2.243459398202943, 0.5], rtol=1e-14)
    np.testing.assert_allclose(
        extra.value_targets[:, 0], [2.2303781946088295, 0.4869187964058863], rtol=1e-14
    )
    np.testing.assert_allclose(extra.q_taken[:, 0], [1.0405465108108165, 0.5405465108108164])
    np.testing.assert_allclose(
        extra.td_error[:, 0], [-1.2029128873921267, 0.040546510810816394], rtol=1e-12
    )


def test_soft_q_target_known_values():
    # r = [1, 0], discount = [0.9, 0], q_next = [[1, 2], [3, 4]], tau = 1.
    # max: 1 + 0.9 * 2 = 2.8.  logsumexp: 1 + 0.9 log(e + e^2) = 1 + 0.9 * 2.3132617 = 3.0819355.
    # logmeanexp: 1 + 0.9 * 1.6201145 = 2.4581031. The second entry terminates: 0.
    args = (tf.constant([1.0, 0.0], F64), tf.constant([0.9, 0.0], F64))
    q_next = tf.constant([[1.0, 2.0], [3.0, 4.0]], F64)
    expected = {"max": 2.8, "logsumexp": 3.0819355187664006, "logmeanexp": 2.4581030562624497}
    for backup, value in expected.items():
        np.testing.assert_allclose(
            losses.soft_q_target(*args, q_next, 1.0, backup), [value, 0.0], rtol=1e-14
        )
    # Double Q with selector [[2, 1], ...]: "max" takes a = 0: 1 + 0.9 * 1 = 1.9.
    # Soft: pi_sel = softmax([2, 1]) = [0.7310586, 0.2689414]; E q_next = 0.7310586 + 2 * 0.2689414
    #   = 1.2689414; H = 0.5822031; logsumexp: V = 1.2689414 + 0.5822031 = 1.8511445,
    #   y = 1 + 0.9 * 1.8511445 = 2.6660301; logmeanexp: V - log 2, y = 2.0421976.
    selector = tf.constant([[2.0, 1.0], [0.0, 0.0]], F64)
    expected = {"max": 1.9, "logsumexp": 2.6660300772323917, "logmeanexp": 2.042197614728441}
    for backup, value in expected.items():
        y = losses.soft_q_target(*args, q_next, 1.0, backup, q_next_selector=selector)
        np.testing.assert_allclose(y, [value, 0.0], rtol=1e-13)
    # With selector == q_next the double soft backups equal the plain ones (docs/theory.md T1).
    for backup in ("logsumexp", "logmeanexp"):
        np.testing.assert_allclose(
            losses.soft_q_target(*args, q_next, 0.3, backup, q_next_selector=q_next),
            losses.soft_q_target(*args, q_next, 0.3, backup),
            rtol=1e-14,
        )
    with pytest.raises(ValueError, match="'max', 'logsumexp', 'logmeanexp'"):
        losses.soft_q_target(*args, q_next, 1.0, "softmax")


def test_one_step_q_loss_known_values():
    # q_taken = [q[0, 1], q[1, 0]] = [2, 0]; td = target - q_taken = [0.5, 3].
    # huber (delta 1): [0.5 * 0.25, 1 * (3 - 0.5)] = [0.125, 2.5]; l2: [0.125, 4.5];
    # huber delta 2: [0.125, 2 * (3 - 1)] = [0.125, 4].
    q = tf.constant([[1.0, 2.0], [0.0, 5.0]], F64)
    a, target = tf.constant([1, 0]), tf.constant([2.5, 3.0], F64)
    loss, extra = losses.one_step_q_loss(q, a, target)
    np.testing.assert_allclose(loss, [0.125, 2.5], rtol=1e-15)
    np.testing.assert_allclose(extra.q_taken, [2.0, 0.0])
    np.testing.assert_allclose(extra.td_error, [0.5, 3.0])
    np.testing.assert_allclose(losses.one_step_q_loss(q, a, target, loss="l2")[0], [0.125, 4.5])
    np.testing.assert_allclose(
        losses.one_step_q_loss(q, a, target, huber_delta=2.0)[0], [0.125, 4.0]
    )
    with pytest.raises(ValueError, match="'huber', 'l2'"):
        losses.one_step_q_loss(q, a, target, loss="mse")


# ---------------------------------------------------------------------------------------------
# Gradients: exact formulas, nothing through targets, masked boundaries


def _sequence_batch(dtype=F64, seed=1):
    """T = 4, B = 3, A = 3 with a truncation at t = 1 (column 0) and a termination (column 1)."""
    rng = np.random.default_rng(seed)
    t, b, a = 4, 3, 3
    return dict(
        logits_t=tf.constant(rng.normal(size=(t, b, a)), dtype),
        values_t=tf.constant(rng.normal(size=(t, b)), dtype),
        actions_t=tf.constant(rng.integers(0, a, size=(t, b)), tf.int32),
        r_t=tf.constant(rng.normal(size=(t, b)), dtype),
        discount_t=tf.constant(
            [[0.9, 0.9, 0.9], [0.9, 0.0, 0.9], [0.9, 0.9, 0.9], [0.9, 0.9, 0.9]], dtype
        ),
        bootstrap_value=tf.constant(rng.normal(size=b), dtype),
        tau=0.3,
        log_prior=tf.constant(np.log(rng.dirichlet(np.ones(a) * 3, size=(t, b))), dtype),
        is_boundary_t=tf.constant(
            [[False] * 3, [True, False, False], [False, True, False], [False] * 3]
        ),
    )


def _watch_all(tape, batch):
    for key in ("logits_t", "values_t", "r_t", "discount_t", "bootstrap_value", "log_prior"):
        tape.watch(batch[key])


@pytest.mark.parametrize("mode", ["proper", "naive"])
def test_a2c_loss_gradients_exact_and_none_through_targets(mode):
    batch = _sequence_batch()
    with tf.GradientTape(persistent=True) as tape:
        _watch_all(tape, batch)
        loss, extra = losses.a2c_loss(**batch, entropy_mode=mode, value_coef=0.7)
        total = tf.reduce_sum(loss)
    for key in ("r_t", "discount_t", "bootstrap_value", "log_prior"):
        assert tape.gradient(total, batch[key]) is None, key
    for field in ("advantages", "value_targets"):
        for key in ("logits_t", "values_t"):
            assert tape.gradient(getattr(extra, field), batch[key]) is None, (field, key)
    keep = 1.0 - batch["is_boundary_t"].numpy().astype(float)
    # d loss / d V = value_coef * (V - V-hat), and 0 at boundaries (whose V is only a target).
    np.testing.assert_allclose(
        tape.gradient(total, batch["values_t"]),
        0.7 * (batch["values_t"].numpy() - extra.value_targets.numpy()) * keep,
        rtol=1e-12,
    )
    # d loss / d logits = -(onehot(a) - pi) * adv + tau * pi * (log pi - log prior - KL): the KL
    # penalties inside the returns carry no gradient.
    log_pi = tf.nn.log_softmax(batch["logits_t"]).numpy()
    pi = np.exp(log_pi)
    onehot = np.eye(3)[batch["actions_t"].numpy()]
    kl = extra.kl.numpy()
    expected = -(onehot - pi) * extra.advantages.numpy()[..., None] + 0.3 * pi * (
        log_pi - batch["log_prior"].numpy() - kl[..., None]
    )
    np.testing.assert_allclose(
        tape.gradient(total, batch["logits_t"]), expected * keep[..., None], rtol=1e-10, atol=1e-14
    )
    assert np.all(loss.numpy()[keep == 0] == 0.0)
    np.testing.assert_allclose(loss, extra.policy_loss + 0.7 * extra.value_loss, rtol=1e-14)


@pytest.mark.parametrize(
    "scales, k_times_tau, c",
    [
        (dict(), 1.0, 0.5),
        (dict(value_scale=None, advantage_scale=1.0), 0.3, 1.0),
        (dict(value_scale=0.2, advantage_scale=2.0), 0.6, 0.2),
    ],
)
def test_soft_nstep_q_loss_gradients_exact_and_none_through_targets(scales, k_times_tau, c):
    batch = _sequence_batch()
    with tf.GradientTape(persistent=True) as tape:
        _watch_all(tape, batch)
        loss, extra = losses.soft_nstep_q_loss(**batch, **scales)
        total = tf.reduce_sum(loss)
    # The prior is a fixed reference policy: held constant, like the targets.
    for key in ("r_t", "discount_t", "bootstrap_value", "log_prior"):
        assert tape.gradient(total, batch[key]) is None, key
    for key in ("logits_t", "values_t"):
        assert tape.gradient(extra.q_targets, batch[key]) is None, key
    # loss = 0.5 (Q - y)^2 with gradient td * (c grad V + k tau grad log pi(a)).
    td = extra.td_error.numpy()
    keep = 1.0 - batch["is_boundary_t"].numpy().astype(float)
    np.testing.assert_allclose(td, (extra.q_taken - extra.q_targets).numpy() * keep, rtol=1e-14)
    np.testing.assert_allclose(tape.gradient(total, batch["values_t"]), c * td, rtol=1e-12)
    pi = tf.nn.softmax(batch["logits_t"]).numpy()
    onehot = np.eye(3)[batch["actions_t"].numpy()]
    np.testing.assert_allclose(
        tape.gradient(total, batch["logits_t"]),
        k_times_tau * td[..., None] * (onehot - pi),
        rtol=1e-10,
        atol=1e-14,
    )
    np.testing.assert_allclose(loss, 0.5 * td**2, rtol=1e-14)


def test_boundary_splits_the_segment_and_blocks_gradients():
    """A segment with a boundary at t = 1 is two segments: [0, 1) bootstrapped from V(s_1), and
    [2, T) with the real bootstrap; the boundary step contributes nothing."""
    batch = _sequence_batch()
    # Column 0 of every [T, B, ...] input; bootstrap_value is [B] and tau a scalar.
    col = {k: v[:, :1] for k, v in batch.items() if k not in ("tau", "bootstrap_value")}
    col["bootstrap_value"] = batch["bootstrap_value"][:1]
    col["tau"] = batch["tau"]

    def part(kw, start, stop, bootstrap):
        out = {
            k: (v[start:stop] if k not in ("tau", "bootstrap_value") else v) for k, v in kw.items()
        }
        out["bootstrap_value"] = bootstrap
        out["is_boundary_t"] = None
        return out

    for fn in (losses.a2c_loss, losses.soft_nstep_q_loss):
        with tf.GradientTape(persistent=True) as tape:
            _watch_all(tape, col)
            full, _ = fn(**col)
            total = tf.reduce_sum(full)
        head, _ = fn(**part(col, 0, 1, col["values_t"][1]))
        tail, _ = fn(**part(col, 2, 4, col["bootstrap_value"]))
        np.testing.assert_allclose(full[0], head[0], rtol=1e-14)
        np.testing.assert_allclose(full[2:], tail, rtol=1e-14)
        assert full.numpy()[1, 0] == 0.0
        for key in ("logits_t", "values_t"):
            grad = tape.gradient(total, col[key]).numpy()
            assert np.all(grad[1] == 0.0), (fn.__name__, key)
            assert np.any(grad[0] != 0.0)


def test_entropy_regularized_returns_block_gradients():
    batch = _sequence_batch()
    inputs = [batch[k] for k in ("r_t", "discount_t", "logits_t", "bootstrap_value", "values_t")]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs)
        penalty = losses.kl_to_prior(batch["logits_t"])  # differentiable, as a caller may pass it
        out = losses.entropy_regularized_returns(
            batch["r_t"],
            batch["discount_t"],
            penalty,
            batch["bootstrap_value"],
            0.3,
            values_t=batch["values_t"],
            is_boundary_t=batch["is_boundary_t"],
        )
    for target in out:
        assert all(g is None for g in tape.gradient(target, inputs))
    # Control: the penalty itself does carry a gradient to the logits.
    assert tape.gradient(penalty, batch["logits_t"]) is not None


def test_soft_q_target_and_td_loss_block_gradients():
    q_next = tf.constant([[1.0, 2.0], [3.0, 4.0]], F64)
    selector = tf.constant([[0.5, 1.0], [2.0, 0.0]], F64)
    r, d = tf.constant([1.0, 0.5], F64), tf.constant([0.9, 0.9], F64)
    for backup in losses.SOFT_Q_BACKUPS:
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([q_next, selector, r, d])
            y1 = losses.soft_q_target(r, d, q_next, 0.5, backup)
            y2 = losses.soft_q_target(r, d, q_next, 0.5, backup, q_next_selector=selector)
        for y in (y1, y2):
            assert all(g is None for g in tape.gradient(y, [q_next, selector, r, d])), backup
    q = tf.constant([[1.0, 2.0], [0.0, 5.0]], F64)
    target = tf.constant([2.5, -3.0], F64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([q, target])
        loss, _ = losses.one_step_q_loss(q, tf.constant([1, 1]), target)
    assert tape.gradient(loss, target) is None
    # td = [0.5, -8]: d loss / d q_taken = -clip(td, -1, 1) = [-0.5, 1].
    np.testing.assert_allclose(tape.gradient(loss, q), [[0.0, -0.5], [0.0, 1.0]])


# ---------------------------------------------------------------------------------------------
# Errors, dtypes, graph modes


@pytest.mark.parametrize(
    "fn, call, message",
    [
        ("soft_value", lambda: losses.soft_value(tf.constant(1.0), 1.0), "q must have rank >= 1"),
        ("boltzmann_log_probs", lambda: losses.boltzmann_log_probs(3.0, 1.0), "q must have rank"),
        ("kl_to_prior", lambda: losses.kl_to_prior(2.0), "logits must have rank"),
        ("entropy", lambda: losses.entropy(2.0), "logits must have rank"),
        (
            "entropy_regularized_returns",
            lambda: losses.entropy_regularized_returns([1.0], [1.0], [1.0], [1.0], 1.0),
            "r_t must have rank 2 \\[T, B\\], got shape \\(1,\\)",
        ),
        (
            "entropy_regularized_returns",
            lambda: losses.entropy_regularized_returns([[1.0]], [[1.0]], [[1.0]], 1.0, 1.0),
            "bootstrap_value must have rank 1",
        ),
        (
            "entropy_regularized_returns",
            lambda: losses.entropy_regularized_returns([[1.0]], [[1.0]], [[1.0]], [1.0, 2.0], 1.0),
            "bootstrap_value has shape",
        ),
        (
            "a2c_loss",
            lambda: losses.a2c_loss([[1.0, 2.0]], [[1.0]], [[0]], [[1.0]], [[1.0]], [1.0], 0.1),
            "logits_t must have rank 3 \\[T, B, A\\], got shape \\(1, 2\\)",
        ),
        (
            "a2c_loss",
            lambda: losses.a2c_loss([[[1.0, 2.0]]], [[1.0]], [[0.0]], [[1.0]], [[1.0]], [1.0], 0.1),
            "actions_t must be an integer tensor",
        ),
        (
            "a2c_loss",
            lambda: losses.a2c_loss(
                [[[1.0, 2.0]]], [[1.0]], [[0]], [[1.0]], [[1.0]], [1.0], 0.1, entropy_mode="full"
            ),
            "entropy_mode must be one of \\('naive', 'proper'\\)",
        ),
        (
            "soft_nstep_q_loss",
            lambda: losses.soft_nstep_q_loss(
                [[[1.0, 2.0]]], [1.0], [[0]], [[1.0]], [[1.0]], [1.0], 0.1
            ),
            "values_t must have rank 2",
        ),
        (
            "soft_nstep_q_loss",
            lambda: losses.soft_nstep_q_loss(
                [[[1.0, 2.0]]], [[1.0, 2.0]], [[0]], [[1.0]], [[1.0]], [1.0], 0.1
            ),
            "values_t has shape",
        ),
        (
            "soft_nstep_q_loss",
            lambda: losses.soft_nstep_q_loss(
                [[[1.0, 2.0]]], [[1.0]], [[0]], [[1.0]], [[1.0]], [1.0], 0.0
            ),
            "tau must be > 0",
        ),
        (
            "soft_q_target",
            lambda: losses.soft_q_target([1.0], [1.0], [1.0, 2.0], 1.0),
            "q_next must have rank 2",
        ),
        (
            "one_step_q_loss",
            lambda: losses.one_step_q_loss([[1.0]], [[0]], [1.0]),
            "a_tm1 must have rank 1",
        ),
        (
            "nstep_discounted_rewards",
            lambda: losses.nstep_discounted_rewards([1.0], [[1.0]]),
            "r_t must have rank 2",
        ),
        (
            "soft_value",
            lambda: losses.soft_value([1.0], 1.0, [0.0], entropy_bonus=True),
            "log_prior must be None",
        ),
        (
            "soft_value",
            lambda: losses.soft_value([[1.0, 2.0]], [1.0, 2.0]),
            "tau must be a scalar",
        ),
        (
            "boltzmann_log_probs",
            lambda: losses.boltzmann_log_probs([1.0, 2.0], 1.0, np.log([0.2, 0.3, 0.5])),
            "log_prior has shape \\(3,\\), which does not broadcast to \\(2,\\)",
        ),
        (
            "kl_to_prior",
            lambda: losses.kl_to_prior([[1.0, 2.0]], [[[0.0, 0.0]]]),
            "log_prior has shape",
        ),
        (
            "a2c_loss",
            lambda: losses.a2c_loss(
                [[[1.0, 2.0]]], [[1.0]], [[0]], [[1.0]], [[1.0]], [1.0], 0.1, log_prior=[0.0] * 3
            ),
            "log_prior has shape",
        ),
        (
            "soft_nstep_q_loss",
            lambda: losses.soft_nstep_q_loss(
                [[[1.0, 2.0]]], [[1.0]], [[0]], [[1.0, 2.0]], [[1.0]], [1.0], 0.1
            ),
            "r_t has shape",
        ),
        (
            "one_step_q_loss",
            lambda: losses.one_step_q_loss([[1.0]], [0, 0], [1.0, 1.0]),
            "a_tm1 has shape",
        ),
        (
            "soft_q_target",
            lambda: losses.soft_q_target(
                [1.0], [1.0], [[1.0, 2.0]], 1.0, "max", q_next_selector=[[1.0]]
            ),
            "q_next_selector has shape",
        ),
    ],
)
def test_errors_name_the_function(fn, call, message):
    with pytest.raises(ValueError, match=f"^{fn}: {message}"):
        call()


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_dtype_follows_inputs(dtype):
    batch = _sequence_batch(dtype)
    # TF-Agents hands float32 rewards and discounts; they are cast to the logits' dtype.
    batch["r_t"] = tf.cast(batch["r_t"], tf.float32)
    batch["discount_t"] = tf.cast(batch["discount_t"], tf.float32)
    outputs = [
        losses.a2c_loss(**batch),
        losses.soft_nstep_q_loss(**batch),
        losses.soft_value(batch["logits_t"], tf.constant(0.3, tf.float32)),
        losses.boltzmann_log_probs(batch["logits_t"], 0.3, batch["log_prior"]),
        losses.soft_q_target([1.0], [0.9], tf.cast([[1.0, 2.0]], dtype), 0.3),
    ]
    for out in tf.nest.flatten(outputs):
        assert out.dtype == dtype
        assert np.all(np.isfinite(out.numpy()))


def _all_functions(batch):
    q_next = batch["logits_t"][0]
    return {
        "a2c_proper": losses.a2c_loss(**batch),
        "a2c_naive": losses.a2c_loss(**batch, entropy_mode="naive"),
        "softq": losses.soft_nstep_q_loss(**batch),
        "softq_plain": losses.soft_nstep_q_loss(**batch, scale_streams=False),
        "returns": losses.entropy_regularized_returns(
            batch["r_t"],
            batch["discount_t"],
            batch["values_t"],
            batch["bootstrap_value"],
            batch["tau"],
            values_t=batch["values_t"],
            is_boundary_t=batch["is_boundary_t"],
        ),
        "soft_value": losses.soft_value(q_next, batch["tau"], batch["log_prior"][0]),
        "log_probs": losses.boltzmann_log_probs(q_next, batch["tau"]),
        "kl": losses.kl_to_prior(q_next, batch["log_prior"][0]),
        "targets": [
            losses.soft_q_target(
                batch["r_t"][0], batch["discount_t"][0], q_next, batch["tau"], b, q_next_selector=s
            )
            for b in losses.SOFT_Q_BACKUPS
            for s in (None, batch["logits_t"][1])
        ],
        "td": losses.one_step_q_loss(q_next, batch["actions_t"][0], batch["r_t"][0]),
        "nstep": losses.nstep_discounted_rewards(batch["r_t"], batch["discount_t"]),
    }


def _grads_of_all(batch):
    keys = ("logits_t", "values_t")
    with tf.GradientTape() as tape:
        tape.watch([batch[k] for k in keys])
        out = _all_functions(batch)
        total = tf.add_n([tf.reduce_sum(x) for x in tf.nest.flatten(out)])
    return out, tape.gradient(total, [batch[k] for k in keys])


def test_eager_function_and_xla_agree():
    batch = _sequence_batch()
    tau = tf.constant(batch.pop("tau"), F64)  # a tensor tau, so the graphs take it as input

    def run(b, t):
        return _grads_of_all(dict(b, tau=t))

    eager = _np(run(batch, tau))
    graph = _np(tf.function(run)(batch, tau))
    xla = _np(tf.function(run, jit_compile=True)(batch, tau))
    for other in (graph, xla):
        tf.nest.map_structure(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14), eager, other
        )


def test_graph_with_unknown_time_and_batch_sizes():
    batch = _sequence_batch(tf.float32)
    spec3, spec2 = tf.TensorSpec([None, None, 3]), tf.TensorSpec([None, None])

    @tf.function(
        input_signature=[
            spec3,
            spec2,
            tf.TensorSpec([None, None], tf.int32),
            spec2,
            spec2,
            tf.TensorSpec([None]),
            spec3,
            tf.TensorSpec([None, None], tf.bool),
        ]
    )
    def both(logits, values, actions, r, d, bootstrap, log_prior, boundary):
        args = (logits, values, actions, r, d, bootstrap, 0.3)
        kw = dict(log_prior=log_prior, is_boundary_t=boundary)
        return losses.a2c_loss(*args, **kw)[0], losses.soft_nstep_q_loss(*args, **kw)[0]

    keys = (
        "logits_t",
        "values_t",
        "actions_t",
        "r_t",
        "discount_t",
        "bootstrap_value",
        "log_prior",
        "is_boundary_t",
    )
    a2c, softq = both(*(batch[k] for k in keys))
    np.testing.assert_allclose(a2c, losses.a2c_loss(**batch)[0], rtol=1e-5)
    np.testing.assert_allclose(softq, losses.soft_nstep_q_loss(**batch)[0], rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# docs/theory.md §10: T1, T2 (soft value and Boltzmann policy)


def _random_problem(seed, shape=(4, 5)):
    rng = np.random.default_rng(seed)
    q = tf.constant(rng.normal(size=shape) * 2.0, F64)
    log_prior = tf.constant(np.log(rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])), F64)
    return rng, q, log_prior


def test_t1_boltzmann_policy_maximises_the_regularised_objective():
    rng, q, log_prior = _random_problem(0)
    tau = 0.37
    v = losses.soft_value(q, tau, log_prior)
    log_pi = losses.boltzmann_log_probs(q, tau, log_prior)
    pi = np.exp(log_pi.numpy())
    np.testing.assert_allclose(pi.sum(-1), 1.0, rtol=1e-15)
    # pi^B = prior * exp((Q - V) / tau)
    np.testing.assert_allclose(
        pi, np.exp(log_prior.numpy() + (q.numpy() - v.numpy()[:, None]) / tau), rtol=1e-13
    )
    # V = E_{pi^B}[Q] - tau KL(pi^B || prior)
    objective_b = np.sum(pi * q.numpy(), -1) - tau * losses.kl_to_prior(log_pi, log_prior).numpy()
    np.testing.assert_allclose(objective_b, v, rtol=1e-14)
    # Any other pi: E_pi Q - tau KL(pi || prior) = V - tau KL(pi || pi^B) < V.
    for _ in range(10):
        logits = tf.constant(rng.normal(size=q.shape) * 2.0, F64)
        objective = np.sum(tf.nn.softmax(logits).numpy() * q.numpy(), -1) - tau * (
            losses.kl_to_prior(logits, log_prior).numpy()
        )
        gap = tau * losses.kl_to_prior(logits, log_pi).numpy()
        assert np.all(objective < v.numpy() - 1e-6)
        np.testing.assert_allclose(v.numpy() - objective, gap, rtol=1e-10)


def test_t2_limits_and_constants():
    q = np.array([0.3, -1.2, 2.0, 0.5])
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    # tau -> 0: max Q + tau log prior(argmax) <= V <= max Q, and the lower bound is attained once
    # the other actions' weights exp(-gap / tau) underflow (gap >= 1.5).
    for tau in (1e-1, 1e-2, 1e-3):
        v = losses.soft_value(q, tau, np.log(prior)).numpy()
        assert 2.0 + tau * math.log(0.3) <= v <= 2.0
    v = losses.soft_value(q, 1e-3, np.log(prior)).numpy()
    assert (v - 2.0) / 1e-3 == pytest.approx(math.log(0.3), rel=1e-12)
    # tau -> inf: V = E_prior Q + Var_prior(Q) / (2 tau) + O(tau^-2).
    mean = prior @ q
    var = prior @ (q - mean) ** 2
    for tau in (1e3, 1e5):
        v = losses.soft_value(q, tau, np.log(prior)).numpy()
        assert (v - mean) * tau == pytest.approx(var / 2, rel=1e-2 * 1e3 / tau)
    # tau logmeanexp(Q / tau) = tau logsumexp(Q / tau) - tau log|A|, both against numpy.
    for tau in (0.05, 0.37, 20.0):
        lse = tau * np.log(np.sum(np.exp(q / tau)))
        assert losses.soft_value(q, tau, entropy_bonus=True).numpy() == pytest.approx(lse, 1e-14)
        assert losses.soft_value(q, tau).numpy() == pytest.approx(lse - tau * math.log(4), 1e-14)


def test_soft_value_keeps_precision_at_large_tau_in_float32():
    # q = [0, 1], tau = 1e4: V = 0.5 + Var / (2 tau) = 0.5 + 0.25 / 2e4 = 0.5000125 (+ O(1e-13)).
    # A plain tau * logmeanexp(q / tau) in float32 is off by about tau * eps = 1e-3 here.
    v = losses.soft_value(tf.constant([0.0, 1.0], tf.float32), 1e4)
    assert abs(float(v) - 0.5000125) < 2e-7


# ---------------------------------------------------------------------------------------------
# Hypothesis properties of soft_value


@st.composite
def _q_and_prior(draw, bound=10.0):
    n = draw(st.integers(1, 6))
    q = np.array(draw(st.lists(st.floats(-bound, bound), min_size=n, max_size=n)))
    weights = draw(st.none() | st.lists(st.floats(0.01, 1.0), min_size=n, max_size=n))
    prior = np.full(n, 1.0 / n) if weights is None else np.array(weights) / np.sum(weights)
    return q, prior, None if weights is None else np.log(prior)


_PROPERTY = settings(max_examples=40, deadline=None)


@_PROPERTY
@given(_q_and_prior(), st.floats(-4.0, 4.0))
def test_property_soft_value_between_prior_mean_and_max(problem, log10_tau):
    q, prior, log_prior = problem
    v = losses.soft_value(q, 10.0**log10_tau, log_prior).numpy()
    tol = 1e-12 * (1.0 + np.max(np.abs(q)))
    assert prior @ q - tol <= v <= np.max(q) + tol


@_PROPERTY
@given(_q_and_prior(), st.floats(-8.0, -2.0))
def test_property_soft_value_tends_to_max_as_tau_vanishes(problem, log10_tau):
    q, prior, log_prior = problem
    tau = 10.0**log10_tau
    v = losses.soft_value(q, tau, log_prior).numpy()
    # max Q + tau log prior(argmax) <= V <= max Q: within O(tau) of the max.
    tol = 1e-13 * (1.0 + np.max(np.abs(q)))
    assert np.max(q) + tau * np.log(prior[np.argmax(q)]) - tol <= v <= np.max(q) + tol


@_PROPERTY
@given(_q_and_prior(), st.floats(2.0, 8.0))
def test_property_soft_value_tends_to_prior_mean_as_tau_grows(problem, log10_tau):
    q, prior, log_prior = problem
    tau = 10.0**log10_tau
    v = losses.soft_value(q, tau, log_prior).numpy()
    # Hoeffding's lemma: 0 <= V - E_prior Q <= (max Q - min Q)^2 / (8 tau).
    # V carries tau * log(sum prior); a prior normalised in float64 sums to 1 within a few ulps,
    # so that term alone is up to ~A * 1.1e-16 * tau (hypothesis found q = 0, tau = 1e3: -2.2e-13).
    tol = 1e-13 * (1.0 + np.max(np.abs(q))) + len(q) * 2.3e-16 * tau
    assert -tol <= v - prior @ q <= (np.max(q) - np.min(q)) ** 2 / (8 * tau) + tol


@_PROPERTY
@given(_q_and_prior(bound=1e4), st.floats(-3.0, 3.0), st.sampled_from([tf.float32, tf.float64]))
def test_property_finite_for_large_q_over_tau(problem, log10_tau, dtype):
    z, _, log_prior = problem  # z = q / tau, up to 1e4 in magnitude
    tau = 10.0**log10_tau
    q = tf.constant(z * tau, dtype)
    if log_prior is not None:
        log_prior = tf.constant(log_prior, dtype)
    with tf.GradientTape() as tape:
        tape.watch(q)
        v = losses.soft_value(q, tau, log_prior)
        log_pi = losses.boltzmann_log_probs(q, tau, log_prior)
    grad = tape.gradient(v, q).numpy()
    for x in (v.numpy(), log_pi.numpy(), grad):
        assert np.all(np.isfinite(x))
    # dV/dq is the Boltzmann policy.
    np.testing.assert_allclose(grad, np.exp(log_pi.numpy()), atol=1e-5)


# ---------------------------------------------------------------------------------------------
# docs/theory.md §10: T4 (bandit) and T12 (soft optimality)


def _tanh_mlp(rng, n_in, n_out, hidden=4, scale=1.0):
    """A tiny tanh MLP from raw float64 tf.Variables: one-hot(input) -> [n_out]."""
    w1 = tf.Variable(rng.normal(size=(n_in, hidden)), dtype=F64)
    b1 = tf.Variable(rng.normal(size=hidden) * 0.1, dtype=F64)
    w2 = tf.Variable(rng.normal(size=(hidden, n_out)) * scale, dtype=F64)
    b2 = tf.Variable(rng.normal(size=n_out) * 0.1, dtype=F64)

    def forward():
        return tf.tanh(tf.eye(n_in, dtype=F64) @ w1 + b1) @ w2 + b2

    return forward, [w1, b1, w2, b2]


def test_t4_bandit_decomposition():
    rng = np.random.default_rng(4)
    tau, n = 0.37, 4
    forward, variables = _tanh_mlp(rng, 1, n, scale=1.5)
    r = tf.constant(rng.normal(size=n), F64)
    log_prior = tf.constant(np.log(rng.dirichlet(np.ones(n))), F64)
    with tf.GradientTape(persistent=True) as tape:
        q = forward()[0]
        v = losses.soft_value(q, tau, log_prior)
        log_pi = losses.boltzmann_log_probs(q, tau, log_prior)
        pi = tf.exp(log_pi)
        kl = losses.kl_to_prior(log_pi, log_prior)
        # Left: sum_a sg(pi(a)) grad 0.5 (q(a) - r(a))^2.
        lhs = tf.reduce_sum(tf.stop_gradient(pi) * 0.5 * tf.square(q - r))
        # Right: -tau grad eta(pi) + grad 0.5 (v - sg(eta))^2, eta = E_pi r - tau KL.
        eta = tf.reduce_sum(pi * r) - tau * kl
        rhs = -tau * eta + 0.5 * tf.square(v - tf.stop_gradient(eta))
        # The same through the library losses: one step per action (B = |A|, discount 0).
        batch = dict(
            logits_t=tf.tile(log_pi[None, None], [1, n, 1]),
            values_t=tf.fill([1, n], v),
            actions_t=tf.range(n)[None],
            r_t=r[None],
            discount_t=tf.zeros([1, n], F64),
            bootstrap_value=tf.zeros([n], F64),
            tau=tau,
            log_prior=log_prior,
        )
        w = tf.stop_gradient(pi)
        soft_q, _ = losses.soft_nstep_q_loss(**batch, value_scale=None, advantage_scale=1.0)
        _, a2c = losses.a2c_loss(**batch)
        lib_lhs = tf.reduce_sum(w * soft_q)
        lib_rhs = tf.reduce_sum(w * (tau * a2c.policy_loss + a2c.value_loss))
    g_lhs = _flat_grad(tape, lhs, variables)
    assert _rel(g_lhs, _flat_grad(tape, rhs, variables)) < 1e-12
    assert _rel(_flat_grad(tape, lib_lhs, variables), g_lhs) < 1e-12
    assert _rel(_flat_grad(tape, lib_rhs, variables), g_lhs) < 1e-12
    # Negative control: weights not from pi_theta break it.
    with tf.GradientTape() as tape2:
        off = tf.reduce_sum(
            tf.fill([n], tf.constant(1.0 / n, F64)) * 0.5 * tf.square(forward()[0] - r)
        )
    g_off = np.concatenate([g.numpy().ravel() for g in tape2.gradient(off, variables)])
    assert _rel(g_off, g_lhs) > 1e-2


def _soft_value_iteration(mdp, tau, gamma, iterations=700):
    q = np.zeros_like(mdp.R)
    for _ in range(iterations):
        q = mdp.R + gamma * mdp.P @ losses.soft_value(q, tau, mdp.log_prior).numpy()
    return q


def test_t12_soft_optimality():
    mdp = TinyMDP(seed=12)
    tau, gamma = 0.37, 0.9
    q_star = _soft_value_iteration(mdp, tau, gamma)
    # Fixed point: Q* = R + gamma P V_{Q*} (gamma^700 ~ 1e-32).
    v_star = losses.soft_value(q_star, tau, mdp.log_prior).numpy()
    np.testing.assert_allclose(q_star, mdp.R + gamma * mdp.P @ v_star, rtol=1e-13, atol=1e-13)
    # Policy evaluation of pi* = Boltzmann(Q*): V = pi (R + gamma P V) - tau KL.
    log_pi = losses.boltzmann_log_probs(q_star, tau, mdp.log_prior)
    pi = np.exp(log_pi.numpy())
    kl = losses.kl_to_prior(log_pi, mdp.log_prior).numpy()
    p_pi = np.einsum("sa,sat->st", pi, mdp.P)
    v_pi = np.linalg.solve(np.eye(3) - gamma * p_pi, np.sum(pi * mdp.R, -1) - tau * kl)
    q_pi = mdp.R + gamma * mdp.P @ v_pi
    np.testing.assert_allclose(q_pi, q_star, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(v_pi, v_star, rtol=1e-12, atol=1e-12)
    advantage = q_pi - v_pi[:, None]
    np.testing.assert_allclose(advantage, tau * (log_pi.numpy() - mdp.log_prior), atol=1e-12)
    # So the proper policy gradient at pi* vanishes: per state,
    # E_pi[grad log pi(a) (Q_pi - V_pi)] - tau grad KL = 0.
    logits = tf.Variable(log_pi)
    with tf.GradientTape() as tape:
        log_pi_theta = tf.nn.log_softmax(logits)
        surrogate = tf.reduce_sum(pi * -log_pi_theta * advantage) + tau * tf.reduce_sum(
            losses.kl_to_prior(logits, mdp.log_prior)
        )
    grad = tape.gradient(surrogate, logits).numpy()
    assert np.max(np.abs(grad)) < 1e-12
    # Negative control: the same surrogate at the uniform policy does not vanish.
    logits.assign(tf.zeros_like(logits))
    with tf.GradientTape() as tape:
        surrogate = tf.reduce_sum(pi * -tf.nn.log_softmax(logits) * advantage) + tau * (
            tf.reduce_sum(losses.kl_to_prior(logits, mdp.log_prior))
        )
    assert np.max(np.abs(tape.gradient(surrogate, logits).numpy())) > 1e-2


# ---------------------------------------------------------------------------------------------
# docs/theory.md §10: the n-step identities T5-T9, by exact enumeration over trajectories


# The identities are exact algebra, evaluated by exact enumeration in float64: measured relative
# errors are 2e-16 to 3e-14. The requirement is <= 1e-8; 1e-12 is used because a coefficient
# that passes through float32 (as tf.cast of a Python float does) costs ~1e-9 and must fail.
IDENTITY_RTOL = 1e-12

S = 3  # states
A = 3  # actions
N = 3  # steps


class TinyMDP:
    """A random MDP (Dirichlet transitions, Gaussian rewards, non-uniform state-dependent prior)
    and every trajectory s_0 a_0 ... s_{N-1} a_{N-1} s_N with its environment probability."""

    def __init__(self, seed=0, gamma=0.9):
        rng = np.random.default_rng(seed)
        self.P = rng.dirichlet(np.ones(S), size=(S, A))  # [S, A, S']
        self.R = rng.normal(size=(S, A))
        self.log_prior = np.log(rng.dirichlet(np.ones(A) * 2.0, size=S))  # [S, A]
        rho0 = rng.dirichlet(np.ones(S))
        paths = np.array(list(itertools.product(range(S), *[range(A), range(S)] * N))).T
        self.states, self.actions = paths[0::2], paths[1::2]  # [N + 1, M], [N, M]
        prob = rho0[self.states[0]]
        for t in range(N):
            prob = prob * self.P[self.states[t], self.actions[t], self.states[t + 1]]
        self.env_prob = prob  # [M]
        self.r_t = self.R[self.states[:-1], self.actions]
        self.discount_t = np.full(self.r_t.shape, gamma)
        self.log_prior_t = self.log_prior[self.states[:-1]]  # [N, M, A]

    def batch(self, logits_all, values_all, tau):
        """Time-major library inputs for all M trajectories, and their on-policy probabilities
        (stop-gradient: the sampling distribution is a constant)."""
        logits_t = tf.gather(logits_all, self.states[:-1])
        log_pi_a = tf.gather(tf.nn.log_softmax(logits_t), self.actions[..., None], batch_dims=2)[
            ..., 0
        ]
        weights = tf.stop_gradient(self.env_prob * tf.exp(tf.reduce_sum(log_pi_a, 0)))
        batch = dict(
            logits_t=logits_t,
            values_t=tf.gather(values_all, self.states[:-1]),
            actions_t=tf.constant(self.actions),
            r_t=tf.constant(self.r_t),
            discount_t=tf.constant(self.discount_t),
            bootstrap_value=tf.gather(values_all, self.states[-1]),
            tau=tau,
            log_prior=tf.constant(self.log_prior_t),
        )
        return batch, weights


def _expect(weights, per_step, t0_only=False):
    """E over trajectories of sum_t per_step[t] (or of per_step[0])."""
    per_traj = per_step[0] if t0_only else tf.reduce_sum(per_step, 0)
    return tf.reduce_sum(weights * per_traj)


@pytest.fixture(scope="module")
def mdp():
    return TinyMDP()


TAU = 0.37


def _q_net_batch(mdp, forward):
    """Q_theta from a tanh MLP; V_theta and pi_theta derived from it (docs/theory.md §6.2)."""
    q_all = forward()
    logits_all = losses.boltzmann_log_probs(q_all, TAU, mdp.log_prior)
    values_all = losses.soft_value(q_all, TAU, mdp.log_prior)
    batch, weights = mdp.batch(logits_all, values_all, TAU)
    return q_all, batch, weights


@pytest.mark.parametrize("t0_only", [True, False])
def test_t5_nstep_soft_q_gradient_is_tau_times_policy_gradient(mdp, t0_only):
    # env_prob is the environment's part only (rho0 and transitions): for each of the A^N action
    # sequences it sums to 1 over the state sequences, so in all to A^N = 27. The policy's
    # probabilities enter through the weights, which sum to 1 (checked below).
    np.testing.assert_allclose(np.sum(mdp.env_prob), A**N, rtol=1e-14)
    forward, variables = _tanh_mlp(np.random.default_rng(5), S, A, scale=1.5)
    with tf.GradientTape(persistent=True) as tape:
        q_all, batch, weights = _q_net_batch(mdp, forward)
        soft_q, q_extra = losses.soft_nstep_q_loss(**batch, value_scale=None, advantage_scale=1.0)
        _, a2c = losses.a2c_loss(**batch)
        # The same Q loss straight from the Q network, with the library's targets.
        q_taken = tf.gather(
            tf.gather(q_all, mdp.states[:-1]), mdp.actions[..., None], batch_dims=2
        )[..., 0]
        direct_q = 0.5 * tf.square(q_taken - q_extra.q_targets)
        l_q = _expect(weights, soft_q, t0_only)
        l_direct = _expect(weights, direct_q, t0_only)
        l_pg = _expect(weights, a2c.policy_loss, t0_only)
        l_v = _expect(weights, a2c.value_loss, t0_only)
    np.testing.assert_allclose(np.sum(weights), 1.0, rtol=1e-14)
    np.testing.assert_allclose(q_extra.q_taken, q_taken, rtol=1e-12)
    g_q = _flat_grad(tape, l_q, variables)
    g_pg = _flat_grad(tape, l_pg, variables)
    g_v = _flat_grad(tape, l_v, variables)
    assert _rel(_flat_grad(tape, l_direct, variables), g_q) < 1e-12
    assert _rel(g_q, TAU * g_pg + g_v) <= IDENTITY_RTOL
    # Equivalently: A2C with value_coef = 1 / tau, times tau.
    with tf.GradientTape() as tape2:
        _, batch, weights = _q_net_batch(mdp, forward)
        a2c_loss, _ = losses.a2c_loss(**batch, value_coef=1.0 / TAU)
        l_a2c = TAU * _expect(weights, a2c_loss, t0_only)
    assert _rel(_flat_grad(tape2, l_a2c, variables), g_q) <= IDENTITY_RTOL
    # Each side is far from a mere rescaling of the other pieces (the check has teeth).
    assert _rel(g_q, g_pg) > 0.1 and _rel(g_q, g_v) > 0.1


def _t0_losses(mdp, forward, penalty_fn, pg_kl=True):
    """t = 0 losses with the library's returns on a custom penalty sequence.

    Returns expected L_Q, L_PG, L_V, and KL_theta(s_0) and sg(KL) * V_theta summed over t."""
    q_all, batch, weights = _q_net_batch(mdp, forward)
    log_pi = tf.nn.log_softmax(batch["logits_t"])
    log_pi_a = tf.gather(log_pi, mdp.actions[..., None], batch_dims=2)[..., 0]
    log_prior_a = tf.gather(batch["log_prior"], mdp.actions[..., None], batch_dims=2)[..., 0]
    kl = losses.kl_to_prior(batch["logits_t"], batch["log_prior"])
    ell = tf.stop_gradient(log_pi_a - log_prior_a)  # sampled log-ratio
    analytic = tf.stop_gradient(kl)
    g, y = losses.entropy_regularized_returns(
        batch["r_t"], batch["discount_t"], penalty_fn(analytic, ell), batch["bootstrap_value"], TAU
    )
    v0 = batch["values_t"][0]
    q0 = tf.gather(tf.gather(q_all, mdp.states[0]), mdp.actions[0], batch_dims=1)
    l_q = 0.5 * tf.square(q0 - y[0])
    l_pg = -log_pi_a[0] * tf.stop_gradient(g[0] - v0) + (TAU * kl[0] if pg_kl else 0.0)
    g_analytic, _ = losses.entropy_regularized_returns(
        batch["r_t"], batch["discount_t"], analytic, batch["bootstrap_value"], TAU
    )
    l_v = 0.5 * tf.square(v0 - g_analytic[0])
    return (
        tf.reduce_sum(weights * l_q),
        tf.reduce_sum(weights * l_pg),
        tf.reduce_sum(weights * l_v),
        tf.reduce_sum(weights * kl[0]),
    )


def test_t6_sampled_log_ratios_for_future_steps(mdp):
    forward, variables = _tanh_mlp(np.random.default_rng(6), S, A, scale=1.5)

    def penalty(analytic, ell):  # analytic KL at d = 0, sampled log-ratio for d >= 1
        return tf.concat([analytic[:1], ell[1:]], 0)

    with tf.GradientTape(persistent=True) as tape:
        l_q, l_pg, l_v, _ = _t0_losses(mdp, forward, penalty)
    g_q = _flat_grad(tape, l_q, variables)
    g_pg = _flat_grad(tape, l_pg, variables)
    assert _rel(g_q, TAU * g_pg + _flat_grad(tape, l_v, variables)) <= IDENTITY_RTOL


def test_t7_negative_control_sampled_log_ratio_at_d0_counts_grad_kl_twice(mdp):
    forward, variables = _tanh_mlp(np.random.default_rng(7), S, A, scale=1.5)

    def penalty(analytic, ell):  # the pitfall: the sampled log-ratio at d = 0 too
        return ell

    with tf.GradientTape(persistent=True) as tape:
        l_q, l_pg, l_v, kl0 = _t0_losses(mdp, forward, penalty)
        _, l_pg_without_kl, _, _ = _t0_losses(mdp, forward, penalty, pg_kl=False)
    g_q, g_v = _flat_grad(tape, l_q, variables), _flat_grad(tape, l_v, variables)
    g_pg = _flat_grad(tape, l_pg, variables)
    g_kl = _flat_grad(tape, kl0, variables)
    # Off by exactly tau^2 grad KL(s_0) ...
    difference = g_q - (TAU * g_pg + g_v)
    assert _rel(difference, -(TAU**2) * g_kl) <= IDENTITY_RTOL
    assert np.linalg.norm(difference) > 1e-2 * np.linalg.norm(g_q)
    # ... and dropping the explicit tau KL term restores the identity.
    g_pg_without_kl = _flat_grad(tape, l_pg_without_kl, variables)
    assert _rel(g_q, TAU * g_pg_without_kl + g_v) <= IDENTITY_RTOL


def test_t7_negative_control_naive_returns(mdp):
    """Naive returns (no -tau KL in y or the advantage) break T5, by exactly
    tau * E[sum_t KL(s_t) grad V(s_t)] (derivation: the naive residual is the proper one minus
    K = tau sum_{d>=1} gamma^d KL_{t+d}, and the naive advantage adds tau KL_t + K; the K terms
    cancel between the two sides, tau KL_t remains in the value part)."""
    forward, variables = _tanh_mlp(np.random.default_rng(8), S, A, scale=1.5)
    with tf.GradientTape(persistent=True) as tape:
        q_all, batch, weights = _q_net_batch(mdp, forward)
        _, a2c = losses.a2c_loss(**batch, entropy_mode="naive")
        g_naive, y_naive = losses.entropy_regularized_returns(
            batch["r_t"], batch["discount_t"], None, batch["bootstrap_value"], TAU, proper=False
        )
        q_taken = tf.gather(
            tf.gather(q_all, mdp.states[:-1]), mdp.actions[..., None], batch_dims=2
        )[..., 0]
        l_q = _expect(weights, 0.5 * tf.square(q_taken - y_naive))
        l_pg = _expect(weights, a2c.policy_loss)
        l_v = _expect(weights, a2c.value_loss)
        kl_v = _expect(weights, TAU * tf.stop_gradient(a2c.kl) * batch["values_t"])
    np.testing.assert_allclose(a2c.value_targets, g_naive)
    g_q = _flat_grad(tape, l_q, variables)
    difference = g_q - (TAU * _flat_grad(tape, l_pg, variables) + _flat_grad(tape, l_v, variables))
    assert np.linalg.norm(difference) > 1e-2 * np.linalg.norm(g_q)
    assert _rel(difference, _flat_grad(tape, kl_v, variables)) <= IDENTITY_RTOL


def _two_head_net(rng, hidden=4):
    """Shared tanh trunk, independent policy-logit and value heads (docs/theory.md T8, §6.3)."""
    w1 = tf.Variable(rng.normal(size=(S, hidden)), dtype=F64)
    b1 = tf.Variable(rng.normal(size=hidden) * 0.1, dtype=F64)
    w_pi = tf.Variable(rng.normal(size=(hidden, A)) * 1.5, dtype=F64)
    w_v = tf.Variable(rng.normal(size=(hidden, 1)), dtype=F64)
    b_v = tf.Variable([0.3], dtype=F64)

    def forward():
        h = tf.tanh(tf.eye(S, dtype=F64) @ w1 + b1)
        return h @ w_pi, (h @ w_v + b_v)[:, 0]

    return forward, [w1, b1, w_pi, w_v, b_v]


@pytest.mark.parametrize(
    "scales, pg_weight, value_weight",
    [
        (dict(), 1.0, 0.5),  # the paper's section 6.3: c = 0.5, k = 1 / tau
        (dict(value_scale=None, advantage_scale=1.0), TAU, 1.0),  # plain soft-Q
        (dict(value_scale=0.2, advantage_scale=3.0), 3.0 * TAU, 0.2),
    ],
)
def test_t8_two_head_stream_scaling(mdp, scales, pg_weight, value_weight):
    forward, variables = _two_head_net(np.random.default_rng(9))
    with tf.GradientTape(persistent=True) as tape:
        batch, weights = mdp.batch(*forward(), TAU)
        soft_q, _ = losses.soft_nstep_q_loss(**batch, **scales)
        plain, _ = losses.soft_nstep_q_loss(**batch, scale_streams=False)
        _, a2c = losses.a2c_loss(**batch)
        l_q = _expect(weights, soft_q)
        l_pg = _expect(weights, a2c.policy_loss)
        l_v = _expect(weights, a2c.value_loss)
    np.testing.assert_array_equal(soft_q, plain)  # forward value unchanged by the scaling
    g_q = _flat_grad(tape, l_q, variables)
    g_pg, g_v = _flat_grad(tape, l_pg, variables), _flat_grad(tape, l_v, variables)
    assert _rel(g_q, pg_weight * g_pg + value_weight * g_v) <= IDENTITY_RTOL
    # The weights matter: swapping in the other parametrisation's weights fails.
    assert _rel(g_q, (TAU + 1.0 - pg_weight) * g_pg + value_weight * g_v) > 1e-3


def test_t9_per_sample_difference(mdp):
    """One trajectory, t = 0: grad L_Q,scaled - grad(L_PG + c L_V)
    = c tau grad V (ell - KL) + tau [grad log pi(a) (ell - KL) - grad KL]  (zero mean only)."""
    forward, variables = _two_head_net(np.random.default_rng(10))
    c, b = 0.5, 1234
    with tf.GradientTape(persistent=True) as tape:
        batch, _ = mdp.batch(*forward(), TAU)
        soft_q, _ = losses.soft_nstep_q_loss(**batch, value_scale=c)
        a2c_loss, a2c = losses.a2c_loss(**batch, value_coef=c)
        log_pi_a = tf.nn.log_softmax(batch["logits_t"][0, b])[mdp.actions[0, b]]
        ell = tf.stop_gradient(log_pi_a - batch["log_prior"][0, b, mdp.actions[0, b]])
        gap = ell - tf.stop_gradient(a2c.kl[0, b])
        predicted = c * TAU * batch["values_t"][0, b] * gap + TAU * (log_pi_a * gap - a2c.kl[0, b])
        soft_q_b, a2c_b = soft_q[0, b], a2c_loss[0, b]  # sliced on the tape
    difference = _flat_grad(tape, soft_q_b, variables) - _flat_grad(tape, a2c_b, variables)
    assert _rel(difference, _flat_grad(tape, predicted, variables)) <= IDENTITY_RTOL
    assert np.linalg.norm(difference) > 1e-3
