"""Dataclass configurations with per-field documentation, and presets.

Every field's ``metadata["help"]`` documents it; ``scripts/train.py`` turns every field into a
command-line flag (``hidden_sizes`` -> ``--hidden-sizes``). Presets are plain functions returning
``(TrainConfig, agent config)`` pairs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


def doc(default, help: str, **kwargs):  # noqa: A002 - "help" reads best at the call sites
    """A dataclass field with a default and a help text (mutable defaults become factories)."""
    if isinstance(default, (list, dict, set)):
        return field(
            default_factory=lambda: type(default)(default), metadata={"help": help}, **kwargs
        )
    return field(default=default, metadata={"help": help}, **kwargs)


@dataclass
class NetworkConfig:
    """Network and optimiser settings shared by all agents."""

    torso: str = doc(
        "auto", "Network torso: auto (Nature CNN for images, MLP otherwise) | mlp | nature_cnn."
    )
    hidden_sizes: tuple[int, ...] = doc((64, 64), "MLP torso layer sizes.")
    activation: str = doc("tanh", "MLP activation (a tf.keras activation name).")
    optimizer: str = doc("rmsprop", "Optimiser: rmsprop | adam.")
    learning_rate: float = doc(7e-4, "Initial learning rate.")
    lr_schedule: str = doc(
        "constant", "Learning-rate schedule: constant | linear (to 0 at the end of training)."
    )
    optimizer_epsilon: float = doc(1e-5, "Optimiser epsilon (RMSProp / Adam).")
    rmsprop_rho: float = doc(0.99, "RMSProp decay.")
    max_grad_norm: float = doc(0.5, "Global gradient-norm clip; 0 disables clipping.")


@dataclass
class A2CConfig(NetworkConfig):
    """Entropy-regularised A2C (paper.md §2.5, §2.9, §6.1)."""

    tau: float = doc(
        0.01, "Temperature: entropy / KL coefficient, also inside the returns when proper."
    )
    entropy_mode: str = doc(
        "proper", "naive (entropy bonus only) | proper (-tau*KL inside the returns)."
    )
    value_coef: float = doc(0.5, "Value-loss coefficient c.")
    gamma: float = doc(0.99, "Discount.")
    n_steps: int = doc(5, "Transitions per environment per update (segment length).")


@dataclass
class SoftQConfig(A2CConfig):
    """Soft n-step Q-learning on Q = V + tau log(pi/prior) (paper.md §2.6, §6.3)."""

    value_scale: float = doc(0.5, "Gradient scale c of the value stream (the paper's 0.5).")
    advantage_scale: float | None = doc(
        None, "Gradient scale of the advantage stream; unset means 1/tau (the paper's choice)."
    )
    scale_streams: bool = doc(
        True, "Scale stream gradients; false gives plain soft n-step Q-learning."
    )


@dataclass
class SoftDQNConfig(NetworkConfig):
    """Soft 1-step / n-step Q-learning with target network and replay (paper.md §2.8, §6.2)."""

    tau: float = doc(0.1, "Temperature of the soft backup (the paper's 0.1).")
    backup: str = doc(
        "logsumexp", "Backup of the next state's values: max (DQN) | logsumexp | logmeanexp."
    )
    gamma: float = doc(0.99, "Discount.")
    n_steps: int = doc(
        1, "Reward steps before the bootstrap (1: DQN; 5: the paper's n-step variant)."
    )
    nstep_target: str = doc(
        "paper", "n-step target: paper (rewards - tau * KL at intermediate states) | rewards."
    )
    double_q: bool = doc(False, "Select with the online network, evaluate with the target network.")
    loss: str = doc("huber", "TD loss: huber | l2.")
    exploration: str = doc("epsilon", "epsilon (epsilon-greedy, as in the paper) | boltzmann.")
    epsilon_start: float = doc(1.0, "Initial epsilon.")
    epsilon_end: float = doc(0.05, "Final epsilon.")
    epsilon_decay_fraction: float = doc(
        0.1, "Fraction of total steps over which epsilon decays linearly."
    )
    replay_capacity: int = doc(
        100_000, "Replay buffer capacity in transitions (all environments together)."
    )
    batch_size: int = doc(64, "Replay minibatch size.")
    learning_starts: int = doc(1_000, "Environment steps collected before the first update.")
    env_steps_per_update: int = doc(
        1, "Environment steps (over all environments) per gradient update."
    )
    target_update_period: int = doc(500, "Updates between target-network updates.")
    target_update_tau: float = doc(1.0, "Target update rate: 1 copies, < 1 is Polyak averaging.")


@dataclass
class TrainConfig:
    """What to train on, for how long, and where to write."""

    agent: str = doc("softq", "Agent name (see softrl_tf.agents.AGENTS).")
    env: str = doc("CartPole-v1", "Gymnasium environment id with discrete actions, or an Atari id.")
    num_envs: int = doc(8, "Parallel environments.")
    backend: str = doc("auto", "Environment backend: auto | sync | async | parallel | ale.")
    total_steps: int = doc(100_000, "Environment steps to train for (over all environments).")
    seed: int = doc(0, "Random seed (environments, network initialisation, action sampling).")
    root_dir: str = doc("runs/latest", "Directory for metrics, checkpoints and exports.")
    log_every_steps: int = doc(2_000, "Environment steps between metric rows.")
    eval_every_steps: int = doc(0, "Environment steps between greedy evaluations; 0 disables.")
    eval_episodes: int = doc(10, "Episodes per evaluation.")
    checkpoint_every_steps: int = doc(
        20_000, "Environment steps between checkpoints (one is also written at the end)."
    )
    keep_checkpoints: int = doc(3, "How many recent checkpoints to keep.")
    checkpoint_replay_buffer: bool = doc(
        False, "Also checkpoint the replay buffer (soft_dqn, dqn); large for Atari."
    )
    export: bool = doc(True, "Write saved_model/ and policy/ exports at the end of training.")
    diagnostics_every_updates: int = doc(
        0, "Updates between gradient-equivalence diagnostics (a2c, softq); 0 disables."
    )


def to_dict(config) -> dict:
    """A JSON-ready dict of a config dataclass."""
    return dataclasses.asdict(config)


class ConfigError(ValueError):
    """A configuration value is out of range; the message is one sentence naming the field."""


# Field name -> (test, what the value must be). Checked for every config that has the field.
_RULES = {
    "num_envs": (lambda v: v >= 1, "an integer >= 1"),
    "total_steps": (lambda v: v >= 1, "an integer >= 1"),
    "log_every_steps": (lambda v: v >= 1, "an integer >= 1"),
    "eval_every_steps": (lambda v: v >= 0, "an integer >= 0 (0 disables evaluation)"),
    "eval_episodes": (lambda v: v >= 1, "an integer >= 1"),
    "checkpoint_every_steps": (lambda v: v >= 1, "an integer >= 1"),
    "keep_checkpoints": (lambda v: v >= 1, "an integer >= 1"),
    "diagnostics_every_updates": (lambda v: v >= 0, "an integer >= 0 (0 disables them)"),
    "tau": (lambda v: v > 0, "a number > 0"),
    "n_steps": (lambda v: v >= 1, "an integer >= 1"),
    "learning_rate": (lambda v: v > 0, "a number > 0"),
    "gamma": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "value_coef": (lambda v: v >= 0, "a number >= 0"),
    "value_scale": (lambda v: v >= 0, "a number >= 0"),
    "advantage_scale": (lambda v: v is None or v > 0, "a number > 0, or unset for 1/tau"),
    "max_grad_norm": (lambda v: v >= 0, "a number >= 0 (0 disables clipping)"),
    "optimizer_epsilon": (lambda v: v > 0, "a number > 0"),
    "rmsprop_rho": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "hidden_sizes": (lambda v: len(v) >= 1 and all(h >= 1 for h in v), "positive layer sizes"),
    "epsilon_start": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "epsilon_end": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "epsilon_decay_fraction": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "replay_capacity": (lambda v: v >= 1, "an integer >= 1"),
    "batch_size": (lambda v: v >= 1, "an integer >= 1"),
    "learning_starts": (lambda v: v >= 0, "an integer >= 0"),
    "env_steps_per_update": (lambda v: v >= 1, "an integer >= 1"),
    "target_update_period": (lambda v: v >= 1, "an integer >= 1"),
    "target_update_tau": (lambda v: 0 < v <= 1, "a number in (0, 1]"),
}
_CHOICES = {
    "torso": ("auto", "mlp", "nature_cnn"),
    "optimizer": ("rmsprop", "adam"),
    "lr_schedule": ("constant", "linear"),
    "entropy_mode": ("naive", "proper"),
    "backup": ("max", "logsumexp", "logmeanexp"),
    "loss": ("huber", "l2"),
    "exploration": ("epsilon", "boltzmann"),
    "backend": ("auto", "sync", "async", "parallel", "ale"),
}


def validate(*configs) -> None:
    """Checks every field of the given config dataclasses against its allowed range.

    Raises:
      ConfigError: for the first bad value, in one sentence that names the flag and the range.
    """
    for config in configs:
        for f in dataclasses.fields(config):
            value = getattr(config, f.name)
            flag = "--" + f.name.replace("_", "-")
            if f.name in _CHOICES and value not in _CHOICES[f.name]:
                choices = " | ".join(_CHOICES[f.name])
                raise ConfigError(f"{flag} must be one of {choices}, got {value!r}.")
            rule = _RULES.get(f.name)
            if rule is None:
                continue
            test, what = rule
            try:
                ok = bool(test(value))
            except TypeError:
                ok = False
            if not ok:
                raise ConfigError(f"{flag} must be {what}, got {value!r}.")
