"""The paper's losses as pure TensorFlow functions.

Schulman, Chen & Abbeel (2017), "Equivalence Between Policy Gradients and Soft Q-Learning"
(arXiv:1704.06440). Equation and test numbers refer to the digest ``paper.md`` (sections 2 and 4).

Conventions (TRFL's structure, rlax's names):

* Sequences are time-major: ``[T, B]`` for per-step quantities, ``[T, B, A]`` for per-action ones;
  single transitions are ``[B]`` and ``[B, A]``.
* ``discount_t`` already contains gamma and is 0 where the episode terminated.
* ``tau`` is the temperature (the entropy/KL coefficient), a Python float or a scalar tensor, > 0.
* ``log_prior`` is the log of the reference policy pi-bar, broadcastable to ``[..., A]``, normalised
  and with full support; ``None`` means the uniform prior (the paper's KL form). pi-bar is a fixed
  reference policy (paper.md section 1), not a parameter: the losses (:func:`a2c_loss`,
  :func:`soft_nstep_q_loss`) hold it under ``tf.stop_gradient``. The primitives
  (:func:`soft_value`, :func:`boltzmann_log_probs`, :func:`kl_to_prior`) stay differentiable in it.
* Every loss returns the unreduced per-example loss plus a named tuple of extras. Targets, bootstrap
  values, advantages and the KL penalties used inside returns are under ``tf.stop_gradient``.
* The float dtype follows the main input (``logits_t``, ``q``, ``r_t``...); other float inputs are
  cast to it, so float32 and float64 both work. Python-number coefficients (``value_coef``, the
  stream scales, ``huber_delta``) are converted straight to that dtype, never through float32.

Episode boundaries follow TF-Agents: an episode ends with a LAST time step that is followed by the
FIRST step of the next episode; the transition that starts at the LAST step is a dummy (action
ignored, reward 0). ``is_boundary_t`` (``[T, B]`` bool, ``Trajectory.is_boundary()``) marks these
dummy transitions. There the backward recursion restarts from ``values_t`` (the value estimate of
the episode's final observation: the right bootstrap for a truncated episode, and multiplied by the
previous step's zero discount for a terminated one), and the per-step loss is exactly 0.

All functions work eagerly, under ``tf.function`` and with ``jit_compile=True``.
"""

import math
from typing import NamedTuple

import tensorflow as tf

__all__ = [
    "A2CExtra",
    "QExtra",
    "SoftQExtra",
    "a2c_loss",
    "boltzmann_log_probs",
    "entropy",
    "entropy_regularized_returns",
    "kl_to_prior",
    "nstep_discounted_rewards",
    "one_step_q_loss",
    "soft_nstep_q_loss",
    "soft_q_target",
    "soft_value",
]

SOFT_Q_BACKUPS = ("max", "logsumexp", "logmeanexp")
ENTROPY_MODES = ("naive", "proper")
TD_LOSSES = ("huber", "l2")


class A2CExtra(NamedTuple):
    """Extras of :func:`a2c_loss`, all ``[T, B]``.

    ``policy_loss`` and ``value_loss`` are masked like the loss (0 at boundaries), so that
    ``loss == policy_loss + value_coef * value_loss``; ``kl`` and ``entropy`` are the per-state
    KL(pi || prior) (differentiable) and entropy of pi, unmasked; ``advantages`` and
    ``value_targets`` are stop-gradient.
    """

    policy_loss: tf.Tensor
    value_loss: tf.Tensor
    kl: tf.Tensor
    entropy: tf.Tensor
    advantages: tf.Tensor
    value_targets: tf.Tensor


class SoftQExtra(NamedTuple):
    """Extras of :func:`soft_nstep_q_loss`, all ``[T, B]``.

    ``q_taken`` is Q(s_t, a_t) = V + tau * log(pi(a_t) / prior(a_t)) (forward value; its gradient is
    the unscaled one); ``q_targets`` and ``value_targets`` are the stop-gradient targets y_t and
    V-hat_t; ``kl``, ``entropy`` as in :class:`A2CExtra`; ``td_error`` = q_taken - q_targets, 0 at
    boundaries, so that ``loss == 0.5 * td_error ** 2``.
    """

    q_taken: tf.Tensor
    q_targets: tf.Tensor
    kl: tf.Tensor
    entropy: tf.Tensor
    value_targets: tf.Tensor
    td_error: tf.Tensor


class QExtra(NamedTuple):
    """Extras of :func:`one_step_q_loss`, all ``[B]``: Q(s, a), the stop-gradient target, and
    ``td_error = target - q_taken``."""

    q_taken: tf.Tensor
    target: tf.Tensor
    td_error: tf.Tensor


# ---------------------------------------------------------------------------------------------
# Input checks and conversions


def _float_tensor(x, dtype=None):
    """``x`` as a float tensor: in ``dtype`` if given, else float32 unless already float.

    Python numbers and arrays are converted straight to ``dtype``: ``tf.cast`` of a Python float
    goes through float32 (0.2 -> 0.20000000298) and would cost float64 results 8 digits.
    """
    if dtype is None:
        x = tf.convert_to_tensor(x)
        return x if x.dtype.is_floating else tf.cast(x, tf.float32)
    if isinstance(x, tf.Tensor | tf.Variable):
        return x if x.dtype == dtype else tf.cast(x, dtype)
    return tf.convert_to_tensor(x, dtype=dtype)


def _check_rank(fn, name, x, rank, layout):
    if x.shape.rank is not None and x.shape.rank != rank:
        raise ValueError(f"{fn}: {name} must have rank {rank} {layout}, got shape {x.shape}")


def _check_min_rank(fn, name, x, rank, layout):
    if x.shape.rank is not None and x.shape.rank < rank:
        raise ValueError(f"{fn}: {name} must have rank >= {rank} {layout}, got shape {x.shape}")


def _check_shapes(fn, reference_name, reference_shape, **named):
    for name, shape in named.items():
        if not reference_shape.is_compatible_with(shape):
            raise ValueError(
                f"{fn}: {name} has shape {shape}, incompatible with {reference_name} "
                f"{reference_shape}"
            )


def _check_tau(fn, tau, dtype):
    if isinstance(tau, int | float) and not tau > 0:
        raise ValueError(f"{fn}: tau must be > 0, got {tau}")
    tau = _float_tensor(tau, dtype)
    if tau.shape.rank not in (None, 0):
        raise ValueError(f"{fn}: tau must be a scalar, got shape {tau.shape}")
    return tau


def _check_actions(fn, name, actions, rank, layout):
    actions = tf.convert_to_tensor(actions)
    _check_rank(fn, name, actions, rank, layout)
    if not actions.dtype.is_integer:
        raise ValueError(f"{fn}: {name} must be an integer tensor, got dtype {actions.dtype.name}")
    return actions


def _boundary_mask(fn, is_boundary_t, shape):
    """``is_boundary_t`` as a checked bool tensor, or None."""
    if is_boundary_t is None:
        return None
    is_boundary_t = tf.convert_to_tensor(is_boundary_t)
    _check_rank(fn, "is_boundary_t", is_boundary_t, 2, "[T, B]")
    _check_shapes(fn, "r_t", shape, is_boundary_t=is_boundary_t.shape)
    if is_boundary_t.dtype != tf.bool:
        is_boundary_t = tf.cast(is_boundary_t, tf.bool)
    return is_boundary_t


def _log_prior(fn, log_prior, like, constant=False):
    """``log_prior`` as a tensor of ``like``'s dtype, checked to broadcast to ``like``'s shape;
    ``None`` stays None. ``constant``: under ``tf.stop_gradient`` (the losses' fixed pi-bar)."""
    if log_prior is None:
        return None
    log_prior = _float_tensor(log_prior, like.dtype)
    if like.shape.rank is not None and log_prior.shape.rank is not None:
        ok = log_prior.shape.rank <= like.shape.rank
        for p, x in zip(reversed(log_prior.shape), reversed(like.shape), strict=False):
            ok = ok and (p is None or p == 1 or x is None or p == x)
        if not ok:
            raise ValueError(
                f"{fn}: log_prior has shape {log_prior.shape}, which does not broadcast to "
                f"{like.shape}"
            )
    return tf.stop_gradient(log_prior) if constant else log_prior


def _num_actions(x):
    a = x.shape[-1]
    return a if a is not None else tf.shape(x)[-1]


def _log_num_actions(x):
    a = _num_actions(x)
    if isinstance(a, int):
        return math.log(a)
    return tf.math.log(tf.cast(a, x.dtype))


def _select(values, actions):
    """``values[..., actions]``: gathers ``[..., A]`` at integer ``actions [...]``."""
    return tf.gather(values, actions[..., None], batch_dims=actions.shape.rank)[..., 0]


def _select_log_prior(log_prior, actions, like):
    """log prior(a) with the same shape as ``actions``; ``log_prior`` broadcasts to ``like``."""
    if log_prior is None:
        return -_log_num_actions(like)
    return _select(tf.broadcast_to(log_prior, tf.shape(like)), actions)


def _scale_gradient(x, scale):
    """Forward value exactly ``x``, gradient multiplied by ``scale`` (``None``: unchanged).

    ``sg(x) + scale * (x - sg(x))`` rather than ``scale * x + (1 - scale) * sg(x)``: the latter can
    change the forward value by an ulp.
    """
    if scale is None:
        return x
    if isinstance(scale, int | float) and scale == 1:
        return x
    frozen = tf.stop_gradient(x)
    return frozen + _float_tensor(scale, x.dtype) * (x - frozen)


# ---------------------------------------------------------------------------------------------
# Soft value, Boltzmann policy, KL and entropy (paper.md section 1, Eq. 28, and section 2.8)


def _soft_value_parts(q, tau, log_prior, counting):
    """Pieces of V = tau * log sum_a mu(a) exp(q_a / tau) for the measure mu.

    Returns ``(shift, y, log_mu, log_norm)`` with ``y = (q - shift) / tau <= 0``,
    ``V = shift + tau * log_norm`` and ``log pi = log_mu + y - log_norm``. mu is the uniform
    distribution (``log_prior`` None), the counting measure (``counting``) or ``exp(log_prior)``.

    The shift is max_a q (under stop-gradient: V's total derivative does not depend on it). Then
    ``log sum mu e^y = log M + log1p(sum mu expm1(y) / M)`` with M = sum mu: exact, never
    overflows (y <= 0), and keeps full relative precision when tau is large and every y is
    close to 0, where a plain logsumexp would lose the O(1/tau) deviation from the prior mean.
    """
    shift = tf.stop_gradient(tf.reduce_max(q, axis=-1, keepdims=True))
    y = (q - shift) / tau
    if log_prior is None:
        log_norm = tf.math.log1p(tf.reduce_mean(tf.math.expm1(y), axis=-1))
        if counting:
            log_mu = tf.constant(0.0, q.dtype)
            log_norm = log_norm + _log_num_actions(q)
        else:
            log_mu = -_log_num_actions(q)
    else:
        log_mu = log_prior
        mu = tf.exp(log_prior)
        mass = tf.reduce_sum(mu, axis=-1)
        log_norm = tf.math.log(mass) + tf.math.log1p(
            tf.reduce_sum(mu * tf.math.expm1(y), axis=-1) / mass
        )
    return shift[..., 0], y, log_mu, log_norm


def soft_value(q, tau, log_prior=None, entropy_bonus=False):
    """Soft (Boltzmann) value V = tau * log E_{a ~ prior} exp(q_a / tau)   (paper.md Eq. 28).

    Args:
      q: ``[..., A]`` action values.
      tau: temperature > 0.
      log_prior: log prior probabilities broadcastable to ``[..., A]``; ``None`` is the uniform
        prior, V = tau * logmeanexp(q / tau) (the paper's KL form).
      entropy_bonus: if True, use the counting measure instead of a prior (the entropy-bonus form of
        paper.md section 2.8): V = tau * logsumexp(q / tau) = uniform-prior V + tau * log|A|.
        ``log_prior`` must then be None.

    Returns:
      ``[...]`` soft values. Its gradient with respect to q is the Boltzmann policy. Finite for any
      finite q / tau (max shift).
    """
    fn = "soft_value"
    q = _float_tensor(q)
    _check_min_rank(fn, "q", q, 1, "[..., A]")
    if entropy_bonus and log_prior is not None:
        raise ValueError(
            f"{fn}: log_prior must be None with entropy_bonus=True (the counting measure "
            "replaces the prior)"
        )
    tau = _check_tau(fn, tau, q.dtype)
    log_prior = _log_prior(fn, log_prior, q)
    shift, _, _, log_norm = _soft_value_parts(q, tau, log_prior, entropy_bonus)
    return shift + tau * log_norm


def boltzmann_log_probs(q, tau, log_prior=None):
    """Log-probabilities of the Boltzmann policy pi = prior * exp((q - V) / tau)   (Eq. 28).

    Args:
      q: ``[..., A]`` action values.
      tau: temperature > 0.
      log_prior: as in :func:`soft_value` (``None``: uniform). The counting measure gives the same
        policy as the uniform prior, softmax(q / tau).

    Returns:
      ``[..., A]`` log pi(a) = log prior(a) + (q_a - V) / tau, computed without the cancellation of
      q - V.
    """
    fn = "boltzmann_log_probs"
    q = _float_tensor(q)
    _check_min_rank(fn, "q", q, 1, "[..., A]")
    tau = _check_tau(fn, tau, q.dtype)
    log_prior = _log_prior(fn, log_prior, q)
    _, y, log_mu, log_norm = _soft_value_parts(q, tau, log_prior, False)
    return log_mu + y - log_norm[..., None]


def kl_to_prior(logits, log_prior=None):
    """Analytic KL(softmax(logits) || prior) per state   (paper.md section 1).

    Args:
      logits: ``[..., A]`` policy logits (any normalisation).
      log_prior: log prior probabilities broadcastable to ``[..., A]``; ``None``: uniform, where
        KL = log|A| - H.

    Returns:
      ``[...]`` KL, differentiable with respect to ``logits``.
    """
    fn = "kl_to_prior"
    logits = _float_tensor(logits)
    _check_min_rank(fn, "logits", logits, 1, "[..., A]")
    log_pi = tf.nn.log_softmax(logits)
    log_prior = _log_prior(fn, log_prior, logits)
    if log_prior is None:
        log_prior = -_log_num_actions(logits)
    return tf.reduce_sum(tf.exp(log_pi) * (log_pi - log_prior), axis=-1)


def entropy(logits):
    """Entropy H(softmax(logits)) = -sum_a pi(a) log pi(a): ``[..., A] -> [...]``."""
    logits = _float_tensor(logits)
    _check_min_rank("entropy", "logits", logits, 1, "[..., A]")
    log_pi = tf.nn.log_softmax(logits)
    return -tf.reduce_sum(tf.exp(log_pi) * log_pi, axis=-1)


# ---------------------------------------------------------------------------------------------
# Entropy-regularised n-step returns (paper.md sections 2.4, 2.5, 2.9)


def entropy_regularized_returns(
    r_t,
    discount_t,
    penalty_t,
    bootstrap_value,
    tau,
    proper=True,
    *,
    values_t=None,
    is_boundary_t=None,
):
    """Value targets and soft-Q targets by the backward recursion of paper.md section 2.9.

    G_T = bootstrap; for t = T-1 .. 0::

        G_t = r_t - tau * penalty_t + discount_t * G_{t+1}   (proper)
        G_t = r_t + discount_t * G_{t+1}                     (naive)
        G_t = values_t                                       (where is_boundary_t)

    value target V-hat_t = G_t, which includes the d = 0 penalty (section 2.5); soft-Q target
    y_t = G_t + tau * penalty_t, which excludes it (section 2.4: Q omits the first KL term). With
    ``proper=False`` neither contains a penalty and y_t = G_t.

    Args:
      r_t: ``[T, B]`` rewards.
      discount_t: ``[T, B]`` discounts (gamma included, 0 at termination).
      penalty_t: ``[T, B]`` per-step penalty, normally the analytic KL(pi || prior)(s_t) (or the
        sampled log-ratio for d >= 1, paper.md T6). May be None when ``proper=False``.
      bootstrap_value: ``[B]`` V(s_T).
      tau: temperature.
      proper: put the penalty in the returns (entropy-regularised returns) or not (naive A2C).
      values_t: ``[T, B]`` V(s_t); needed only with ``is_boundary_t``.
      is_boundary_t: ``[T, B]`` bool, True for the dummy LAST -> FIRST transitions; None: none.

    Returns:
      ``(value_targets, q_targets)``, both ``[T, B]`` and stop-gradient.
    """
    fn = "entropy_regularized_returns"
    r_t = _float_tensor(r_t)
    dtype = r_t.dtype
    _check_rank(fn, "r_t", r_t, 2, "[T, B]")
    discount_t = _float_tensor(discount_t, dtype)
    bootstrap_value = _float_tensor(bootstrap_value, dtype)
    _check_rank(fn, "discount_t", discount_t, 2, "[T, B]")
    _check_rank(fn, "bootstrap_value", bootstrap_value, 1, "[B]")
    _check_shapes(fn, "r_t", r_t.shape, discount_t=discount_t.shape)
    _check_shapes(fn, "r_t[0]", r_t.shape[1:], bootstrap_value=bootstrap_value.shape)
    if proper:
        if penalty_t is None:
            raise ValueError(f"{fn}: penalty_t is required when proper=True")
        penalty_t = tf.stop_gradient(_float_tensor(penalty_t, dtype))
        _check_rank(fn, "penalty_t", penalty_t, 2, "[T, B]")
        _check_shapes(fn, "r_t", r_t.shape, penalty_t=penalty_t.shape)
    tau = _check_tau(fn, tau, dtype)
    is_boundary_t = _boundary_mask(fn, is_boundary_t, r_t.shape)
    if is_boundary_t is not None:
        if values_t is None:
            raise ValueError(f"{fn}: values_t is required with is_boundary_t")
        values_t = tf.stop_gradient(_float_tensor(values_t, dtype))
        _check_rank(fn, "values_t", values_t, 2, "[T, B]")
        _check_shapes(fn, "r_t", r_t.shape, values_t=values_t.shape)

    r_t = tf.stop_gradient(r_t)
    discount_t = tf.stop_gradient(discount_t)
    # The per-step reward of the recursion; the penalty enters through it only.
    reward_t = r_t - tau * penalty_t if proper else r_t
    if is_boundary_t is None:
        elems = (reward_t, discount_t)

        def step(g_next, x):
            return x[0] + x[1] * g_next

    else:
        elems = (reward_t, discount_t, values_t, is_boundary_t)

        def step(g_next, x):
            return tf.where(x[3], x[2], x[0] + x[1] * g_next)

    value_targets = tf.scan(
        step, elems, initializer=tf.stop_gradient(bootstrap_value), reverse=True
    )
    value_targets = tf.stop_gradient(value_targets)
    q_targets = value_targets + tau * penalty_t if proper else value_targets
    return value_targets, tf.stop_gradient(q_targets)


def nstep_discounted_rewards(r_t, discount_t):
    """n-step reward sum and discount product for n-step DQN targets.

    ``R = sum_k (prod_{j<k} discount_j) r_k`` and ``D = prod_k discount_k`` over the T steps, so
    that ``soft_q_target(R, D, q_next_at_s_T, tau, backup)`` is the n-step (n = T) target. A zero
    discount (termination) stops the sum. Truncations inside the window are not handled: drop
    windows that contain a boundary (as TF-Agents' DqnAgent does).

    Args:
      r_t: ``[T, B]`` rewards.
      discount_t: ``[T, B]`` discounts.

    Returns:
      ``(reward_sum [B], discount_product [B])``, stop-gradient.
    """
    fn = "nstep_discounted_rewards"
    r_t = _float_tensor(r_t)
    discount_t = _float_tensor(discount_t, r_t.dtype)
    _check_rank(fn, "r_t", r_t, 2, "[T, B]")
    _check_rank(fn, "discount_t", discount_t, 2, "[T, B]")
    _check_shapes(fn, "r_t", r_t.shape, discount_t=discount_t.shape)
    weights = tf.math.cumprod(discount_t, axis=0, exclusive=True)
    reward_sum = tf.reduce_sum(weights * r_t, axis=0)
    discount_product = tf.reduce_prod(discount_t, axis=0)
    return tf.stop_gradient(reward_sum), tf.stop_gradient(discount_product)


# ---------------------------------------------------------------------------------------------
# Entropy-regularised A2C (paper.md sections 2.5, 2.9)


def _check_sequence_inputs(fn, logits_t, values_t, actions_t, r_t, discount_t, bootstrap_value):
    logits_t = _float_tensor(logits_t)
    dtype = logits_t.dtype
    _check_rank(fn, "logits_t", logits_t, 3, "[T, B, A]")
    values_t = _float_tensor(values_t, dtype)
    _check_rank(fn, "values_t", values_t, 2, "[T, B]")
    actions_t = _check_actions(fn, "actions_t", actions_t, 2, "[T, B]")
    r_t = _float_tensor(r_t, dtype)
    discount_t = _float_tensor(discount_t, dtype)
    bootstrap_value = _float_tensor(bootstrap_value, dtype)
    _check_rank(fn, "r_t", r_t, 2, "[T, B]")
    _check_rank(fn, "discount_t", discount_t, 2, "[T, B]")
    _check_rank(fn, "bootstrap_value", bootstrap_value, 1, "[B]")
    _check_shapes(
        fn,
        "logits_t[..., 0]",
        logits_t.shape[:-1],
        values_t=values_t.shape,
        actions_t=actions_t.shape,
        r_t=r_t.shape,
        discount_t=discount_t.shape,
    )
    _check_shapes(
        fn, "logits_t[0, :, 0]", logits_t.shape[1:2], bootstrap_value=bootstrap_value.shape
    )
    return logits_t, values_t, actions_t, r_t, discount_t, bootstrap_value


def a2c_loss(
    logits_t,
    values_t,
    actions_t,
    r_t,
    discount_t,
    bootstrap_value,
    tau,
    *,
    entropy_mode="proper",
    value_coef=0.5,
    log_prior=None,
    is_boundary_t=None,
):
    """Entropy-regularised advantage actor-critic loss   (paper.md sections 2.5, 2.9).

    With pen_t = sg(KL(pi || prior)(s_t)) (analytic) and V-hat_t from
    :func:`entropy_regularized_returns`::

        advantage_t   = sg(V-hat_t - V(s_t))
        policy_loss_t = -log pi(a_t | s_t) * advantage_t + tau * KL_theta(s_t)
        value_loss_t  = 0.5 * (V(s_t) - sg(V-hat_t)) ** 2
        loss_t        = policy_loss_t + value_coef * value_loss_t        (0 at boundaries)

    ``entropy_mode="proper"`` puts -tau * pen in the returns (d >= 0 for the value target, whose
    d = 0 term is state-only and so harmless in the advantage); ``"naive"`` leaves the returns
    plain and keeps only the per-step tau * KL_theta term (A3C). The d = 0 penalty is the analytic
    KL, never the sampled log-ratio, which would count grad KL twice (paper.md section 2.9).

    With ``value_coef = 1 / tau``, ``tau * loss`` has the expected gradient of the unscaled soft
    n-step Q loss (paper.md section 2.6).

    Args:
      logits_t: ``[T, B, A]`` policy logits.
      values_t: ``[T, B]`` V(s_t).
      actions_t: ``[T, B]`` int actions taken.
      r_t, discount_t: ``[T, B]``.
      bootstrap_value: ``[B]`` V(s_T).
      tau: temperature (the entropy/KL coefficient).
      entropy_mode: ``"proper"`` or ``"naive"``.
      value_coef: c, the weight of the value loss.
      log_prior: log prior broadcastable to ``[T, B, A]`` (e.g. ``[A]``); None: uniform,
        KL = log|A| - H. Held constant (stop-gradient): pi-bar is a fixed reference policy.
      is_boundary_t: ``[T, B]`` bool, see the module docstring.

    Returns:
      ``(loss [T, B], A2CExtra)``.
    """
    fn = "a2c_loss"
    if entropy_mode not in ENTROPY_MODES:
        raise ValueError(f"{fn}: entropy_mode must be one of {ENTROPY_MODES}, got {entropy_mode!r}")
    logits_t, values_t, actions_t, r_t, discount_t, bootstrap_value = _check_sequence_inputs(
        fn, logits_t, values_t, actions_t, r_t, discount_t, bootstrap_value
    )
    tau = _check_tau(fn, tau, logits_t.dtype)
    is_boundary_t = _boundary_mask(fn, is_boundary_t, r_t.shape)
    log_prior = _log_prior(fn, log_prior, logits_t, constant=True)

    kl = kl_to_prior(logits_t, log_prior)
    proper = entropy_mode == "proper"
    value_targets, _ = entropy_regularized_returns(
        r_t,
        discount_t,
        tf.stop_gradient(kl) if proper else None,
        bootstrap_value,
        tau,
        proper=proper,
        values_t=values_t,
        is_boundary_t=is_boundary_t,
    )
    advantages = tf.stop_gradient(value_targets - values_t)
    log_pi_a = _select(tf.nn.log_softmax(logits_t), actions_t)
    policy_loss = -log_pi_a * advantages + tau * kl
    value_loss = 0.5 * tf.square(values_t - value_targets)
    if is_boundary_t is not None:
        keep = tf.cast(tf.logical_not(is_boundary_t), logits_t.dtype)
        policy_loss *= keep
        value_loss *= keep
    loss = policy_loss + _float_tensor(value_coef, logits_t.dtype) * value_loss
    extra = A2CExtra(
        policy_loss=policy_loss,
        value_loss=value_loss,
        kl=kl,
        entropy=entropy(logits_t),
        advantages=advantages,
        value_targets=value_targets,
    )
    return loss, extra


# ---------------------------------------------------------------------------------------------
# Soft n-step Q-learning on Q = V + tau * log(pi / prior) (paper.md sections 2.6, 2.9, 3.3)


def soft_nstep_q_loss(
    logits_t,
    values_t,
    actions_t,
    r_t,
    discount_t,
    bootstrap_value,
    tau,
    *,
    value_scale=0.5,
    advantage_scale=None,
    log_prior=None,
    is_boundary_t=None,
    scale_streams=True,
):
    """Soft n-step Q-learning with the dueling parametrisation of the paper's section 6.3.

    Q(s, a) = V(s) + tau * (log pi(a|s) - log prior(a|s)), pi = softmax(logits): V is then exactly
    the soft value of Q and pi its Boltzmann policy. The target (paper.md section 2.4) is
    y_t = q_targets of :func:`entropy_regularized_returns` (proper, analytic KL penalty, stop-grad).

    Stream scaling: with A = tau * (log pi(a) - log prior(a)), c = ``value_scale`` and
    k = ``advantage_scale`` (None: 1 / tau, the paper's choice; the paper's text says "1/gamma",
    an erratum, paper.md section 6)::

        Q_fwd = c * V + (1 - c) * sg(V) + k * A + (1 - k) * sg(A)
        loss_t = 0.5 * (Q_fwd - sg(y_t)) ** 2                           (0 at boundaries)

    The forward value is exactly that of Q = V + A (computed as sg(x) + s * (x - sg(x))).
    Expected gradients, actions drawn from pi (paper.md section 2.6, T5, T8)::

        scaled (c, 1/tau):  E grad loss = E grad(L_PG + c * L_V)
        plain:              E grad loss = tau * E grad L_PG + E grad L_V

    with L_PG, L_V the policy and value losses of :func:`a2c_loss` (proper). ``value_scale=None``
    means c = 1; ``value_scale=None, advantage_scale=1.0`` (or ``scale_streams=False``, which then
    ignores both scales) is plain soft n-step Q-learning.

    Args:
      logits_t: ``[T, B, A]`` policy logits; values_t: ``[T, B]`` V(s_t);
      actions_t: ``[T, B]`` int, drawn from pi for the equivalence to hold;
      r_t, discount_t: ``[T, B]``; bootstrap_value: ``[B]`` V(s_T); tau: temperature.
      value_scale, advantage_scale, scale_streams: the stream scaling above.
      log_prior: log prior broadcastable to ``[T, B, A]``; None: uniform. Held constant
        (stop-gradient), as in :func:`a2c_loss`.
      is_boundary_t: ``[T, B]`` bool, see the module docstring.

    Returns:
      ``(loss [T, B], SoftQExtra)``.
    """
    fn = "soft_nstep_q_loss"
    logits_t, values_t, actions_t, r_t, discount_t, bootstrap_value = _check_sequence_inputs(
        fn, logits_t, values_t, actions_t, r_t, discount_t, bootstrap_value
    )
    tau = _check_tau(fn, tau, logits_t.dtype)
    is_boundary_t = _boundary_mask(fn, is_boundary_t, r_t.shape)
    log_prior = _log_prior(fn, log_prior, logits_t, constant=True)
    if not scale_streams:
        value_scale, advantage_scale = None, 1.0
    elif advantage_scale is None:
        advantage_scale = 1.0 / tau

    kl = kl_to_prior(logits_t, log_prior)
    value_targets, q_targets = entropy_regularized_returns(
        r_t,
        discount_t,
        tf.stop_gradient(kl),
        bootstrap_value,
        tau,
        proper=True,
        values_t=values_t,
        is_boundary_t=is_boundary_t,
    )
    log_ratio_a = _select(tf.nn.log_softmax(logits_t), actions_t) - _select_log_prior(
        log_prior, actions_t, logits_t
    )
    advantage = tau * log_ratio_a
    q_taken = values_t + advantage
    q_fwd = _scale_gradient(values_t, value_scale) + _scale_gradient(advantage, advantage_scale)
    td_error = q_fwd - q_targets
    if is_boundary_t is not None:
        td_error *= tf.cast(tf.logical_not(is_boundary_t), logits_t.dtype)
    loss = 0.5 * tf.square(td_error)
    extra = SoftQExtra(
        q_taken=q_taken,
        q_targets=q_targets,
        kl=kl,
        entropy=entropy(logits_t),
        value_targets=value_targets,
        td_error=tf.stop_gradient(td_error),
    )
    return loss, extra


# ---------------------------------------------------------------------------------------------
# One-step (soft) DQN (paper.md sections 2.4, 2.8)


def soft_q_target(r_t, discount_t, q_next, tau, backup="logsumexp", *, q_next_selector=None):
    """One-step Q-learning target y = r_t + discount_t * V(s_{t+1})   (paper.md section 2.8).

    Backups, with q_next from the target network:

    * ``"max"``: V = max_a q_next (DQN).
    * ``"logsumexp"``: V = tau * logsumexp(q_next / tau) (entropy bonus, counting measure).
    * ``"logmeanexp"``: V = tau * logmeanexp(q_next / tau) = logsumexp version - tau * log|A|
      (KL to the uniform prior).

    Double Q (``q_next_selector``: the online network's Q at s_{t+1}): ``"max"`` evaluates
    q_next at argmax_a q_next_selector. The soft backups evaluate q_next under the online network's
    Boltzmann policy pi_sel = softmax(q_next_selector / tau)::

        V = E_{pi_sel}[q_next] - tau * KL(pi_sel || prior)

    (KL to the counting measure is -H for ``"logsumexp"``). By paper.md T1 this equals the soft
    value of q_next when q_next_selector == q_next, and is below it otherwise.

    Args:
      r_t: ``[B]`` rewards. discount_t: ``[B]`` discounts (0 at termination).
      q_next: ``[B, A]`` target-network Q(s_{t+1}, .).
      tau: temperature (unused by ``"max"``, but must still be > 0).
      backup: ``"max"``, ``"logsumexp"`` or ``"logmeanexp"``.
      q_next_selector: optional ``[B, A]`` online-network Q(s_{t+1}, .).

    Returns:
      ``[B]`` targets, stop-gradient.
    """
    fn = "soft_q_target"
    if backup not in SOFT_Q_BACKUPS:
        raise ValueError(f"{fn}: backup must be one of {SOFT_Q_BACKUPS}, got {backup!r}")
    q_next = tf.stop_gradient(_float_tensor(q_next))
    dtype = q_next.dtype
    _check_rank(fn, "q_next", q_next, 2, "[B, A]")
    r_t = tf.stop_gradient(_float_tensor(r_t, dtype))
    discount_t = tf.stop_gradient(_float_tensor(discount_t, dtype))
    _check_rank(fn, "r_t", r_t, 1, "[B]")
    _check_rank(fn, "discount_t", discount_t, 1, "[B]")
    _check_shapes(fn, "q_next[:, 0]", q_next.shape[:1], r_t=r_t.shape, discount_t=discount_t.shape)
    tau = _check_tau(fn, tau, dtype)

    if q_next_selector is None:
        if backup == "max":
            v_next = tf.reduce_max(q_next, axis=-1)
        else:
            v_next = soft_value(q_next, tau, entropy_bonus=backup == "logsumexp")
    else:
        q_next_selector = tf.stop_gradient(_float_tensor(q_next_selector, dtype))
        _check_rank(fn, "q_next_selector", q_next_selector, 2, "[B, A]")
        _check_shapes(fn, "q_next", q_next.shape, q_next_selector=q_next_selector.shape)
        if backup == "max":
            best = tf.argmax(q_next_selector, axis=-1, output_type=tf.int32)
            v_next = _select(q_next, best)
        else:
            log_pi = boltzmann_log_probs(q_next_selector, tau)
            pi = tf.exp(log_pi)
            # KL(pi || counting measure) = sum pi log pi; to the uniform prior add log|A|.
            kl = tf.reduce_sum(pi * log_pi, axis=-1)
            if backup == "logmeanexp":
                kl = kl + _log_num_actions(q_next)
            v_next = tf.reduce_sum(pi * q_next, axis=-1) - tau * kl
    return tf.stop_gradient(r_t + discount_t * v_next)


def one_step_q_loss(q_tm1, a_tm1, target, *, loss="huber", huber_delta=1.0):
    """One-step TD loss on the taken action; the target is held fixed.

    ``td_error = sg(target) - q_tm1[a_tm1]``; ``"huber"``: 0.5 * td^2 for |td| <= delta, else
    delta * (|td| - 0.5 * delta); ``"l2"``: 0.5 * td^2.

    Args:
      q_tm1: ``[B, A]`` online Q(s_{t-1}, .). a_tm1: ``[B]`` int actions.
      target: ``[B]`` targets, e.g. from :func:`soft_q_target`.
      loss: ``"huber"`` or ``"l2"``. huber_delta: delta > 0.

    Returns:
      ``(loss [B], QExtra)``.
    """
    fn = "one_step_q_loss"
    if loss not in TD_LOSSES:
        raise ValueError(f"{fn}: loss must be one of {TD_LOSSES}, got {loss!r}")
    q_tm1 = _float_tensor(q_tm1)
    _check_rank(fn, "q_tm1", q_tm1, 2, "[B, A]")
    a_tm1 = _check_actions(fn, "a_tm1", a_tm1, 1, "[B]")
    target = tf.stop_gradient(_float_tensor(target, q_tm1.dtype))
    _check_rank(fn, "target", target, 1, "[B]")
    _check_shapes(fn, "q_tm1[:, 0]", q_tm1.shape[:1], a_tm1=a_tm1.shape, target=target.shape)

    q_taken = _select(q_tm1, a_tm1)
    td_error = target - q_taken
    if loss == "l2":
        per_example = 0.5 * tf.square(td_error)
    else:
        delta = _float_tensor(huber_delta, q_tm1.dtype)
        abs_td = tf.abs(td_error)
        quadratic = tf.minimum(abs_td, delta)
        per_example = 0.5 * tf.square(quadratic) + delta * (abs_td - quadratic)
    return per_example, QExtra(q_taken=q_taken, target=target, td_error=td_error)
