"""Tests for softrl_tf.diagnostics.

Known values are worked by hand (arithmetic in the comments). The equivalence itself is checked in
float64 by exact enumeration over the actions of a tiny deterministic-transition problem (T = 2),
where the expected gradients must agree to rounding, and on sampled on-policy batches, where they
agree up to sampling noise that shrinks with the batch size. Off-policy actions and mismatched
weights are the negative controls.
"""

import softrl_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split
import itertools
import math

from softrl_tf import diagnostics, losses

import numpy as np
import pytest
import tensorflow as tf

F64 = tf.float64
S, A, T = 3, 3, 2  # states, actions, steps
TAU, GAMMA = 0.37, 0.9

# Exact algebra evaluated in float64: measured relative errors are ~1e-15.
IDENTITY_RTOL = 1e-12


# ---------------------------------------------------------------------------------------------
# Known values


def test_compare_gradients_known_values():
    # soft_q = [1, 0], pg = [1, 1]: ||(0, -1)|| / ||(1, 1)|| = 1 / sqrt 2 = 0.7071068;
    # cosine = 1 / (1 * sqrt 2) = 0.7071068.
    result = diagnostics.compare_gradients(
        tf.constant([1.0, 0.0], F64), tf.constant([1.0, 1.0], F64)
    )
    assert result.relative_error.numpy() == pytest.approx(1 / math.sqrt(2), rel=1e-15)
    assert result.cosine.numpy() == pytest.approx(1 / math.sqrt(2), rel=1e-15)
    # A pure rescaling: soft_q = 2 pg gives relative error 1 and cosine 1.
    result = diagnostics.compare_gradients(
        tf.constant([2.0, -4.0], F64), tf.constant([1.0, -2.0], F64)
    )
    assert result.relative_error.numpy() == pytest.approx(1.0, rel=1e-15)
    assert result.cosine.numpy() == pytest.approx(1.0, rel=1e-15)


def test_equivalence_weights_known_values():
    # Unscaled soft-Q: tau * grad L_PG + grad L_V.
    assert diagnostics.equivalence_weights(0.1) == (0.1, 1.0)
    # Stream-scaled with advantage scale 1/tau: grad L_PG + c grad L_V.
    assert diagnostics.equivalence_weights(0.1, value_coef=0.5) == (1.0, 0.5)
    # Advantage scale k: k * tau = 3 * 0.1 = 0.3.
    pg_weight, value_weight = diagnostics.equivalence_weights(0.1, 0.5, advantage_scale=3.0)
    assert (pg_weight, value_weight) == (pytest.approx(0.3, rel=1e-15), 0.5)
    with pytest.raises(ValueError, match="^equivalence_weights: advantage_scale applies"):
        diagnostics.equivalence_weights(0.1, advantage_scale=3.0)


def test_flat_gradient_fills_none_and_densifies_indexed_slices():
    a = tf.Variable([[1.0, 2.0], [3.0, 4.0]], dtype=F64)
    b = tf.Variable([5.0], dtype=F64)
    with tf.GradientTape() as tape:
        # gather gives IndexedSlices: d/da of 2 * a[1, :] summed = [[0, 0], [2, 2]]; b unused.
        loss = tf.reduce_sum(2.0 * tf.gather(a, [1]))
    grads = tape.gradient(loss, [a, b])
    assert isinstance(grads[0], tf.IndexedSlices) and grads[1] is None
    np.testing.assert_array_equal(diagnostics.flat_gradient(grads, [a, b]), [0, 0, 2, 2, 0])


def _polynomial_losses():
    # x = [1, 2]: soft_q = x0^2 + x1 (grad [2, 1]), pg = x0 x1 (grad [x1, x0] = [2, 1]),
    # value = x1^2 (grad [0, 4]).
    x = tf.Variable([1.0, 2.0], dtype=F64)
    return (
        lambda: x[0] ** 2 + x[1],
        lambda: x[0] * x[1],
        lambda: x[1] ** 2,
        [x],
    )


@pytest.mark.parametrize(
    "kwargs, relative_error, cosine",
    [
        # tau = 0.5, unscaled: 0.5 * [2, 1] + [0, 4] = [1, 4.5]; diff = [1, -3.5];
        # rel = sqrt(13.25 / 21.25) = 0.7896388; cos = (2 + 4.5) / (sqrt 5 sqrt 21.25) = 0.6305926.
        (dict(), 0.7896387856258745, 0.6305926250944657),
        # c = 0.25: [2, 1] + 0.25 * [0, 4] = [2, 2]; diff = [0, -1]; rel = 1 / sqrt 8 = 0.3535534;
        # cos = 6 / (sqrt 5 sqrt 8) = 0.9486833.
        (dict(value_coef=0.25), 0.35355339059327373, 0.9486832980505138),
        # c = 0.25, k = 3: pg weight 1.5: [3, 1.5] + [0, 1] = [3, 2.5]; diff = [-1, -1.5];
        # rel = sqrt(3.25 / 15.25) = 0.4616435; cos = 8.5 / (sqrt 5 sqrt 15.25) = 0.9734172.
        (dict(value_coef=0.25, advantage_scale=3.0), 0.4616435357484827, 0.9734171683335759),
    ],
)
def test_gradient_equivalence_known_values(kwargs, relative_error, cosine):
    soft_q, pg, value, variables = _polynomial_losses()
    result = diagnostics.gradient_equivalence(soft_q, pg, value, variables, 0.5, **kwargs)
    np.testing.assert_array_equal(result.soft_q_grad, [2.0, 1.0])
    assert result.relative_error.numpy() == pytest.approx(relative_error, rel=1e-14)
    assert result.cosine.numpy() == pytest.approx(cosine, rel=1e-14)


def test_mean_gradient_equivalence_known_values_and_errors():
    # Means: soft_q = ([1, 0] + [3, 0]) / 2 = [2, 0]; pg = [1, 1]: diff [1, -1], rel = 1;
    # cosine = 2 / (2 sqrt 2) = 0.7071068.
    pairs = [
        (tf.constant([1.0, 0.0], F64), tf.constant([1.0, 1.0], F64)),
        (tf.constant([3.0, 0.0], F64), tf.constant([1.0, 1.0], F64)),
    ]
    result = diagnostics.mean_gradient_equivalence(pairs)
    assert result.relative_error.numpy() == pytest.approx(1.0, rel=1e-15)
    assert result.cosine.numpy() == pytest.approx(1 / math.sqrt(2), rel=1e-15)
    # GradientEquivalence results work the same as pairs.
    again = diagnostics.mean_gradient_equivalence(
        [diagnostics.compare_gradients(*pair) for pair in pairs]
    )
    assert again.relative_error.numpy() == result.relative_error.numpy()
    with pytest.raises(ValueError, match="^mean_gradient_equivalence: no results"):
        diagnostics.mean_gradient_equivalence([])


def test_errors_name_the_function():
    soft_q, pg, value, variables = _polynomial_losses()
    with pytest.raises(ValueError, match="^gradient_equivalence: pg_loss_fn must return a scalar"):
        diagnostics.gradient_equivalence(
            soft_q, lambda: tf.stack([pg(), pg()]), value, variables, 0.5
        )
    with pytest.raises(ValueError, match="^batch_gradient_equivalence: advantage_scale applies"):
        diagnostics.batch_gradient_equivalence(
            lambda: None, variables, [[0]], [[0.0]], [[0.0]], 0.5, advantage_scale=2.0
        )


# ---------------------------------------------------------------------------------------------
# A tiny problem: deterministic transitions s' = (s + a + 1) mod S, a two-head tanh network


class Problem:
    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.R = rng.normal(size=(S, A))
        self.rho = rng.dirichlet(np.ones(S))
        self.log_prior = np.log(rng.dirichlet(np.ones(A) * 2.0, size=S))  # [S, A]
        hidden = 5
        self.variables = [
            tf.Variable(rng.normal(size=(S, hidden)), dtype=F64),  # embedding (gather)
            tf.Variable(rng.normal(size=hidden) * 0.1, dtype=F64),
            tf.Variable(rng.normal(size=(hidden, A)) * 1.5, dtype=F64),  # policy head
            tf.Variable(rng.normal(size=(hidden, 1)), dtype=F64),  # value head
            tf.Variable([0.3], dtype=F64),
        ]

    def heads(self, states):
        """``(logits [..., A], values [...])`` of int ``states``."""
        w1, b1, w_pi, w_v, b_v = self.variables
        h = tf.tanh(tf.gather(w1, states) + b1)
        return h @ w_pi, (h @ w_v)[..., 0] + b_v

    def pi(self):
        return tf.nn.softmax(self.heads(tf.range(S))[0]).numpy()  # [S, A]

    def rollout(self, s0, actions):
        """states ``[T + 1, B]`` of action sequences ``[T, B]`` from ``s0 [B]``."""
        states = [s0]
        for t in range(T):
            states.append((states[-1] + actions[t] + 1) % S)
        return np.stack(states)

    def inputs(self, states, actions):
        def network_fn():
            logits, values = self.heads(tf.constant(states))
            return logits[:-1], values[:-1], values[-1]

        return dict(
            network_fn=network_fn,
            variables=self.variables,
            actions_t=tf.constant(actions),
            r_t=tf.constant(self.R[states[:-1], actions]),
            discount_t=tf.fill(actions.shape, tf.constant(GAMMA, F64)),
            log_prior=tf.constant(self.log_prior[states[:-1]]),
        )

    def exact(self, policy):
        """Every (s_0, a_0, a_1) with its probability under ``policy [S, A]``: batch inputs and
        trajectory weights ``[B]`` (sum 1)."""
        s0, a0, a1 = np.array(list(itertools.product(range(S), range(A), range(A)))).T
        actions = np.stack([a0, a1])
        states = self.rollout(s0, actions)
        weights = self.rho[s0] * policy[s0, a0] * policy[states[1], a1]
        return self.inputs(states, actions), weights

    def sample(self, rng, batch_size, policy):
        """``(states [T + 1, B], actions [T, B])`` of ``batch_size`` sampled trajectories."""
        s0 = rng.choice(S, size=batch_size, p=self.rho)
        actions, states = np.zeros((T, batch_size), np.int64), [s0]
        for t in range(T):
            u = rng.random(batch_size)[:, None]
            actions[t] = np.argmax(u < np.cumsum(policy[states[t]], -1), -1)
            states.append((states[t] + actions[t] + 1) % S)
        return np.stack(states), actions


@pytest.fixture(scope="module")
def problem():
    return Problem()


@pytest.mark.parametrize("value_coef", [None, 0.5])
def test_exact_expectation_identity(problem, value_coef):
    """Exact expectation over actions from the Boltzmann policy: the gradients agree to rounding
    (docs/theory.md §6, T5, T8), for the unscaled loss (tau * (grad L_PG + grad L_V / tau)) and
    the paper's stream scaling (grad L_PG + 0.5 grad L_V)."""
    inputs, weights = problem.exact(problem.pi())
    np.testing.assert_allclose(np.sum(weights), 1.0, rtol=1e-14)
    result = diagnostics.batch_gradient_equivalence(
        **inputs, tau=TAU, value_coef=value_coef, weights=weights
    )
    assert result.relative_error.numpy() <= IDENTITY_RTOL
    assert result.cosine.numpy() >= 1.0 - IDENTITY_RTOL
    assert np.linalg.norm(result.pg_grad) > 1e-2

    # The same through gradient_equivalence with hand-built loss callables.
    def network_losses():
        logits_t, values_t, bootstrap = inputs["network_fn"]()
        args = (logits_t, values_t, inputs["actions_t"], inputs["r_t"], inputs["discount_t"])
        kw = dict(log_prior=inputs["log_prior"])
        scales = (
            dict(value_scale=None, advantage_scale=1.0)
            if value_coef is None
            else dict(value_scale=value_coef)
        )
        soft_q, _ = losses.soft_nstep_q_loss(*args, bootstrap, TAU, **scales, **kw)
        _, a2c = losses.a2c_loss(*args, bootstrap, TAU, **kw)
        return [tf.reduce_sum(weights * x) for x in (soft_q, a2c.policy_loss, a2c.value_loss)]

    by_hand = diagnostics.gradient_equivalence(
        lambda: network_losses()[0],
        lambda: network_losses()[1],
        lambda: network_losses()[2],
        problem.variables,
        TAU,
        value_coef,
    )
    np.testing.assert_allclose(by_hand.soft_q_grad, result.soft_q_grad, rtol=1e-13)
    np.testing.assert_allclose(by_hand.pg_grad, result.pg_grad, rtol=1e-13)


def test_exact_expectation_negative_controls(problem):
    # Off-policy actions (uniform, like epsilon-greedy with epsilon = 1) break the identity.
    inputs, weights = problem.exact(np.full((S, A), 1.0 / A))
    off = diagnostics.batch_gradient_equivalence(**inputs, tau=TAU, weights=weights)
    assert off.relative_error.numpy() > 1e-2
    # On-policy, but compared with the other form's weights (scaled loss vs unscaled weights).
    inputs, weights = problem.exact(problem.pi())
    scaled = diagnostics.batch_gradient_equivalence(
        **inputs, tau=TAU, value_coef=0.5, weights=weights
    )
    unscaled = diagnostics.batch_gradient_equivalence(**inputs, tau=TAU, weights=weights)
    mismatched = diagnostics.compare_gradients(scaled.soft_q_grad, unscaled.pg_grad)
    assert mismatched.relative_error.numpy() > 1e-1


def test_sampled_batches_agree_up_to_noise_and_means_combine(problem):
    """On sampled on-policy batches the error is sampling noise: it falls with the batch size and
    stays far below the off-policy bias. The mean over equal batches is the gradient of the mean
    loss on their union."""
    rng = np.random.default_rng(3)
    pi = problem.pi()
    tau = 1.0  # the per-sample difference is O(tau) (T9); a large tau makes the noise visible

    def measure(paths):
        return diagnostics.batch_gradient_equivalence(**problem.inputs(*paths), tau=tau)

    batches = [problem.sample(rng, 64, pi) for _ in range(4)]
    small = [measure(paths) for paths in batches]
    mean = diagnostics.mean_gradient_equivalence(small)
    # The union of the four batches, time-major: concatenated along B.
    union = measure([np.concatenate(x, axis=1) for x in zip(*batches, strict=True)])
    np.testing.assert_allclose(mean.soft_q_grad, union.soft_q_grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(mean.pg_grad, union.pg_grad, rtol=1e-12, atol=1e-15)

    large = measure(problem.sample(rng, 16384, pi))
    off = measure(problem.sample(rng, 16384, np.full((S, A), 1.0 / A)))
    # 256 x the samples: 1/16 of the error expected (measured: rms 0.052 -> 0.0092); 1/3 leaves
    # room for the spread of one draw. The error does keep falling (1e-4 at 2M samples): no bias.
    rms_small = np.sqrt(np.mean([r.relative_error.numpy() ** 2 for r in small]))
    assert large.relative_error.numpy() < rms_small / 3
    assert large.cosine.numpy() > 0.99
    assert off.relative_error.numpy() > 10 * large.relative_error.numpy()


def test_eager_function_and_xla_agree(problem):
    inputs, weights = problem.exact(problem.pi())

    def run():
        result = diagnostics.batch_gradient_equivalence(
            **inputs, tau=TAU, value_coef=0.5, weights=weights
        )
        return result

    eager = run()
    for compiled in (tf.function(run), tf.function(run, jit_compile=True)):
        other = compiled()
        for a, b in zip(eager, other, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-15)
