"""The agents and their registry: ``AGENTS`` maps a name to an agent class, nothing more.

Each agent class carries what the rest of the library needs to know about it: ``config_class``
(its config dataclass, from the TensorFlow-free :mod:`softrl_tf.agent_configs`, whose
``AGENT_CONFIGS`` holds the same names), ``on_policy``, ``from_config(config,
time_step_spec, action_spec, total_updates=...)`` and ``export_network()``. Tuned settings live in
``softrl_tf.presets``.
"""

from __future__ import annotations

from softrl_tf.agent_configs import (
    AGENT_CONFIGS,
    A2CConfig,
    ActorCriticConfig,
    AgentConfig,
    DQNConfig,
    SoftDQNConfig,
    SoftQConfig,
    agent_config_class,
)
from softrl_tf.agents.a2c import A2CAgent
from softrl_tf.agents.actor_critic import ActorCriticAgent
from softrl_tf.agents.base import KerasTrainStepAgent, make_optimizer
from softrl_tf.agents.soft_dqn import DQNAgent, SoftDQNAgent
from softrl_tf.agents.soft_q import SoftQAgent

_BY_CONFIG = {cls.config_class: cls for cls in (A2CAgent, SoftQAgent, SoftDQNAgent, DQNAgent)}
AGENTS: dict[str, type[KerasTrainStepAgent]] = {
    name: _BY_CONFIG[config_class] for name, config_class in AGENT_CONFIGS.items()
}
"""Agent name -> agent class: the names of ``AGENT_CONFIGS``, each with the class whose
``config_class`` is that name's config."""


def get_agent_class(name: str) -> type[KerasTrainStepAgent]:
    """The agent class registered as ``name``; a one-sentence ``ConfigError`` otherwise."""
    agent_config_class(name)  # the names' one home, and the one message for an unknown name
    return AGENTS[name]


def build_agent(name: str, config, time_step_spec, action_spec, *, total_updates: int):
    """``AGENTS[name].from_config(...)``: networks, optimiser and agent from a config."""
    return get_agent_class(name).from_config(
        config, time_step_spec, action_spec, total_updates=total_updates
    )


__all__ = [
    "AGENTS",
    "A2CAgent",
    "A2CConfig",
    "ActorCriticAgent",
    "ActorCriticConfig",
    "AgentConfig",
    "DQNAgent",
    "DQNConfig",
    "SoftDQNAgent",
    "SoftDQNConfig",
    "SoftQAgent",
    "SoftQConfig",
    "build_agent",
    "get_agent_class",
    "make_optimizer",
]
