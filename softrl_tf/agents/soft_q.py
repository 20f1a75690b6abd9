"""Soft n-step Q-learning that matches A2C ("softq"; docs/theory.md §4, §6, §9; paper §6.3).

The network is A2C's actor-critic network, read as the dueling-style head
``Q(s, a) = V(s) + tau * log(pi(a|s) / prior(a))`` (so ``V`` is exactly the soft value of ``Q``).
Actions are sampled from the Boltzmann policy ``pi``; there is no target network and no epsilon
schedule. The loss is ``1/2 (Q(s_t, a_t) - sg(y_t))^2`` with the entropy-regularised n-step target
``y_t``. With stream scaling (advantage stream ``1/tau``, value stream ``c``; forward value
unchanged) its expected gradient equals that of the proper A2C loss with value coefficient ``c``;
with scaling off it is plain soft n-step Q-learning, whose expected gradient is ``tau`` times
A2C's with ``c = 1/tau`` (docs/theory.md §6). Segments, masks and the equivalence diagnostic come
from :mod:`softrl_tf.agents.actor_critic`, which it shares with A2C as a sibling.
"""

from __future__ import annotations

from softrl_tf import losses
from softrl_tf.agent_configs import SoftQConfig
from softrl_tf.agents.actor_critic import ActorCriticAgent
from softrl_tf.agents.base import LossInfo, masked_mean
from softrl_tf.config import check
from softrl_tf.networks import SoftQNetwork


class SoftQAgent(ActorCriticAgent):
    """Soft n-step Q-learning on the ``Q = V + tau log(pi / prior)`` parametrisation.

    Args (beyond :class:`~softrl_tf.agents.actor_critic.ActorCriticAgent`'s):
      value_scale: gradient scale ``c`` of the value stream (0.5 in the paper).
      advantage_scale: gradient scale of the advantage stream; ``None`` means ``1 / tau``, the
        paper's choice (its text prints ``1/gamma``: docs/theory.md §9).
      scale_streams: ``False`` gives plain soft n-step Q-learning (no gradient scaling).
    """

    config_class = SoftQConfig
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
        check(SoftQConfig, value_scale=value_scale, advantage_scale=advantage_scale)
        self._scale_streams = bool(scale_streams)
        self._value_scale = float(value_scale)
        self._advantage_scale = advantage_scale
        super().__init__(time_step_spec, action_spec, actor_critic_network, optimizer, **kwargs)

    @classmethod
    def _agent_kwargs(cls, config) -> dict:
        return dict(
            value_scale=config.value_scale,
            advantage_scale=config.advantage_scale,
            scale_streams=config.scale_streams,
        )

    def equivalence_scales(self):
        """The soft-Q loss this agent trains on is the one compared with A2C."""
        if not self._scale_streams:
            return None
        return self._value_scale, self._advantage_scale

    def export_network(self):
        """The paper's Q = V + tau log(pi / prior), whose Boltzmann policy is pi itself."""
        return SoftQNetwork(self._network, tau=self._tau, log_prior=self._log_prior), None

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
            value_scale=self._value_scale if self._scale_streams else None,
            advantage_scale=self._advantage_scale if self._scale_streams else 1.0,
            log_prior=self._log_prior,
            is_boundary_t=segment.is_boundary_t,
        )
        mask = self.step_mask(segment, weights)
        return LossInfo(
            loss=masked_mean(loss_t, mask),
            extra={
                "q_taken": masked_mean(extra.q_taken, mask),
                "td_error_abs": masked_mean(abs(extra.td_error), mask),
                "entropy": masked_mean(extra.entropy, mask),
                "kl": masked_mean(extra.kl, mask),
            },
        )
