"""Entropy-regularised advantage actor-critic (A2C), naive and proper (paper.md §2.5, §2.9, §6.1).

``entropy_mode="naive"`` is standard A2C: the returns hold rewards only and the loss adds the
per-step ``tau * KL(pi || prior)`` term (the paper's Eq. 48 estimator). ``entropy_mode="proper"``
also puts ``-tau * KL`` of every later step inside the returns, which makes the update the gradient
of the entropy-regularised return (paper §3.6). The prior is uniform unless ``log_prior`` is given,
so ``tau * KL`` is the usual entropy bonus up to a constant.

Experience is a TF-Agents ``Trajectory`` shaped ``[B, n_steps + 1]``: ``n_steps`` transitions
trained on, and one more item whose observation supplies the bootstrap value ``V(s_T)``. Item ``t``
holds ``s_t``, ``a_t`` and the reward and discount of the *next* time step (TF-Agents' convention);
an item whose step type is LAST is the dummy transition into the next episode's FIRST step: it
gets no loss, and the return restarts there from ``V`` of the episode's final observation (the
bootstrap of a truncated episode; a terminated one has discount 0 at the step before).
:meth:`A2CAgent.gradient_equivalence` measures the paper's PG / soft-Q equivalence on a batch.
"""

from __future__ import annotations

from softrl_tf import diagnostics, losses
from softrl_tf.agents.base import (
    KerasTrainStepAgent,
    LossInfo,
    masked_mean,
    time_major,
    unpack_segment,
)
from softrl_tf.policies import BoltzmannPolicy

import tensorflow as tf
from tf_agents.policies import greedy_policy

ENTROPY_MODES = ("naive", "proper")


def check_positive(agent: str, **values) -> None:
    """Raises ``ValueError`` naming the first argument that is not a positive finite number."""
    for key, value in values.items():
        if not (isinstance(value, (int, float)) and value > 0 and value < float("inf")):
            raise ValueError(f"{agent}: {key} must be a positive number, got {value!r}.")


class A2CAgent(KerasTrainStepAgent):
    """Entropy-regularised A2C over an actor-critic network ``obs -> (logits, value)``.

    Args:
      time_step_spec: the environment's ``TimeStep`` spec.
      action_spec: a scalar discrete ``BoundedTensorSpec``.
      actor_critic_network: a ``softrl_tf.networks.ActorCriticNetwork`` (or any TF-Agents network
        returning ``((logits [..., A], value [...]), state)``).
      optimizer: a ``tf_keras`` optimizer.
      tau: temperature / entropy coefficient (paper's tau); 0.01 in the paper's Atari runs.
      entropy_mode: ``"naive"`` or ``"proper"`` (see the module docstring).
      value_coef: weight ``c`` of the value loss (0.5 in the paper).
      gamma: discount.
      n_steps: transitions per segment (5 in the paper); experience has ``n_steps + 1`` items.
      log_prior: ``[A]`` log-probabilities of the reference policy; ``None`` is uniform.
      max_grad_norm: global-norm gradient clip (0.5 in the paper); ``None`` disables it.
    """

    loss_name = "a2c"

    def __init__(
        self,
        time_step_spec,
        action_spec,
        actor_critic_network,
        optimizer,
        *,
        tau: float = 0.01,
        entropy_mode: str = "proper",
        value_coef: float = 0.5,
        gamma: float = 0.99,
        n_steps: int = 5,
        log_prior=None,
        max_grad_norm: float | None = 0.5,
        train_step_counter=None,
        name: str | None = None,
    ):
        if entropy_mode not in ENTROPY_MODES:
            raise ValueError(
                f"{type(self).__name__}: entropy_mode must be one of {ENTROPY_MODES}, "
                f"got {entropy_mode!r}."
            )
        check_positive(type(self).__name__, tau=tau)
        if not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(
                f"{type(self).__name__}: n_steps must be an integer >= 1, got {n_steps!r}."
            )
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"{type(self).__name__}: gamma must lie in [0, 1], got {gamma!r}.")
        self._network = actor_critic_network
        self._tau = float(tau)
        self._entropy_mode = entropy_mode
        self._value_coef = float(value_coef)
        self._gamma = float(gamma)
        self._n_steps = n_steps
        self._log_prior = None if log_prior is None else tf.constant(log_prior, tf.float32)
        collect_policy = BoltzmannPolicy(time_step_spec, action_spec, actor_critic_network)
        super().__init__(
            time_step_spec,
            action_spec,
            policy=greedy_policy.GreedyPolicy(collect_policy),
            collect_policy=collect_policy,
            train_sequence_length=n_steps + 1,
            trained_networks=[actor_critic_network],
            optimizer=optimizer,
            max_grad_norm=max_grad_norm,
            train_step_counter=train_step_counter,
            name=name,
        )

    @property
    def network(self):
        """The actor-critic network being trained."""
        return self._network

    @property
    def tau(self) -> float:
        """Temperature (entropy / KL coefficient)."""
        return self._tau

    @property
    def gamma(self) -> float:
        """Discount."""
        return self._gamma

    @property
    def log_prior(self):
        """``[A]`` float32 log prior of the KL penalty, or ``None`` for the uniform prior."""
        return self._log_prior

    def segment_outputs(self, experience, training: bool = False):
        """Runs the network over a segment.

        Returns:
          ``(segment, logits_t [T, B, A], values_t [T, B], bootstrap_value [B])``, time-major.
        """
        segment = unpack_segment(experience, self._gamma)
        (logits, values), _ = self._network(
            segment.observation, step_type=experience.step_type, training=training
        )
        logits, values = time_major(logits), time_major(values)
        return segment, logits[:-1], values[:-1], values[-1]

    def _step_mask(self, segment, weights):
        """``[T, B]`` weights of the transitions that count: not boundaries, times ``weights``."""
        mask = tf.cast(tf.logical_not(segment.is_boundary_t), tf.float32)
        if weights is not None:
            mask = mask * tf.cast(weights, tf.float32)
        return mask

    def _loss(self, experience, weights=None, training=False):
        segment, logits_t, values_t, bootstrap_value = self.segment_outputs(experience, training)
        loss_t, extra = losses.a2c_loss(
            logits_t,
            values_t,
            segment.actions_t,
            segment.r_t,
            segment.discount_t,
            bootstrap_value,
            self._tau,
            entropy_mode=self._entropy_mode,
            value_coef=self._value_coef,
            log_prior=self._log_prior,
            is_boundary_t=segment.is_boundary_t,
        )
        mask = self._step_mask(segment, weights)
        return LossInfo(
            loss=masked_mean(loss_t, mask),
            extra={
                "policy_loss": masked_mean(extra.policy_loss, mask),
                "value_loss": masked_mean(extra.value_loss, mask),
                "entropy": masked_mean(extra.entropy, mask),
                "kl": masked_mean(extra.kl, mask),
                "advantage_abs": masked_mean(tf.abs(extra.advantages), mask),
            },
        )

    def _soft_q_side(self):
        """``(value_scale, advantage_scale, scale_streams)`` of the soft-Q loss that
        :meth:`gradient_equivalence` compares with: the paper's §6.3 stream scaling with this
        agent's value coefficient (advantage stream 1/tau)."""
        return self._value_coef, None, True

    def gradient_equivalence(self, experience):
        """The paper's equivalence measured on one on-policy batch (paper.md §2.6, T5, T8).

        Compares the gradient of the soft n-step Q loss (stream-scaled as
        :meth:`_soft_q_side` says) with the matching combination of the proper A2C policy and
        value losses' gradients, on this batch and the current weights, via
        :func:`softrl_tf.diagnostics.gradient_equivalence`. Measure it before training on the
        batch, while the batch is on-policy. The identity holds in expectation: one batch gives a
        cosine near 1 and a relative error that is small but not 0 (paper.md T9).

        Args:
          experience: a ``Trajectory`` ``[B, n_steps + 1]`` as for ``train``.

        Returns:
          ``{"grad_cosine": scalar, "grad_rel_error": scalar}`` over all trainable variables.
        """
        value_scale, advantage_scale, scale_streams = self._soft_q_side()
        if scale_streams:
            value_coef = 1.0 if value_scale is None else value_scale
        else:
            value_coef, advantage_scale = None, None
        segment = unpack_segment(experience, self._gamma)
        mask = self._step_mask(segment, None)

        def network_fn():
            _, logits_t, values_t, bootstrap_value = self.segment_outputs(experience)
            return logits_t, values_t, bootstrap_value

        # The agent's losses are masked means: weights mask / sum(mask) give the same reduction.
        result = diagnostics.batch_gradient_equivalence(
            network_fn,
            self._trainable_variables(),
            segment.actions_t,
            segment.r_t,
            segment.discount_t,
            self._tau,
            value_coef,
            advantage_scale=advantage_scale,
            log_prior=self._log_prior,
            is_boundary_t=segment.is_boundary_t,
            weights=tf.math.divide_no_nan(mask, tf.reduce_sum(mask)),
        )
        return {"grad_cosine": result.cosine, "grad_rel_error": result.relative_error}
