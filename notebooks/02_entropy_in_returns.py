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
# # 2. Entropy in the returns: naive vs proper A2C (paper §6.1)
#
# The entropy-regularised objective is $\mathbb E\sum_t \gamma^t (r_t - \tau KL_t)$ with
# $KL_t = KL(\pi(\cdot|s_t)\,\|\,\bar\pi)$, $\bar\pi$ uniform (`docs/theory.md §3`). Standard
# ("naive") A2C only adds the per-step term $-\tau\nabla KL_t$ to the policy gradient; its returns
# hold rewards only. The "proper" estimator puts the future penalties inside the returns
# (`docs/theory.md §5`):
#
# $$\hat V_t = r_t - \tau KL_t + \gamma \hat V_{t+1},\qquad
#   g = \mathbb E\Big[\nabla\log\pi(a_t|s_t)\,(\hat V_t - V(s_t)) - \tau\nabla KL_t\Big].$$
#
# The paper (τ = 0.01, 320M Atari frames, hyperparameters tuned for naive and reused for proper)
# found proper **as good as naive or slightly better**. Here both variants run with identical
# hyperparameters and seeds.

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
NAME = "entropy_returns"

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
