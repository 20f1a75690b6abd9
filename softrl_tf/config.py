"""Configuration machinery, the training and replay configs, and the one validator.

TensorFlow-free: the command line, the presets and the results tools read configs before (or
without) loading TensorFlow.

Every configurable value is a dataclass field made with :func:`setting`: its default, its help text
(the command line's ``--help``), and its rule (what values are allowed, in words and as a test) live
in that one place. Choice lists are ``Literal`` types, so the command line's choices, the validation
and the documentation all read the same list. :func:`validate` checks a whole config; :func:`check`
checks single values against a config class's rules (agent constructors use it), so a value has
one rule and one message wherever it is given.

A run is configured by three sections: :class:`TrainConfig` (what to train on, for how long, where
to write), the agent's own config (:mod:`softrl_tf.agent_configs`) and,
for replay-based agents, :class:`ReplayConfig`. :class:`RunConfig` bundles them; it is what
``softrl_tf.presets.resolve`` returns and what ``config.json`` stores.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

CONFIG_JSON = "config.json"
"""A run directory's file of its settings, ``{"train": {...}, "agent": {...}, "replay": {...}}``
(written by the trainer, read by resumes, the experiments and the plots)."""

__all__ = [
    "CONFIG_JSON",
    "Backend",
    "Backup",
    "EntropyMode",
    "Exploration",
    "LrSchedule",
    "NstepTargetForm",
    "Optimizer",
    "Precision",
    "SoftBackup",
    "TdLoss",
    "Torso",
    "ConfigError",
    "ReplayConfig",
    "RunConfig",
    "TrainConfig",
    "check",
    "choices",
    "field_types",
    "flag",
    "int_in",
    "setting",
    "to_dict",
    "validate",
]


class ConfigError(ValueError):
    """A configuration value is wrong; the message is one sentence naming the input and the fix."""


Rule = tuple[Callable[[Any], bool], str]


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


INT_MAX = 2**53
"""The largest integer any setting takes: counters reach ``metrics.csv`` as float64, exact up to
2**53 (and checkpoints hold them as int64)."""


# Reusable rules: (test, what the value must be).
INT_POSITIVE: Rule = (lambda v: _integer(v) and v >= 1, "an integer >= 1")
INT_NONNEGATIVE: Rule = (lambda v: _integer(v) and v >= 0, "an integer >= 0")
POSITIVE: Rule = (lambda v: _finite(v) and v > 0, "a finite number > 0")
NONNEGATIVE: Rule = (lambda v: _finite(v) and v >= 0, "a finite number >= 0")
UNIT_INTERVAL: Rule = (lambda v: _finite(v) and 0 <= v <= 1, "a number in [0, 1]")


def int_in(low: int, high: int, why: str) -> Rule:
    """The rule of an integer in ``[low, high]``; ``why`` says what the upper bound protects."""
    return (lambda v: _integer(v) and low <= v <= high, f"an integer in [{low}, {high:,}] ({why})")


def setting(default, help: str, rule: Rule | None = None):  # noqa: A002 - reads best at call sites
    """A config field: its default, its help text and its rule, in one place.

    Mutable defaults become factories. ``rule`` is ``(test, description)``; ``Literal`` choice
    fields need none (their type is their rule).
    """
    metadata = {"help": help, "rule": rule}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@functools.cache
def field_types(config_class: type) -> dict[str, Any]:
    """Field name -> resolved type annotation of a config dataclass."""
    return typing.get_type_hints(config_class)


def choices(config_class: type, name: str) -> tuple | None:
    """The allowed values of a ``Literal`` field, or ``None`` for any other field."""
    annotation = field_types(config_class)[name]
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)
    return None


def flag(name: str) -> str:
    """The command-line flag of a field: ``hidden_sizes`` -> ``--hidden-sizes``."""
    return "--" + name.replace("_", "-")


def _fields(config_class: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(config_class)}


def check(config_class: type, **values) -> None:
    """Checks single values against ``config_class``'s rules for those fields.

    Raises:
      ConfigError: for the first bad value: ``"--tau (tau) must be a finite number > 0, got -1."``.
    """
    fields = _fields(config_class)
    for name, value in values.items():
        allowed = choices(config_class, name)
        where = f"{flag(name)} ({name})"
        if allowed is not None:
            if value not in allowed:
                raise ConfigError(
                    f"{where} must be one of {' | '.join(map(str, allowed))}, got {value!r}."
                )
            continue
        rule = fields[name].metadata.get("rule")
        if rule is None:
            continue
        if _integer(value) and abs(value) > INT_MAX:
            raise ConfigError(
                f"{where} must be at most 2**53 = {INT_MAX:,} (counters are exact in float64 up "
                f"to there), got {value}."
            )
        test, what = rule
        try:
            ok = bool(test(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(f"{where} must be {what}, got {value!r}.")


def validate(*configs) -> None:
    """Checks every field of the given config dataclasses (``None`` entries are skipped).

    Raises:
      ConfigError: for the first bad value, in one sentence naming the flag and the range.
    """
    for config in configs:
        if config is None:
            continue
        check(type(config), **{f.name: getattr(config, f.name) for f in dataclasses.fields(config)})


def to_dict(config) -> dict:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(config)


def _is_ray_address(v) -> bool:
    """``""``, ``"local"``, ``"auto"``, or ``[ray://]HOST:PORT`` with a port in 1..65535."""
    if not isinstance(v, str):
        return False
    if v in ("", "local", "auto"):
        return True
    host, _, port = v.removeprefix("ray://").rpartition(":")
    return bool(host.strip()) and port.isdigit() and 1 <= int(port) <= 65535


# The choice lists, defined once: config fields take these Literal types, so the command line,
# the validation, the losses' and networks' own checks and the docs read the same values.
Backend = Literal["auto", "sync", "async", "parallel", "ale"]
Torso = Literal["auto", "mlp", "nature_cnn"]
"""The torsos: ``auto`` (Nature CNN for images, MLP otherwise), ``mlp``, ``nature_cnn``."""
Optimizer = Literal["rmsprop", "adam"]
LrSchedule = Literal["constant", "linear"]
SoftBackup = Literal["logsumexp", "logmeanexp"]
Backup = Literal["max", SoftBackup]  # nested Literals flatten: max, logsumexp, logmeanexp
NstepTargetForm = Literal["paper", "rewards"]
EntropyMode = Literal["naive", "proper"]
TdLoss = Literal["huber", "l2"]
Exploration = Literal["epsilon", "boltzmann"]
Precision = Literal["float32", "mixed_bfloat16", "auto"]


@dataclass
class TrainConfig:
    """What to train on, for how long, and where to write (every agent)."""

    agent: str = setting("softq", "Agent name (see softrl_tf.agents.AGENTS).")
    env: str | Callable[[], Any] = setting(
        "CartPole-v1",
        "Gymnasium environment id with discrete actions (an Atari id, or 'module:EnvId' to import "
        "the module that registers it); from Python also a callable returning the environment.",
        (
            lambda v: (isinstance(v, str) and v.strip() != "") or callable(v),
            "a gymnasium id or a callable returning an environment",
        ),
    )
    num_envs: int = setting(
        8,
        "Parallel environments.",
        int_in(
            1,
            4096,
            "each environment is a live simulator, and every iteration holds a batch of that size",
        ),
    )
    backend: Backend = setting("auto", "Environment backend.")
    total_steps: int = setting(
        100_000, "Environment steps to train for (over all environments).", INT_POSITIVE
    )
    schedule_steps: int = setting(
        0,
        "Environment steps the decaying schedules (linear learning rate, epsilon) span; 0: "
        "total_steps. Set it to keep a schedule fixed in steps whatever the run's length (a "
        "shorter run then stops part-way down it).",
        INT_NONNEGATIVE,
    )
    seed: int = setting(
        0, "Random seed (environments, network initialisation, action sampling).", INT_NONNEGATIVE
    )
    root_dir: str = setting("runs/latest", "Directory for metrics, checkpoints and exports.")
    log_every_steps: int = setting(2_000, "Environment steps between metric rows.", INT_POSITIVE)
    eval_every_steps: int = setting(
        0, "Environment steps between greedy evaluations; 0 disables.", INT_NONNEGATIVE
    )
    eval_episodes: int = setting(10, "Episodes per evaluation.", INT_POSITIVE)
    checkpoint_every_steps: int = setting(
        20_000,
        "Environment steps between checkpoints (one is also written at the end).",
        INT_POSITIVE,
    )
    keep_checkpoints: int = setting(3, "How many recent checkpoints to keep.", INT_POSITIVE)
    checkpoint_replay_buffer: bool = setting(
        False, "Also checkpoint the replay buffer (soft_dqn, dqn); large for Atari."
    )
    export: bool = setting(True, "Write saved_model/ and policy/ exports at the end of training.")
    steps_per_execution: int = setting(
        10,
        "Training iterations per call of the Keras training function (Keras's "
        "steps_per_execution): larger is faster; counters, episode statistics, checkpoints and "
        "signals are handled between calls.",
        INT_POSITIVE,
    )
    diagnostics_every_updates: int = setting(
        0,
        "Updates between gradient-equivalence diagnostics (a2c, softq); 0 disables.",
        INT_NONNEGATIVE,
    )
    runners: int = setting(
        1,
        "Environment runners (Ray actors, one CPU each), each stepping num_envs / runners of the "
        "environments; 1 without --ray-address trains in this process (softrl_tf.distributed).",
        int_in(1, 4096, "each runner is a process holding its environments and a policy copy"),
    )
    ray_address: str = setting(
        "",
        "Ray cluster of the runners: 'local' (this process's, started here if needed), 'auto' "
        "(the cluster `ray start` runs on this machine) or its HOST:PORT; empty: in this "
        "process, or 'local' when --runners > 1.",
        (_is_ray_address, "empty, local, auto or HOST:PORT (such as 10.0.0.5:6379)"),
    )
    runner_steps: int = setting(
        16,
        "soft_dqn and dqn on runners: batch steps a runner takes per call with the weights it "
        "got at the call's start (it gets new ones every that many steps).",
        int_in(1, 10_000, "a runner's steps are held in memory until the learner reads them"),
    )

    def schedule_span(self) -> int:
        """Environment steps the decaying schedules span (``schedule_steps`` or the run)."""
        return self.schedule_steps or self.total_steps


@dataclass
class ReplayConfig:
    """How a replay-based agent (soft_dqn, dqn) is fed: read by the off-policy training loop."""

    replay_capacity: int = setting(
        100_000, "Replay buffer capacity in transitions (all environments together).", INT_POSITIVE
    )
    batch_size: int = setting(64, "Replay minibatch size.", INT_POSITIVE)
    learning_starts: int = setting(
        1_000, "Environment steps collected before the first update.", INT_NONNEGATIVE
    )
    env_steps_per_update: int = setting(
        1, "Environment steps (over all environments) per gradient update.", INT_POSITIVE
    )


@dataclass
class RunConfig:
    """The three sections of a run's configuration.

    Attributes:
      train: the :class:`TrainConfig`.
      agent: the agent's own config dataclass (``AGENTS[train.agent].config_class``).
      replay: a :class:`ReplayConfig` for replay-based agents, ``None`` for on-policy ones.
    """

    train: TrainConfig
    agent: Any
    replay: ReplayConfig | None = None

    def __iter__(self):
        """Unpacks as ``train_config, agent_config, replay_config``."""
        return iter((self.train, self.agent, self.replay))

    def sections(self) -> dict[str, Any]:
        """Section name -> config dataclass, the sections that are set."""
        out = {"train": self.train, "agent": self.agent}
        if self.replay is not None:
            out["replay"] = self.replay
        return out

    def to_dict(self) -> dict:
        """The JSON-ready form stored as ``config.json``."""
        return {name: to_dict(section) for name, section in self.sections().items()}


def split_overrides(
    overrides: Mapping[str, Any], sections: Mapping[str, type]
) -> dict[str, dict[str, Any]]:
    """Routes flat ``field -> value`` overrides to the section whose config has that field.

    Returns:
      section name -> overrides for it; fields that no section has are under ``None``.
    """
    routed: dict[str | None, dict[str, Any]] = {name: {} for name in sections}
    routed[None] = {}
    owners = {name: _fields(cls) for name, cls in sections.items()}
    for key, value in overrides.items():
        owner = next((name for name, fields in owners.items() if key in fields), None)
        routed[owner][key] = value
    return routed
