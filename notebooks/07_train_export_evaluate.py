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
# # 7. Train a small agent, export it, evaluate it with plain TensorFlow
#
# The estimator `softrl_tf.SoftQ` trains soft n-step Q-learning (`softq`, the paper's §6.3 agent,
# `docs/theory.md §6.3`) on CartPole-v1 with its default settings (Keras `fit` underneath), and
# exports a SavedModel. The SavedModel needs only TensorFlow: `serving_default(observation)` returns
# the greedy `action` and the per-action outputs (for `softq`, $Q = V + \tau\log(\pi/\bar\pi)$,
# `docs/theory.md §2`), and `sample(observation, temperature)` draws from the Boltzmann policy.
# Below it is loaded with `tf.saved_model.load` and run on gymnasium's CartPole with no softrl_tf
# code in the loop.

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
import os
import tempfile
import warnings

import softrl_tf
from softrl_tf.results import figures, read_metrics

import tensorflow as tf
from absl import logging as absl_logging

# The exports' informational lines (assets written, argument names sanitised): not shown.
tf.get_logger().setLevel("ERROR")
absl_logging.set_verbosity("error")
warnings.filterwarnings("ignore", message="Encoding a StructuredValue")

run_dir = tempfile.mkdtemp(prefix="softrl-export-")
budget = 5_000 if paths.quick else 60_000
# total_steps sizes the learning-rate schedule (linear to 0) to the budget fit is given.
agent = softrl_tf.SoftQ(
    "CartPole-v1", seed=0, root_dir=run_dir, total_steps=budget, log_every_steps=1_000
)
result = agent.fit(budget, progress=False)
agent.export(run_dir)
print(
    f"trained {result.env_steps:,} agent steps, {result.episodes} episodes; "
    f"mean return of the last 100: {result.mean_return():.1f}; "
    f"greedy evaluation: {agent.evaluate(episodes=10).mean:.1f}"
)
print(sorted(os.listdir(run_dir)))

# The learning curve of this run, read back from its metrics.csv.
steps, returns = read_metrics(run_dir).curve()
fig, _ = figures.learning_curves(
    {"CartPole-v1": {"softq, seed 0": [(steps, returns)]}}, title="This run's training curve"
)
plt.show()

# %% [markdown]
# One run (seed 0), so the curve has no band (`softrl_tf.results.stats.BAND` needs two seeds or
# more): the mean return of the last 100 training episodes (behaviour policy, sampling from the
# Boltzmann policy) against agent steps. CartPole-v1 caps an episode's return at 500.

# %%
# Plain TensorFlow from here on: load the SavedModel and play greedy episodes.
import gymnasium as gym
import numpy as np

model = tf.saved_model.load(os.path.join(run_dir, "saved_model"))
serve = model.signatures["serving_default"]
print({k: v.shape for k, v in serve.structured_outputs.items()})

env = gym.make("CartPole-v1")
episode_returns = []
for episode in range(3 if paths.quick else 10):
    observation, _ = env.reset(seed=1000 + episode)
    total, done = 0.0, False
    while not done:
        out = serve(observation=tf.constant(observation[None], tf.float32))
        observation, reward, terminated, truncated, _ = env.step(int(out["action"][0]))
        total += reward
        done = terminated or truncated
    episode_returns.append(total)
env.close()
print("greedy returns:", episode_returns, "mean:", np.mean(episode_returns))

fig, ax = plt.subplots(figsize=(4.8, 3.0), layout="constrained")
ax.bar(range(len(episode_returns)), episode_returns, color="C0")
ax.axhline(500, color="k", ls=":", lw=1, label="CartPole-v1 cap")
ax.set_xlabel("evaluation episode (reset seed 1000 + i)")
ax.set_ylabel("greedy return")
ax.set_title("The SavedModel's greedy episodes")
ax.legend(fontsize="small", frameon=False)
plt.show()

# %% [markdown]
# The greedy policy is evaluated from the SavedModel alone, with no softrl_tf code in the loop; the
# bars are the returns of the individual episodes. The full budget is 60k agent steps (about a
# minute on two CPU cores); the quick run (5k steps) only checks that the pipeline works. From the
# command line the same is `softrl-train --agent=softq` and `softrl-evaluate <run>/saved_model`.
