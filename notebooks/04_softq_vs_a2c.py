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
# # 4. Soft n-step Q-learning matches A2C (paper §6.3)
#
# The A2C network is read as $Q_\theta(s,a) = V_\theta(s) + \tau\log\pi_\theta(a|s)$ (a
# dueling-style head) and trained by soft 5-step Q-learning: the behaviour policy is
# $\pi_\theta$ itself (no ε schedule), no target network. By paper §4 (`docs/theory.md §6.2`) the
# plain soft-Q gradient is $\tau\,\mathbb E\nabla(L_{PG} + \tfrac1\tau L_V)$: A2C with value
# coefficient $c = 1/\tau = 100$. Scaling the backward pass, $1/\tau$ into the advantage stream and
# $c = 0.5$ into the value stream (the forward value unchanged), gives
# $\mathbb E\nabla(L_{PG} + 0.5\,L_V)$: A2C with the usual coefficient (`docs/theory.md §6.3`).
# (The paper's text says "1/γ"; the algebra requires $1/\tau$: `docs/theory.md §9`.)
#
# Variants: `a2c` (proper A2C, c = 0.5), `softq` (stream-scaled), `softq-unscaled` (c = 1/τ),
# `a2c-c100` (A2C with c = 100). The paper found `softq` and `a2c` nearly identical, and c = 100
# unstable for both.

# %% [markdown]
# **Scale.** The paper trained on Atari for 40M-320M frames. Here, on a 2-core CPU: three seeds;
# CartPole-v1 for 100k environment steps and two MinAtar games (Breakout, SpaceInvaders: 10x10
# grids, `minatar` package) for 250k steps (DQN variants: 50k and 80k steps), with 8 parallel
# environments and the settings pinned in `softrl_tf.experiments.registry` and the `experiments`
# preset of `softrl_tf.presets`. The return curves are the mean return of the last 100 training
# episodes (behaviour policy) logged by the training loop. These budgets show early learning, not
# the asymptotic scores of the paper's figures.

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
NAME = "softq_vs_a2c"

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

# %%
notebook.show_findings(NAME, paths)  # results/<experiment>/findings.md
