"""Entropy-regularised advantage actor-critic (A2C), naive and proper (docs/theory.md §5; paper
§3.6 and §6.1).

``entropy_mode="naive"`` is standard A2C: the returns hold rewards only and the loss adds the
per-step ``tau * KL(pi || prior)`` term (the paper's Eq. 48 estimator). ``entropy_mode="proper"``
also puts ``-tau * KL`` of every later step inside the returns, which makes the update the gradient
of the entropy-regularised return. The prior is uniform unless the ``prior`` setting says
otherwise, so ``tau * KL`` is the usual entropy bonus up to a constant. Segments, masks and the
equivalence diagnostic come from :mod:`softrl_tf.agents.actor_critic`; only the loss is A2C's.
"""

from __future__ import annotations

from softrl_tf import losses
from softrl_tf.agent_configs import A2CConfig
from softrl_tf.agents.actor_critic import ActorCriticAgent
from softrl_tf.agents.base import LossInfo, masked_mean
from softrl_tf.config import check

import tensorflow as tf


class A2CAgent(ActorCriticAgent):
    """Entropy-regularised A2C.

    Args (beyond :class:`~softrl_tf.agents.actor_critic.ActorCriticAgent`'s):
      entropy_mode: ``"naive"`` or ``"proper"`` (see the module docstring).
      value_coef: weight ``c`` of the value loss (0.5 in the paper).
    """

    config_class = A2CConfig
    loss_name = "a2c"

    def __init__(
        self,
        time_step_spec,
        action_spec,
        actor_critic_network,
        optimizer,
        *,
        entropy_mode: str = "proper",
        value_coef: float = 0.5,
        **kwargs,
    ):
        check(A2CConfig, entropy_mode=entropy_mode, value_coef=value_coef)
        self._entropy_mode = entropy_mode
        self._value_coef = float(value_coef)
        super().__init__(time_step_spec, action_spec, actor_critic_network, optimizer, **kwargs)

    @classmethod
    def _agent_kwargs(cls, config) -> dict:
        return dict(entropy_mode=config.entropy_mode, value_coef=config.value_coef)

    def equivalence_scales(self):
        """The soft-Q loss with the paper's §6.3 stream scaling and this agent's value
        coefficient (advantage stream 1/tau)."""
        return self._value_coef, None

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
        mask = self.step_mask(segment, weights)
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
