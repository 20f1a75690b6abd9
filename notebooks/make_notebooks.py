"""Writes the notebooks of this folder from the cell texts below (outputs cleared).

    python notebooks/make_notebooks.py             # outputs cleared
    python notebooks/make_notebooks.py --execute   # run each one on the committed results first

Each experiment notebook: a Colab set-up cell (does nothing elsewhere), the idea and its
equation, a quick re-run of the experiment when ``SOFTRL_QUICK=1`` (into a temporary directory,
never over the committed results), and the committed results (table and figure) with what they
show. ``pytest --nbmake notebooks/`` with ``SOFTRL_QUICK=1`` executes them all.
"""

from __future__ import annotations

import os

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))

COLAB = """\
# Colab set-up (does nothing elsewhere): clone softrl_tf and install it as the README says.
import os
import sys

if "google.colab" in sys.modules:
    # Either upload a copy of the repository to /content/softrl_tf, or set SOFTRL_REPO_URL to the
    # git URL of the softrl_tf repository you use.
    if not os.path.isdir("/content/softrl_tf"):
        REPO_URL = os.environ.get("SOFTRL_REPO_URL")
        if not REPO_URL:
            raise RuntimeError("Set SOFTRL_REPO_URL to softrl_tf's git URL, or upload the "
                               "repository to /content/softrl_tf, then rerun this cell.")
        !git clone --depth 1 {REPO_URL} /content/softrl_tf
    %cd /content/softrl_tf
    %pip install --no-deps "tf_keras~=2.21.0" "tf-agents==0.19.0" "gym==0.23.1"
    %pip install -e ".[atari,notebooks]"
    sys.path.insert(0, "/content/softrl_tf")
    %cd /content/softrl_tf/notebooks"""

IMPORTS = """\
import softrl_tf  # first: sets TF_USE_LEGACY_KERAS before TensorFlow loads

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from softrl_tf import experiments
from softrl_tf.experiments import figures, summary

QUICK = os.environ.get("SOFTRL_QUICK") == "1"
REPO = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "setup.py").is_file())
RESULTS = REPO / "results"  # the committed results; quick runs never write here
QUICK_DIR = tempfile.mkdtemp(prefix="softrl-quick-") if QUICK else None
print("quick mode" if QUICK else "reading the committed results", "| results:", RESULTS)"""


def training_cells(name: str) -> list[tuple[str, str]]:
    """The quick-run and committed-results cells of a training experiment."""
    quick = f"""\
experiment = experiments.get_experiment("{name}")
if QUICK:
    # A tiny version of the experiment, end to end, into a temporary directory.
    text = experiments.run(
        "{name}", QUICK_DIR, workers=0, quick=True, figure=False, log=print
    )
    display(Markdown(text))
    runs = summary.load_runs(experiment, QUICK_DIR, quick=True)
    figures.learning_curves(
        runs, title="quick run", variants=[v.name for v in experiment.variants]
    )
    plt.show()
else:
    print("Set SOFTRL_QUICK=1 to re-run a tiny version here; full runs:")
    print(f"  python scripts/experiment.py run {name} --workers=2")"""
    committed = f"""\
# The committed results: summary table (mean and 95% interval over seeds) and learning curves
# (mean over seeds, shaded +-1 standard deviation).
if (RESULTS / "{name}" / "summary.md").is_file():
    rows, table = summary.summarize(experiment, str(RESULTS), write=False)
    display(Markdown(table))
    runs = summary.load_runs(experiment, str(RESULTS))
    figures.learning_curves(
        runs, title=experiment.title, variants=[v.name for v in experiment.variants]
    )
    plt.show()
else:
    print("No committed results in", RESULTS / "{name}")"""
    return [("code", quick), ("code", committed)]


SCALE = """\
**Scale.** The paper trained on Atari for 40M-320M frames. Here, on a 2-core CPU: three seeds;
CartPole-v1 for 100k environment steps and two MinAtar games (Breakout, SpaceInvaders: 10x10
grids, `minatar` package) for 250k steps (DQN variants: 50k and 80k steps), with 8 parallel
environments and hyperparameters pinned in `softrl_tf.experiments.registry` (an MLP 64-64;
A2C/soft-Q RMSProp 7e-4 constant, 5-step segments, value coefficient 0.5, tau 0.01; DQN Adam 1e-3,
replay 100k, batch 64, target copy every 500 updates). The return curves are the mean
return of the last 100 training episodes (behaviour policy) logged by the training loop. These
budgets show early learning, not the asymptotic scores of the paper's figures."""


NOTEBOOKS = {
    "01_equivalence.ipynb": [
        (
            "markdown",
            r"""# 1. Soft Q-learning's gradient equals the policy gradient (paper §4)

Parametrise only $Q_\theta$ and read it as a value and a policy:
$V_\theta(s) = \tau \log \mathbb E_{a\sim\bar\pi} e^{Q_\theta(s,a)/\tau}$ and
$\pi_\theta = \bar\pi\, e^{(Q_\theta - V_\theta)/\tau}$, so that
$Q_\theta = V_\theta + \tau \log(\pi_\theta/\bar\pi)$. With actions drawn from $\pi_\theta$ and
every target held fixed, the $n$-step soft-Q regression has the expected gradient of
entropy-regularised A2C:

$$\mathbb E\,\nabla_\theta \tfrac12\big(Q_\theta(s_t,a_t) - y_t\big)^2
  = \tau\,\mathbb E\,\nabla L_{PG} + \mathbb E\,\nabla L_V,$$

with $L_{PG} = -\log\pi_\theta(a_t|s_t)\,\Delta_t + \tau\,KL_\theta(s_t)$ and
$L_V = \tfrac12 (V_\theta(s_t) - \hat V_t)^2$. With the paper's §6.3 stream scaling ($1/\tau$ on
the advantage stream, $c$ on the value stream) it is $\mathbb E\nabla(L_{PG} + c\,L_V)$.

Two measurements: **exact enumeration** on a 3-state MDP (every 3-step trajectory weighted by
its probability, `softrl_tf.losses` in float64), where both sides must agree to rounding, with
off-policy behaviour as a negative control; and **real batches** from a frozen A2C agent on
CartPole, where the identity holds only in expectation (the per-sample difference is
$\propto \tau(\ell_t - KL_t)$, paper.md T9), so the mean gradients should approach each other as
more batches are averaged, while an epsilon-greedy behaviour policy leaves a bias.""",
        ),
        ("code", COLAB),
        ("code", IMPORTS),
        (
            "code",
            """\
from softrl_tf.experiments import equivalence

out = Path(QUICK_DIR) if QUICK else RESULTS
if QUICK:
    display(Markdown(experiments.run("equivalence", QUICK_DIR, quick=True, log=None)))
else:
    display(Markdown((RESULTS / "equivalence" / "summary.md").read_text()))
rows = equivalence.read_rows(str(out / "equivalence" / "batches.csv"))
figures.equivalence_figure(rows)
plt.show()""",
        ),
        ("markdown", "FINDINGS:equivalence"),
    ],
    "02_entropy_in_returns.ipynb": [
        (
            "markdown",
            r"""# 2. Entropy in the returns: naive vs proper A2C (paper §6.1)

The entropy-regularised objective is $\mathbb E\sum_t \gamma^t (r_t - \tau KL_t)$ with
$KL_t = KL(\pi(\cdot|s_t)\,\|\,\bar\pi)$, $\bar\pi$ uniform. Standard ("naive") A2C only adds the
per-step term $-\tau\nabla KL_t$ to the policy gradient; its returns hold rewards only. The
"proper" estimator puts the future penalties inside the returns:

$$\hat V_t = r_t - \tau KL_t + \gamma \hat V_{t+1},\qquad
  g = \mathbb E\Big[\nabla\log\pi(a_t|s_t)\,(\hat V_t - V(s_t)) - \tau\nabla KL_t\Big].$$

The paper (τ = 0.01, 320M Atari frames, hyperparameters tuned for naive and reused for proper)
found proper **as good as naive or slightly better**. Here both variants run with identical
hyperparameters and seeds.""",
        ),
        ("markdown", SCALE),
        ("code", COLAB),
        ("code", IMPORTS),
        *training_cells("entropy_returns"),
        ("markdown", "FINDINGS:entropy_returns"),
    ],
    "03_soft_dqn.ipynb": [
        (
            "markdown",
            r"""# 3. Soft DQN: one line changed (paper §6.2)

DQN's target $y = r + \gamma \max_{a'} \bar Q(s',a')$ becomes a soft backup:

| variant | $y$ (non-terminal) |
|---|---|
| `dqn` | $r + \gamma \max_{a'} \bar Q(s',a')$ |
| `soft-lse` (entropy bonus) | $r + \gamma\,\tau \log \sum_{a'} e^{\bar Q(s',a')/\tau}$ |
| `soft-lme` (KL to uniform) | $r + \gamma\,\tau \log \tfrac{1}{|A|}\sum_{a'} e^{\bar Q(s',a')/\tau}$ $=$ soft-lse $- \gamma\tau\log|A|$ |
| `soft-lse-5` | soft-lse with 5-step returns |

τ = 0.1; the same ε-greedy exploration for all. The paper found the entropy-bonus version
slightly better than DQN and the KL version worse, and read the gain as the constant
$+\tau\log|A|$ per step (a survival bonus); 5-step Q was better on Pong and Q*bert, worse on the
other games.""",
        ),
        ("markdown", SCALE),
        ("code", COLAB),
        ("code", IMPORTS),
        *training_cells("soft_dqn"),
        ("markdown", "FINDINGS:soft_dqn"),
    ],
    "04_softq_vs_a2c.ipynb": [
        (
            "markdown",
            r"""# 4. Soft n-step Q-learning matches A2C (paper §6.3)

The A2C network is read as $Q_\theta(s,a) = V_\theta(s) + \tau\log\pi_\theta(a|s)$ (a
dueling-style head) and trained by soft 5-step Q-learning: the behaviour policy is
$\pi_\theta$ itself (no ε schedule), no target network. By §4 the plain soft-Q gradient is
$\tau\,\mathbb E\nabla(L_{PG} + \tfrac1\tau L_V)$: A2C with value coefficient $c = 1/\tau = 100$.
Scaling the backward pass, $1/\tau$ into the advantage stream and $c = 0.5$ into the value stream
(the forward value unchanged), gives $\mathbb E\nabla(L_{PG} + 0.5\,L_V)$: A2C with the usual
coefficient. (The paper's text says "1/γ"; the algebra requires $1/\tau$, paper.md §6.)

Variants: `a2c` (proper A2C, c = 0.5), `softq` (stream-scaled), `softq-unscaled` (c = 1/τ),
`a2c-c100` (A2C with c = 100). The paper found `softq` and `a2c` nearly identical, and c = 100
unstable for both.""",
        ),
        ("markdown", SCALE),
        ("code", COLAB),
        ("code", IMPORTS),
        *training_cells("softq_vs_a2c"),
        ("markdown", "FINDINGS:softq_vs_a2c"),
    ],
    "05_natural_policy_gradient.ipynb": [
        (
            "markdown",
            r"""# 5. Damped soft-Q regression is a natural policy gradient step (paper §5, T13)

With $V$ frozen, $Q_\theta - Q_{old} = \tau(\log\pi_\theta - \log\pi_{old})$, so the Jacobian of
$Q_\theta(s_t,a_t)$ is $\tau\Psi$ (rows $\nabla\log\pi_\theta(a_t|s_t)$). A Gauss-Newton step on
the damped regression
$\min_\theta \sum_t \big(Q_\theta(s_t,a_t) - [(1-\epsilon)Q_{old}(s_t,a_t) + \epsilon\hat Q_t]\big)^2$
is therefore

$$\Delta\theta = \frac{\epsilon}{\tau}\,\arg\min_w \big\|\Psi w - (\hat Q - V - \tau\ell)\big\|^2
  = \frac{\epsilon}{\tau}\,F^{-1} g,$$

the natural gradient of the entropy-regularised objective with the empirical Fisher
$F = \Psi^\top\Psi/N$ and $g = \Psi^\top(\hat Q - V - \tau\ell)/N$, $\ell_t = \log(\pi_{old}/\bar\pi)$.
Below: both steps computed independently (autodiff Jacobians, least squares, float64) on a
random problem with a tanh-MLP policy; and the paper's caveat, a value function that moves in
the same regression, as a control.""",
        ),
        ("code", COLAB),
        ("code", IMPORTS),
        (
            "code",
            """\
if QUICK:
    display(Markdown(experiments.run("npg", QUICK_DIR, quick=True, log=None)))
else:
    display(Markdown((RESULTS / "npg" / "summary.md").read_text()))""",
        ),
        (
            "code",
            """\
# The identity for a range of step sizes and temperatures: relative error stays at rounding.
from softrl_tf.experiments import npg

for tau in (0.05, 0.3, 2.0):
    for eps in (0.01, 0.1, 0.5):
        r = npg.npg_identity(seed=0, tau=tau, epsilon=eps)
        print(
            f"tau={tau:<5} eps={eps:<5} |step|={r['npg_norm']:9.4f}  "
            f"rel. error={r['relative_error']:.1e}"
        )""",
        ),
        ("markdown", "FINDINGS:npg"),
    ],
    "06_atari_pong.ipynb": [
        (
            "markdown",
            r"""# 6. Atari: the paper's A2C settings on Pong

`--preset=atari` is the paper's Atari setup for A2C (OpenAI baselines' A2C as §6.1/§6.3 used it):
16 environments, 5-step segments (batch 80), Nature CNN on 84x84x4 grey frames, RMSProp 7e-4,
gradient-norm clip 0.5, value coefficient 0.5, τ = 0.01 with $-\tau KL$ in the returns (proper),
DeepMind wrappers with sign reward clipping. On this 2-core CPU only a few hundred thousand
frames fit; A2C on Pong usually starts to improve from −21 after about 1-2M frames, so this
budget shows the pipeline running and the throughput, not learning. Full runs (10M agent steps
= 40M frames, as the baselines-results curves where A2C reaches +18 to +20):

```bash
python scripts/train.py --agent=a2c --preset=atari --root-dir=runs/pong-a2c-s0 --seed=0
python scripts/train.py --agent=softq --preset=atari --root-dir=runs/pong-softq-s0 --seed=0
python scripts/plot.py runs/pong-* --out pong.png --x-scale=4
```

on a GPU machine or Colab (GPU runtime; the first cell installs softrl_tf).""",
        ),
        ("code", COLAB),
        ("code", IMPORTS),
        *training_cells("atari_pong"),
        (
            "code",
            """\
# Throughput of the committed runs (environment steps per second, this machine's CPU).
import json

for run_dir in sorted((RESULTS / "atari_pong").glob("*/run.json")):
    record = json.loads(run_dir.read_text())
    if record.get("status") == "finished":
        rate = record["env_steps"] / record["wall_s"]
        print(
            f"{run_dir.parent.name}: {record['env_steps']:,} steps in "
            f"{record['wall_s'] / 60:.1f} min = {rate:.0f} steps/s"
        )""",
        ),
        ("markdown", "FINDINGS:atari_pong"),
    ],
    "07_train_export_evaluate.ipynb": [
        (
            "markdown",
            r"""# 7. Train a small agent, export it, evaluate it with plain TensorFlow

`softrl_tf.training.loop.train` trains soft n-step Q-learning (`softq`, the paper's §6.3 agent)
on CartPole-v1 and exports a SavedModel. The SavedModel needs only TensorFlow:
`serving_default(observation)` returns the greedy `action` and the per-action outputs (for
`softq`, $Q = V + \tau\log(\pi/\bar\pi)$), and `sample(observation, temperature)` draws from the
Boltzmann policy. Below it is loaded with `tf.saved_model.load` and run on gymnasium's CartPole
with no softrl_tf code in the loop.""",
        ),
        ("code", COLAB),
        ("code", IMPORTS),
        (
            "code",
            """\
from softrl_tf.agents import AGENTS
from softrl_tf.training.config import TrainConfig
from softrl_tf.training.loop import train

run_dir = tempfile.mkdtemp(prefix="softrl-export-")
config = TrainConfig(
    agent="softq",
    env="CartPole-v1",
    total_steps=5_000 if QUICK else 60_000,
    seed=0,
    root_dir=run_dir,
    log_every_steps=1_000,
    export=True,
)
result = train(config, AGENTS["softq"].default_config(), progress=False)
print(f"trained {result.env_steps:,} steps, {result.episodes} episodes; "
      f"mean return of the last 100: {result.mean_return():.1f}")
print(sorted(os.listdir(run_dir)))""",
        ),
        (
            "code",
            """\
# Plain TensorFlow from here on: load the SavedModel and play greedy episodes.
import gymnasium as gym
import numpy as np
import tensorflow as tf

model = tf.saved_model.load(os.path.join(run_dir, "saved_model"))
serve = model.signatures["serving_default"]
print({k: v.shape for k, v in serve.structured_outputs.items()})

env = gym.make("CartPole-v1")
returns = []
for episode in range(3 if QUICK else 10):
    observation, _ = env.reset(seed=1000 + episode)
    total, done = 0.0, False
    while not done:
        out = serve(observation=tf.constant(observation[None], tf.float32))
        observation, reward, terminated, truncated, _ = env.step(int(out["action"][0]))
        total += reward
        done = terminated or truncated
    returns.append(total)
env.close()
print("greedy returns:", returns, "mean:", np.mean(returns))""",
        ),
        (
            "markdown",
            """The greedy policy is evaluated from the SavedModel alone, with no softrl_tf code in
the loop. The agent uses the registry's CartPole-v1 settings for `softq`
(`softrl_tf.agents.AGENTS["softq"].default_config()`); the full budget is 60k steps (about a
minute here) and CartPole-v1 caps returns at 500. The quick run (5k steps) only checks that the
pipeline works.""",
        ),
    ],
}


def findings(name: str) -> str:
    """What the committed results of experiment ``name`` show: ``results/<name>/findings.md``."""
    path = os.path.join(os.path.dirname(HERE), "results", name, "findings.md")
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def execute(notebook, timeout: int = 900) -> None:
    """Runs ``notebook`` in place in this folder (not in quick mode: it reads the committed
    results), keeping its outputs."""
    from nbclient import NotebookClient

    environment = dict(os.environ)
    environment.pop("SOFTRL_QUICK", None)
    saved = os.environ.copy()
    os.environ.clear()
    os.environ.update(environment)
    try:
        NotebookClient(
            notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": HERE}}
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def build(run: bool = False) -> list[str]:
    """Writes every notebook (executed first with ``run``); returns their paths."""
    written = []
    for filename, cells in NOTEBOOKS.items():
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        notebook.metadata["language_info"] = {"name": "python"}
        for kind, text in cells:
            if kind == "markdown" and text.startswith("FINDINGS:"):
                text = findings(text.split(":", 1)[1])
            if kind == "markdown":
                cell = nbformat.v4.new_markdown_cell(text)
            else:
                cell = nbformat.v4.new_code_cell(text)
            cell.id = f"cell-{len(notebook.cells)}"  # stable ids: rebuilding changes no diff
            notebook.cells.append(cell)
        if run:
            execute(notebook)
        path = os.path.join(HERE, filename)
        nbformat.write(notebook, path)
        written.append(path)
    return written


if __name__ == "__main__":
    import sys

    for path in build(run="--execute" in sys.argv[1:]):
        print("wrote", path, f"({os.path.getsize(path) / 1024:.0f} KiB)")
