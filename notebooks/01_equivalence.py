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
# # 1. Soft Q-learning's gradient equals the policy gradient (paper §4)
#
# Parametrise only $Q_\theta$ and read it as a value and a policy:
# $V_\theta(s) = \tau \log \mathbb E_{a\sim\bar\pi} e^{Q_\theta(s,a)/\tau}$ and
# $\pi_\theta = \bar\pi\, e^{(Q_\theta - V_\theta)/\tau}$, so that
# $Q_\theta = V_\theta + \tau \log(\pi_\theta/\bar\pi)$ (`docs/theory.md §2`). With actions drawn
# from $\pi_\theta$ and every target held fixed, the $n$-step soft-Q regression has the expected
# gradient of entropy-regularised A2C (`docs/theory.md §6.2`):
#
# $$\mathbb E\,\nabla_\theta \tfrac12\big(Q_\theta(s_t,a_t) - y_t\big)^2
#   = \tau\,\mathbb E\,\nabla L_{PG} + \mathbb E\,\nabla L_V,$$
#
# with $L_{PG} = -\log\pi_\theta(a_t|s_t)\,\Delta_t + \tau\,KL_\theta(s_t)$ and
# $L_V = \tfrac12 (V_\theta(s_t) - \hat V_t)^2$. With the paper's §6.3 stream scaling ($1/\tau$ on
# the advantage stream, $c$ on the value stream; `docs/theory.md §6.3`) it is
# $\mathbb E\nabla(L_{PG} + c\,L_V)$.
#
# Two measurements: **exact enumeration** on a 3-state MDP (every 3-step trajectory weighted by
# its probability, `softrl_tf.losses` in float64), where both sides must agree to rounding, with
# off-policy behaviour as a negative control; and **real batches** from a frozen A2C agent on
# CartPole, where the identity holds only in expectation (the per-sample difference is
# $\propto \tau(\ell_t - KL_t)$, `docs/theory.md §6.4`), so the mean gradients should approach each
# other as more batches are averaged, while an epsilon-greedy behaviour policy leaves a bias.

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

import matplotlib.pyplot as plt

paths = notebook.setup()  # quick mode with SOFTRL_QUICK=1 or without results/

# %%
from softrl_tf.experiments import equivalence, figures

notebook.show_summary("equivalence", paths)  # quick: computed afresh
rows = equivalence.read_rows(str(paths.out / "equivalence" / "batches.csv"))
figures.equivalence_figure(rows)
plt.show()

# %% [markdown]
# Relative error between the mean soft-Q gradient and the mean policy gradient (plus value
# gradient) of $k$ real batches, against $k$; left over all variables, right in the policy-logit
# layer. Markers are the mean over seeds; the shaded band here is min to max over seeds (its name,
# `softrl_tf.experiments.figures.EQUIVALENCE_BAND`, titles the legend): a t interval of three seeds
# on a log axis would reach below zero. The dotted line is the $1/\sqrt{k}$ slope.

# %%
notebook.show_findings("equivalence", paths)  # results/equivalence/findings.md
