"""The base of the on-policy agents over one actor-critic network: a2c and softq are siblings.

Both train on segments of ``n_steps`` transitions collected by the Boltzmann policy of the
network (its softmax over the policy logits), with one network ``obs -> (logits [A], value)``.
They share everything but the loss: the config fields ``tau``, ``gamma``, ``n_steps`` and
``prior``; unpacking a TF-Agents ``Trajectory`` into a time-major segment; the mask of the dummy
transitions at episode boundaries; and the gradient-equivalence diagnostic (docs/theory.md §6),
which compares a soft-Q gradient with an A2C gradient and so needs each sibling to say which
pair of gradient scales it stands for (:meth:`ActorCriticAgent.equivalence_scales`).

Experience is a ``Trajectory`` shaped ``[B, n_steps + 1]``: ``n_steps`` transitions trained on,
and one more item whose observation supplies the bootstrap value ``V(s_T)``. Item ``t`` holds
``s_t``, ``a_t`` and the reward and discount of the *next* time step (TF-Agents' convention); an
item whose step type is LAST is the dummy transition into the next episode's FIRST step: it gets
no loss, and the return restarts there from ``V`` of the episode's final observation (the
bootstrap of a truncated episode; a terminated one has discount 0 at the step before).
"""

from __future__ import annotations

from softrl_tf import diagnostics
from softrl_tf.agent_configs import ActorCriticConfig, parse_prior
from softrl_tf.agents.base import (
    KerasTrainStepAgent,
    make_optimizer,
    new_train_step_counter,
    time_major,
    unpack_segment,
)
from softrl_tf.config import ConfigError, check
from softrl_tf.networks import ActorCriticNetwork
from softrl_tf.policies import BoltzmannPolicy

import numpy as np
import tensorflow as tf
from tf_agents.policies import greedy_policy


def log_prior_of(prior: str, num_actions: int) -> np.ndarray | None:
    """``[A]`` float32 log-probabilities of the reference policy named by a ``prior`` setting.

    ``"uniform"`` is ``None`` (the losses' default: KL to the uniform policy, docs/theory.md §1);
    ``"counting"`` is the counting measure, log 1 = 0 for every action (the KL term becomes minus
    the entropy: the entropy-bonus form, docs/theory.md §8); probabilities are logged as given
    (a zero gives -inf: that action is never taken).
    """
    if prior == "uniform":
        return None
    if prior == "counting":
        return np.zeros([num_actions], np.float32)
    probabilities = parse_prior(prior)
    if len(probabilities) != num_actions:
        raise ConfigError(
            f"--prior (prior) has {len(probabilities)} probabilities but the environment has "
            f"{num_actions} actions: give one per action."
        )
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(probabilities, np.float32))


class ActorCriticAgent(KerasTrainStepAgent):
    """An on-policy agent over an actor-critic network ``obs -> ((logits [..., A], value), _)``.

    Args:
      time_step_spec: the environment's ``TimeStep`` spec.
      action_spec: a scalar discrete ``BoundedTensorSpec``.
      actor_critic_network: a ``softrl_tf.networks.ActorCriticNetwork`` (or any TF-Agents network
        returning ``((logits [..., A], value [...]), state)``).
      optimizer: a ``tf_keras`` optimizer.
      tau: temperature / KL coefficient; 0.01 in the paper's Atari runs.
      gamma: discount.
      n_steps: transitions per segment (5 in the paper); experience has ``n_steps + 1`` items.
      log_prior: ``[A]`` log-probabilities of the reference policy; ``None`` is uniform.
      max_grad_norm: global-norm gradient clip (0.5 in the paper); ``None`` disables it.
      reward_scale: multiplies the rewards of every segment trained on.
    """

    config_class = ActorCriticConfig

    def __init__(
        self,
        time_step_spec,
        action_spec,
        actor_critic_network,
        optimizer,
        *,
        tau: float = 0.01,
        gamma: float = 0.99,
        n_steps: int = 5,
        log_prior=None,
        max_grad_norm: float | None = 0.5,
        reward_scale: float = 1.0,
        train_step_counter=None,
        name: str | None = None,
    ):
        check(ActorCriticConfig, tau=tau, gamma=gamma, n_steps=n_steps, reward_scale=reward_scale)
        self._reward_scale = float(reward_scale)
        self._network = actor_critic_network
        self._tau = float(tau)
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

    @classmethod
    def _agent_kwargs(cls, config) -> dict:
        """Constructor keywords of the agent's own fields (beyond the shared ones)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config, time_step_spec, action_spec, *, total_updates: int):
        cls.require_config(config)
        network = ActorCriticNetwork(
            time_step_spec.observation, action_spec, **config.network_kwargs()
        )
        num_actions = int(action_spec.maximum) - int(action_spec.minimum) + 1
        return cls(
            time_step_spec,
            action_spec,
            network,
            make_optimizer(config, total_updates),
            tau=config.tau,
            gamma=config.gamma,
            n_steps=config.n_steps,
            log_prior=log_prior_of(config.prior, num_actions),
            max_grad_norm=config.max_grad_norm or None,
            reward_scale=config.reward_scale,
            train_step_counter=new_train_step_counter(),
            **cls._agent_kwargs(config),
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
    def n_steps(self) -> int:
        """Transitions per segment."""
        return self._n_steps

    @property
    def log_prior(self):
        """``[A]`` float32 log prior of the KL penalty, or ``None`` for the uniform prior."""
        return self._log_prior

    def export_network(self):
        """The policy logits: the export's Boltzmann policy is the network's softmax."""
        return self._network, None

    def segment_outputs(self, experience, training: bool = False):
        """Runs the network over a segment.

        Returns:
          ``(segment, logits_t [T, B, A], values_t [T, B], bootstrap_value [B])``, time-major.
        """
        segment = unpack_segment(experience, self._gamma, reward_scale=self._reward_scale)
        (logits, values), _ = self._network(
            segment.observation, step_type=experience.step_type, training=training
        )
        logits, values = time_major(logits), time_major(values)
        return segment, logits[:-1], values[:-1], values[-1]

    def step_mask(self, segment, weights=None):
        """``[T, B]`` weights of the transitions that count: not boundaries, times ``weights``."""
        mask = tf.cast(tf.logical_not(segment.is_boundary_t), tf.float32)
        if weights is not None:
            mask = mask * tf.cast(weights, tf.float32)
        return mask

    def equivalence_scales(self) -> tuple[float, float | None] | None:
        """Which soft-Q loss this agent's gradient is compared with, as
        ``(value_scale, advantage_scale)`` of its stream scaling (``None`` advantage scale is
        1/tau), or ``None`` for plain, unscaled soft n-step Q-learning."""
        raise NotImplementedError

    def gradient_equivalence(self, experience):
        """The paper's equivalence measured on one on-policy batch (docs/theory.md §6).

        Compares the gradient of the soft n-step Q loss (stream-scaled as
        :meth:`equivalence_scales` says) with the matching combination of the proper A2C policy
        and value losses' gradients, on this batch and the current weights, via
        :func:`softrl_tf.diagnostics.batch_gradient_equivalence`. Measure it before training on
        the batch, while the batch is on-policy. The identity holds in expectation: one batch
        gives a cosine near 1 and a relative error that is small but not 0.

        Args:
          experience: a ``Trajectory`` ``[B, n_steps + 1]`` as for ``train``.

        Returns:
          ``{"grad_cosine": scalar, "grad_rel_error": scalar}`` over all trainable variables.
        """
        scales = self.equivalence_scales()
        value_coef, advantage_scale = (None, None) if scales is None else scales
        segment = unpack_segment(experience, self._gamma, reward_scale=self._reward_scale)
        mask = self.step_mask(segment)

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
