"""Experiment 1: soft Q-learning's gradient equals the policy gradient (docs/theory.md §6).

Two measurements of the identity (docs/theory.md §6, T5 and T8), with the actions drawn from the
Boltzmann policy of the current network and the targets held fixed::

    unscaled soft-Q:            E grad L_Q = tau * E grad L_PG + E grad L_V
    stream-scaled (c, 1/tau):   E grad L_Q = E grad (L_PG + c * L_V)

1. **Exact enumeration** (:func:`exact_equivalence`): a tiny random MDP (3 states, 3 actions,
   Dirichlet transitions, Gaussian rewards, a non-uniform prior) and every trajectory of
   ``n_steps`` steps, weighted by its probability under the current policy, so that the weighted
   sums of the losses of :mod:`softrl_tf.losses` (float64) are the exact expectations. The two
   sides then agree to rounding (relative error ~1e-15). Negative controls break precondition 1
   (on-policy actions): the same expectation under an epsilon-greedy or a uniform behaviour
   policy leaves an O(0.1-1) difference.
2. **Real batches** (:func:`batch_equivalence`): an A2C agent trained briefly on an environment,
   then frozen; on-policy batches of ``num_envs x n_steps`` transitions from its collect policy;
   per batch the two flat gradients of :func:`softrl_tf.diagnostics.batch_gradient_equivalence`;
   their means over the first ``k`` batches compared by
   :func:`softrl_tf.diagnostics.mean_gradient_equivalence`. The identity holds in expectation only
   (per-sample difference T9), so the relative error of the means falls like ``1/sqrt(k)``
   and the cosine rises to 1 on-policy; with epsilon-greedy actions the error levels off at the
   bias.
"""

from __future__ import annotations

import csv
import itertools
import os

from softrl_tf import diagnostics, losses

import numpy as np
import tensorflow as tf

F64 = tf.float64


class TinyMDP:
    """A random finite MDP and every trajectory of ``n_steps`` steps.

    Attributes:
      P: ``[S, A, S]`` transition probabilities; R: ``[S, A]`` rewards; rho0: ``[S]``.
      log_prior: ``[S, A]`` log of a non-uniform, state-dependent reference policy.
      states: ``[n + 1, M]`` and actions ``[n, M]``: all M = S (A S)^n trajectories.
      env_prob: ``[M]`` their probability from the environment alone (rho0 and transitions).
      r_t, discount_t: ``[n, M]`` rewards and discounts (gamma) along them.
    """

    def __init__(self, seed=0, num_states=3, num_actions=3, n_steps=3, gamma=0.9):
        rng = np.random.default_rng(seed)
        self.num_states, self.num_actions, self.n_steps = num_states, num_actions, n_steps
        self.P = rng.dirichlet(np.ones(num_states), size=(num_states, num_actions))
        self.R = rng.normal(size=(num_states, num_actions))
        self.log_prior = np.log(rng.dirichlet(2.0 * np.ones(num_actions), size=num_states))
        self.rho0 = rng.dirichlet(np.ones(num_states))
        ranges = [range(num_states)] + [range(num_actions), range(num_states)] * n_steps
        paths = np.array(list(itertools.product(*ranges))).T
        self.states, self.actions = paths[0::2], paths[1::2]
        prob = self.rho0[self.states[0]]
        for t in range(n_steps):
            prob = prob * self.P[self.states[t], self.actions[t], self.states[t + 1]]
        self.env_prob = prob
        self.r_t = self.R[self.states[:-1], self.actions]
        self.discount_t = np.full(self.r_t.shape, gamma)

    def path_weights(self, behaviour_probs: np.ndarray) -> np.ndarray:
        """``[M]`` probability of each trajectory when actions follow ``behaviour_probs [S, A]``."""
        weights = self.env_prob.copy()
        for t in range(self.n_steps):
            weights = weights * behaviour_probs[self.states[t], self.actions[t]]
        return weights


def _mlp(rng, inputs, outputs, hidden, scale=1.5):
    """A float64 tanh MLP on one-hot states: ``forward() -> [S, outputs]`` and its variables."""
    w1 = tf.Variable(rng.normal(size=(inputs, hidden)) * scale, dtype=F64)
    b1 = tf.Variable(rng.normal(size=hidden) * 0.1, dtype=F64)
    w2 = tf.Variable(rng.normal(size=(hidden, outputs)) * scale / np.sqrt(hidden), dtype=F64)
    b2 = tf.Variable(rng.normal(size=outputs) * 0.1, dtype=F64)

    def forward():
        return tf.tanh(tf.eye(inputs, dtype=F64) @ w1 + b1) @ w2 + b2

    return forward, [w1, b1, w2, b2]


EXACT_CASES = ("q-network", "two-head c=0.5", "epsilon-greedy 0.3 (control)", "uniform (control)")


def exact_equivalence(
    seed: int = 0, tau: float = 0.37, gamma: float = 0.9, n_steps: int = 3, hidden: int = 8
) -> list[dict]:
    """The identity by exact enumeration over every trajectory of a :class:`TinyMDP`.

    Cases (one row each):

    * ``q-network``: Q_theta a tanh MLP; V = tau log E_prior exp(Q/tau) and pi its Boltzmann
      policy (docs/theory.md §6.2); unscaled soft-Q loss vs ``tau grad L_PG + grad L_V`` (T5).
    * ``two-head c=0.5``: independent policy-logit and value heads on a shared trunk,
      Q = V + tau log(pi / prior), gradients scaled by 0.5 (value) and 1/tau (advantage), vs
      ``grad(L_PG + 0.5 L_V)`` (T8, the paper's §6.3).
    * ``epsilon-greedy 0.3 (control)`` and ``uniform (control)``: the q-network case with the
      trajectories weighted by another behaviour policy (precondition 1 broken).

    Returns:
      Rows ``{"seed", "case", "relative_error", "cosine"}``; ``relative_error`` is
      ``||g_Q - g_PG|| / ||g_PG||`` of the exact expected gradients.
    """
    mdp = TinyMDP(seed=seed, n_steps=n_steps, gamma=gamma)
    rng = np.random.default_rng(1000 + seed)
    num_states, num_actions = mdp.num_states, mdp.num_actions
    log_prior_t = mdp.log_prior[mdp.states[:-1]]
    rows = []

    def q_head():
        forward, variables = _mlp(rng, num_states, num_actions, hidden)

        def outputs():
            q = forward()
            return (
                losses.boltzmann_log_probs(q, tau, mdp.log_prior),
                losses.soft_value(q, tau, mdp.log_prior),
            )

        return outputs, variables

    def two_heads():
        forward, variables = _mlp(rng, num_states, num_actions + 1, hidden)

        def outputs():
            out = forward()
            return out[:, :num_actions], out[:, num_actions]

        return outputs, variables

    def measure(outputs, variables, behaviour, value_coef):
        logits_all, _ = outputs()
        pi = tf.nn.softmax(logits_all).numpy()
        probs = {
            "on-policy": pi,
            "epsilon": 0.7 * pi + 0.3 / num_actions,
            "uniform": np.full_like(pi, 1.0 / num_actions),
        }[behaviour]
        weights = mdp.path_weights(probs)

        def network_fn():
            logits_all, values_all = outputs()
            return (
                tf.gather(logits_all, mdp.states[:-1]),
                tf.gather(values_all, mdp.states[:-1]),
                tf.gather(values_all, mdp.states[-1]),
            )

        result = diagnostics.batch_gradient_equivalence(
            network_fn,
            variables,
            mdp.actions,
            mdp.r_t,
            mdp.discount_t,
            tau,
            value_coef,
            log_prior=log_prior_t,
            weights=weights,
        )
        return float(result.relative_error), float(result.cosine)

    q_outputs, q_variables = q_head()
    head_outputs, head_variables = two_heads()
    cases = [
        (EXACT_CASES[0], q_outputs, q_variables, "on-policy", None),
        (EXACT_CASES[1], head_outputs, head_variables, "on-policy", 0.5),
        (EXACT_CASES[2], q_outputs, q_variables, "epsilon", None),
        (EXACT_CASES[3], q_outputs, q_variables, "uniform", None),
    ]
    for case, outputs, variables, behaviour, value_coef in cases:
        relative_error, cosine = measure(outputs, variables, behaviour, value_coef)
        rows.append(
            {"seed": seed, "case": case, "relative_error": relative_error, "cosine": cosine}
        )
    return rows


BATCH_CASES = {
    # case: (tau of the losses, value scale c or None for the unscaled loss, behaviour epsilon)
    "tau=0.01 unscaled, on-policy": (0.01, None, 0.0),
    "tau=0.2 unscaled, on-policy": (0.2, None, 0.0),
    "tau=0.2 stream-scaled c=0.5, on-policy": (0.2, 0.5, 0.0),
    "tau=0.2 unscaled, epsilon-greedy 0.5 (control)": (0.2, None, 0.5),
}


def _batch_gradient_fn(agent, tf_env, policy, tau, value_coef, n_steps):
    """A ``tf.function`` that collects one batch with ``policy`` and returns the flat soft-Q and
    policy-gradient-side gradients and their cosine."""
    from softrl_tf.agents.base import unpack_segment
    from softrl_tf.training.collect import collect_segment

    @tf.function(autograph=False)
    def batch_gradients():
        experience, _ = collect_segment(tf_env, policy, n_steps)
        segment = unpack_segment(experience, agent.gamma)

        def network_fn():
            _, logits_t, values_t, bootstrap_value = agent.segment_outputs(experience)
            return logits_t, values_t, bootstrap_value

        result = diagnostics.batch_gradient_equivalence(
            network_fn,
            agent.network.trainable_variables,
            segment.actions_t,
            segment.r_t,
            segment.discount_t,
            tau,
            value_coef,
            is_boundary_t=segment.is_boundary_t,
        )
        return result.soft_q_grad, result.pg_grad

    return batch_gradients


def _policy_head_slice(network) -> slice:
    """Where the policy-logit layer's variables lie in the flat gradient of
    ``network.trainable_variables`` (the layer is the network's ``logits`` Dense layer)."""
    start, found = 0, []
    for variable in network.trainable_variables:
        size = int(np.prod(variable.shape))
        if "/logits/" in variable.name or variable.name.startswith("logits/"):
            found.append((start, start + size))
        start += size
    if not found or any(a[1] != b[0] for a, b in zip(found, found[1:], strict=False)):
        raise ValueError("the network has no contiguous 'logits' layer variables")
    return slice(found[0][0], found[-1][1])


def _checkpoints(num_batches: int) -> list[int]:
    ks, k = [], 1
    while k < num_batches:
        ks.append(k)
        k *= 2
    return ks + [num_batches]


def batch_equivalence(
    seed: int = 0,
    env: str = "CartPole-v1",
    pretrain_steps: int = 20_000,
    num_batches: int = 256,
    tau: float = 0.01,
    num_envs: int = 8,
    n_steps: int = 5,
    root_dir: str | None = None,
) -> list[dict]:
    """The identity on real on-policy batches, against the number of batches averaged.

    Trains ``a2c`` (proper returns, temperature ``tau``) for ``pretrain_steps`` on ``env``, then
    freezes it and, for each case of :data:`BATCH_CASES` (the temperature of the compared losses:
    Q = V + tau log(pi / prior) holds for any tau, with pi the network's policy; the value scale
    c, or None for the unscaled loss; the epsilon of the behaviour policy), collects
    ``num_batches`` batches of ``num_envs x n_steps`` transitions with fresh environments and
    compares the mean gradients over the first ``k`` batches, ``k = 1, 2, 4, ..., num_batches``.

    Returns:
      Rows ``{"seed", "case", "batches", "cosine", "relative_error", "head_cosine",
      "head_relative_error"}``: the comparison of the mean gradients over the first ``batches``
      batches, over all the network's variables and over the policy-logit layer's only (where
      the value gradient, which dominates the whole vector, does not reach).
    """
    import tempfile

    from softrl_tf.agents import A2CConfig
    from softrl_tf.config import TrainConfig
    from softrl_tf.envs import make_env
    from softrl_tf.experiments.envs import prepare_env
    from softrl_tf.training.loop import train

    from tf_agents.environments import tf_py_environment
    from tf_agents.policies import epsilon_greedy_policy

    prepare_env(env)
    with tempfile.TemporaryDirectory() as scratch:
        config = TrainConfig(
            agent="a2c",
            env=env,
            num_envs=num_envs,
            total_steps=pretrain_steps,
            seed=seed,
            root_dir=root_dir or scratch,
            log_every_steps=max(1, pretrain_steps // 10),
            checkpoint_every_steps=10 * pretrain_steps,
            export=False,
        )
        agent = train(
            config, A2CConfig(tau=tau, n_steps=n_steps, entropy_mode="proper"), progress=False
        ).agent
    rows = []
    for index, (case, (loss_tau, value_coef, epsilon)) in enumerate(BATCH_CASES.items()):
        py_env = make_env(env, num_envs, seed=seed * 1000 + 100 + index)
        tf_env = tf_py_environment.TFPyEnvironment(py_env)
        policy = agent.collect_policy
        if epsilon > 0:
            policy = epsilon_greedy_policy.EpsilonGreedyPolicy(policy, epsilon=epsilon)

        batch_gradients = _batch_gradient_fn(agent, tf_env, policy, loss_tau, value_coef, n_steps)
        tf_env.reset()
        head = _policy_head_slice(agent.network)
        pairs = []
        marks = set(_checkpoints(num_batches))
        try:
            for k in range(1, num_batches + 1):
                pairs.append(batch_gradients())
                if k in marks:
                    every = diagnostics.mean_gradient_equivalence(pairs)
                    policy = diagnostics.mean_gradient_equivalence(
                        [(q[head], pg[head]) for q, pg in pairs]
                    )
                    rows.append(
                        {
                            "seed": seed,
                            "case": case,
                            "batches": k,
                            "cosine": float(every.cosine),
                            "relative_error": float(every.relative_error),
                            "head_cosine": float(policy.cosine),
                            "head_relative_error": float(policy.relative_error),
                        }
                    )
        finally:
            py_env.close()
    return rows


def write_rows(rows: list[dict], path: str) -> None:
    """Writes dict rows to a CSV file (columns from the first row)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: (f"{v:.6e}" if isinstance(v, float) else v) for k, v in row.items()}
            )


def read_rows(path: str) -> list[dict]:
    """Reads a CSV written by :func:`write_rows` (numbers as float or int)."""

    def number(text):
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text

    with open(path, encoding="utf-8", newline="") as f:
        return [{k: number(v) for k, v in row.items()} for row in csv.DictReader(f)]
