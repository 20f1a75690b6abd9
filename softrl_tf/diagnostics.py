"""Measuring the policy-gradient / soft-Q-learning equivalence on real batches.

The paper's main result (docs/theory.md §6): on a batch collected from the Boltzmann policy of
the current network, with targets held fixed,

    unscaled soft-Q loss:       E grad L_Q = tau * E grad(L_PG + L_V / tau)
                                           = tau * E grad L_PG + E grad L_V
    stream-scaled (c, k=1/tau): E grad L_Q = E grad(L_PG + c * L_V)

where L_PG and L_V are the policy and value losses of the proper entropy-regularised A2C
(:func:`softrl_tf.losses.a2c_loss`, ``extra.policy_loss`` and ``extra.value_loss``). The identity
holds in expectation only: per sample the two gradients differ by a zero-mean term proportional to
tau (ell_t - KL_t) (docs/theory.md T9), so on one on-policy batch the relative error shrinks
roughly like 1/sqrt(samples), and it is small already when tau is small against the advantages.
A broken precondition (off-policy or epsilon-greedy actions, gradients through the targets,
different horizons or bootstraps on the two sides) leaves a bias that does not shrink.
:func:`gradient_equivalence` measures one batch given the three losses as callables;
:func:`batch_gradient_equivalence` builds them from a network and a batch with
:mod:`softrl_tf.losses`; :func:`mean_gradient_equivalence` compares the gradients averaged over
many batches.

Pure TensorFlow: works eagerly, inside ``tf.function`` and with ``jit_compile=True``.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from softrl_tf import losses as _losses

import tensorflow as tf

__all__ = [
    "GradientEquivalence",
    "batch_gradient_equivalence",
    "compare_gradients",
    "equivalence_weights",
    "flat_gradient",
    "gradient_equivalence",
    "mean_gradient_equivalence",
]


class GradientEquivalence(NamedTuple):
    """Result of a gradient comparison.

    Attributes:
      soft_q_grad: ``[P]`` flattened gradient of the soft-Q loss.
      pg_grad: ``[P]`` flattened policy-gradient side, ``pg_weight * grad L_PG + value_weight *
        grad L_V`` (see :func:`equivalence_weights`).
      relative_error: ``||soft_q_grad - pg_grad|| / ||pg_grad||`` (inf or nan if pg_grad is 0).
      cosine: cosine similarity of the two (nan if either is 0).
    """

    soft_q_grad: tf.Tensor
    pg_grad: tf.Tensor
    relative_error: tf.Tensor
    cosine: tf.Tensor


def equivalence_weights(tau, value_coef=None, advantage_scale=None):
    """Weights ``(pg_weight, value_weight)`` with E grad L_Q = pg_weight * E grad L_PG +
    value_weight * E grad L_V.

    The soft-Q gradient is ``(c grad V + k grad A)(Q - y)`` with A = tau log(pi / prior), which
    gives pg_weight = k * tau and value_weight = c (docs/theory.md §6.3).

    Args:
      tau: temperature.
      value_coef: None for the unscaled soft-Q loss (weights ``(tau, 1)``); otherwise the value
        stream scale c of :func:`softrl_tf.losses.soft_nstep_q_loss` (its ``value_scale``).
      advantage_scale: the advantage stream scale k; None means 1/tau, the paper's choice, which
        makes pg_weight 1. Only with ``value_coef``.
    """
    if value_coef is None:
        if advantage_scale is not None:
            raise ValueError(
                "equivalence_weights: advantage_scale applies to the stream-scaled loss only; "
                "give value_coef too"
            )
        return tau, 1.0
    if advantage_scale is None:
        return 1.0, value_coef
    return advantage_scale * tau, value_coef


def flat_gradient(gradients, variables):
    """Concatenates per-variable gradients into one ``[P]`` vector; None (unconnected) is 0."""
    parts = []
    for grad, var in zip(gradients, variables, strict=True):
        if grad is None:
            grad = tf.zeros_like(var)
        elif isinstance(grad, tf.IndexedSlices):
            grad = tf.convert_to_tensor(grad)
        parts.append(tf.reshape(grad, [-1]))
    return tf.concat(parts, axis=0)


def compare_gradients(soft_q_grad, pg_grad):
    """Relative error and cosine of two flat gradients.

    Both measures are invariant to a common positive scale, so passing running *sums* of
    per-batch gradients gives the same numbers as passing their means.
    """
    soft_q_grad = tf.convert_to_tensor(soft_q_grad)
    pg_grad = _losses._float_tensor(pg_grad, soft_q_grad.dtype)
    pg_norm = tf.norm(pg_grad)
    relative_error = tf.norm(soft_q_grad - pg_grad) / pg_norm
    cosine = tf.reduce_sum(soft_q_grad * pg_grad) / (tf.norm(soft_q_grad) * pg_norm)
    return GradientEquivalence(soft_q_grad, pg_grad, relative_error, cosine)


def gradient_equivalence(
    soft_q_loss_fn: Callable[[], tf.Tensor],
    pg_loss_fn: Callable[[], tf.Tensor],
    value_loss_fn: Callable[[], tf.Tensor],
    variables: Sequence[tf.Variable],
    tau,
    value_coef=None,
    *,
    advantage_scale=None,
) -> GradientEquivalence:
    """Soft-Q gradient vs the matching combination of policy and value gradients on one batch.

    The three callables compute scalar losses on one fixed batch collected from the Boltzmann
    policy of the current network: the soft n-step Q loss (e.g. the mean of
    :func:`softrl_tf.losses.soft_nstep_q_loss`), and the proper A2C policy loss and value loss
    (the means of ``extra.policy_loss`` and ``extra.value_loss`` of
    :func:`softrl_tf.losses.a2c_loss`), reduced the same way.

    The comparison target is ``tau * (grad L_PG + grad L_V / tau)`` for the unscaled soft-Q loss
    (``value_coef=None``), or ``grad(L_PG + c * L_V)`` for the stream-scaled one (``value_coef=c``,
    advantage scale 1/tau); see :func:`equivalence_weights`.

    Returns:
      :class:`GradientEquivalence`. The identity holds in expectation: on one on-policy batch the
      relative error is sampling noise (see the module docstring); for small batches average the
      gradients with :func:`mean_gradient_equivalence`.
    """
    variables = list(variables)
    pg_weight, value_weight = equivalence_weights(tau, value_coef, advantage_scale)
    with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
        tape.watch(variables)
        losses = {
            "soft_q_loss_fn": soft_q_loss_fn(),
            "pg_loss_fn": pg_loss_fn(),
            "value_loss_fn": value_loss_fn(),
        }
    for name, loss in losses.items():
        if loss.shape.rank not in (None, 0):
            raise ValueError(
                f"gradient_equivalence: {name} must return a scalar, got shape {loss.shape}"
            )
    q_grad, pg_grad, v_grad = (
        flat_gradient(tape.gradient(loss, variables), variables) for loss in losses.values()
    )
    del tape
    dtype = q_grad.dtype
    combined = (
        _losses._float_tensor(pg_weight, dtype) * pg_grad
        + _losses._float_tensor(value_weight, dtype) * v_grad
    )
    return compare_gradients(q_grad, combined)


def batch_gradient_equivalence(
    network_fn: Callable[[], tuple],
    variables: Sequence[tf.Variable],
    actions_t,
    r_t,
    discount_t,
    tau,
    value_coef=None,
    *,
    advantage_scale=None,
    log_prior=None,
    is_boundary_t=None,
    weights=None,
) -> GradientEquivalence:
    """:func:`gradient_equivalence` on one time-major batch, with the losses of
    :mod:`softrl_tf.losses`.

    ``network_fn()`` runs the network on the batch's observations and returns
    ``(logits_t [T, B, A], values_t [T, B], bootstrap_value [B])``. The soft-Q side is
    :func:`softrl_tf.losses.soft_nstep_q_loss` on Q = V + tau * log(pi / prior): unscaled when
    ``value_coef`` is None (compared with ``tau * grad L_PG + grad L_V``), else stream-scaled with
    value scale ``value_coef`` and advantage scale ``advantage_scale`` (None: 1/tau; compared with
    ``grad(L_PG + value_coef * L_V)``). L_PG and L_V are the policy and value losses of the proper
    :func:`softrl_tf.losses.a2c_loss` on the same outputs. The network runs once.

    Args:
      network_fn: zero-argument callable, see above.
      variables: the variables to differentiate with respect to.
      actions_t: ``[T, B]`` int actions, drawn from softmax(logits_t) for the identity to hold.
      r_t, discount_t: ``[T, B]``.
      tau: temperature.
      value_coef, advantage_scale: see :func:`equivalence_weights`.
      log_prior, is_boundary_t: as in :func:`softrl_tf.losses.a2c_loss`.
      weights: optional, broadcastable to ``[T, B]``: each loss is ``sum(weights * loss_t)``
        instead of ``mean(loss_t)`` (e.g. trajectory probabilities, for exact expectations).

    Returns:
      :class:`GradientEquivalence`.
    """
    if value_coef is None:
        if advantage_scale is not None:
            raise ValueError(
                "batch_gradient_equivalence: advantage_scale applies to the stream-scaled loss "
                "only; give value_coef too"
            )
        scales = dict(value_scale=None, advantage_scale=1.0)
    else:
        scales = dict(value_scale=value_coef, advantage_scale=advantage_scale)
    common = dict(log_prior=log_prior, is_boundary_t=is_boundary_t)
    outputs = {}

    def reduce(loss_t):
        if weights is None:
            return tf.reduce_mean(loss_t)
        return tf.reduce_sum(_losses._float_tensor(weights, loss_t.dtype) * loss_t)

    def soft_q_loss():
        # Runs first inside the tape: one forward pass serves all three losses.
        logits_t, values_t, bootstrap_value = network_fn()
        args = (logits_t, values_t, actions_t, r_t, discount_t, bootstrap_value, tau)
        soft_q, _ = _losses.soft_nstep_q_loss(*args, **scales, **common)
        _, a2c = _losses.a2c_loss(*args, entropy_mode="proper", **common)
        outputs["pg"], outputs["value"] = reduce(a2c.policy_loss), reduce(a2c.value_loss)
        return reduce(soft_q)

    return gradient_equivalence(
        soft_q_loss,
        lambda: outputs["pg"],
        lambda: outputs["value"],
        variables,
        tau,
        value_coef,
        advantage_scale=advantage_scale,
    )


def mean_gradient_equivalence(results: Iterable) -> GradientEquivalence:
    """Compares the *mean* gradients over many batches.

    Args:
      results: per-batch :class:`GradientEquivalence` results, or ``(soft_q_grad, pg_grad)``
        pairs of flat gradients.

    Returns:
      :class:`GradientEquivalence` of the mean soft-Q gradient and the mean policy-gradient side.
      The relative error should fall roughly like 1/sqrt(number of batches) when the batches are
      on-policy; a plateau points to a broken precondition (off-policy actions, gradients through
      the targets, a different horizon or bootstrap on the two sides).
    """
    q_grads, pg_grads = [], []
    for result in results:
        q_grads.append(result[0])
        pg_grads.append(result[1])
    if not q_grads:
        raise ValueError("mean_gradient_equivalence: no results given")
    return compare_gradients(
        tf.reduce_mean(tf.stack(q_grads), axis=0), tf.reduce_mean(tf.stack(pg_grads), axis=0)
    )
