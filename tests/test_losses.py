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
_PROPERTY = settings(max_examples=40, deadline=None)


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


def _nstep_window(dtype=F64):
    """T = 2, B = 3, A = 2, tau = 1. q_t[1] = [0, log 3] everywhere: Boltzmann pi = [1/4, 3/4],
    H = 0.5623351, KL to uniform = log 2 - H = 0.1308120, KL to the counting measure = -H.
    q_t[2] = [1, 2]: V_2 = log(e + e^2) = 2.3132617 (logsumexp), 1.6201145 (logmeanexp), 2 (max).

    * column 0: discounts [0.5, 0.5], rewards [1, 2];
    * column 1: truncated after transition 0 (transition 1 is a dummy LAST -> FIRST), r_0 = 3;
    * column 2: as column 0 but terminated after transition 1 (discount_1 = 0).
    """
    q_t = np.zeros((3, 3, 2))
    q_t[1] = [0.0, LOG3]
    q_t[2] = [1.0, 2.0]
    return dict(
        r_t=tf.constant([[1.0, 3.0, 1.0], [2.0, 9.0, 2.0]], dtype),
        discount_t=tf.constant([[0.5, 0.5, 0.5], [0.5, 0.5, 0.0]], dtype),
        q_t=tf.constant(q_t, dtype),
        tau=1.0,
        is_boundary_t=tf.constant([[False] * 3, [False, True, False]]),
    )


_H = 0.5623351446188083
_LSE2, _LME2 = 2.3132616875182226, 1.6201145069582774


@pytest.mark.parametrize("dtype, rtol", [(F64, 1e-14), (tf.float32, 1e-6)])
def test_soft_nstep_q_target_known_values(dtype, rtol):
    # paper, logsumexp: y_0 = 1 + 0.5 (2 - tau KL_1 + 0.5 V_2) = 1 + 0.5 (2 + H + 0.5 * 2.3132617)
    #   = 1 + 0.5 * 3.7189660 = 2.8594830; rewards: 1 + 0.5 (2 + 1.1566308) = 2.5783154.
    # logmeanexp: paper 1 + 0.5 (2 - 0.1308120 + 0.5 * 1.6201145) = 2.3396226;
    #   rewards 1 + 0.5 (2 + 0.8100573) = 2.4050286.  max: 1 + 0.5 (2 + 0.5 * 2) = 2.5, both forms.
    # Column 1: y_0 = 3 + 0.5 V_1 with no KL_1 (V_1 is the bootstrap of the truncated episode):
    #   V_1 = log 4, log 2, log 3 for logsumexp, logmeanexp, max; y_1 = V_1 (dummy transition).
    # Column 2: y_0 = 1 + 0.5 (2 - tau KL_1): 1 + 0.5 (2 + H) = 2.2811676 (logsumexp),
    #   1 + 0.5 (2 - 0.1308120) = 1.9345940 (logmeanexp), 2 (rewards form; and max).
    # y_1 = r_1 + discount_1 V_2 in every form: 2 + 0.5 V_2 in columns 0, 2 and 2 in column 2.
    expected = {
        ("logsumexp", "paper"): [2.85948299418896, 1.0 + 0.5 * (2.0 + _H)],
        ("logsumexp", "rewards"): [2.5783154218795556, 2.0],
        ("logmeanexp", "paper"): [2.339622608769001, 1.0 + 0.5 * (2.0 - (LOG2 - _H))],
        ("logmeanexp", "rewards"): [2.4050286267395693, 2.0],
        ("max", "paper"): [2.5, 2.0],
        ("max", "rewards"): [2.5, 2.0],
    }
    v1 = {"logsumexp": math.log(4.0), "logmeanexp": LOG2, "max": LOG3}
    v2 = {"logsumexp": _LSE2, "logmeanexp": _LME2, "max": 2.0}
    for (backup, form), (y0_col0, y0_col2) in expected.items():
        y = losses.soft_nstep_q_target(**_nstep_window(dtype), backup=backup, form=form)
        assert y.dtype == dtype and y.shape == (2, 3)
        np.testing.assert_allclose(
            y.numpy(),
            [
                [y0_col0, 3.0 + 0.5 * v1[backup], y0_col2],
                [2.0 + 0.5 * v2[backup], v1[backup], 2.0],
            ],
            rtol=rtol,
            err_msg=f"{backup}, {form}",
        )


def test_soft_nstep_q_target_double_q_and_prior_known_values():
    window = _nstep_window()
    # Double Q, selector [0, 0] at s_1 (pi_sel uniform, KL to the counting measure -log 2) and
    # selector == q at s_2 (V_2 = the soft value): column 0, paper, logsumexp:
    #   y_0 = 1 + 0.5 (2 + log 2 + 0.5 * 2.3132617) = 2.9248890.
    selector = window["q_t"].numpy().copy()
    selector[1] = 0.0
    y = losses.soft_nstep_q_target(**window, q_selector_t=selector)
    assert y.numpy()[0, 0] == pytest.approx(2.9248890121595283, rel=1e-14)
    # The rewards form ignores the selector's KL: 1 + 0.5 (2 + 0.5 * 2.3132617) again.
    y = losses.soft_nstep_q_target(**window, q_selector_t=selector, form="rewards")
    assert y.numpy()[0, 0] == pytest.approx(2.5783154218795556, rel=1e-14)
    # Prior [1/4, 3/4] with logmeanexp, and q = [0, 0] at s_1 (column 0), where pi = prior and
    # KL_1 = 0: y_0 = 1 + 0.5 (2 + 0.5 V_2), V_2 = log(e / 4 + 3 e^2 / 4) = 1.8279889,
    # y_0 = 2.4569972.
    window["q_t"] = tf.tensor_scatter_nd_update(window["q_t"], [[1, 0]], [[0.0, 0.0]])
    y = losses.soft_nstep_q_target(**window, backup="logmeanexp", log_prior=np.log([0.25, 0.75]))
    assert y.numpy()[0, 0] == pytest.approx(2.4569972348107174, rel=1e-14)


def _np_nstep_targets(r, disc, v, kl, boundary, tau, paper):
    """The n-step targets by their direct sums (not the recursion): ``[T, B]``."""
    steps, batch = r.shape
    y = np.zeros((steps, batch))
    for b in range(batch):
        for t in range(steps):
            if boundary[t, b]:
                y[t, b] = v[t, b]
                continue
            total, weight = r[t, b], disc[t, b]
            for k in range(t + 1, steps + 1):
                if k == steps or boundary[k, b]:
                    total += weight * v[k, b]
                    break
                total += weight * (r[k, b] - (tau * kl[k, b] if paper else 0.0))
                weight *= disc[k, b]
            y[t, b] = total
    return y


def _np_backup(q, selector, tau, backup):
    """V and KL of the backup's policy by numpy: ``[..., A] -> ([...], [...])``."""
    if backup == "max":
        best = (q if selector is None else selector).argmax(-1)
        return np.take_along_axis(q, best[..., None], -1)[..., 0], np.zeros(q.shape[:-1])
    sel = q if selector is None else selector
    z = sel / tau
    log_pi = z - z.max(-1, keepdims=True)
    log_pi -= np.log(np.exp(log_pi).sum(-1, keepdims=True))
    pi = np.exp(log_pi)
    kl = (pi * log_pi).sum(-1) + (math.log(q.shape[-1]) if backup == "logmeanexp" else 0.0)
    return (pi * q).sum(-1) - tau * kl, kl


@pytest.mark.parametrize("backup", losses.SOFT_Q_BACKUPS)
@pytest.mark.parametrize("double_q", [False, True])
@pytest.mark.parametrize("dtype, rtol", [(F64, 1e-12), (tf.float32, 2e-5)])
def test_soft_nstep_q_target_matches_direct_sums(backup, double_q, dtype, rtol):
    rng = np.random.default_rng(7)
    steps, batch, tau = 5, 6, 0.4
    q = rng.normal(size=(steps + 1, batch, 3)) * 2.0
    selector = q + rng.normal(size=q.shape) if double_q else None
    r = rng.normal(size=(steps, batch))
    disc = np.where(rng.random((steps, batch)) < 0.2, 0.0, 0.9)
    boundary = rng.random((steps, batch)) < 0.25
    v, kl = _np_backup(q, selector, tau, backup)
    for form in losses.NSTEP_TARGET_FORMS:
        y = losses.soft_nstep_q_target(
            tf.constant(r, dtype),
            tf.constant(disc, dtype),
            tf.constant(q, dtype),
            tau,
            backup,
            form=form,
            q_selector_t=None if selector is None else tf.constant(selector, dtype),
            is_boundary_t=boundary,
        )
        expected = _np_nstep_targets(r, disc, v, kl, boundary, tau, form == "paper")
        np.testing.assert_allclose(y, expected, rtol=rtol, atol=rtol, err_msg=form)
    if backup != "max":  # the KL terms matter: the forms differ where a window has d >= 1
        paper, rewards = (
            _np_nstep_targets(r, disc, v, kl, boundary, tau, p) for p in (True, False)
        )
        assert np.abs(paper - rewards).max() > 0.1


@pytest.mark.parametrize("backup", losses.SOFT_Q_BACKUPS)
@pytest.mark.parametrize("dtype, rtol", [(F64, 1e-15), (tf.float32, 1e-6)])
def test_soft_nstep_q_target_one_step_is_soft_q_target(backup, dtype, rtol):
    rng = np.random.default_rng(3)
    q = tf.constant(rng.normal(size=(2, 4, 3)), dtype)
    selector = tf.constant(rng.normal(size=(2, 4, 3)), dtype)
    r = tf.constant(rng.normal(size=(1, 4)), dtype)
    disc = tf.constant([[0.9, 0.0, 0.9, 0.5]], dtype)
    for sel in (None, selector):
        one = losses.soft_q_target(
            r[0], disc[0], q[1], 0.3, backup, q_next_selector=None if sel is None else sel[1]
        )
        for form in losses.NSTEP_TARGET_FORMS:
            y = losses.soft_nstep_q_target(r, disc, q, 0.3, backup, form=form, q_selector_t=sel)
            np.testing.assert_allclose(y[0], one, rtol=rtol, atol=rtol)


def test_soft_nstep_q_target_blocks_gradients():
    window = _nstep_window()
    selector = tf.constant(window["q_t"])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([window["r_t"], window["discount_t"], window["q_t"], selector])
        y = losses.soft_nstep_q_target(**window, q_selector_t=selector)
    for x in (window["r_t"], window["discount_t"], window["q_t"], selector):
        assert tape.gradient(y, x) is None


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
    # y = G0 + tau KL = (3.5 - tau KL) + tau KL = 3.5; td = y - Q = 2.4594535;
    # loss = 0.5 td^2 = 3.0244557.
    # The stream scaling leaves the forward value unchanged.
    for kw in (dict(), dict(value_scale=None, advantage_scale=1.0), dict(scale_streams=False)):
        loss, extra = losses.soft_nstep_q_loss(**_one_step_inputs(), **kw)
        assert loss.numpy()[0, 0] == pytest.approx(3.024455732742424, rel=1e-13)
        assert extra.q_taken.numpy()[0, 0] == pytest.approx(1.0405465108108165, rel=1e-14)
        assert extra.q_targets.numpy()[0, 0] == pytest.approx(3.5, rel=1e-14)
        assert extra.value_targets.numpy()[0, 0] == pytest.approx(3.5 - 0.1 * _KL, rel=1e-14)
        assert extra.td_error.numpy()[0, 0] == pytest.approx(2.4594534891891833, rel=1e-13)
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
    #   td = y - Q = [1.2029129, -0.0405465]; loss = 0.5 td^2 = [0.7234997, 0.0008220].
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
        extra.td_error[:, 0], [1.2029128873921267, -0.040546510810816394], rtol=1e-12
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
    # td = y - Q; loss = 0.5 td^2 with gradient -td * (c grad V + k tau grad log pi(a)).
    td = extra.td_error.numpy()
    keep = 1.0 - batch["is_boundary_t"].numpy().astype(float)
    np.testing.assert_allclose(td, (extra.q_targets - extra.q_taken).numpy() * keep, rtol=1e-14)
    np.testing.assert_allclose(tape.gradient(total, batch["values_t"]), -c * td, rtol=1e-12)
    pi = tf.nn.softmax(batch["logits_t"]).numpy()
    onehot = np.eye(3)[batch["actions_t"].numpy()]
    np.testing.assert_allclose(
        tape.gradient(total, batch["logits_t"]),
        -k_times_tau * td[..., None] * (onehot - pi),
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


@pytest.mark.parametrize("proper", [True, False])
@pytest.mark.parametrize("boundaries", [True, False])
def test_entropy_regularized_returns_unrolled_equals_scan(proper, boundaries):
    # A static T unrolls the recursion; an unknown T (traced with [None, None]) keeps tf.scan.
    # Same operations in the same order: the two agree to the last bit.
    batch = _sequence_batch(F64, seed=3)
    penalty = losses.kl_to_prior(batch["logits_t"])
    extra = (
        dict(values_t=batch["values_t"], is_boundary_t=batch["is_boundary_t"]) if boundaries else {}
    )

    def returns(r, discount, pen, bootstrap, **kw):
        return losses.entropy_regularized_returns(r, discount, pen, bootstrap, 0.3, proper, **kw)

    per_step = tf.TensorSpec([None, None], F64)
    signature = [per_step, per_step, per_step, tf.TensorSpec([None], F64)]
    if boundaries:
        signature += [per_step, tf.TensorSpec([None, None], tf.bool)]
    dynamic = tf.function(
        lambda r, d, p, b, *rest: returns(r, d, p, b, **dict(zip(extra, rest, strict=True))),
        input_signature=signature,
        autograph=False,
    )
    args = (batch["r_t"], batch["discount_t"], penalty, batch["bootstrap_value"])
    graph = dynamic.get_concrete_function().graph
    loops = ("While", "StatelessWhile")
    assert any(op.type in loops for op in graph.get_operations())
    scanned = dynamic(*args, *extra.values())
    unrolled = returns(*args, **extra)
    for a, b in zip(unrolled, scanned, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    static = tf.function(lambda: returns(*args, **extra), autograph=False)
    static_graph = static.get_concrete_function().graph
    assert not any(op.type in loops for op in static_graph.get_operations())


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
            "soft_nstep_q_target",
            lambda: losses.soft_nstep_q_target([[1.0]], [[1.0]], [[[1.0, 2.0]]], 1.0),
            "q_t\\[..., 0\\] has shape \\(1, 1\\), incompatible with \\[T \\+ 1, B\\] of r_t",
        ),
        (
            "soft_nstep_q_target",
            lambda: losses.soft_nstep_q_target([[1.0]], [[1.0]], [[1.0, 2.0]] * 2, 1.0),
            "q_t must have rank 3 \\[T \\+ 1, B, A\\]",
        ),
        (
            "soft_nstep_q_target",
            lambda: losses.soft_nstep_q_target([[1.0]], [[1.0]], [[[1.0]]] * 2, 1.0, form="soft"),
            "form must be one of \\('paper', 'rewards'\\)",
        ),
        (
            "soft_nstep_q_target",
            lambda: losses.soft_nstep_q_target(
                [[1.0]], [[1.0]], [[[1.0]]] * 2, 1.0, "max", log_prior=[0.0]
            ),
            "log_prior is the reference policy of the 'logmeanexp' backup",
        ),
        (
            "soft_nstep_q_target",
            lambda: losses.soft_nstep_q_target(
                [[1.0]], [[1.0]], [[[1.0]]] * 2, 1.0, q_selector_t=[[[1.0, 2.0]]] * 2
            ),
            "q_selector_t has shape",
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
        "nstep": [
            losses.soft_nstep_q_target(
                batch["r_t"],
                batch["discount_t"],
                tf.concat([batch["logits_t"], batch["logits_t"][:1]], axis=0),
                batch["tau"],
                b,
                form=f,
                is_boundary_t=batch["is_boundary_t"],
            )
            for b in losses.SOFT_Q_BACKUPS
            for f in losses.NSTEP_TARGET_FORMS
        ],
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


def _exact_log_sum_exp(z):
    """log sum_a exp(z_a) over Python floats (-inf entries drop out), shifted by the max of the
    whole argument and summed with math.fsum: the reference the float32 and float64 results are
    checked against."""
    finite = [x for x in z if x != -math.inf]
    m = max(finite)
    return m + math.log(math.fsum(math.exp(x - m) for x in finite))


def _exact_soft_value(q, tau, log_prior):
    """V and log pi by :func:`_exact_log_sum_exp` of q / tau + log prior (Python floats)."""
    z = [qa / tau + lp for qa, lp in zip(q, log_prior, strict=True)]
    lse = _exact_log_sum_exp(z)
    return tau * lse, np.array([x - lse for x in z])


def _check_against_exact(q, tau, log_prior, dtype, rtol):
    """soft_value, boltzmann_log_probs and their gradients against the exact reference, which sees
    the inputs as rounded to ``dtype`` (so that only the computation is compared)."""
    q_in = tf.constant(q, dtype)
    lp_in = tf.constant(log_prior, dtype)
    v_ref, log_pi_ref = _exact_soft_value(
        q_in.numpy().astype(float).tolist(), tau, lp_in.numpy().astype(float).tolist()
    )
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([q_in, lp_in])
        v = losses.soft_value(q_in, tau, lp_in)
        log_pi = losses.boltzmann_log_probs(q_in, tau, lp_in)
        finite_log_pi = tf.where(tf.math.is_finite(log_pi), log_pi, tf.zeros_like(log_pi))
    scale = 1.0 + np.max(np.abs(q)) + tau * np.max(np.abs(log_pi_ref[np.isfinite(log_pi_ref)]))
    assert abs(float(v) - v_ref) <= rtol * scale, (float(v), v_ref)
    log_pi = log_pi.numpy()
    zero = np.isneginf(lp_in.numpy())
    assert np.all(np.isneginf(log_pi[zero]))  # no prior mass: probability exactly 0
    np.testing.assert_allclose(log_pi[~zero], log_pi_ref[~zero], atol=rtol * scale / tau)
    np.testing.assert_allclose(np.exp(log_pi).sum(), 1.0, rtol=4 * rtol)
    # dV/dq = pi and dV/dlog prior = tau * pi: finite, and 0 for the actions without mass.
    for x, factor in ((q_in, 1.0), (lp_in, tau)):
        grad = tape.gradient(v, x).numpy()
        assert np.all(np.isfinite(grad))
        np.testing.assert_allclose(grad, factor * np.exp(log_pi_ref), atol=10 * rtol * factor)
    for x in (q_in, lp_in):
        assert np.all(np.isfinite(tape.gradient(finite_log_pi, x).numpy()))


_SMALL_PRIORS = [
    # The best action (q = 100) gets prior mass 1e-9, 1e-20, 1e-30 or none at all.
    ([100.0, 0.0, 0.0], 1.0, [1e-9, 0.5, 0.5]),
    ([100.0, 0.0, 0.0], 1.0, [1e-20, 0.5, 0.5]),
    ([100.0, 0.0, 0.0], 1.0, [1e-30, 0.5, 0.5]),
    ([100.0, 0.0, 0.0], 1.0, [0.0, 0.5, 0.5]),
    ([3.0, -1.0, 2.0, 0.5], 0.05, [0.0, 0.25, 1e-12, 0.75]),
    ([3.0, -1.0, 2.0, 0.5], 20.0, [0.0, 0.25, 1e-12, 0.75]),
]


@pytest.mark.parametrize("dtype, rtol", [(F64, 1e-15), (tf.float32, 3e-7)])
@pytest.mark.parametrize("q, tau, prior", _SMALL_PRIORS)
def test_soft_value_with_little_or_no_prior_mass_on_the_best_action(q, tau, prior, dtype, rtol):
    # q = [100, 0, 0], tau = 1, prior [1e-9, 1/2, 1/2]: V = log(1e-9 e^100 + 1)
    # = 100 + log 1e-9 + log1p(1e9 e^-100) = 79.2767342 (a shift by max q alone cancelled this to
    # -inf in float32). With no mass on action 0: V = log(1/2 + 1/2) = 0, pi = [0, 1/2, 1/2].
    with np.errstate(divide="ignore"):
        _check_against_exact(q, tau, np.log(prior), dtype, rtol)


def test_soft_value_little_prior_mass_known_values():
    # The values themselves, not only agreement with the reference: 100 + log(1e-9) = 79.2767342,
    # 100 + log(1e-30) = 30.9224472 (the log1p(1/prior * e^-100) terms are below 4e-14).
    for dtype, rtol in ((F64, 1e-14), (tf.float32, 1e-7)):
        for mass, value in ((1e-9, 79.27673416305359), (1e-30, 30.922447210178634)):
            v = losses.soft_value(
                tf.constant([100.0, 0.0, 0.0], dtype),
                1.0,
                [math.log(mass), math.log(0.5), math.log(0.5)],
            )
            assert float(v) == pytest.approx(value, rel=rtol)
        v = losses.soft_value(tf.constant([100.0, 0.0, 0.0], dtype), 1.0, [-math.inf, -LOG2, -LOG2])
        assert float(v) == 0.0


def test_all_zero_prior_is_an_error():
    for call in (
        lambda: losses.soft_value([1.0, 2.0], 1.0, [-math.inf, -math.inf]),
        lambda: losses.boltzmann_log_probs([[1.0, 2.0]] * 2, 1.0, [[0.0, 0.0], [-math.inf] * 2]),
        lambda: losses.kl_to_prior([1.0, 2.0], [-math.inf, -math.inf]),
    ):
        with pytest.raises(ValueError, match="log_prior gives no action any mass"):
            call()


@st.composite
def _q_and_sparse_prior(draw):
    """q up to 100, log prior entries in [log 1e-30, 0] or -inf, at least one finite."""
    n = draw(st.integers(2, 6))
    q = np.array(draw(st.lists(st.floats(-100.0, 100.0), min_size=n, max_size=n)))
    log_w = draw(
        st.lists(
            st.floats(-30.0 * math.log(10.0), 0.0) | st.just(-math.inf), min_size=n, max_size=n
        )
    )
    if all(w == -math.inf for w in log_w):
        log_w[draw(st.integers(0, n - 1))] = 0.0
    log_prior = np.array(log_w) - _exact_log_sum_exp(log_w)  # normalised
    return q, log_prior


@_PROPERTY
@given(_q_and_sparse_prior(), st.floats(-3.0, 3.0), st.sampled_from([F64, tf.float32]))
def test_property_soft_value_exact_for_any_prior_mass(problem, log10_tau, dtype):
    q, log_prior = problem
    rtol = 1e-14 if dtype == F64 else 1e-6
    _check_against_exact(q, 10.0**log10_tau, log_prior, dtype, rtol)


@pytest.mark.parametrize("dtype", [F64, tf.float32])
def test_kl_and_entropy_count_zero_mass_as_zero(dtype):
    # pi = softmax([-1000, 0]) underflows to [0, 1]; prior [0, 1]: KL = 0 (0 * log(0 / 0) = 0,
    # it was NaN), gradient finite (and 0: pi is a point mass, KL is flat to first order).
    logits = tf.constant([-1000.0, 0.0], dtype)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        kl = losses.kl_to_prior(logits, [-math.inf, 0.0])
    assert float(kl) == 0.0
    np.testing.assert_array_equal(tape.gradient(kl, logits), [0.0, 0.0])
    # Boltzmann log-probs with a zero-mass action (-inf) as logits: prior [0, 1/4, 3/4],
    # q = 0 -> pi = prior, KL = 0; entropy = -(1/4 log 1/4 + 3/4 log 3/4) = 0.5623351.
    log_prior = tf.constant([-math.inf, math.log(0.25), math.log(0.75)], dtype)
    log_pi = losses.boltzmann_log_probs(tf.zeros([3], dtype), 1.0, log_prior)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(log_pi)
        kl = losses.kl_to_prior(log_pi, log_prior)
        h = losses.entropy(log_pi)
    assert float(kl) == pytest.approx(0.0, abs=1e-7)
    assert float(h) == pytest.approx(_H, rel=1e-6)
    for out in (kl, h):
        assert np.all(np.isfinite(tape.gradient(out, log_pi).numpy()))
    # Mass where the prior has none: KL = +inf.
    assert float(losses.kl_to_prior(tf.constant([0.0, 0.0], dtype), [-math.inf, 0.0])) == math.inf


# ---------------------------------------------------------------------------------------------
# Hypothesis properties of soft_value


@st.composite
def _q_and_prior(draw, bound=10.0):
    n = draw(st.integers(1, 6))
    q = np.array(draw(st.lists(st.floats(-bound, bound), min_size=n, max_size=n)))
    weights = draw(st.none() | st.lists(st.floats(0.01, 1.0), min_size=n, max_size=n))
    prior = np.full(n, 1.0 / n) if weights is None else np.array(weights) / np.sum(weights)
    return q, prior, None if weights is None else np.log(prior)


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
