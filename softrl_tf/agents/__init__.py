"""The agents and their registry.

``AGENTS`` maps a name to an :class:`AgentEntry` (agent class, default config class, builder).
``build_agent(name, config, time_step_spec, action_spec, total_updates)`` makes the networks,
optimiser and agent from a config dataclass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple

from softrl_tf.agents.a2c import A2CAgent
from softrl_tf.agents.soft_dqn import SoftDQNAgent
from softrl_tf.agents.soft_q import SoftQAgent
from softrl_tf.networks import ActorCriticNetwork, QNetwork
from softrl_tf.training.config import A2CConfig, NetworkConfig, SoftDQNConfig, SoftQConfig

import tensorflow as tf


class AgentEntry(NamedTuple):
    """A registered agent: its class, default config class, config overrides and kind."""

    agent_class: type
    config_class: type
    defaults: dict
    on_policy: bool

    def default_config(self):
        return self.config_class(**self.defaults)


AGENTS: dict[str, AgentEntry] = {
    "a2c": AgentEntry(A2CAgent, A2CConfig, {}, on_policy=True),
    "softq": AgentEntry(SoftQAgent, SoftQConfig, {}, on_policy=True),
    "soft_dqn": AgentEntry(
        SoftDQNAgent,
        SoftDQNConfig,
        {"optimizer": "adam", "learning_rate": 1e-3, "activation": "relu", "max_grad_norm": 10.0},
        on_policy=False,
    ),
    "dqn": AgentEntry(
        SoftDQNAgent,
        SoftDQNConfig,
        {
            "backup": "max",
            "optimizer": "adam",
            "learning_rate": 1e-3,
            "activation": "relu",
            "max_grad_norm": 10.0,
        },
        on_policy=False,
    ),
}


def get_entry(name: str) -> AgentEntry:
    """The registry entry for ``name``; a clear ``ValueError`` listing the valid names otherwise."""
    try:
        return AGENTS[name]
    except KeyError:
        raise ValueError(
            f"unknown agent {name!r}; valid agents: {', '.join(sorted(AGENTS))}."
        ) from None


def make_optimizer(config: NetworkConfig, total_updates: int):
    """The ``tf_keras`` optimiser of a config; ``lr_schedule="linear"`` decays to 0 at the end."""
    learning_rate = config.learning_rate
    if config.lr_schedule == "linear":
        learning_rate = tf.keras.optimizers.schedules.PolynomialDecay(
            config.learning_rate, max(int(total_updates), 1), end_learning_rate=0.0
        )
    elif config.lr_schedule != "constant":
        raise ValueError(f"lr_schedule must be 'constant' or 'linear', got {config.lr_schedule!r}.")
    if config.optimizer == "rmsprop":
        return tf.keras.optimizers.RMSprop(
            learning_rate, rho=config.rmsprop_rho, epsilon=config.optimizer_epsilon
        )
    if config.optimizer == "adam":
        return tf.keras.optimizers.Adam(learning_rate, epsilon=config.optimizer_epsilon)
    raise ValueError(f"optimizer must be 'rmsprop' or 'adam', got {config.optimizer!r}.")


def linear_epsilon(counter: tf.Variable, start: float, end: float, decay_updates: int) -> Callable:
    """Epsilon decaying linearly from ``start`` to ``end`` over ``decay_updates`` train steps."""
    decay = float(max(decay_updates, 1))

    def epsilon():
        fraction = tf.minimum(tf.cast(counter, tf.float32) / decay, 1.0)
        return start + fraction * (end - start)

    return epsilon


def build_agent(name: str, config, time_step_spec, action_spec, *, total_updates: int):
    """Networks, optimiser and agent for ``name`` from its config dataclass.

    ``total_updates`` sizes the linear learning-rate and epsilon schedules.
    """
    entry = get_entry(name)
    if not isinstance(config, entry.config_class):
        raise TypeError(
            f"agent {name!r} takes a {entry.config_class.__name__}, got {type(config).__name__}."
        )
    network_kwargs = dict(
        torso=config.torso, hidden_sizes=tuple(config.hidden_sizes), activation=config.activation
    )
    observation_spec = time_step_spec.observation
    optimizer = make_optimizer(config, total_updates)
    counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="train_step")
    clip = config.max_grad_norm or None
    if entry.on_policy:
        network = ActorCriticNetwork(observation_spec, action_spec, **network_kwargs)
        kwargs = dict(
            tau=config.tau,
            gamma=config.gamma,
            n_steps=config.n_steps,
            value_coef=config.value_coef,
            max_grad_norm=clip,
            train_step_counter=counter,
        )
        if entry.agent_class is SoftQAgent:
            kwargs.update(
                value_scale=config.value_scale,
                advantage_scale=config.advantage_scale,
                scale_streams=config.scale_streams,
            )
        else:
            kwargs["entropy_mode"] = config.entropy_mode
        return entry.agent_class(time_step_spec, action_spec, network, optimizer, **kwargs)
    network = QNetwork(observation_spec, action_spec, **network_kwargs)
    epsilon = linear_epsilon(
        counter,
        config.epsilon_start,
        config.epsilon_end,
        int(config.epsilon_decay_fraction * total_updates),
    )
    return SoftDQNAgent(
        time_step_spec,
        action_spec,
        network,
        optimizer,
        tau=config.tau,
        backup=config.backup,
        gamma=config.gamma,
        n_steps=config.n_steps,
        target_update_period=config.target_update_period,
        target_update_tau=config.target_update_tau,
        double_q=config.double_q,
        loss=config.loss,
        exploration=config.exploration,
        epsilon=epsilon,
        max_grad_norm=clip,
        train_step_counter=counter,
    )


def config_fields(config) -> dict:
    """Field name -> value of a config dataclass."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


__all__ = [
    "AGENTS",
    "A2CAgent",
    "AgentEntry",
    "SoftDQNAgent",
    "SoftQAgent",
    "build_agent",
    "get_entry",
    "make_optimizer",
]
