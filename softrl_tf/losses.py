"""The paper's losses as pure TensorFlow functions.

Schulman, Chen & Abbeel (2017), "Equivalence Between Policy Gradients and Soft Q-Learning"
(arXiv:1704.06440). Section and equation numbers are the paper's; ``docs/theory.md`` restates
every equation used here, and each docstring names its section there:

* :func:`soft_value`, :func:`boltzmann_log_probs`: the soft value and Boltzmann policy, Eq. 28
  (``docs/theory.md §2``); :func:`kl_to_prior`, :func:`entropy`: the KL penalty of section 3.1
  (``§1``, ``§2``).
* :func:`entropy_regularized_returns`: the n-step backups of sections 3.3-3.4, whose per-step
  terms are the Bellman errors of Eq. 36 (``§3``).
* :func:`a2c_loss`: entropy-regularised policy gradients, section 3.6, with the naive estimator
  of Eq. 48 (``§5``); the experiment of section 6.1.
* :func:`soft_nstep_q_loss`: soft n-step Q-learning on Q = V + tau * log(pi / prior) (Eq. 57),
  sections 3.5, 4 and 6.3; its gradient is the policy gradient of Eq. 7 and the value update of
  Eq. 9 carried from bandits to sequences (``§4``, ``§6``, ``§9``).
* :func:`soft_q_target`, :func:`soft_nstep_q_target`, :func:`one_step_q_loss`: the soft DQN
  targets of sections 3.5 and 6.2 (``§4``, ``§8``).

The natural-gradient forms (Eq. 66, 71; ``docs/theory.md §7``) need no loss of their own.

They are written here, not borrowed: TRFL's losses are TensorFlow 1 graph code and rlax's are
JAX, and neither has the KL penalty inside the returns, a reference policy with zero-mass
actions, or the stream scaling of the paper's section 6.3.

Conventions (TRFL's structure, rlax's names):

* Sequences are time-major: ``[T, B]`` for per-step quantities, ``[T, B, A]`` for per-action ones;
  single transitions are ``[B]`` and ``[B, A]``.
* ``discount_t`` already contains gamma and is 0 where the episode terminated.
* ``tau`` is the temperature (the entropy/KL coefficient), a Python float or a scalar tensor, > 0.
* ``log_prior`` is the log of the reference policy pi-bar, broadcastable to ``[..., A]`` and
  normalised; ``None`` means the uniform prior (the paper's KL form). Entries may be -inf (actions
  the prior never takes: they get probability 0 and contribute nothing); each row needs one finite
  entry. pi-bar is a fixed reference policy (paper section 3.1), not a parameter: the losses
  (:func:`a2c_loss`, :func:`soft_nstep_q_loss`) hold it under ``tf.stop_gradient``. The
  primitives (:func:`soft_value`, :func:`boltzmann_log_probs`, :func:`kl_to_prior`) stay
  differentiable in it. Every log-sum-exp is shifted by the max of its whole argument,
  q / tau + log prior, so that a prior giving the best action little mass cannot cancel it.
* Every loss returns the unreduced per-example loss plus a named tuple of extras. Targets, bootstrap
  values, advantages and the KL penalties used inside returns are under ``tf.stop_gradient``.
* ``td_error`` (in :class:`SoftQExtra` and :class:`QExtra`) is always target minus prediction,
  ``y - Q(s, a)`` (TRFL's and rlax's sign): positive when the prediction is too low.
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
import typing
from typing import NamedTuple

from softrl_tf.config import Backup, EntropyMode, NstepTargetForm, TdLoss

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
    "one_step_q_loss",
    "soft_nstep_q_loss",
    "soft_nstep_q_target",
    "soft_q_target",
    "soft_value",
]

SOFT_Q_BACKUPS = typing.get_args(Backup)
NSTEP_TARGET_FORMS = typing.get_args(NstepTargetForm)
ENTROPY_MODES = typing.get_args(EntropyMode)
TD_LOSSES = typing.get_args(TdLoss)


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
    V-hat_t; ``kl``, ``entropy`` as in :class:`A2CExtra`; ``td_error`` = q_targets - q_taken
    (target minus prediction, as everywhere here), 0 at boundaries, so that
    ``loss == 0.5 * td_error ** 2``.
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
    static = tf.get_static_value(log_prior)
    if static is not None and (static.max(axis=-1, initial=-math.inf) == -math.inf).any():
        raise ValueError(
            f"{fn}: log_prior gives no action any mass (a row of -inf); give at least one "
            "action a finite log-probability"
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


def _backward_recursion(step, elems, initializer):
    """``tf.scan(step, elems, initializer, reverse=True)``, unrolled when ``T`` is static.

    ``elems`` is a tuple of ``[T, ...]`` tensors; ``step(g_next, x)`` takes the carry and the
    tuple of slices at ``t``. A known ``T`` (the segment length is fixed when the update is
    traced) gives ``T`` copies of ``step`` in the graph, in place of the while loop and tensor
    arrays of ``tf.scan``: on CartPole's update (a small network, CPU) about a tenth of its time
    (``benchmarks/RESULTS.md``). The same operations run in the same order, so both paths give
    the same values; an unknown ``T`` keeps ``tf.scan``.
    """
    num_steps = elems[0].shape[0]
    if num_steps is None:
        return tf.scan(step, elems, initializer=initializer, reverse=True)
    carries = [None] * num_steps
    carry = initializer
    for t in reversed(range(num_steps)):
        carry = step(carry, tuple(x[t] for x in elems))
        carries[t] = carry
    return tf.stack(carries) if carries else tf.zeros_like(elems[0])


# ---------------------------------------------------------------------------------------------
# Soft value, Boltzmann policy, KL and entropy (the paper's Eq. 28; docs/theory.md §2)


def _log_measure(q, log_prior, counting):
    """log mu(a) of the soft value's measure, broadcastable to ``q``, and its total mass
    ``[..., 1]`` (None where it is known to be 1)."""
    if log_prior is not None:
        return log_prior, tf.reduce_sum(tf.exp(log_prior), axis=-1, keepdims=True)
    if counting:
        return tf.constant(0.0, q.dtype), None
    return -_log_num_actions(q), None


def _soft_value_parts(q, tau, log_prior, counting):
    """V = tau * log sum_a mu(a) exp(q_a / tau) and log pi = log mu + (q - V) / tau.

    mu is the uniform distribution (``log_prior`` None), the counting measure (``counting``) or
    ``exp(log_prior)``, whose entries may be 0 (log -inf) as long as one is not.

    Returns ``(v [...], log_pi [..., A])``.

    Two evaluations, each exact where the other is not, chosen per row by
    ``s = sum_a mu(a) expm1(y_a) / M`` with ``y = (q - max q) / tau <= 0`` and M = sum mu:

    * ``s > -1/2`` (most of the mass near the best action, e.g. large tau):
      ``log sum mu e^y = log M + log1p(s)``. The terms of s share one sign, so s keeps full
      relative precision, and log1p keeps the O(1/tau) deviation from the prior mean that a
      log-sum-exp shifted by max z would lose to the cancellation of tau * max z against
      tau * log sum (both about tau * log mu).
    * otherwise: the log-sum-exp of ``z = y + log mu`` shifted by max z, the largest term of
      the whole argument. A shift by max q alone cancels when the best action has little prior
      mass: in float32 ``sum mu expm1(y)`` rounds to -M once mu(argmax q) < 6e-8, and the value
      became -inf.

    Both shifts are under stop-gradient; V's total derivative does not depend on them.
    """
    shift = tf.stop_gradient(tf.reduce_max(q, axis=-1, keepdims=True))
    y = (q - shift) / tau
    log_mu, mass = _log_measure(q, log_prior, counting)
    # Near the prior mean: log M + log1p(s), s in [-1, 0].
    if log_prior is None:
        s = tf.reduce_mean(tf.math.expm1(y), axis=-1, keepdims=True)
    else:
        s = tf.reduce_sum(tf.exp(log_prior) * tf.math.expm1(y), axis=-1, keepdims=True) / mass
    near = s > -0.5
    # The unselected branch must stay finite: tf.where passes it a zero gradient, and 0 * inf
    # (from log1p at -1 or log at 0) would be NaN.
    log_norm_near = tf.math.log1p(tf.where(near, s, tf.zeros_like(s)))
    if mass is not None:
        log_norm_near += tf.math.log(tf.where(near, mass, tf.ones_like(mass)))
    elif counting:
        log_norm_near += _log_num_actions(q)
    # Far from it: log-sum-exp shifted by the max of the whole argument y + log mu.
    z = y + log_mu
    z_max = tf.stop_gradient(tf.reduce_max(z, axis=-1, keepdims=True))
    # All mu = 0 has no Boltzmann policy: V = -inf and log pi = NaN (see soft_value).
    z_max = tf.where(tf.math.is_finite(z_max), z_max, tf.zeros_like(z_max))
    log_sum_far = tf.math.log(tf.reduce_sum(tf.exp(z - z_max), axis=-1, keepdims=True))
    log_norm = tf.where(near, log_norm_near, z_max + log_sum_far)
    log_pi = tf.where(near, log_mu + y - log_norm_near, (z - z_max) - log_sum_far)
    return shift[..., 0] + tau * log_norm[..., 0], log_pi


def soft_value(q, tau, log_prior=None, entropy_bonus=False):
    """Soft (Boltzmann) value V = tau * log E_{a ~ prior} exp(q_a / tau)   (the paper's Eq. 28).

    See ``docs/theory.md §2``.

    Args:
      q: ``[..., A]`` action values.
      tau: temperature > 0.
      log_prior: log prior probabilities broadcastable to ``[..., A]``; ``None`` is the uniform
        prior, V = tau * logmeanexp(q / tau) (the KL form). Entries may be -inf (no mass): those
        actions drop out of the expectation. A row of -inf only is a ValueError when
        ``log_prior`` is a constant, and gives V = -inf otherwise.
      entropy_bonus: if True, use the counting measure instead of a prior (the entropy-bonus form,
        paper section 6.2, ``docs/theory.md §8``): V = tau * logsumexp(q / tau)
        = uniform-prior V + tau * log|A|. ``log_prior`` must then be None.

    Returns:
      ``[...]`` soft values. Its gradient with respect to q is the Boltzmann policy. Finite for any
      finite q / tau and any prior with some finite entry, in float32 and float64: the
      log-sum-exp is shifted by the max of its whole argument q / tau + log prior.
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
    v, _ = _soft_value_parts(q, tau, log_prior, entropy_bonus)
    return v


def boltzmann_log_probs(q, tau, log_prior=None):
    """Log-probabilities of the Boltzmann policy pi = prior * exp((q - V) / tau)   (Eq. 28).

    See ``docs/theory.md §2``.

    Args:
      q: ``[..., A]`` action values.
      tau: temperature > 0.
      log_prior: as in :func:`soft_value` (``None``: uniform). The counting measure gives the same
        policy as the uniform prior, softmax(q / tau). An action with log prior -inf gets
        log pi = -inf (probability 0); a row of -inf only is a ValueError (constant) or gives NaN.

    Returns:
      ``[..., A]`` log pi(a) = log prior(a) + (q_a - V) / tau, computed without the cancellation of
      q - V.
    """
    fn = "boltzmann_log_probs"
    q = _float_tensor(q)
    _check_min_rank(fn, "q", q, 1, "[..., A]")
    tau = _check_tau(fn, tau, q.dtype)
    log_prior = _log_prior(fn, log_prior, q)
    _, log_pi = _soft_value_parts(q, tau, log_prior, False)
    return log_pi


def _kl_of_log_probs(log_pi, log_mu):
    """sum_a pi(a) (log pi(a) - log mu(a)) over the last axis, with 0 * log 0 = 0: an action that
    pi gives no mass contributes nothing, even where mu has none either (-inf - -inf)."""
    pi = tf.exp(log_pi)
    # Zero the log-ratio itself, not the product: a NaN factor would make the gradient NaN.
    log_ratio = tf.where(pi > 0, log_pi - log_mu, tf.zeros_like(log_pi))
    return tf.reduce_sum(pi * log_ratio, axis=-1)


def kl_to_prior(logits, log_prior=None):
    """Analytic KL(softmax(logits) || prior) per state   (paper section 3.1; docs/theory.md §1).

    Args:
      logits: ``[..., A]`` policy logits (any normalisation; -inf entries are actions of
        probability 0).
      log_prior: log prior probabilities broadcastable to ``[..., A]``; ``None``: uniform, where
        KL = log|A| - H. An entry may be -inf: where pi also has no mass (pi underflows to 0, or
        a -inf logit) the term counts as 0 (0 * log 0 = 0); where pi has mass, KL = +inf.

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
    return _kl_of_log_probs(log_pi, log_prior)


def entropy(logits):
    """Entropy H(softmax(logits)) = -sum_a pi(a) log pi(a): ``[..., A] -> [...]``.

    -inf logits (actions of probability 0) contribute 0.
    """
    logits = _float_tensor(logits)
    _check_min_rank("entropy", "logits", logits, 1, "[..., A]")
    return -_kl_of_log_probs(tf.nn.log_softmax(logits), tf.constant(0.0, logits.dtype))


# ---------------------------------------------------------------------------------------------
# Entropy-regularised n-step returns (paper sections 3.3-3.6, Eq. 36; docs/theory.md §3)


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
    """Value targets and soft-Q targets by a backward recursion (docs/theory.md §3).

    G_T = bootstrap; for t = T-1 .. 0::

        G_t = r_t - tau * penalty_t + discount_t * G_{t+1}   (proper)
        G_t = r_t + discount_t * G_{t+1}                     (naive)
        G_t = values_t                                       (where is_boundary_t)

    value target V-hat_t = G_t, which includes the d = 0 penalty (the n-step backup of V, paper
    section 3.6); soft-Q target y_t = G_t + tau * penalty_t, which excludes it (section 3.5: Q
    omits the first KL term). With
    ``proper=False`` neither contains a penalty and y_t = G_t.

    Args:
      r_t: ``[T, B]`` rewards.
      discount_t: ``[T, B]`` discounts (gamma included, 0 at termination).
      penalty_t: ``[T, B]`` per-step penalty, normally the analytic KL(pi || prior)(s_t) (or the
        sampled log-ratio for d >= 1, docs/theory.md §6). May be None when ``proper=False``.
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

    value_targets = _backward_recursion(step, elems, tf.stop_gradient(bootstrap_value))
    value_targets = tf.stop_gradient(value_targets)
    q_targets = value_targets + tau * penalty_t if proper else value_targets
    return value_targets, tf.stop_gradient(q_targets)


# ---------------------------------------------------------------------------------------------
# Entropy-regularised A2C (paper sections 3.6, 6.1, Eq. 48; docs/theory.md §5)


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
    """Entropy-regularised advantage actor-critic loss   (paper section 3.6; docs/theory.md §5).

    With pen_t = sg(KL(pi || prior)(s_t)) (analytic) and V-hat_t from
    :func:`entropy_regularized_returns`::

        advantage_t   = sg(V-hat_t - V(s_t))
        policy_loss_t = -log pi(a_t | s_t) * advantage_t + tau * KL_theta(s_t)
        value_loss_t  = 0.5 * (V(s_t) - sg(V-hat_t)) ** 2
        loss_t        = policy_loss_t + value_coef * value_loss_t        (0 at boundaries)

    ``entropy_mode="proper"`` puts -tau * pen in the returns (d >= 0 for the value target, whose
    d = 0 term is state-only and so harmless in the advantage); ``"naive"`` leaves the returns
    plain and keeps only the per-step tau * KL_theta term (A3C). The d = 0 penalty is the analytic
    KL, never the sampled log-ratio, which would count grad KL twice (docs/theory.md §6).

    With ``value_coef = 1 / tau``, ``tau * loss`` has the expected gradient of the unscaled soft
    n-step Q loss (paper section 4; docs/theory.md §6).

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
# Soft n-step Q-learning on Q = V + tau * log(pi / prior) (Eq. 57; docs/theory.md §4, §6, §9)


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
    the soft value of Q and pi its Boltzmann policy (Eq. 57). The target (paper section 3.5,
    docs/theory.md §4) is
    y_t = q_targets of :func:`entropy_regularized_returns` (proper, analytic KL penalty, stop-grad).

    Stream scaling: with A = tau * (log pi(a) - log prior(a)), c = ``value_scale`` and
    k = ``advantage_scale`` (None: 1 / tau, the paper's choice; the paper's text says "1/gamma",
    an erratum; docs/theory.md §9)::

        Q_fwd = c * V + (1 - c) * sg(V) + k * A + (1 - k) * sg(A)
        loss_t = 0.5 * (sg(y_t) - Q_fwd) ** 2                           (0 at boundaries)

    The forward value is exactly that of Q = V + A (computed as sg(x) + s * (x - sg(x))).
    Expected gradients, actions drawn from pi (paper section 4; docs/theory.md §6)::

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
    td_error = q_targets - q_fwd
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
# Soft Q-learning targets: one-step (DQN) and n-step (paper sections 3.5, 6.2;
# docs/theory.md §4, §8)


def _backup_value_and_kl(q, tau, backup, selector, log_prior):
    """Backed-up value V(s) and KL(pi || mu)(s) of the backup's policy, ``[..., A] -> [...]``.

    ``"max"``: V = max_a q (or q at argmax selector), KL = 0 (the tau -> 0 limit, where tau * KL
    vanishes). Soft backups: mu is the counting measure (``"logsumexp"``, KL = -H) or the prior
    (``"logmeanexp"``: uniform, or ``log_prior``); pi is the Boltzmann policy of q, or of
    ``selector`` (double Q), where V = E_pi[q] - tau * KL(pi || mu). With selector == q that is
    the soft value of q (the paper's Eq. 28 at its maximiser, docs/theory.md §2).
    """
    if backup == "max":
        if selector is None:
            v = tf.reduce_max(q, axis=-1)
        else:
            v = _select(q, tf.argmax(selector, axis=-1, output_type=tf.int32))
        return v, tf.zeros_like(v)
    counting = backup == "logsumexp"
    log_mu, _ = _log_measure(q, log_prior, counting)
    if selector is None:
        v, log_pi = _soft_value_parts(q, tau, log_prior, counting)
        return v, _kl_of_log_probs(log_pi, log_mu)
    _, log_pi = _soft_value_parts(selector, tau, log_prior, counting)
    kl = _kl_of_log_probs(log_pi, log_mu)
    return tf.reduce_sum(tf.exp(log_pi) * q, axis=-1) - tau * kl, kl


def soft_q_target(r_t, discount_t, q_next, tau, backup="logsumexp", *, q_next_selector=None):
    """One-step Q-learning target y = r_t + discount_t * V(s_{t+1})   (paper section 6.2).

    See ``docs/theory.md §8``. Backups, with q_next from the target network:

    * ``"max"``: V = max_a q_next (DQN).
    * ``"logsumexp"``: V = tau * logsumexp(q_next / tau) (entropy bonus, counting measure).
    * ``"logmeanexp"``: V = tau * logmeanexp(q_next / tau) = logsumexp version - tau * log|A|
      (KL to the uniform prior).

    Double Q (``q_next_selector``: the online network's Q at s_{t+1}): ``"max"`` evaluates
    q_next at argmax_a q_next_selector. The soft backups evaluate q_next under the online network's
    Boltzmann policy pi_sel = softmax(q_next_selector / tau)::

        V = E_{pi_sel}[q_next] - tau * KL(pi_sel || prior)

    (KL to the counting measure is -H for ``"logsumexp"``). When q_next_selector == q_next this
    equals the soft value of q_next (the Boltzmann policy maximises E_pi[q] - tau * KL, Eq. 28);
    otherwise it is below it.

    Args:
      r_t: ``[B]`` rewards. discount_t: ``[B]`` discounts (0 at termination).
      q_next: ``[B, A]`` target-network Q(s_{t+1}, .).
      tau: temperature (unused by ``"max"``, but must still be > 0).
      backup: ``"max"``, ``"logsumexp"`` or ``"logmeanexp"``.
      q_next_selector: optional ``[B, A]`` online-network Q(s_{t+1}, .).

    Returns:
      ``[B]`` targets, stop-gradient. :func:`soft_nstep_q_target` is the n-step form.
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
    if q_next_selector is not None:
        q_next_selector = tf.stop_gradient(_float_tensor(q_next_selector, dtype))
        _check_rank(fn, "q_next_selector", q_next_selector, 2, "[B, A]")
        _check_shapes(fn, "q_next", q_next.shape, q_next_selector=q_next_selector.shape)
    v_next, _ = _backup_value_and_kl(q_next, tau, backup, q_next_selector, None)
    return tf.stop_gradient(r_t + discount_t * v_next)


def soft_nstep_q_target(
    r_t,
    discount_t,
    q_t,
    tau,
    backup="logsumexp",
    *,
    form="paper",
    q_selector_t=None,
    log_prior=None,
    is_boundary_t=None,
):
    """n-step soft Q-learning targets from target-network values   (paper section 3.5).

    See ``docs/theory.md §4``. For every start t of a window of T transitions, with V_k and
    KL_k the backed-up value and the KL of the backup's policy at s_k (as in
    :func:`soft_q_target`, computed from ``q_t[k]``)::

        form="paper":    y_t = r_t + sum_{d=1}^{T-t-1} D_{t,d} (r_{t+d} - tau * KL_{t+d})
                               + D_{t,T-t} V_T
        form="rewards":  y_t = r_t + sum_{d=1}^{T-t-1} D_{t,d} r_{t+d} + D_{t,T-t} V_T

    where D_{t,d} = discount_t * ... * discount_{t+d-1} (gamma^d until a termination, 0 after).
    ``y_0`` is the n-step target with n = T; a later t has the shorter horizon T - t (the
    truncation of an A2C segment). "paper" is the target whose residual equals the n-step
    policy gradient in expectation (docs/theory.md §6): Q leaves out the KL of its own state
    (d = 0), so only KL_{t+d} with d >= 1 enters. "rewards" is a plain n-step return followed by
    the soft backup.

    KL_k is KL(pi_k || mu) for the backup's measure mu (docs/theory.md §2, §8): for
    ``"logsumexp"`` mu is the counting measure, so -tau * KL_k = +tau * H_k (the entropy bonus);
    for ``"logmeanexp"`` mu is the uniform prior (or ``exp(log_prior)``), KL_k = log|A| - H_k for
    the uniform one. pi_k is the Boltzmann policy of ``q_t[k]``, or of ``q_selector_t[k]`` with
    double Q, the policy the backup evaluates V under. ``"max"`` is the tau -> 0 limit where
    tau * KL vanishes: there the two forms are the same target.

    Episode boundaries (``is_boundary_t``, see the module docstring) restart the return: a window
    that meets the LAST step s_k bootstraps there with V_k (times the zero discount of a
    terminated episode) and no KL_k, like the final bootstrap. At a boundary t itself, y_t = V_t
    (the transition is a dummy; mask its loss).

    Args:
      r_t: ``[T, B]`` rewards.
      discount_t: ``[T, B]`` discounts (gamma included, 0 at termination).
      q_t: ``[T + 1, B, A]`` target-network Q at s_0 .. s_T (s_T: the bootstrap state).
      tau: temperature > 0 (unused by ``"max"``, but must still be > 0).
      backup: ``"max"``, ``"logsumexp"`` or ``"logmeanexp"``.
      form: ``"paper"`` or ``"rewards"``.
      q_selector_t: optional ``[T + 1, B, A]`` online-network Q (double Q, as in
        :func:`soft_q_target`).
      log_prior: log reference policy broadcastable to ``[T + 1, B, A]``, only with
        ``"logmeanexp"`` (None: uniform).
      is_boundary_t: ``[T, B]`` bool, True for the dummy LAST -> FIRST transitions.

    Returns:
      ``[T, B]`` targets y_t, stop-gradient. With T = 1 both forms equal :func:`soft_q_target`.
    """
    fn = "soft_nstep_q_target"
    if backup not in SOFT_Q_BACKUPS:
        raise ValueError(f"{fn}: backup must be one of {SOFT_Q_BACKUPS}, got {backup!r}")
    if form not in NSTEP_TARGET_FORMS:
        raise ValueError(f"{fn}: form must be one of {NSTEP_TARGET_FORMS}, got {form!r}")
    if log_prior is not None and backup != "logmeanexp":
        raise ValueError(
            f"{fn}: log_prior is the reference policy of the 'logmeanexp' backup; pass None with "
            f"backup={backup!r}"
        )
    q_t = tf.stop_gradient(_float_tensor(q_t))
    dtype = q_t.dtype
    _check_rank(fn, "q_t", q_t, 3, "[T + 1, B, A]")
    r_t = tf.stop_gradient(_float_tensor(r_t, dtype))
    discount_t = tf.stop_gradient(_float_tensor(discount_t, dtype))
    _check_rank(fn, "r_t", r_t, 2, "[T, B]")
    _check_rank(fn, "discount_t", discount_t, 2, "[T, B]")
    _check_shapes(fn, "r_t", r_t.shape, discount_t=discount_t.shape)
    steps = r_t.shape[0]
    window = tf.TensorShape([None if steps is None else steps + 1, r_t.shape[1]])
    _check_shapes(fn, "[T + 1, B] of r_t", window, **{"q_t[..., 0]": q_t.shape[:-1]})
    tau = _check_tau(fn, tau, dtype)
    if q_selector_t is not None:
        q_selector_t = tf.stop_gradient(_float_tensor(q_selector_t, dtype))
        _check_rank(fn, "q_selector_t", q_selector_t, 3, "[T + 1, B, A]")
        _check_shapes(fn, "q_t", q_t.shape, q_selector_t=q_selector_t.shape)
    log_prior = _log_prior(fn, log_prior, q_t, constant=True)

    v_t, kl_t = _backup_value_and_kl(q_t, tau, backup, q_selector_t, log_prior)
    proper = form == "paper" and backup != "max"
    # G_t: the return from s_t on, with -tau * KL_t when proper; y_t = r_t + discount_t * G_{t+1}
    # then holds the d >= 1 penalties and not the d = 0 one.
    g_t, _ = entropy_regularized_returns(
        r_t,
        discount_t,
        kl_t[:-1] if proper else None,
        v_t[-1],
        tau,
        proper=proper,
        values_t=v_t[:-1],
        is_boundary_t=is_boundary_t,
    )
    y_t = r_t + discount_t * tf.concat([g_t[1:], v_t[-1:]], axis=0)
    if is_boundary_t is not None:
        y_t = tf.where(tf.cast(is_boundary_t, tf.bool), v_t[:-1], y_t)
    return tf.stop_gradient(y_t)


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
