"""What every softrl_tf agent shares: its config base, optimiser, and Keras training step.

Every agent is a ``tf_agents.agents.TFAgent``; this module holds the part that is the same for all
of them: ``_train`` is the Keras custom-training-step skeleton (``tf.GradientTape`` over the
agent's ``tf_keras`` networks, loss, gradients, global-norm clipping, ``optimizer.apply_gradients``,
train-step counter, a dict of metrics). Subclasses implement ``_loss`` only: unpack experience, run
networks, call ``softrl_tf.losses``.

Each agent class also says how it is configured and built: ``config_class`` (a dataclass deriving
from :class:`AgentConfig`, defined in :mod:`softrl_tf.agent_configs`, holding only what that agent
uses), ``on_policy`` (read from the config class), ``from_config(config, time_step_spec,
action_spec, total_updates)`` and ``export_network()``. The registry
(``softrl_tf.agents.AGENTS``) maps names to these classes.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from softrl_tf.agent_configs import AgentConfig
from softrl_tf.config import check

import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.trajectories import time_step as ts

LossInfo = tf_agent.LossInfo


class RMSpropFromAccumulator(tf.keras.optimizers.RMSprop):
    """tf_keras's RMSprop with its mean-square accumulator starting at ``initial_accumulator``.

    Both tf_keras's RMSprop and TensorFlow 1's ``RMSPropOptimizer`` update
    ``v <- rho v + (1 - rho) g^2`` and step ``lr g / sqrt(v + epsilon)``; they differ only in
    ``v``'s start: 0 in tf_keras, 1 in TensorFlow 1 (which OpenAI baselines' A2C, the paper's
    runs, used). Starting at 1 divides the first steps by about 1, not by ``sqrt(epsilon)``, until
    ``rho^t`` has decayed: a warm-up of a few hundred updates. Keras has no option for the start,
    hence this override of where the accumulator is created.
    """

    def __init__(self, *args, initial_accumulator: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial_accumulator = float(initial_accumulator)

    def add_variable_from_reference(
        self, model_variable, variable_name, shape=None, initial_value=None
    ):
        if variable_name == "velocity" and initial_value is None and self.initial_accumulator:
            initial_value = tf.fill(
                model_variable.shape if shape is None else shape,
                tf.constant(self.initial_accumulator, model_variable.dtype),
            )
        return super().add_variable_from_reference(
            model_variable, variable_name, shape=shape, initial_value=initial_value
        )

    def get_config(self):
        return {**super().get_config(), "initial_accumulator": self.initial_accumulator}


def make_optimizer(config: AgentConfig, total_updates: int):
    """The ``tf_keras`` optimiser of a config; ``lr_schedule="linear"`` decays to 0 at the end."""
    check(type(config), optimizer=config.optimizer, lr_schedule=config.lr_schedule)
    learning_rate = config.learning_rate
    if config.lr_schedule == "linear":
        learning_rate = tf.keras.optimizers.schedules.PolynomialDecay(
            config.learning_rate, max(int(total_updates), 1), end_learning_rate=0.0
        )
    if config.optimizer == "rmsprop":
        return RMSpropFromAccumulator(
            learning_rate,
            rho=config.rmsprop_rho,
            epsilon=config.optimizer_epsilon,
            initial_accumulator=config.rmsprop_initial_accumulator,
        )
    return tf.keras.optimizers.Adam(learning_rate, epsilon=config.optimizer_epsilon)


class Segment(NamedTuple):
    """A batch of on-policy segments, time-major, as the losses expect.

    Built from a TF-Agents ``Trajectory`` shaped ``[B, T + 1, ...]``: items ``0..T-1`` are the
    transitions trained on; item ``T`` supplies only the bootstrap observation (its action and
    reward are never read).

    Attributes:
      observation: observations ``[B, T + 1, ...]`` (batch-major: they go to the network as is).
      actions_t: ``[T, B]`` actions taken.
      r_t: ``[T, B]`` float rewards received after each action.
      discount_t: ``[T, B]`` gamma times the environment's discount (0 at termination).
      is_boundary_t: ``[T, B]`` bool, the transition starts at a LAST step (a dummy transition
        into the next episode's FIRST step: no loss, and the return restarts there).
    """

    observation: tf.Tensor
    actions_t: tf.Tensor
    r_t: tf.Tensor
    discount_t: tf.Tensor
    is_boundary_t: tf.Tensor


def time_major(x: tf.Tensor) -> tf.Tensor:
    """``[B, T, ...] -> [T, B, ...]``."""
    perm = [1, 0] + list(range(2, x.shape.rank))
    return tf.transpose(x, perm)


def unpack_segment(
    experience, gamma: float, dtype=tf.float32, reward_scale: float = 1.0
) -> Segment:
    """Turns a ``Trajectory`` ``[B, T + 1, ...]`` into a time-major :class:`Segment`.

    TF-Agents' ``Trajectory`` stores, per item, the *next* time step's reward and discount, so item
    ``t`` is the transition ``(s_t, a_t, r_t, discount_t)``; ``r_t`` is the stored reward times
    ``reward_scale``.
    """
    steps = lambda x: time_major(x[:, :-1])  # noqa: E731 - drop the bootstrap item
    return Segment(
        observation=experience.observation,
        actions_t=steps(experience.action),
        r_t=reward_scale * tf.cast(steps(experience.reward), dtype),
        discount_t=gamma * tf.cast(steps(experience.discount), dtype),
        is_boundary_t=tf.equal(steps(experience.step_type), ts.StepType.LAST),
    )


def replicas_in_sync() -> int:
    """How many replicas of a ``tf.distribute`` strategy compute the current step together (1
    outside a strategy and in its cross-replica context)."""
    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def new_train_step_counter() -> tf.Variable:
    """An agent's update counter (int64 scalar, starting at 0), which its schedules read.

    Each agent has its own rather than TF-Agents' default, the process-wide global step: two
    agents in one process must not advance each other's schedules. Under a strategy of several
    replicas every replica counts the same update, so the first replica's count is kept.
    """
    return tf.Variable(
        0,
        dtype=tf.int64,
        trainable=False,
        name="train_step",
        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
    )


def masked_mean(x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean of ``x`` over the entries where ``mask`` is 1 (0 when the mask is empty).

    With several replicas in sync, each holding a shard of the batch, it is this replica's share
    of the mean over the whole batch: its sum divided by the count of every replica's mask. The
    shares (and their gradients) sum over the replicas to the one-process mean, whatever the
    shards' masks.
    """
    mask = tf.cast(mask, x.dtype)
    count = tf.reduce_sum(mask)
    if replicas_in_sync() > 1:
        count = tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, tf.stop_gradient(count)
        )
    return tf.math.divide_no_nan(tf.reduce_sum(x * mask), count)


class KerasTrainStepAgent(tf_agent.TFAgent):
    """A ``TFAgent`` whose ``_train`` is a Keras custom training step.

    Subclasses implement ``_loss(experience, weights, training)`` returning ``LossInfo(loss,
    extra)`` with ``loss`` and ``extra`` (a dict of scalar tensors) masked means over the batch
    (:func:`masked_mean`, whose per-replica shares ``_train`` sums over replicas), and pass the
    networks whose trainable variables the optimizer updates. Without ``train_step_counter`` the
    agent makes its own int64 counter (not the global step).

    A concrete agent sets ``config_class`` (its config dataclass); ``on_policy`` (whether it trains
    on fresh segments or on replay) is taken from that class.
    """

    config_class: ClassVar[type] = AgentConfig
    on_policy: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("on_policy")
        if declared is not None and declared != cls.config_class.on_policy:
            raise TypeError(
                f"{cls.__name__}.on_policy = {declared} contradicts its config class "
                f"{cls.config_class.__name__}, which says {cls.config_class.on_policy}."
            )
        cls.on_policy = cls.config_class.on_policy  # one home: the config class says it

    @classmethod
    def require_config(cls, config) -> None:
        """Raises ``TypeError`` unless ``config`` is exactly this agent's ``config_class`` (a
        sibling's or a parent's config holds settings this agent does not use, or lacks some)."""
        if type(config) is not cls.config_class:
            raise TypeError(
                f"{cls.__name__} takes a {cls.config_class.__name__}, got {type(config).__name__}."
            )

    @classmethod
    def from_config(cls, config, time_step_spec, action_spec, *, total_updates: int):
        """Networks, optimiser and agent from ``config`` (an instance of ``config_class``).

        ``total_updates`` sizes the schedules that decay over the run (learning rate, epsilon).
        """
        raise NotImplementedError

    def export_network(self):
        """``(network, tau)`` that ``softrl_tf.export`` turns into a SavedModel.

        ``tau`` is the temperature at which the export samples from the network's output read as
        Q-values, or ``None`` when the output is policy logits.
        """
        raise NotImplementedError

    def __init__(
        self,
        time_step_spec,
        action_spec,
        *,
        policy,
        collect_policy,
        train_sequence_length,
        trained_networks,
        optimizer,
        max_grad_norm: float | None,
        train_step_counter=None,
        name: str | None = None,
        **kwargs,
    ):
        tf.Module.__init__(self, name=name)
        if train_step_counter is None:
            train_step_counter = new_train_step_counter()
        self._trained_networks = list(trained_networks)
        self._optimizer = optimizer
        self._max_grad_norm = max_grad_norm
        super().__init__(
            time_step_spec,
            action_spec,
            policy=policy,
            collect_policy=collect_policy,
            train_sequence_length=train_sequence_length,
            train_step_counter=train_step_counter,
            **kwargs,
        )

    @property
    def optimizer(self):
        """The ``tf_keras`` optimizer that applies the updates."""
        return self._optimizer

    def _initialize(self):
        return tf.no_op()

    def _normalized_networks(self) -> list:
        """The trained networks that normalise their observations (``normalize_observations``)."""
        return [n for n in self._trained_networks if getattr(n, "normalizer", None) is not None]

    @property
    def normalizes_observations(self) -> bool:
        """Whether a trained network keeps observation statistics that training must update."""
        return bool(self._normalized_networks())

    def update_observation_statistics(self, observation):
        """Folds observations ``[outer..., *obs_shape]`` into the observation statistics of the
        trained networks; nothing when none keeps them."""
        return tf.group(
            [n.update_observation_statistics(observation) for n in self._normalized_networks()]
        )

    def _trainable_variables(self):
        variables = []
        for network in self._trained_networks:
            variables.extend(network.trainable_variables)
        return variables

    def _train(self, experience, weights=None):
        """One update on ``experience``.

        With several replicas in sync (a ``MirroredStrategy`` over several devices), each
        replica's loss and ``extra`` terms are its shares of the whole batch's masked means
        (:func:`masked_mean`): the gradients and terms are summed over the replicas first, and
        the global-norm clip is taken on that sum, so the update is the one-process update on
        the whole batch.
        """
        variables = self._trainable_variables()
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(variables)
            loss_info = self._loss(experience, weights=weights, training=True)
        gradients = tape.gradient(loss_info.loss, variables)
        extra = dict(loss_info.extra)
        extra["loss"] = loss_info.loss
        replicated = replicas_in_sync() > 1
        if replicated:
            context = tf.distribute.get_replica_context()
            gradients, extra = context.all_reduce(tf.distribute.ReduceOp.SUM, (gradients, extra))
        if self._max_grad_norm:
            gradients, grad_norm = tf.clip_by_global_norm(gradients, self._max_grad_norm)
        else:
            grad_norm = tf.linalg.global_norm(gradients)
        self._optimizer.apply_gradients(
            zip(gradients, variables, strict=True), skip_gradients_aggregation=replicated
        )
        self.train_step_counter.assign_add(1)
        extra["grad_norm"] = grad_norm
        return LossInfo(loss=extra["loss"], extra=extra)
