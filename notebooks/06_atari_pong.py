# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. Atari: the paper's A2C settings on Pong
#
# `--preset=atari` is the paper's Atari setup for A2C (OpenAI baselines' A2C as paper §6.1 and
# §6.3 used it): 16 environments, 5-step segments (batch 80), Nature CNN on 84x84x4 grey frames,
# RMSProp 7e-4, gradient-norm clip 0.5, value coefficient 0.5, τ = 0.01 with $-\tau KL$ in the
# returns (proper, `docs/theory.md §5`), DeepMind wrappers with sign reward clipping. On this 2-core
# CPU only a few hundred thousand frames fit; A2C on Pong usually starts to improve from −21 after
# about 1-2M frames, so this budget shows the pipeline running and the throughput, not learning.
# The x axes count **agent steps**; one agent step is 4 frames (frame skipping). Full runs (10M
# agent steps = 40M frames, as the baselines-results curves where A2C reaches +18 to +20):
#
# ```bash
# softrl-train --agent=a2c --preset=atari --root-dir=runs/pong-a2c-s0 --seed=0
# softrl-train --agent=softq --preset=atari --root-dir=runs/pong-softq-s0 --seed=0
# softrl-plot runs/pong-* --out pong.png   # x axis: agent steps (x4 for frames)
# ```
#
# on a GPU machine or Colab (GPU runtime; the first cell installs softrl_tf).

# %%
# Colab set-up; does nothing elsewhere. Set SOFTRL_INSTALL to softrl_tf's git URL
# ("git+https://...") or to the path of a wheel uploaded to this session; softrl_tf.colab says how
# the install keeps Colab's TensorFlow. This cell is the same in every notebook.
import os
import subprocess
import sys

SOFTRL_INSTALL = os.environ.get("SOFTRL_INSTALL", "")  # or write the URL / wheel path here
if "google.colab" in sys.modules and not SOFTRL_INSTALL:
    print(
        "On Colab, set SOFTRL_INSTALL to softrl_tf's git URL (git+https://...) or to the path of "
        "an uploaded wheel (python -m build --wheel), then rerun this cell."
    )
elif "google.colab" in sys.modules:
    # softrl_tf alone first (it imports no TensorFlow), so that its installer can run.
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", SOFTRL_INSTALL]
    subprocess.run(pip, check=True)
    import importlib

    importlib.invalidate_caches()
    from softrl_tf import colab

    colab.setup(SOFTRL_INSTALL)

# %%
import logging
import os
import tempfile
from pathlib import Path

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # fewer C++ log lines from TensorFlow
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # e.g. tf.function retracing warnings
plt.rcParams["figure.dpi"] = 80  # modest PNG outputs
# The committed results of a checkout; without them (e.g. on Colab) the notebook runs quick mode.
REPO = next((p for p in [Path.cwd(), *Path.cwd().parents] if (p / "setup.py").is_file()), None)
RESULTS = REPO / "results" if REPO is not None and (REPO / "results").is_dir() else None
QUICK = os.environ.get("SOFTRL_QUICK") == "1" or RESULTS is None
QUICK_DIR = tempfile.mkdtemp(prefix="softrl-quick-") if QUICK else None  # never results/
print("quick mode" if QUICK else "reading the committed results under results/")

# %%
from softrl_tf import experiments
from softrl_tf.experiments import figures

# %% [markdown]
# ## A quick re-run (`SOFTRL_QUICK=1`)

# %%
NAME = "atari_pong"
experiment = experiments.get_experiment(NAME)
variants = [variant.name for variant in experiment.variants]
if QUICK:
    # A tiny version end to end (two seeds, a few thousand steps) in a temporary directory.
    text = experiments.run(NAME, QUICK_DIR, workers=0, quick=True, figure=False, log=None)
    display(Markdown(text))
    runs = experiments.load_runs(experiment, QUICK_DIR, quick=True)
    figures.learning_curves(runs, title=f"{experiment.title} (quick run)", variants=variants)
    plt.show()
else:
    print("SOFTRL_QUICK=1 re-runs a tiny version here. The full runs:")
    print(f"  python scripts/experiment.py run {NAME} --workers=2")

# %% [markdown]
# ## The committed results

# %%
if RESULTS is not None:
    rows, table = experiments.summarize(experiment, str(RESULTS), write=False)
    display(Markdown(table))
    runs = experiments.load_runs(experiment, str(RESULTS))
    figures.learning_curves(runs, title=experiment.title, variants=variants)
    plt.show()

# %% [markdown]
# Each panel is one environment; each curve, one variant (its own colour and line style): the mean
# over seeds of the 100-episode mean training return against agent steps, read from the runs'
# `metrics.csv` by `softrl_tf.results`. The shaded band is `softrl_tf.results.stats.BAND`, whose
# text titles each legend; a table row's interval is the same 95% t interval over seeds. The
# variants share their seeds, so at quick scale (two seeds, a few thousand steps) their curves often
# coincide: the line styles show where.
# Here there is one variant (`proper`); the quick run (640 agent steps) shows the pipeline.

# %%
if RESULTS is not None:  # what the committed results show, from results/<experiment>/findings.md
    display(Markdown((RESULTS / NAME / "findings.md").read_text(encoding="utf-8")))

# %%
# Throughput of the committed runs (agent steps per second on this machine's CPU).
import json

for run_json in sorted((RESULTS / NAME).glob("*/run.json")) if RESULTS is not None else []:
    record = json.loads(run_json.read_text(encoding="utf-8"))
    if record.get("status") == "finished":
        rate = record["env_steps"] / record["wall_s"]
        print(
            f"{run_json.parent.name}: {record['env_steps']:,} agent steps in "
            f"{record['wall_s'] / 60:.1f} min = {rate:.0f} steps/s"
        )
