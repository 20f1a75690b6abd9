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
# # 5. Damped soft-Q regression is a natural policy gradient step (paper §5)
#
# With $V$ frozen, $Q_\theta - Q_{old} = \tau(\log\pi_\theta - \log\pi_{old})$, so the Jacobian of
# $Q_\theta(s_t,a_t)$ is $\tau\Psi$ (rows $\nabla\log\pi_\theta(a_t|s_t)$). A Gauss-Newton step on
# the damped regression
# $\min_\theta \sum_t \big(Q_\theta(s_t,a_t)
#   - [(1-\epsilon)Q_{old}(s_t,a_t) + \epsilon\hat Q_t]\big)^2$
# is therefore (`docs/theory.md §7`)
#
# $$\Delta\theta = \frac{\epsilon}{\tau}\,\arg\min_w \big\|\Psi w - (\hat Q - V - \tau\ell)\big\|^2
#   = \frac{\epsilon}{\tau}\,F^{-1} g,$$
#
# the natural gradient of the entropy-regularised objective with the empirical Fisher
# $F = \Psi^\top\Psi/N$ and $g = \Psi^\top(\hat Q - V - \tau\ell)/N$,
# $\ell_t = \log(\pi_{old}/\bar\pi)$.
# Below: both steps computed independently (autodiff Jacobians, least squares, float64) on a
# random problem with a tanh-MLP policy; and the paper's caveat, a value function that moves in
# the same regression, as a control.

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
notebook.show_summary("npg", paths)  # quick: computed afresh

# %%
# The identity over step sizes and temperatures (seed 0): V frozen vs V fitted in the regression.
from softrl_tf.experiments import npg

TAUS, EPSILONS = (0.05, 0.3, 2.0), (0.01, 0.03, 0.1, 0.3, 0.5)
grid = {
    (tau, eps): npg.npg_identity(seed=0, tau=tau, epsilon=eps) for tau in TAUS for eps in EPSILONS
}
for (tau, eps), r in grid.items():
    print(
        f"tau={tau:<5} eps={eps:<5} |step|={r['npg_norm']:9.4f}  "
        f"rel. error={r['relative_error']:.1e}  (V moves: {r['moving_v_relative_error']:.2f})"
    )

fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
for index, (tau, marker) in enumerate(zip(TAUS, "osD", strict=True)):
    for key, style, what in (
        ("relative_error", "-", "V frozen"),
        ("moving_v_relative_error", "--", "V moves"),
    ):
        errors = [grid[tau, eps][key] for eps in EPSILONS]
        label = f"tau={tau}, {what}"
        ax.plot(EPSILONS, errors, style, color=f"C{index}", marker=marker, ms=4, label=label)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("damping epsilon")
ax.set_ylabel(r"$\|d_{GN} - (\epsilon/\tau) F^{-1} g\| / \|(\epsilon/\tau) F^{-1} g\|$")
ax.set_title("Gauss-Newton step vs natural policy gradient step")
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize="x-small", ncols=2, frameon=False)
plt.show()

# %% [markdown]
# One random problem (seed 0; one value per point, so no band), relative error between the
# Gauss-Newton step of the damped soft-Q regression and $(\epsilon/\tau)$ times the natural policy
# gradient step. Solid: $V$ frozen, where the identity holds and the error is float64 rounding
# (~1e-13), whatever $\tau$ and $\epsilon$. Dashed: $V$ fitted in the same regression, the paper's
# caveat, where the policy step is a different vector (errors of order 1). On this problem neither
# error depends on $\epsilon$ or $\tau$, so the three $\tau$ curves of each kind lie on top of
# each other (markers: o, s, D). This experiment takes a
# second, so quick mode computes the same thing.

# %%
notebook.show_findings("npg", paths)  # results/npg/findings.md
