"""Experiment specifications: named lists of (agent, variant, environment, seed) training runs.

A :class:`TrainingExperiment` is the product of its variants (an agent and config overrides), its
environments (each with a step budget) and its seeds; :meth:`TrainingExperiment.runs` lists the
:class:`RunSpec` s, and :meth:`RunSpec.resolve` turns one into the ``(TrainConfig, agent config)``
pair that :func:`softrl_tf.training.loop.train` takes. Overrides apply in this order, later ones
winning: the config defaults, the preset (``softrl_tf.presets``; ``experiments`` unless the
experiment names another), the experiment's, the environment's, the variant's, and finally the
run's own fields (environment, seed, budget, root dir, logging and checkpoint periods), all
through the one resolver, :func:`softrl_tf.presets.resolve`.

A :class:`NumericExperiment` is a computation that is not a training run (exact enumeration, a
least-squares identity); its function writes its own tables.

Quick mode (``quick=True``) is a tiny version of the same experiment for smoke tests and the
notebooks' ``SOFTRL_QUICK=1``: only the environments with a ``quick_steps`` budget, at that budget,
and the first two seeds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from softrl_tf.agents import get_agent_class
from softrl_tf.config import RunConfig
from softrl_tf.presets import resolve

QUICK_SEEDS = 2


@dataclass(frozen=True)
class Variant:
    """One algorithm in an experiment: an agent and its config overrides.

    Attributes:
      name: short name used in run names and tables (``naive``, ``soft-lse``).
      agent: agent name in :data:`softrl_tf.agents.AGENTS`.
      agent_overrides: agent-config fields to set.
      description: one line for tables and notebooks.
    """

    name: str
    agent: str
    agent_overrides: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class EnvBudget:
    """An environment of an experiment and its budget.

    Attributes:
      env: gymnasium id (``CartPole-v1``, ``MinAtar/Breakout-v1``, ``PongNoFrameskip-v4``).
      total_steps: environment steps per run (over all parallel environments).
      quick_steps: the budget in quick mode; 0 leaves this environment out of quick mode.
      log_every_steps: metric-row period; 0 means ``total_steps // 100``.
      train_overrides, agent_overrides: config fields set for every run on this environment.
    """

    env: str
    total_steps: int
    quick_steps: int = 0
    log_every_steps: int = 0
    train_overrides: Mapping[str, Any] = field(default_factory=dict)
    agent_overrides: Mapping[str, Any] = field(default_factory=dict)


def env_slug(env: str) -> str:
    """``MinAtar/Breakout-v1`` -> ``MinAtar-Breakout-v1``: an environment id as a path part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", env)


@dataclass(frozen=True)
class RunSpec:
    """One training run of an experiment.

    Attributes:
      experiment: the experiment's name.
      variant: the variant's name.
      agent: agent name.
      env: gymnasium id.
      seed: random seed.
      total_steps: environment steps.
      log_every_steps: metric-row period.
      preset: a preset of ``softrl_tf.presets.PRESETS`` applied first.
      train_overrides, agent_overrides: the merged overrides (experiment, environment, variant).
      quick: whether this is the quick-mode version.
    """

    experiment: str
    variant: str
    agent: str
    env: str
    seed: int
    total_steps: int
    log_every_steps: int
    preset: str = "experiments"
    train_overrides: Mapping[str, Any] = field(default_factory=dict)
    agent_overrides: Mapping[str, Any] = field(default_factory=dict)
    quick: bool = False

    @property
    def name(self) -> str:
        """The run directory's name: ``<variant>-<env slug>-s<seed>``."""
        return f"{self.variant}-{env_slug(self.env)}-s{self.seed}"

    def resolve(self, root_dir: str) -> RunConfig:
        """The :class:`~softrl_tf.config.RunConfig` that :func:`softrl_tf.training.loop.train`
        takes.

        Exports are off (the experiments keep metrics only); checkpoints are written five times
        per run (so that an interrupted run resumes from at most a fifth of its budget back), with
        the replay buffer for the off-policy agents (so that a resumed run continues with the
        same data).

        Raises:
          ConfigError: an override names a setting the run's agent does not use.
        """
        overrides = {
            **self.train_overrides,
            **self.agent_overrides,
            "env": self.env,
            "seed": self.seed,
            "total_steps": self.total_steps,
            "root_dir": root_dir,
            "log_every_steps": self.log_every_steps,
            "checkpoint_every_steps": max(1, self.total_steps // 5),
            "keep_checkpoints": 1,
            "checkpoint_replay_buffer": not get_agent_class(self.agent).on_policy,
            "export": False,
        }
        return resolve(self.agent, self.preset, overrides=overrides)


@dataclass(frozen=True)
class TrainingExperiment:
    """A named list of training runs: variants x environments x seeds.

    Attributes:
      name: directory name under the results dir.
      title: one line.
      description: what is compared and why (docs/theory.md section).
      variants, envs, seeds: the product that makes the runs.
      preset: the preset applied to every run first (``softrl_tf.presets``).
      train_overrides, agent_overrides: config fields set for every run.
    """

    name: str
    title: str
    description: str
    variants: tuple[Variant, ...]
    envs: tuple[EnvBudget, ...]
    seeds: tuple[int, ...]
    preset: str = "experiments"
    train_overrides: Mapping[str, Any] = field(default_factory=dict)
    agent_overrides: Mapping[str, Any] = field(default_factory=dict)

    kind = "training"

    def variant(self, name: str) -> Variant:
        """The variant called ``name``."""
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise ValueError(f"{self.name} has no variant {name!r}.")

    def runs(self, quick: bool = False) -> list[RunSpec]:
        """Every run, environment-major then variant then seed (quick mode: see the module)."""
        runs = []
        seeds = self.seeds[:QUICK_SEEDS] if quick else self.seeds
        for budget in self.envs:
            steps = budget.quick_steps if quick else budget.total_steps
            if steps <= 0:
                continue
            log_every = budget.log_every_steps or max(1, budget.total_steps // 100)
            if quick:
                log_every = max(1, steps // 20)
            for variant in self.variants:
                for seed in seeds:
                    runs.append(
                        RunSpec(
                            experiment=self.name,
                            variant=variant.name,
                            agent=variant.agent,
                            env=budget.env,
                            seed=seed,
                            total_steps=steps,
                            log_every_steps=log_every,
                            preset=self.preset,
                            train_overrides={**self.train_overrides, **budget.train_overrides},
                            agent_overrides={
                                **self.agent_overrides,
                                **budget.agent_overrides,
                                **variant.agent_overrides,
                            },
                            quick=quick,
                        )
                    )
        return runs


@dataclass(frozen=True)
class NumericExperiment:
    """A computation that is not a training run.

    Attributes:
      name: directory name under the results dir.
      title: one line.
      description: the identity shown (docs/theory.md section).
      function: ``function(out_dir, seeds, quick) -> list[dict]``: writes its tables and figures
        under ``out_dir`` and returns the rows of its summary table.
      seeds: the seeds (quick mode uses the first two).
    """

    name: str
    title: str
    description: str
    function: Callable[[str, tuple[int, ...], bool], list[dict]]
    seeds: tuple[int, ...] = (0, 1, 2)

    kind = "numeric"
