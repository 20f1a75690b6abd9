"""The agents and their registry: ``AGENTS`` maps a name to an agent class, nothing more.

Each agent class carries what the rest of the library needs to know about it: ``config_class``
(its config dataclass, defined in its own module), ``on_policy``, ``from_config(config,
time_step_spec, action_spec, total_updates=...)`` and ``export_network()``. Tuned settings live in
``softrl_tf.presets``.
"""

from __future__ import annotations

from softrl_tf.agents.a2c import A2CAgent, A2CConfig
from softrl_tf.agents.actor_critic import ActorCriticAgent, ActorCriticConfig
from softrl_tf.agents.base import AgentConfig, KerasTrainStepAgent, make_optimizer
from softrl_tf.agents.soft_dqn import DQNAgent, DQNConfig, SoftDQNAgent, SoftDQNConfig
from softrl_tf.agents.soft_q import SoftQAgent, SoftQConfig
from softrl_tf.config import ConfigError

AGENTS: dict[str, type[KerasTrainStepAgent]] = {
    "a2c": A2CAgent,
    "softq": SoftQAgent,
    "soft_dqn": SoftDQNAgent,
    "dqn": DQNAgent,
}


def get_agent_class(name: str) -> type[KerasTrainStepAgent]:
    """The agent class registered as ``name``; a one-sentence ``ConfigError`` otherwise."""
    try:
        return AGENTS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown agent {name!r}; valid agents: {', '.join(sorted(AGENTS))}."
        ) from None


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
