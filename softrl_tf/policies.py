"""Boltzmann policy over Q-values or policy logits, as a TF-Agents ``TFPolicy``.

:class:`BoltzmannPolicy` is the behaviour policy of soft Q-learning (paper §6.3, sampled from
``pi = prior * exp((Q - V) / tau)``), the collect policy of A2C, and an exploration option of soft
DQN. Its ``distribution`` is a ``tfp`` ``Categorical`` over the actions (a TF-Agents
``ShiftedCategorical`` when ``action_spec.minimum != 0``), so TF-Agents wrappers work on it:
``GreedyPolicy(BoltzmannPolicy(...))`` takes the argmax action (the greedy evaluation policy),
drivers step it, and ``PolicySaver`` exports it.

Epsilon-greedy exploration (DQN and soft DQN as in the paper's §6.2) has no code here: it is
TF-Agents' own ``EpsilonGreedyPolicy(QPolicy(time_step_spec, action_spec, q_network), epsilon)``
over a :class:`softrl_tf.networks.QNetwork` (``epsilon`` may be a callable for a schedule), and the
greedy policy is ``GreedyPolicy(QPolicy(...))``. tests/test_policies.py checks that combination.
"""

from __future__ import annotations

import random

from softrl_tf.networks import num_actions as _num_actions

import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.distributions import shifted_categorical
from tf_agents.policies import tf_policy
from tf_agents.trajectories import policy_step

__all__ = ["BoltzmannPolicy"]


class BoltzmannPolicy(tf_policy.TFPolicy):
    """Samples actions from the Boltzmann policy of a network's output.

    Two kinds of network are accepted, told apart by their output:

    - ``(logits, value)`` (an :class:`~softrl_tf.networks.ActorCriticNetwork`): the policy is
      ``softmax(logits / temperature)``. ``tau`` and ``log_prior`` are not used: the network's
      softmax already is the Boltzmann policy of its ``Q = V + tau * log(pi / prior)``
      (paper §6.3), whatever tau and prior that Q is read with.
    - Q-values ``q [.., A]`` (a :class:`~softrl_tf.networks.QNetwork` or
      :class:`~softrl_tf.networks.SoftQNetwork`): the policy is
      ``softmax((q / tau + log_prior) / temperature)``; at ``temperature = 1`` that is
      ``log pi = log prior + (Q - V) / tau`` with ``V = tau * log E_prior exp(Q / tau)``
      (docs/theory.md §2, Eq. 28). A uniform prior (``log_prior=None``) gives ``softmax(q / tau)``.

    ``temperature`` rescales the logits on top (1 = the policy itself; towards 0, greedy).
    Actions have ``action_spec``'s dtype and scalar shape per batch entry, in
    ``[minimum, maximum]``. ``policy_step.info`` is ``()``; the policy state is the network state.

    Args:
      time_step_spec: ``TimeStep`` spec; its observation spec must be the network's input spec.
      action_spec: scalar bounded integer ``BoundedTensorSpec`` with ``A`` actions.
      network: a TF-Agents network returning ``(logits, value)`` or ``q``, last dimension ``A``.
      tau: temperature of the Boltzmann policy of Q (Q-value networks only); float or scalar
        tensor/variable.
      log_prior: log-probabilities ``[A]`` of the prior (Q-value networks only); ``None`` =
        uniform.
      temperature: extra temperature applied to the final logits; float or scalar
        tensor/variable.
      name: policy name.
    """

    def __init__(
        self,
        time_step_spec,
        action_spec,
        network,
        tau=1.0,
        log_prior=None,
        temperature=1.0,
        name=None,
    ):
        n = _num_actions(action_spec)
        output_spec = network.create_variables(time_step_spec.observation)
        self._actor_critic = isinstance(output_spec, (tuple, list))
        logits_spec = output_spec[0] if self._actor_critic else output_spec
        if not isinstance(logits_spec, tf.TensorSpec) or logits_spec.shape != (n,):
            raise ValueError(
                f"BoltzmannPolicy needs a network whose output (or its first element) has shape "
                f"[{n}] for the action spec {action_spec}; {network.name} outputs {output_spec}"
            )
        super().__init__(
            time_step_spec,
            action_spec,
            policy_state_spec=network.state_spec,
            info_spec=(),
            # Categorical samples are always inside the spec; clipping would only cost ops.
            clip=False,
            name=name,
        )
        self._network = network
        self._num_actions = n
        self._tau = tau
        self._temperature = temperature
        self._log_prior = None if log_prior is None else tf.constant(log_prior, tf.float32)
        if self._log_prior is not None and self._log_prior.shape != (n,):
            raise ValueError(
                f"log_prior must have shape [{n}], got {self._log_prior.shape.as_list()}"
            )
        self._action_dtype = tf.nest.flatten(action_spec)[0].dtype
        self._minimum = int(tf.nest.flatten(action_spec)[0].minimum)
        # Sampling draws from a generator held in a variable (seeded from Python's random, which
        # a run's seed sets): checkpointed with the agent, so a restored run samples the same
        # actions as one never interrupted.
        self._generator = tf.random.Generator.from_seed(random.randrange(2**31 - 1))
        self._rows: tuple[int, int] | None = None

    def sample_as_rows(self, first: int, total: int) -> None:
        """Samples the batch as rows ``first .. first + B - 1`` of a batch of ``total``.

        ``tf.random.stateless_categorical`` draws row ``i`` of a batch from the seed and ``i``
        alone, so an environment's action depends on its index in the whole batch, not on how
        the batch is split. Env runners that each step a slice of the environments
        (:mod:`softrl_tf.distributed`) set their slice here; their logits are padded to
        ``[total, A]`` for sampling (``total * A`` uniform draws per step, no network work), and
        together they draw exactly the actions one policy would draw for the whole batch.
        """
        if not 0 <= first < total:
            raise ValueError(f"sample_as_rows: need 0 <= first < total, got {first}, {total}.")
        self._rows = (int(first), int(total))

    @property
    def generator(self) -> tf.random.Generator:
        """The generator that action sampling draws its per-step seed from."""
        return self._generator

    @property
    def network(self):
        """The network whose output defines the policy."""
        return self._network

    def _variables(self):
        return self._network.variables

    def logits(self, observation, step_type=None, policy_state=(), training=False):
        """Final logits ``[outer..., A]`` of the policy and the new network state.

        ``softmax`` of the logits is the action distribution; exposed so that agents and tests
        can read the policy without sampling.
        """
        output, policy_state = self._network(
            observation, step_type=step_type, network_state=policy_state, training=training
        )
        if self._actor_critic:
            logits = output[0]
        else:
            logits = output / tf.cast(self._tau, output.dtype)
            if self._log_prior is not None:
                logits = logits + self._log_prior
        return logits / tf.cast(self._temperature, logits.dtype), policy_state

    def _action(self, time_step, policy_state, seed=None):
        """A sample of the Boltzmann policy per batch entry, from the policy's own generator
        (``seed`` is not used)."""
        del seed
        logits, policy_state = self.logits(
            time_step.observation, step_type=time_step.step_type, policy_state=policy_state
        )
        flat = tf.reshape(logits, [-1, self._num_actions])
        rows = tf.shape(flat)[0]
        if self._rows is not None:  # a slice of a larger batch: see sample_as_rows
            first, total = self._rows
            flat = tf.pad(flat, [[first, total - first - rows], [0, 0]])
        sampled = tf.random.stateless_categorical(
            flat, 1, seed=self._generator.make_seeds(1)[:, 0], dtype=tf.int64
        )
        if self._rows is not None:
            sampled = sampled[first : first + rows]
        action = tf.reshape(sampled, tf.shape(logits)[:-1]) + self._minimum
        return policy_step.PolicyStep(tf.cast(action, self._action_dtype), policy_state, ())

    def _distribution(self, time_step, policy_state):
        logits, policy_state = self.logits(
            time_step.observation, step_type=time_step.step_type, policy_state=policy_state
        )
        if self._minimum != 0:
            distribution = shifted_categorical.ShiftedCategorical(
                logits=logits, dtype=self._action_dtype, shift=self._minimum
            )
        else:
            distribution = tfp.distributions.Categorical(logits=logits, dtype=self._action_dtype)
        distribution = tf.nest.pack_sequence_as(self._action_spec, [distribution])
        return policy_step.PolicyStep(distribution, policy_state, ())
