"""Soft 1-step (and n-step) Q-learning with a target network and replay; DQN as the hard case.

The paper's section 6.2 (docs/theory.md §4, §8): a DQN whose one changed line is the backup of the
target network's values at the next state:

- ``"max"``:        ``y = r + gamma * max_a' Qbar(s', a')``                (DQN, the tau -> 0 limit)
- ``"logsumexp"``:  ``y = r + gamma * tau * log sum_a' exp(Qbar(s', a') / tau)``  (entropy bonus)
- ``"logmeanexp"``: the logsumexp target ``- gamma * tau * log|A|``        (KL to a uniform prior)

Exploration is epsilon-greedy over ``Q`` (as in the paper's §6.2), by TF-Agents'
``EpsilonGreedyPolicy`` over its ``QPolicy``, or Boltzmann sampling at temperature ``tau``
(``exploration="boltzmann"``). ``n_steps > 1`` gives the n-step variant of the paper's Figure 2,
with the soft n-step target (``nstep_target="paper"``: rewards minus tau * KL at the intermediate
states) or rewards only (``"rewards"``), then the soft backup. Experience is a ``Trajectory``
``[B, n_steps + 1]`` sampled from a replay buffer; item 0 is the transition trained on.
"""

from __future__ import annotations

from collections.abc import Callable

from softrl_tf import losses
from softrl_tf.agent_configs import DQNConfig, SoftDQNConfig
from softrl_tf.agents.base import (
    KerasTrainStepAgent,
    LossInfo,
    make_optimizer,
    masked_mean,
    new_train_step_counter,
    time_major,
    unpack_segment,
)
from softrl_tf.config import check
from softrl_tf.networks import QNetwork
from softrl_tf.policies import BoltzmannPolicy

import tensorflow as tf
from tf_agents.policies import epsilon_greedy_policy, greedy_policy, q_policy
from tf_agents.utils import common


def linear_epsilon(counter: tf.Variable, start: float, end: float, decay_updates: int) -> Callable:
    """Epsilon decaying linearly from ``start`` to ``end`` over ``decay_updates`` train steps."""
    decay = float(max(decay_updates, 1))

    def epsilon():
        fraction = tf.minimum(tf.cast(counter, tf.float32) / decay, 1.0)
        return start + fraction * (end - start)

    return epsilon


class SoftDQNAgent(KerasTrainStepAgent):
    """Soft Q-learning with target network and replay (``backup="max"`` is DQN).

    Args:
      time_step_spec, action_spec: environment specs (scalar discrete actions).
      q_network: a ``softrl_tf.networks.QNetwork`` (``obs -> (q [..., A], state)``).
      optimizer: a ``tf_keras`` optimizer.
      tau: temperature of the soft backup (0.1 in the paper's §6.2); unused by ``"max"``.
      backup: ``"max" | "logsumexp" | "logmeanexp"``.
      gamma: discount.
      n_steps: reward steps before the bootstrap (1 is the paper's DQN, 5 its n-step variant).
      nstep_target: the n-step target, :func:`softrl_tf.losses.soft_nstep_q_target`:
        ``"paper"`` subtracts tau * KL of the target network's Boltzmann policy at every
        intermediate state (the soft n-step target of the paper's section 3.5, docs/theory.md §4;
        with ``"logsumexp"`` that is an entropy bonus); ``"rewards"`` sums the rewards only, then
        applies the backup. The same target for ``n_steps=1`` or ``backup="max"``.
      target_update_period: train steps between target-network updates.
      target_update_tau: 1.0 copies the weights (DQN); smaller values are Polyak averaging.
      double_q: select the bootstrap action (or Boltzmann policy, for soft backups) with the
        online network and evaluate it with the target network.
      loss: ``"huber"`` or ``"l2"`` on the TD error.
      exploration: ``"epsilon"`` (epsilon-greedy) or ``"boltzmann"`` (sample ``pi ~ exp(Q/tau)``).
      epsilon: a float, or a callable returning the current epsilon (a schedule).
      log_prior: ``[A]`` log reference policy for the Boltzmann policy; ``None`` is uniform.
      max_grad_norm: global-norm gradient clip (10 in baselines' DQN); ``None`` disables it.
      reward_scale: multiplies the rewards of every sampled transition trained on.
    """

    config_class = SoftDQNConfig

    def __init__(
        self,
        time_step_spec,
        action_spec,
        q_network,
        optimizer,
        *,
        tau: float = 0.1,
        backup: str = "logsumexp",
        gamma: float = 0.99,
        n_steps: int = 1,
        nstep_target: str = "paper",
        target_update_period: int = 500,
        target_update_tau: float = 1.0,
        double_q: bool = False,
        loss: str = "huber",
        exploration: str = "epsilon",
        epsilon: float | Callable[[], tf.Tensor] = 0.05,
        log_prior=None,
        max_grad_norm: float | None = 10.0,
        reward_scale: float = 1.0,
        train_step_counter=None,
        name: str | None = None,
    ):
        if backup not in losses.SOFT_Q_BACKUPS:
            raise ValueError(
                f"backup must be one of {' | '.join(losses.SOFT_Q_BACKUPS)}, got {backup!r}."
            )
        check(SoftDQNConfig, tau=tau, exploration=exploration, nstep_target=nstep_target)
        check(
            DQNConfig,
            loss=loss,
            n_steps=n_steps,
            gamma=gamma,
            target_update_period=target_update_period,
            target_update_tau=target_update_tau,
            reward_scale=reward_scale,
        )
        tf.Module.__init__(self, name=name)
        self._reward_scale = float(reward_scale)
        self._q_network = q_network
        q_network.create_variables()
        self._target_q_network = q_network.copy(name="TargetQNetwork")
        self._target_q_network.create_variables()
        self._tau = float(tau)
        self._backup = backup
        self._gamma = float(gamma)
        self._n_steps = n_steps
        self._nstep_target = nstep_target
        self._double_q = bool(double_q)
        self._loss_kind = loss
        self._log_prior = None if log_prior is None else tf.constant(log_prior, tf.float32)
        self._update_target = common.Periodically(
            lambda: common.soft_variables_update(
                self._q_network.variables,
                self._target_q_network.variables,
                tau=target_update_tau,
            ),
            period=int(target_update_period),
            name="update_target_network",
        )

        greedy_q = q_policy.QPolicy(time_step_spec, action_spec, q_network)
        if exploration == "epsilon":
            collect_policy = epsilon_greedy_policy.EpsilonGreedyPolicy(greedy_q, epsilon=epsilon)
        else:
            collect_policy = BoltzmannPolicy(
                time_step_spec, action_spec, q_network, tau=tau, log_prior=log_prior
            )
        super().__init__(
            time_step_spec,
            action_spec,
            policy=greedy_policy.GreedyPolicy(greedy_q),
            collect_policy=collect_policy,
            train_sequence_length=n_steps + 1,
            trained_networks=[q_network],
            optimizer=optimizer,
            max_grad_norm=max_grad_norm,
            train_step_counter=train_step_counter,
            name=name,
        )

    @classmethod
    def _backup_kwargs(cls, config) -> dict:
        """The constructor keywords that differ between soft DQN and DQN."""
        return dict(
            tau=config.tau,
            backup=config.backup,
            exploration=config.exploration,
            nstep_target=config.nstep_target,
        )

    @classmethod
    def from_config(cls, config, time_step_spec, action_spec, *, total_updates: int):
        cls.require_config(config)
        network = QNetwork(time_step_spec.observation, action_spec, **config.network_kwargs())
        counter = new_train_step_counter()
        epsilon = linear_epsilon(
            counter,
            config.epsilon_start,
            config.epsilon_end,
            int(config.epsilon_decay_fraction * total_updates),
        )
        return cls(
            time_step_spec,
            action_spec,
            network,
            make_optimizer(config, total_updates),
            gamma=config.gamma,
            n_steps=config.n_steps,
            target_update_period=config.target_update_period,
            target_update_tau=config.target_update_tau,
            double_q=config.double_q,
            loss=config.loss,
            epsilon=epsilon,
            max_grad_norm=config.max_grad_norm or None,
            reward_scale=config.reward_scale,
            train_step_counter=counter,
            **cls._backup_kwargs(config),
        )

    def export_network(self):
        """The online Q-values, sampled at temperature tau by the export."""
        return self._q_network, self._tau

    @property
    def q_network(self):
        """The online Q network being trained."""
        return self._q_network

    @property
    def target_q_network(self):
        """The target network: a copy of the online one, updated every target period."""
        return self._target_q_network

    @property
    def tau(self) -> float:
        """Temperature of the soft backup (and of Boltzmann exploration)."""
        return self._tau

    def _initialize(self):
        return common.soft_variables_update(
            self._q_network.variables, self._target_q_network.variables, tau=1.0
        )

    def _train(self, experience, weights=None):
        loss_info = super()._train(experience, weights)
        self._update_target()
        return loss_info

    def _target_q_values(self, observation, step_type):
        """Target-network Q at every item of the window, and the online Q that selects (double Q).

        Args:
          observation: ``[B, n + 1, ...]`` observations of the sampled window.
          step_type: ``[B, n + 1]`` their step types.

        Returns:
          ``(q_t, q_selector_t)``: ``[n + 1, B, A]`` each (time-major); ``q_selector_t`` is None
          without double Q.
        """
        q_target, _ = self._target_q_network(observation, step_type=step_type, training=False)
        selector = None
        if self._double_q:
            q_online, _ = self._q_network(observation, step_type=step_type, training=False)
            selector = time_major(q_online)
        return time_major(q_target), selector

    def _loss(self, experience, weights=None, training=False):
        segment = unpack_segment(experience, self._gamma, reward_scale=self._reward_scale)
        q_all, _ = self._q_network(
            segment.observation[:, 0], step_type=experience.step_type[:, 0], training=training
        )
        q_t, q_selector_t = self._target_q_values(segment.observation, experience.step_type)
        # Item 0 is trained on; an episode boundary inside the window restarts its return.
        q_targets = losses.soft_nstep_q_target(
            segment.r_t,
            segment.discount_t,
            q_t,
            self._tau,
            self._backup,
            form=self._nstep_target,
            q_selector_t=q_selector_t,
            is_boundary_t=segment.is_boundary_t,
        )
        loss_b, extra = losses.one_step_q_loss(
            q_all, segment.actions_t[0], q_targets[0], loss=self._loss_kind
        )
        mask = tf.cast(tf.logical_not(segment.is_boundary_t[0]), tf.float32)
        if weights is not None:
            mask = mask * tf.cast(weights, tf.float32)
        return LossInfo(
            loss=masked_mean(loss_b, mask),
            extra={
                "q_taken": masked_mean(extra.q_taken, mask),
                "td_error_abs": masked_mean(tf.abs(extra.td_error), mask),
            },
        )


class DQNAgent(SoftDQNAgent):
    """DQN: soft DQN with the hard ``max`` backup and epsilon-greedy exploration (paper §6.2).

    The same agent as :class:`SoftDQNAgent` (it takes the same arguments); only its config
    differs: :class:`DQNConfig` has no temperature or soft backup, since the max backup uses
    neither.
    """

    config_class = DQNConfig

    def __init__(self, *args, backup: str = "max", exploration: str = "epsilon", **kwargs):
        super().__init__(*args, backup=backup, exploration=exploration, **kwargs)

    @classmethod
    def _backup_kwargs(cls, config) -> dict:
        return dict(backup="max", exploration="epsilon")

    def export_network(self):
        """The online Q-values; the export's sampling signatures use temperature 1."""
        return self._q_network, None
