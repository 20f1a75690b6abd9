"""Experiment 5: a damped soft-Q regression step is a natural policy gradient step
(docs/theory.md §7, identity T13).

Setting: ``N`` sampled pairs ``(s_t, a_t)`` with ``a_t ~ pi_old``, a policy ``pi_theta`` (a float64
tanh MLP on state features; the last action's logit is fixed at 0 so that the parametrisation has
no redundant direction), a frozen value ``V(s_t)``, backed-up targets ``Q-hat_t``, temperature
``tau`` and a uniform prior pi-bar. The Q-function is the paper's
``Q_theta(s, a) = V(s) + tau * log(pi_theta(a|s) / pi-bar(a|s))``.

* **Damped soft-Q regression**: minimise ``sum_t (Q_theta(s_t, a_t) - Q-hat^eps_t)^2`` with the
  damped target ``Q-hat^eps_t = (1 - eps) Q_old(s_t, a_t) + eps Q-hat_t``. Its Gauss-Newton step
  from theta_old is ``-pinv(J) r`` with ``J = dQ/dtheta = tau Psi`` (V frozen) and residual
  ``r = Q_old - Q-hat^eps = eps (Q_old - Q-hat)``.
* **Natural policy gradient** of the entropy-regularised objective: ``F^{-1} g`` with the
  empirical Fisher ``F = Psi^T Psi / N`` (rows of Psi: ``grad log pi(a_t|s_t)``) and the
  sampled regularised gradient ``g = Psi^T (Q-hat - V - tau * ell) / N`` (paper Eq. 71; ``ell_t =
  log(pi_old(a_t|s_t) / pi-bar(a_t|s_t))``, so the KL gradient is ``E[grad log pi * ell]``), the
  gradient of the surrogate ``mean_t log pi(a_t|s_t) * sg(Q-hat_t - V_t - tau ell_t)``.

T13: the Gauss-Newton step equals ``(eps / tau) * F^{-1} g`` exactly (the algebra:
``pinv(tau Psi) eps (Q-hat - Q_old) = (eps/tau) pinv(Psi) (Q-hat - V - tau ell)``). Computed here
with autodiff Jacobians and least squares in float64, the two agree to ~1e-13.

Negative control (the paper's caveat): when V moves too (a linear value function of the state
features, fitted jointly in the same regression), the policy part of the Gauss-Newton step is no
longer the NPG step: V absorbs part of the measured advantage. The paper says that this shrinks
the update; the relative error and the norm ratio to the NPG step are reported.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

F64 = tf.float64


def _mlp_policy(rng, features: int, hidden: int, num_actions: int):
    """``log_probs(phi [N, d]) -> [N, A]`` of a tanh MLP with the last logit fixed at 0."""
    w1 = tf.Variable(rng.normal(size=(features, hidden)), dtype=F64)
    b1 = tf.Variable(rng.normal(size=hidden) * 0.1, dtype=F64)
    w2 = tf.Variable(rng.normal(size=(hidden, num_actions - 1)) / np.sqrt(hidden), dtype=F64)
    b2 = tf.Variable(rng.normal(size=num_actions - 1) * 0.1, dtype=F64)

    def log_probs(phi):
        free = tf.tanh(phi @ w1 + b1) @ w2 + b2
        logits = tf.concat([free, tf.zeros_like(free[:, :1])], axis=1)
        return tf.nn.log_softmax(logits)

    return log_probs, [w1, b1, w2, b2]


def _flat_jacobian(tape, y, variables):
    """``[N, P]`` Jacobian of ``y [N]`` with respect to the concatenated flat variables."""
    jacobians = tape.jacobian(y, variables)
    return tf.concat([tf.reshape(j, [y.shape[0], -1]) for j in jacobians], axis=1).numpy()


def _lstsq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(a, b, rcond=None)[0]


def npg_identity(
    seed: int = 0,
    num_samples: int = 96,
    features: int = 4,
    hidden: int = 6,
    num_actions: int = 4,
    tau: float = 0.3,
    epsilon: float = 0.1,
) -> dict:
    """Both steps of T13 on one random problem, and the moving-V control.

    Returns:
      ``{"seed", "params", "samples", "gn_norm", "npg_norm", "relative_error",
      "moving_v_relative_error", "moving_v_norm_ratio", "fisher_condition"}``: the relative error
      ``||d_GN - (eps/tau) F^-1 g|| / ||(eps/tau) F^-1 g||`` with V frozen; the same for the policy
      part of the Gauss-Newton step when V is a jointly fitted linear function, and its norm
      relative to the NPG step; the number of policy parameters and samples, both steps' norms,
      and the condition number of the empirical Fisher.
    """
    rng = np.random.default_rng(seed)
    log_probs_fn, variables = _mlp_policy(rng, features, hidden, num_actions)
    phi_np = rng.normal(size=(num_samples, features))  # one state per sample
    phi = tf.constant(phi_np, F64)
    values = rng.normal(size=num_samples)  # V(s_t), frozen
    log_prior = -np.log(num_actions)

    log_pi_old = log_probs_fn(phi).numpy()
    pi_old = np.exp(log_pi_old)
    actions = np.array([rng.choice(num_actions, p=p / p.sum()) for p in pi_old])
    rows = np.arange(num_samples)
    ell = log_pi_old[rows, actions] - log_prior
    q_old = values + tau * ell
    q_hat = q_old + rng.normal(size=num_samples)  # backed-up targets
    q_damped = (1 - epsilon) * q_old + epsilon * q_hat

    index = tf.constant(np.stack([rows, actions], axis=1))
    with tf.GradientTape(persistent=True) as tape:
        log_pi_a = tf.gather_nd(log_probs_fn(phi), index)
        q_theta = tf.constant(values, F64) + tau * (log_pi_a - log_prior)
        surrogate = tf.reduce_mean(log_pi_a * tf.constant(q_hat - values - tau * ell, F64))
    jacobian_q = _flat_jacobian(tape, q_theta, variables)
    psi = _flat_jacobian(tape, log_pi_a, variables)
    g = np.concatenate([tf.reshape(x, [-1]).numpy() for x in tape.gradient(surrogate, variables)])
    del tape

    # Gauss-Newton on sum_t (Q_theta - Q-hat^eps)^2 from theta_old, V frozen.
    residual = q_theta.numpy() - q_damped
    gn_step = -_lstsq(jacobian_q, residual)
    # Natural policy gradient with the empirical Fisher.
    fisher = psi.T @ psi / num_samples
    npg_step = (epsilon / tau) * np.linalg.solve(fisher, g)
    relative_error = np.linalg.norm(gn_step - npg_step) / np.linalg.norm(npg_step)

    # Control: V is linear in the features, V_w(s) = phi(s) w + b, fitted in the same regression.
    jacobian_v = np.concatenate([phi_np, np.ones((num_samples, 1))], axis=1)
    joint = _lstsq(np.concatenate([jacobian_q, jacobian_v], axis=1), -residual)
    policy_part = joint[: jacobian_q.shape[1]]
    moving_error = np.linalg.norm(policy_part - npg_step) / np.linalg.norm(npg_step)
    return {
        "seed": seed,
        "params": int(jacobian_q.shape[1]),
        "samples": num_samples,
        "gn_norm": float(np.linalg.norm(gn_step)),
        "npg_norm": float(np.linalg.norm(npg_step)),
        "relative_error": float(relative_error),
        "moving_v_relative_error": float(moving_error),
        "moving_v_norm_ratio": float(np.linalg.norm(policy_part) / np.linalg.norm(npg_step)),
        "fisher_condition": float(np.linalg.cond(fisher)),
    }
