"""``results/README.md`` from the experiments' summaries, provenance and findings.

For every experiment with results under the results dir: its title, the commands that produced
the results (``provenance.json``, quick runs left out) with their wall times, the summary table
(``summary.md``), the figure, and ``findings.md``: the written reading of the results (the only
hand-written file of an experiment's directory; it interprets the numbers and never changes them).
"""

from __future__ import annotations

import os

from softrl_tf.experiments.registry import (
    CURVES_PNG,
    EXPERIMENTS,
    LARGE_EXPERIMENTS,
    read_provenance,
)
from softrl_tf.results.stats import BAND

README = "README.md"
FINDINGS = "findings.md"
FIGURES = {"equivalence": "equivalence.png"}

INTRO = f"""\
# Results

Every table and figure here was produced by `scripts/experiment.py` (see each section's command
and `provenance.json`) and is read, not edited: `<experiment>/<run>/metrics.csv` is the training
curve of one run, `config.json` its resolved configuration, `run.json` its status and wall time;
`summary.md` / `summary.csv` the table over seeds. This file, the summaries and the figures are
regenerated from those files, without training, by `scripts/experiment.py report`.

**Scale.** A 2-core CPU, three seeds per condition. CartPole-v1: 100k environment steps (DQN
variants 50k). MinAtar Breakout and SpaceInvaders (`minatar`, 10x10 grids): 250k steps (DQN
variants 80k). 8 parallel environments, hyperparameters pinned in
`softrl_tf/experiments/registry.py` (MLP 64-64; A2C/soft-Q: RMSProp 7e-4 constant, 5-step
segments, value coefficient 0.5, tau 0.01; DQN: Adam 1e-3, replay 100k, batch 64, target copy
every 500 updates, epsilon 1 -> 0.05), identical for every variant of an experiment. The
paper's Atari runs were 10M-80M agent steps on several games: these budgets show early learning,
not the paper's asymptotic scores. *Final* is the mean return of the last 100 training
episodes at the end of training (behaviour policy, exploration included); *AUC* the average of
that curve over training; intervals are 95% t intervals over seeds.

**Figures.** Learning curves against agent steps (on Atari one agent step is 4 emulator frames),
drawn as the {BAND} (the tables' interval, at every step).
"""


def _commands(name: str, results_dir: str) -> list[str]:
    lines = []
    for entry in read_provenance(results_dir, name):
        if entry.get("quick"):
            continue
        minutes = entry.get("wall_s", 0) / 60
        revision = entry.get("git_revision") or "?"
        lines.append(
            f"- `{entry['command']}` ({entry.get('started', '?')}, {minutes:.1f} min, "
            f"revision {revision})"
        )
    return lines


def _strip_title(text: str) -> str:
    """A summary.md without its title, its section headings one level down."""
    lines = text.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    lines = ["#" + line if line.startswith("## ") else line for line in lines]
    return "\n".join(lines).strip()


def build_readme(results_dir: str) -> str:
    """The README text for the experiments found under ``results_dir``."""
    parts = [INTRO]
    listed = {**EXPERIMENTS, **LARGE_EXPERIMENTS}  # a large one only once its results exist
    for number, (name, experiment) in enumerate(listed.items(), start=1):
        directory = os.path.join(results_dir, name)
        summary_path = os.path.join(directory, "summary.md")
        if not os.path.isfile(summary_path):
            continue
        parts.append(f"## {number}. {experiment.title}\n")
        parts.append(experiment.description + "\n")
        commands = _commands(name, results_dir)
        if commands:
            parts.append("Produced by:\n\n" + "\n".join(commands) + "\n")
        if experiment.kind == "training":
            seeds = ", ".join(map(str, experiment.seeds))
            budgets = "; ".join(f"{b.env} {b.total_steps:,} steps" for b in experiment.envs)
            parts.append(f"Seeds {seeds}; budgets: {budgets}.\n")
        with open(summary_path, encoding="utf-8") as f:
            parts.append(_strip_title(f.read()) + "\n")
        figure = FIGURES.get(name, CURVES_PNG)
        if os.path.isfile(os.path.join(directory, figure)):
            parts.append(f"![{name}]({name}/{figure})\n")
        findings = os.path.join(directory, FINDINGS)
        if os.path.isfile(findings):
            with open(findings, encoding="utf-8") as f:
                parts.append(f.read().strip() + "\n")
    return "\n".join(parts)


def write_readme(results_dir: str) -> str:
    """Writes ``<results_dir>/README.md``; returns its path."""
    path = os.path.join(results_dir, README)
    with open(path, "w", encoding="utf-8") as f:
        f.write(build_readme(results_dir))
    return path
