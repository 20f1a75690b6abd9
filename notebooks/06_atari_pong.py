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
from softrl_tf import notebook  # imports no TensorFlow: setup() quiets its logs first

paths = notebook.setup()  # quick mode with SOFTRL_QUICK=1 or without results/
NAME = "atari_pong"

# %% [markdown]
# ## A quick re-run (`SOFTRL_QUICK=1`)

# %%
notebook.show_quick_run(NAME, paths)

# %% [markdown]
# ## The committed results

# %%
notebook.show_committed(NAME, paths)

# %% [markdown]
# Each panel is one environment; each curve, one variant (its own colour and line style): the mean
# over seeds of the 100-episode mean training return against agent steps, read from the runs'
# `metrics.csv` by `softrl_tf.results`. The shaded band is `softrl_tf.results.stats.BAND`, whose
# text titles each legend; a table row's interval is the same 95% t interval over seeds. The
# variants share their seeds, so at quick scale (two seeds, a few thousand steps) their curves often
# coincide: the line styles show where.
# Here there is one variant (`proper`); the quick run (640 agent steps) shows the pipeline.

# %%
notebook.show_findings(NAME, paths)  # results/<experiment>/findings.md

# %%
# Throughput of the committed runs (agent steps per second on this machine's CPU).
import json

committed = sorted((paths.results / NAME).glob("*/run.json")) if paths.results else []
for run_json in committed:
    record = json.loads(run_json.read_text(encoding="utf-8"))
    if record.get("status") == "finished":
        rate = record["env_steps"] / record["wall_s"]
        print(
            f"{run_json.parent.name}: {record['env_steps']:,} agent steps in "
            f"{record['wall_s'] / 60:.1f} min = {rate:.0f} steps/s"
        )
