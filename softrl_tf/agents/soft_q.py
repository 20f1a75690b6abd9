"""Soft n-step Q-learning that matches A2C ("softq"; paper.md §2.6, §2.9, §6.3).

The network is A2C's actor-critic network, read as the dueling-style head
``Q(s, a) = V(s) + tau * log(pi(a|s) / prior(a))`` (so ``V`` is exactly the soft value of ``Q``).
Actions are sampled from the Boltzmann policy ``pi``; there is no target network and no epsilon
schedule. The loss is ``1/2 (Q(s_t, a_t) - sg(y_t))^2`` with the entropy-regularised n-step target
``y_t``. With stream scaling (advantage stream ``1/tau``, value stream ``c``; forward value
unchanged) its expected gradient equals that of the proper A2C loss with value coefficient ``c``
(paper.md T8); with scaling off it is plain soft n-step Q-learning, whose expected gradient is
``tau`` times A2C's with ``c = 1/tau`` (paper.md T5).

Only ``_loss`` differs from :class:`~softrl_tf.agents.a2c.A2CAgent`.
"""

from __future__ import annotations

from softrl_tf import losses
from softrl_tf.agents.a2c import A2CAgent
from softrl_tf.agents.base import LossInfo, masked_mean


class SoftQAgent(A2CAgent):
    """Soft n-step Q-learning on the ``Q = V + tau log(pi / prior)`` parametrisation.

    Args (beyond :class:`A2CAgent`'s; ``entropy_mode`` is always "proper" and the value weight is
    ``value_scale``, so ``entropy_mode`` and ``value_coef`` are not accepted):
      value_scale: gradient scale ``c`` of the value stream (0.5 in the paper).
      advantage_scale: gradient scale of the advantage stream; ``None`` means ``1 / tau``, the
        paper's choice (its text says ``1/gamma``: an erratum, paper.md §6).
      scale_streams: ``False`` gives plain soft n-step Q-learning (no gradient scaling).
    """

    loss_name = "softq"

    def __init__(
        self,
        time_step_spec,
        action_spec,
        actor_critic_network,
        optimizer,
        *,
        value_scale: float = 0.5,
        advantage_scale: float | None = None,
        scale_streams: bool = True,
        **kwargs,
    ):
        self._scale_streams = bool(scale_streams)
        self._value_scale = float(value_scale) if scale_streams else None
        self._advantage_scale = advantage_scale if scale_streams else 1.0
        super().__init__(
            time_step_spec,
            action_spec,
            actor_critic_network,
            optimizer,
            entropy_mode="proper",
            value_coef=value_scale,
            **kwargs,
        )

    def _soft_q_side(self):
        """The soft-Q loss this agent trains on is the one compared with A2C."""
        return self._value_scale, self._advantage_scale, self._scale_streams

    def _loss(self, experience, weights=None, training=False):
        segment, logits_t, values_t, bootstrap_value = self.segment_outputs(experience, training)
        loss_t, extra = losses.soft_nstep_q_loss(
            logits_t,
            values_t,
            segment.actions_t,
            segment.r_t,
            segment.discount_t,
            bootstrap_value,
            self._tau,
            value_scale=self._value_scale,
            advantage_scale=self._advantage_scale,
            log_prior=self._log_prior,
            is_boundary_t=segment.is_boundary_t,
        )
        mask = self._step_mask(segment, weights)
        return LossInfo(
            loss=masked_mean(loss_t, mask),
            extra={
                "q_taken": masked_mean(extra.q_taken, mask),
                "td_error_abs": masked_mean(abs(extra.td_error), mask),
                "entropy": masked_mean(extra.entropy, mask),
                "kl": masked_mean(extra.kl, mask),
            },
        )
