"""Reproduction layer: the paper's experiments as named lists of training runs, and numeric checks.

``softrl_tf.experiments.run("entropy_returns", results_dir="results", workers=2)`` trains what is
not finished yet of an experiment, writes ``results/<experiment>/<run>/`` (``metrics.csv``,
``config.json``, ``run.json``), ``summary.md`` / ``summary.csv`` (final and area-under-curve
returns, mean and 95% interval over seeds), ``curves.png`` and ``provenance.json`` (the commands
that produced them). :mod:`.cli` is the command line (``scripts/experiment.py``).

Modules: :mod:`~softrl_tf.experiments.specs` (runs, variants, budgets), :mod:`.registry` (the six
experiments), :mod:`.runner` (parallel processes, skip / resume / reuse), :mod:`.summary`
(tables), :mod:`.figures`, :mod:`.equivalence` (experiment 1), :mod:`.npg` (experiment 5),
:mod:`.envs` (MinAtar ids). Reading ``metrics.csv``, the statistics over seeds and the
learning-curve figure come from :mod:`softrl_tf.results`.
"""

from softrl_tf.experiments.registry import EXPERIMENTS, get_experiment, run
from softrl_tf.experiments.runner import RunRecord, StaleResultError, run_experiment
from softrl_tf.experiments.specs import (
    EnvBudget,
    NumericExperiment,
    RunSpec,
    TrainingExperiment,
    Variant,
)
from softrl_tf.experiments.summary import load_runs, summarize

__all__ = [
    "EXPERIMENTS",
    "EnvBudget",
    "NumericExperiment",
    "RunRecord",
    "RunSpec",
    "StaleResultError",
    "TrainingExperiment",
    "Variant",
    "get_experiment",
    "load_runs",
    "run",
    "run_experiment",
    "summarize",
]
