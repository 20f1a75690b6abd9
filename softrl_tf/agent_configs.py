"""The agents' config dataclasses and their registry, without TensorFlow.

Each agent is configured by one dataclass holding only the settings it uses; this module is their
one home, so that the command line, the presets and the validation read them (and answer a bad
value in one sentence) before TensorFlow is loaded. The agent classes in :mod:`softrl_tf.agents`
name their config as ``config_class`` and take ``on_policy`` from it.

* :class:`AgentConfig`: network and optimiser settings every agent uses.
* :class:`ActorCriticConfig` -> :class:`A2CConfig` (a2c) and :class:`SoftQConfig` (softq):
  on-policy segments of ``n_steps`` (docs/theory.md §5, §6; paper §6.1, §6.3).
* :class:`DQNConfig` (dqn) -> :class:`SoftDQNConfig` (soft_dqn): replay and a target network
  (docs/theory.md §4, §8; paper §6.2). Replay sizes are :class:`softrl_tf.config.ReplayConfig`.

:data:`AGENT_CONFIGS` maps each agent name to its config class; it is the list of agent names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from softrl_tf.config import (
    INT_POSITIVE,
    NONNEGATIVE,
    POSITIVE,
    UNIT_INTERVAL,
    ConfigError,
    EntropyMode,
    Exploration,
    LrSchedule,
    NstepTargetForm,
    Optimizer,
    Precision,
    SoftBackup,
    TdLoss,
    Torso,
    int_in,
    setting,
)

_LAYER_SIZES = (
    lambda v: len(v) >= 1 and all(isinstance(h, int) and h >= 1 for h in v),
    "positive integer layer sizes such as 64,64",
)
_RHO = (lambda v: 0 <= v < 1, "a number in [0, 1)")
_OPTIONAL_POSITIVE = (
    lambda v: v is None or POSITIVE[0](v),
    "a finite number > 0, or none for 1/tau",
)
_POLYAK = (lambda v: POSITIVE[0](v) and v <= 1, "a number in (0, 1]")


def parse_prior(text: str) -> tuple[float, ...] | None:
    """``"uniform"``/``"counting"`` -> None; ``"0.5,0.25,0.25"`` -> probabilities.

    Raises:
      ValueError: not a prior name, or probabilities that are negative, non-finite or do not sum
        to 1 (unnormalised input is refused).
    """
    if text in ("uniform", "counting"):
        return None
    values = tuple(float(part) for part in str(text).split(","))
    if not all(math.isfinite(v) and v >= 0 for v in values) or abs(sum(values) - 1) > 1e-6:
        raise ValueError(text)
    return values


def _is_prior(text) -> bool:
    try:
        parse_prior(text)
    except (TypeError, ValueError):
        return False
    return True


_PRIOR_RULE = (
    _is_prior,
    "uniform, counting, or comma-separated action probabilities summing to 1",
)


@dataclass
class AgentConfig:
    """Network and optimiser settings that every agent uses.

    ``on_policy`` (a class attribute, not a setting): whether the agent trains on fresh segments
    (no replay section) or on replay.
    """

    on_policy: ClassVar[bool] = True

    torso: Torso = setting("auto", "Network torso (auto: Nature CNN for images, MLP otherwise).")
    hidden_sizes: tuple[int, ...] = setting((64, 64), "MLP torso layer sizes.", _LAYER_SIZES)
    activation: str = setting("tanh", "MLP activation (a tf.keras activation name).")
    precision: Precision = setting(
        "float32",
        "Compute dtype of the torso: mixed_bfloat16 runs its convolutions and matmuls in "
        "bfloat16 (weights, heads and losses stay float32); fast where the hardware has bfloat16 "
        "(x86 CPUs with AVX512_BF16 or AMX, recent GPUs, TPUs), slow elsewhere; auto: "
        "mixed_bfloat16 where the CPU or GPU has bfloat16, float32 elsewhere.",
    )
    normalize_observations: bool = setting(
        False,
        "Normalise observations by their running mean and variance (clipped to +-10); the "
        "statistics are checkpointed, sent to runners and built into exports.",
    )
    optimizer: Optimizer = setting("rmsprop", "Optimiser.")
    learning_rate: float = setting(7e-4, "Initial learning rate.", POSITIVE)
    lr_schedule: LrSchedule = setting(
        "constant", "Learning-rate schedule (linear: to 0 at the end of training)."
    )
    optimizer_epsilon: float = setting(1e-5, "Optimiser epsilon (RMSProp / Adam).", POSITIVE)
    rmsprop_rho: float = setting(0.99, "RMSProp decay.", _RHO)
    rmsprop_initial_accumulator: float = setting(
        0.0,
        "RMSProp's mean-square accumulator at the start: 0 in tf_keras and PyTorch; 1 in "
        "TensorFlow 1's RMSPropOptimizer (OpenAI baselines), where the first few hundred updates "
        "are then small, a warm-up.",
        NONNEGATIVE,
    )
    max_grad_norm: float = setting(
        0.5, "Global gradient-norm clip; 0 disables clipping.", NONNEGATIVE
    )
    reward_scale: float = setting(
        1.0,
        "Multiplies the rewards the agent learns from; episode returns, evaluation and exports "
        "stay raw. For the soft agents, rewards times k is the objective of tau / k, scaled by k.",
        POSITIVE,
    )

    def network_kwargs(self) -> dict:
        """Keyword arguments of ``softrl_tf.networks``' torsos."""
        return dict(
            torso=self.torso,
            hidden_sizes=tuple(self.hidden_sizes),
            activation=self.activation,
            precision=self.precision,
            normalize_observations=self.normalize_observations,
        )


# Default orthogonal-init gain of the actor-critic network's policy-logit layer (networks.py).
POLICY_HEAD_GAIN = 0.01


@dataclass
class ActorCriticConfig(AgentConfig):
    """Settings of both actor-critic agents (a2c, softq) beyond the network and optimiser."""

    tau: float = setting(
        0.01, "Temperature: the entropy / KL coefficient (also inside the returns).", POSITIVE
    )
    shared_torso: bool = setting(
        True,
        "One torso under the policy and value heads (the paper's); false: a torso for each.",
    )
    policy_head_gain: float = setting(
        POLICY_HEAD_GAIN,
        "Orthogonal-init gain of the policy-logit layer: 0.01 starts near the uniform policy with "
        "almost no policy gradient into a shared torso; 1.0 is the A2C code of the paper's Atari "
        "runs.",
        POSITIVE,
    )
    gamma: float = setting(0.99, "Discount.", UNIT_INTERVAL)
    n_steps: int = setting(
        5,
        "Transitions per environment per update (segment length).",
        int_in(1, 10_000, "a segment is held in memory and trained on as one batch"),
    )
    prior: str = setting(
        "uniform",
        "Reference policy of the KL penalty: uniform | counting (entropy bonus) | "
        "action probabilities such as 0.5,0.25,0.25.",
        _PRIOR_RULE,
    )

    def network_kwargs(self) -> dict:
        """Keyword arguments of ``softrl_tf.networks.ActorCriticNetwork``."""
        return dict(
            super().network_kwargs(),
            shared_torso=self.shared_torso,
            policy_head_gain=self.policy_head_gain,
        )


@dataclass
class A2CConfig(ActorCriticConfig):
    """Entropy-regularised A2C (docs/theory.md §5; paper §6.1)."""

    entropy_mode: EntropyMode = setting(
        "proper", "naive: entropy bonus only; proper: -tau*KL inside the returns as well."
    )
    value_coef: float = setting(0.5, "Value-loss coefficient c.", NONNEGATIVE)


@dataclass
class SoftQConfig(ActorCriticConfig):
    """Soft n-step Q-learning on Q = V + tau log(pi/prior) (docs/theory.md §6, §9)."""

    value_scale: float = setting(
        0.5, "Gradient scale c of the value stream (the paper's 0.5).", NONNEGATIVE
    )
    advantage_scale: float | None = setting(
        None,
        "Gradient scale of the advantage stream; none means 1/tau (the paper's choice).",
        _OPTIONAL_POSITIVE,
    )
    scale_streams: bool = setting(
        True, "Scale stream gradients; false gives plain soft n-step Q-learning."
    )


@dataclass
class DQNConfig(AgentConfig):
    """DQN with a target network and replay (paper §6.2): the hard-max case of soft DQN.

    The replay itself (capacity, batch size, update ratio) is configured by
    :class:`softrl_tf.config.ReplayConfig`, which the off-policy training loop reads.
    """

    on_policy: ClassVar[bool] = False

    gamma: float = setting(0.99, "Discount.", UNIT_INTERVAL)
    n_steps: int = setting(
        1,
        "Reward steps before the bootstrap (1: DQN; 5: the paper's n-step variant).",
        int_in(1, 10_000, "every replay sample is a sequence of n_steps + 1 transitions"),
    )
    double_q: bool = setting(
        False, "Select with the online network, evaluate with the target network."
    )
    loss: TdLoss = setting("huber", "TD loss.")
    epsilon_start: float = setting(1.0, "Initial epsilon.", UNIT_INTERVAL)
    epsilon_end: float = setting(0.05, "Final epsilon.", UNIT_INTERVAL)
    epsilon_decay_fraction: float = setting(
        0.1, "Fraction of the updates over which epsilon decays linearly.", UNIT_INTERVAL
    )
    target_update_period: int = setting(
        500, "Updates between target-network updates.", INT_POSITIVE
    )
    target_update_tau: float = setting(
        1.0, "Target update rate: 1 copies, < 1 is Polyak averaging.", _POLYAK
    )


@dataclass
class SoftDQNConfig(DQNConfig):
    """Soft 1-step / n-step Q-learning with a target network and replay (docs/theory.md §4, §8)."""

    tau: float = setting(0.1, "Temperature of the soft backup (the paper's 0.1).", POSITIVE)
    backup: SoftBackup = setting(
        "logsumexp",
        "Soft backup of the next state's values: logsumexp (entropy bonus) | logmeanexp (KL to "
        "the uniform policy).",
    )
    exploration: Exploration = setting(
        "epsilon", "epsilon: epsilon-greedy, as in the paper; boltzmann: sample exp(Q/tau)."
    )
    nstep_target: NstepTargetForm = setting(
        "paper",
        "n-step target: paper (-tau*KL at every intermediate step) | rewards (rewards only).",
    )


AGENT_CONFIGS: dict[str, type[AgentConfig]] = {
    "a2c": A2CConfig,
    "softq": SoftQConfig,
    "soft_dqn": SoftDQNConfig,
    "dqn": DQNConfig,
}
"""Agent name -> its config class; the agent classes are ``softrl_tf.agents.AGENTS``."""


def agent_config_class(name: str) -> type[AgentConfig]:
    """The config class of agent ``name``; a one-sentence ``ConfigError`` for an unknown name."""
    try:
        return AGENT_CONFIGS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown agent {name!r}; valid agents: {', '.join(sorted(AGENT_CONFIGS))}."
        ) from None


__all__ = [
    "AGENT_CONFIGS",
    "A2CConfig",
    "ActorCriticConfig",
    "AgentConfig",
    "DQNConfig",
    "SoftDQNConfig",
    "SoftQConfig",
    "agent_config_class",
    "parse_prior",
]
