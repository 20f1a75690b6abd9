"""Every tuned setting, and the one resolver: defaults -> preset (or saved config) -> overrides.

A preset is a function ``preset(agent_name) -> {field: value}``: a flat mapping over the fields of
the run's sections (:class:`~softrl_tf.config.TrainConfig`, the agent's config, and
:class:`~softrl_tf.config.ReplayConfig` for replay-based agents). :func:`resolve` applies, later
ones winning: the dataclass defaults, the preset (``auto`` when none is named) or, for a run
being resumed, its saved ``config.json`` in the preset's place (a setting newer than the run takes
its default, as the run did), and the overrides (command-line flags, keyword arguments, an
experiment's settings). The command line, the Python API and the experiments all
call it.

* ``auto`` (the default): picks one of the following from the run's environment id and logs
  which (:func:`preset_for_env`): ``atari`` for Atari ids, ``minatar`` for MinAtar ids,
  ``classic_control`` for every other environment (user-registered ones included).
* ``classic_control``: tuned on CartPole-v1 (8 environments, 100k steps, 3 seeds); for a2c and
  softq also on Acrobot-v1 and MountainCar-v0 (300k steps, seeds 100-102), which gave them a torso
  per head and normalised observations.
* ``minatar``: for a2c and softq tuned on four MinAtar games (500k steps, seeds 100-101); the
  replay agents take the classic-control settings with one update per 4 environment steps, and
  soft DQN a temperature of 0.01 (tuned on Freeway and Breakout, seeds 100-101).
* ``atari``: the paper's Atari settings (paper §6.1-6.3): OpenAI baselines' A2C for a2c and
  softq, baselines' DQN defaults for soft_dqn and dqn.
* ``experiments``: the settings pinned by the reproduction experiments (``softrl_tf.experiments``)
  so their committed results stay reproducible when the defaults are retuned.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

from softrl_tf.agent_configs import AGENT_CONFIGS, agent_config_class
from softrl_tf.config import (
    ConfigError,
    ReplayConfig,
    RunConfig,
    TrainConfig,
    flag,
    split_overrides,
    validate,
)
from softrl_tf.env_ids import MINATAR_PREFIX, looks_like_atari_id

logger = logging.getLogger("softrl_tf.presets")

ACTOR_CRITIC_AGENTS = tuple(name for name, c in AGENT_CONFIGS.items() if c.on_policy)
ATARI_ENV = "PongNoFrameskip-v4"

# Classic-control tuning of the actor-critic agents: the paper's A2C settings (RMSProp, clip 0.5,
# c = 0.5, tau = 0.01, 5 steps, 64x64 tanh MLP) with the learning rate raised from 7e-4 to 1e-2
# and decayed linearly to 0 over the run, a torso per head, and observations normalised by their
# running mean and variance. On CartPole-v1 at 7e-4 the 100-episode mean was still below 100
# after 100k steps; at 1e-2 it passes 195 at 25-35k steps. The sweep over the three classic-control
# environments at 300k steps, seeds 100-102 (the experiment tuning_classic_control,
# results/tuning_classic_control/): with one shared torso the policy ends uniform on Acrobot-v1
# (-499, after swinging to nearly deterministic and back early on), with a torso per head it
# reaches -82; only with normalised observations as well does a2c leave -200 on
# MountainCar-v0 (-113 on all three seeds); CartPole-v1 stays at 495-500 throughout.
_CLASSIC_CONTROL_ACTOR_CRITIC = {
    "learning_rate": 1e-2,
    "lr_schedule": "linear",
    "shared_torso": False,
    "normalize_observations": True,
}
# CartPole-v1 tuning of the replay agents (one update per environment step): Adam 1e-3 decayed
# linearly to 0, ReLU, clip 10, double Q, target copy every 250 updates, epsilon 1 -> 0.01 over
# the first 10% of the updates. Without double Q, or with the target copied every 500 updates and
# epsilon ending at 0.05, the 100-episode mean stalled at 130-170 over 50k steps; with a constant
# learning rate it passed 195 but then often collapsed.
_CLASSIC_CONTROL_REPLAY = {
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "lr_schedule": "linear",
    "activation": "relu",
    "max_grad_norm": 10.0,
    "double_q": True,
    "target_update_period": 250,
    "epsilon_end": 0.01,
}

# MinAtar tuning of the actor-critic agents (the experiment tuning_minatar,
# results/tuning_minatar/): a torso per head and RMSProp decayed linearly to 0, on Breakout,
# SpaceInvaders, Asterix (and Freeway) at 500k steps, seeds 100-101. The classic-control rate
# (1e-2) leaves Breakout at 4.1 and SpaceInvaders at 7.2; raw observations at 7e-4 or 2e-3 learn
# more slowly than normalised ones at 2e-3 (SpaceInvaders 16.7 against 25.9). Normalised
# observations at 1e-3, 2e-3 and 4e-3 end within each other's intervals on all three games; 2e-3
# has the largest area under the curve on SpaceInvaders and Asterix and ties on Breakout. tau
# 0.001, a tenth of the paper's: at 0.01 Freeway, which pays one point per crossing, keeps the
# uniform policy (0.76 at 500k; 11.4 at 0.001), and the other three games end within each other's
# intervals at either temperature.
_MINATAR_ACTOR_CRITIC = {**_CLASSIC_CONTROL_ACTOR_CRITIC, "learning_rate": 2e-3, "tau": 1e-3}
# The replay agents on MinAtar: the classic-control settings with one update per 4 environment
# steps (Stable-Baselines3's DQN default, and a quarter of the cost per step). Only soft DQN's
# temperature was tuned there (the experiment tuning_minatar_replay, results/tuning_minatar_replay/:
# Freeway and Breakout at 500k steps, seeds 100-101): at its default 0.1 Freeway ends at 13.8, at
# 0.01 at 31.5 (the intervals apart); Breakout is level (10.2 and 10.7).
_MINATAR_REPLAY = {**_CLASSIC_CONTROL_REPLAY, "env_steps_per_update": 4}
_MINATAR_SOFT_DQN_TAU = 0.01

# OpenAI baselines' A2C as the paper's §6.1 and §6.3 runs used it: 16 environments, 5 steps,
# TensorFlow 1's RMSProp (accumulator starting at 1) at 7e-4 decayed linearly to 0 over 80M agent
# steps (the paper's 320M frames, whatever the run's length: a 10M-step run ends at 87.5% of the
# rate; Pong learned faster on it than over baselines' 10M-step budget, the per-run figures in
# results/atari_pong_cpu/findings.md), clip 0.5, value coefficient 0.5, tau 0.01, Nature CNN,
# and the policy-logit layer initialised with gain 1.0 (that release's CnnPolicy: fc(h4, 'pi',
# nact) at fc's default init_scale=1.0; later baselines and SB3 use 0.01). The Nature CNN computes
# in bfloat16 where the hardware has it ("auto"): on the 2-core reference CPU that is 1.1-1.4x
# the float32 training throughput, and 5M-step Pong runs in bfloat16 learned no worse than float32
# (benchmarks/RESULTS.md, results/atari_pong_cpu/findings.md). Soft DQN on Atari stays float32:
# its bfloat16 learning curve has not been measured.
_ATARI_ACTOR_CRITIC = {
    "num_envs": 16,
    "torso": "nature_cnn",
    "precision": "auto",
    "policy_head_gain": 1.0,
    "optimizer": "rmsprop",
    "learning_rate": 7e-4,
    "lr_schedule": "linear",
    "optimizer_epsilon": 1e-5,
    "rmsprop_rho": 0.99,
    "rmsprop_initial_accumulator": 1.0,
    "max_grad_norm": 0.5,
    "tau": 0.01,
    "gamma": 0.99,
    "n_steps": 5,
    "schedule_steps": 80_000_000,
}
# Baselines' DQN defaults, a plausible base for the paper's §6.2: Adam 1e-4, replay 1e6, batch 32,
# an update every 4 steps, learning from 50k steps, target copy every 40k steps (10k updates),
# double Q, Huber loss, clip 10, tau 0.1; 8 environments stepped together.
_ATARI_REPLAY = {
    "num_envs": 8,
    "torso": "nature_cnn",
    "optimizer": "adam",
    "learning_rate": 1e-4,
    "lr_schedule": "constant",
    "optimizer_epsilon": 1e-4,
    "max_grad_norm": 10.0,
    "gamma": 0.99,
    "n_steps": 1,
    "double_q": True,
    "loss": "huber",
    "epsilon_start": 1.0,
    "epsilon_end": 0.01,
    "epsilon_decay_fraction": 0.1,
    "replay_capacity": 1_000_000,
    "batch_size": 32,
    "learning_starts": 50_000,
    "env_steps_per_update": 4,
    "target_update_period": 10_000,
    "target_update_tau": 1.0,
}
_ATARI_TRAIN = {
    "env": ATARI_ENV,
    "total_steps": 10_000_000,  # 40M frames
    # Replay agents' schedules (epsilon) span 10M steps whatever the run's length: the budget of
    # baselines' benchmark runs (run_atari's 40M frames). The actor-critic agents' learning rate
    # spans the paper's 320M frames instead (_ATARI_ACTOR_CRITIC).
    "schedule_steps": 10_000_000,
    "log_every_steps": 20_000,
    "checkpoint_every_steps": 500_000,
    "eval_every_steps": 500_000,
    "eval_episodes": 8,
}

# The reproduction experiments' settings: for a2c and softq the paper's A2C values with a constant
# learning rate (the config defaults); for soft_dqn and dqn Adam 1e-3, ReLU MLP, clip 10, no
# double Q, target copy every 500 updates, epsilon 1 -> 0.05.
_EXPERIMENTS_ACTOR_CRITIC = {"learning_rate": 7e-4, "lr_schedule": "constant"}
_EXPERIMENTS_REPLAY = {
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "lr_schedule": "constant",
    "activation": "relu",
    "max_grad_norm": 10.0,
    "double_q": False,
    "target_update_period": 500,
    "epsilon_end": 0.05,
}


def _soft(agent: str, tau: float = 0.1) -> dict:
    """The temperature of a soft DQN preset (by default the paper's 0.1); DQN has none."""
    return {"tau": tau} if agent == "soft_dqn" else {}


def classic_control(agent: str) -> dict:
    """The classic-control tuning, for every environment that is neither Atari nor MinAtar (see
    the module docstring)."""
    if agent in ACTOR_CRITIC_AGENTS:
        return dict(_CLASSIC_CONTROL_ACTOR_CRITIC)
    return dict(_CLASSIC_CONTROL_REPLAY)


def minatar(agent: str) -> dict:
    """The MinAtar settings (see the module docstring)."""
    if agent in ACTOR_CRITIC_AGENTS:
        return dict(_MINATAR_ACTOR_CRITIC)
    return {**_MINATAR_REPLAY, **_soft(agent, _MINATAR_SOFT_DQN_TAU)}


def atari(agent: str) -> dict:
    """The paper's A2C settings on Atari, at baselines' benchmark budget (10M agent steps = 40M
    frames)."""
    if agent in ACTOR_CRITIC_AGENTS:
        extra = {"value_coef": 0.5} if agent == "a2c" else {"value_scale": 0.5}
        return {**_ATARI_TRAIN, **_ATARI_ACTOR_CRITIC, **extra}
    return {**_ATARI_TRAIN, **_ATARI_REPLAY, **_soft(agent)}


def experiments(agent: str) -> dict:
    """The reproduction experiments' pinned settings."""
    if agent in ACTOR_CRITIC_AGENTS:
        return dict(_EXPERIMENTS_ACTOR_CRITIC)
    return {**_EXPERIMENTS_REPLAY, **_soft(agent)}


PRESETS: dict[str, Callable[[str], dict]] = {
    "classic_control": classic_control,
    "minatar": minatar,
    "atari": atari,
    "experiments": experiments,
}
AUTO_PRESET = "auto"
DEFAULT_PRESET = AUTO_PRESET
PRESET_NAMES = (AUTO_PRESET, *PRESETS)


def preset_for_env(env_id) -> str:
    """The preset ``auto`` picks for ``env_id`` (an id or an environment constructor): ``atari``
    for an Atari id, ``minatar`` for a MinAtar id, else ``classic_control``."""
    if not isinstance(env_id, str):
        return "classic_control"
    if looks_like_atari_id(env_id):
        return "atari"
    return "minatar" if env_id.startswith(MINATAR_PREFIX) else "classic_control"


def section_classes(agent: str) -> dict[str, type]:
    """Section name -> config class of ``agent``'s run: train, agent and (replay agents) replay."""
    agent_config = agent_config_class(agent)
    sections = {"train": TrainConfig, "agent": agent_config}
    if not agent_config.on_policy:
        sections["replay"] = ReplayConfig
    return sections


def agents_using(name: str) -> list[str]:
    """The agents whose run has a setting called ``name``."""
    return sorted(
        agent
        for agent in AGENT_CONFIGS
        if any(
            name in {f.name for f in dataclasses.fields(c)} for c in section_classes(agent).values()
        )
    )


def refuse_unused(agent: str, name: str, where: str | None = None) -> None:
    """Raises the one-sentence ``ConfigError`` for a setting ``name`` that ``agent`` does not
    use, naming the agents that use it (``where``: which input gave it, e.g. ``"preset"``)."""
    given = flag(name) if where is None else f"{flag(name)} ({name}, {where})"
    users = agents_using(name)
    if users:
        raise ConfigError(
            f"{given} is not used by --agent={agent}; it is a setting of {', '.join(users)}."
        )
    raise ConfigError(f"{given} is not a setting of any agent.")


def _refuse_unknown(agent: str, unknown: Mapping[str, Any], where: str) -> None:
    if unknown:
        refuse_unused(agent, sorted(unknown)[0], where)


def _route(agent: str, values: Mapping[str, Any], sections: Mapping[str, type], where: str):
    routed = split_overrides(values, sections)
    _refuse_unknown(agent, routed.pop(None), where)
    return routed


def preset_name(preset: str | None = None, env_id=None) -> str:
    """The preset a run uses: ``preset`` (``DEFAULT_PRESET`` when ``None``), with ``auto``
    resolved by ``env_id`` (``TrainConfig``'s default environment when ``None``).

    Raises:
      ConfigError: an unknown preset.
    """
    name = DEFAULT_PRESET if preset is None else preset
    if name == AUTO_PRESET:
        name = preset_for_env(TrainConfig.env if env_id is None else env_id)
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid presets: {', '.join(PRESET_NAMES)}.")
    return name


def describe_preset(preset: str | None, env_id, resumed: bool = False) -> str:
    """``"atari (auto, for PongNoFrameskip-v4)"`` or ``"atari"``: what a run logs at start; a
    resumed run, whose saved config takes the preset's place (:func:`resolve`), says so."""
    if resumed:
        return "none (resumed: the run's config.json)"
    env_id = TrainConfig.env if env_id is None else env_id
    name = preset_name(preset, env_id)
    if preset not in (None, AUTO_PRESET):
        return name
    return f"{name} (auto, for {getattr(env_id, '__name__', env_id)})"


def preset_values(agent: str, preset: str | None = None, env_id=None) -> dict:
    """The flat settings of ``preset`` for ``agent`` (:func:`preset_name` picks ``auto``'s)."""
    return PRESETS[preset_name(preset, env_id)](agent)


def resolve(
    agent: str,
    preset: str | None = None,
    saved: Mapping[str, Mapping[str, Any]] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> RunConfig:
    """The run configuration of ``agent``: defaults -> preset -> saved config -> overrides.

    Args:
      agent: a name in ``softrl_tf.agent_configs.AGENT_CONFIGS``.
      preset: a name in :data:`PRESET_NAMES`; ``None`` is :data:`DEFAULT_PRESET` (``auto``: by
        the environment of the overrides, else of the saved config, else the default one).
      saved: a run's ``config.json`` (``{"train": {...}, "agent": {...}, "replay": {...}}``);
        it replaces the preset: fields it lacks (settings newer than the run) take their
        defaults, and fields a newer version no longer has are dropped with a log line.
      overrides: flat ``field -> value``; a field that ``agent`` does not use is refused.

    Returns:
      A validated :class:`~softrl_tf.config.RunConfig`.

    Raises:
      ConfigError: unknown agent or preset, an unused or unknown field, a value out of range.
    """
    sections = section_classes(agent)
    values: dict[str, dict[str, Any]] = {name: {} for name in sections}
    env_id = (overrides or {}).get("env") or ((saved or {}).get("train") or {}).get("env")
    chosen = preset_values(agent, preset, env_id)  # an unknown preset is refused in either case
    if saved is None:
        for name, section in _route(agent, chosen, sections, "preset").items():
            values[name].update(section)
    else:
        # A saved config.json lists every setting of its day; one it lacks is newer than the run,
        # which ran with that setting's default behaviour, not with today's preset.
        flat = {
            k: v for part in saved.values() if isinstance(part, Mapping) for k, v in part.items()
        }
        routed = split_overrides(flat, sections)
        dropped = routed.pop(None)
        if dropped:
            logger.info("saved config: ignoring settings no longer used: %s", ", ".join(dropped))
        for name, section in routed.items():
            values[name].update(section)
    for name, section in _route(agent, dict(overrides or {}), sections, "given").items():
        values[name].update(section)
    values["train"]["agent"] = agent
    if "hidden_sizes" in values["agent"]:
        values["agent"]["hidden_sizes"] = tuple(values["agent"]["hidden_sizes"])
    try:
        built = {name: cls(**values[name]) for name, cls in sections.items()}
    except TypeError as error:  # pragma: no cover - routing guarantees known fields
        raise ConfigError(str(error)) from None
    run = RunConfig(**built)
    validate(*run.sections().values())
    return run


__all__ = [
    "AUTO_PRESET",
    "DEFAULT_PRESET",
    "PRESETS",
    "PRESET_NAMES",
    "agents_using",
    "describe_preset",
    "preset_for_env",
    "preset_name",
    "preset_values",
    "refuse_unused",
    "resolve",
    "section_classes",
]
