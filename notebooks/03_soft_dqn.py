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
# # 3. Soft DQN: one line changed (paper §6.2)
#
# DQN's target $y = r + \gamma \max_{a'} \bar Q(s',a')$ becomes a soft backup
# (`docs/theory.md §8`):
#
# | variant | $y$ (non-terminal) |
# |---|---|
# | `dqn` | $r + \gamma \max_{a'} \bar Q(s',a')$ |
# | `soft-lse` (entropy bonus) | $r + \gamma\tau\log\sum_{a'} e^{\bar Q(s',a')/\tau}$ |
# | `soft-lme` (KL) | $r + \gamma\tau\log\frac{1}{\lvert A\rvert}\sum_{a'} e^{\bar Q(s',a')/\tau}$ |
# | `soft-lse-5` | soft-lse with 5-step returns |
#
# so soft-lme is soft-lse $- \gamma\tau\log|A|$. τ = 0.1; the same ε-greedy exploration for all. The
# paper found the entropy-bonus version slightly better than DQN and the KL version worse, and
# read the gain as the constant $+\tau\log|A|$ per step (a survival bonus); 5-step Q was better
# on Pong and Q*bert, worse on the other games.

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
NAME = "soft_dqn"

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
