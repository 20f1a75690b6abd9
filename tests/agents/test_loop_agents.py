"""Every registered agent through ``softrl_tf.training.loop.train``, and the gradient-equivalence
diagnostics of the on-policy agents (``diagnostics_every_updates``)."""

import csv
import math

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.agents import AGENTS, A2CAgent, SoftQAgent
from softrl_tf.presets import resolve
from softrl_tf.training.loop import train

import numpy as np
import pytest
import tensorflow as tf
from agent_testing import ACTION_SPEC, TIME_STEP_SPEC, boundary_segment, fixed_actor_critic

DIAGNOSTICS = ("diagnostics/grad_cosine", "diagnostics/grad_rel_error")


def _rows(root):
    with open(root / "metrics.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_train_runs_every_agent_and_logs_diagnostics_for_on_policy_ones(name, tmp_path):
    overrides = {"hidden_sizes": (16,)}
    if not AGENTS[name].on_policy:
        overrides.update(learning_starts=64, batch_size=16)
    root = tmp_path / name
    run = resolve(
        name,
        overrides=dict(
            overrides,
            num_envs=4,
            total_steps=480,
            root_dir=str(root),
            log_every_steps=80,
            export=False,
            diagnostics_every_updates=3,
        ),
    )
    result = train(run, progress=False)
    assert result.env_steps == 480 and result.updates > 0
    rows = _rows(root)
    assert len(rows) == 6
    assert all(math.isfinite(float(r["train/loss"])) for r in rows)
    with_diagnostics = [r for r in rows if r.get("diagnostics/grad_cosine")]
    if not AGENTS[name].on_policy:
        assert not with_diagnostics
        return
    # Updates of 4 envs x n_steps = 20 steps: 4 per row of 80 steps, so every row follows at
    # least one update with diagnostics (every 3rd).
    assert len(with_diagnostics) == len(rows)
    for row in with_diagnostics:
        cosine, rel = (float(row[k]) for k in DIAGNOSTICS)
        # One batch: the same expected gradient, not the same gradient (docs/theory.md T9).
        assert 0.5 < cosine <= 1.0 + 1e-6 and 0.0 < rel < 1.0, row


def test_gradient_equivalence_method_against_a_direct_computation():
    """Values of ``gradient_equivalence`` from the two losses' gradients computed here."""
    network, _ = fixed_actor_critic(seed=3, logit_scale=2.0)
    experience, _ = boundary_segment()
    specs = (TIME_STEP_SPEC, ACTION_SPEC, network, None)
    common = dict(tau=0.3, gamma=0.9, n_steps=4)
    variables = network.trainable_variables

    def flat_grad(agent):
        with tf.GradientTape() as tape:
            loss = agent.loss(experience).loss
        return np.concatenate([g.numpy().ravel() for g in tape.gradient(loss, variables)])

    # Stream-scaled softq vs proper A2C with c = value_scale: E grad L_Q = E grad(L_PG + c L_V).
    soft_q = SoftQAgent(*specs, value_scale=0.4, **common)
    a2c = A2CAgent(*specs, entropy_mode="proper", value_coef=0.4, **common)
    # Plain softq vs tau * grad(L_PG + L_V / tau), i.e. A2C with c = 1 / tau, times tau.
    plain = SoftQAgent(*specs, scale_streams=False, **common)
    a2c_inverse_tau = A2CAgent(*specs, entropy_mode="proper", value_coef=1 / 0.3, **common)
    cases = [
        (soft_q, flat_grad(soft_q), flat_grad(a2c)),
        # An a2c agent compares the stream-scaled soft-Q loss with its own value coefficient.
        (a2c, flat_grad(soft_q), flat_grad(a2c)),
        (plain, flat_grad(plain), 0.3 * flat_grad(a2c_inverse_tau)),
    ]
    for agent, q_grad, pg_grad in cases:
        measured = agent.gradient_equivalence(experience)
        cosine = q_grad @ pg_grad / (np.linalg.norm(q_grad) * np.linalg.norm(pg_grad))
        rel = np.linalg.norm(q_grad - pg_grad) / np.linalg.norm(pg_grad)
        np.testing.assert_allclose(measured["grad_cosine"].numpy(), cosine, rtol=1e-4)
        np.testing.assert_allclose(measured["grad_rel_error"].numpy(), rel, rtol=1e-3)
        assert rel > 1e-3  # an off-policy hand-made batch: the gradients really differ
