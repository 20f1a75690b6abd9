"""The paper's equivalence in practice (docs/theory.md §6.3, §6.4; T8, T9).

A fixed actor-critic network whose Boltzmann policy is far from uniform collects batches of
8 CartPole-v1 environments x 5 steps. On every batch we take the gradient of

* the soft n-step Q loss with the paper's stream scaling (value stream c = 0.5, advantage
  stream 1/tau): the ``softq`` agent's loss;
* the proper entropy-regularised A2C loss with value coefficient c: the ``a2c`` agent's loss;
* a negative control: the soft-Q loss with the advantage stream scaled by 1/gamma (the paper's
  erratum, docs/theory.md §9) instead of 1/tau.

By T8 the first two have the same expected gradient, while one batch's gradients differ (T9).
So the relative difference of the *mean* gradients shrinks as batches accumulate, and at 1000
batches it is small for the policy-head parameters and for all parameters; the 1/gamma control
leaves the policy-gradient part about tau/gamma times too small and stays far off (policy head:
relative difference ~0.9).

Measured (tau = 0.1, mean policy entropy 0.32; policy head / all parameters): one batch, relative
difference 0.056 / 0.019; 1000 batches, 0.033 / 0.0028, cosines >= 0.999; the 1/gamma control at
1000 batches, 0.90 / 0.10 (over all parameters the value-stream gradients, the same on both
sides, dominate the norm). The single-batch difference is small next to the gradient because it
is proportional to tau * (log-ratio - KL) while the gradient carries the n-step advantages, whose
noise both sides share; what averaging removes is that zero-mean difference (its norm falls ~9x
from 1 to 1000 batches).

Run with ``-s`` to see the table of cosines and relative differences at 1, 10, 100, 1000
batches.
"""

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf import envs
from softrl_tf.agents import A2CAgent, SoftQAgent
from softrl_tf.networks import ActorCriticNetwork
from softrl_tf.training.collect import collect_segment

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.environments import tf_py_environment

TAU = 0.1
GAMMA = 0.99
VALUE_COEF = 0.5
N_STEPS = 5
NUM_ENVS = 8
CHECKPOINTS = (1, 10, 100, 1000)
# Times the 0.01 init gain of the policy head: a policy far from uniform (mean entropy ~0.32 on
# the visited states, where uniform is log 2 = 0.69).
LOGIT_GAIN = 2500.0


def _cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _relative_difference(a, b):
    """||a - b|| / ||b||, b being the A2C side."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def measurements():
    """Mean gradients at each checkpoint: {n: {"softq", "a2c", "control": flat [P]}}."""
    tf.keras.utils.set_random_seed(0)
    py_env = envs.make_env("CartPole-v1", NUM_ENVS, seed=0)
    tf_env = tf_py_environment.TFPyEnvironment(py_env)
    network = ActorCriticNetwork(tf_env.observation_spec(), tf_env.action_spec())
    network.create_variables()
    logits_kernel = network.trainable_variables[-4]
    assert "logits/kernel" in logits_kernel.name
    logits_kernel.assign(logits_kernel * LOGIT_GAIN)
    specs = (tf_env.time_step_spec(), tf_env.action_spec(), network, None)
    common = dict(tau=TAU, gamma=GAMMA, n_steps=N_STEPS, max_grad_norm=None)
    soft_q = SoftQAgent(*specs, value_scale=VALUE_COEF, **common)
    a2c = A2CAgent(*specs, entropy_mode="proper", value_coef=VALUE_COEF, **common)
    control = SoftQAgent(*specs, value_scale=VALUE_COEF, advantage_scale=1 / GAMMA, **common)
    agents = (soft_q, a2c, control)
    variables = network.trainable_variables
    policy_head = np.concatenate(
        [np.full(int(np.prod(v.shape)), "logits/" in v.name) for v in variables]
    )

    @tf.function(autograph=False)
    def batch_gradients():
        # Behaviour policy: the network's own Boltzmann policy (the softq collect policy).
        experience, _ = collect_segment(tf_env, soft_q.collect_policy, N_STEPS)
        flat = []
        for agent in agents:
            with tf.GradientTape() as tape:
                loss = agent.loss(experience).loss
            grads = tape.gradient(loss, variables)
            flat.append(tf.concat([tf.reshape(g, [-1]) for g in grads], 0))
        entropy = soft_q.loss(experience).extra["entropy"]
        return tf.stack(flat), entropy

    tf_env.reset()
    sums = np.zeros((3, policy_head.size))
    entropies = []
    out = {}
    for n in range(1, CHECKPOINTS[-1] + 1):
        grads, entropy = batch_gradients()
        sums += grads.numpy().astype(np.float64)
        entropies.append(float(entropy))
        if n in CHECKPOINTS:
            out[n] = dict(zip(("softq", "a2c", "control"), sums / n, strict=True))
    py_env.close()
    return out, policy_head, float(np.mean(entropies))


def _table(out, policy_head):
    rows = {}
    for n, mean in out.items():
        for group, mask in (("policy head", policy_head), ("all", np.ones_like(policy_head))):
            a2c = mean["a2c"][mask]
            rows[n, group] = {
                "diff norm": float(np.linalg.norm(mean["softq"][mask] - a2c)),
                "cos": _cosine(mean["softq"][mask], a2c),
                "rel": _relative_difference(mean["softq"][mask], a2c),
                "control cos": _cosine(mean["control"][mask], a2c),
                "control rel": _relative_difference(mean["control"][mask], a2c),
            }
    return rows


def test_mean_gradients_of_stream_scaled_soft_q_and_proper_a2c_agree(measurements):
    out, policy_head, mean_entropy = measurements
    rows = _table(out, policy_head)
    print(f"\nmean policy entropy {mean_entropy:.3f} (uniform: 0.693); tau = {TAU}")
    print(
        f"{'batches':>8} {'group':>12} {'cos':>8} {'rel':>8} {'|diff|':>9} "
        f"{'ctl cos':>8} {'ctl rel':>8}"
    )
    for (n, group), r in rows.items():
        print(
            f"{n:>8} {group:>12} {r['cos']:>8.4f} {r['rel']:>8.4f} {r['diff norm']:>9.2e} "
            f"{r['control cos']:>8.4f} {r['control rel']:>8.4f}"
        )
    # Far from uniform: the uniform policy over 2 actions has entropy log 2 = 0.69; 0.45 is the
    # entropy of (0.86, 0.14).
    assert mean_entropy < 0.45, mean_entropy
    for group in ("policy head", "all"):
        final = rows[CHECKPOINTS[-1], group]
        assert final["cos"] >= 0.99, (group, final)
        assert final["rel"] <= 0.1, (group, final)
        # T9: one batch's gradients differ by far more than rounding, and that difference has
        # zero mean: its average over 1000 batches is much smaller (~1/sqrt(1000) if the
        # batches were independent; consecutive segments are correlated, hence only 5x).
        assert rows[1, group]["rel"] > 1e-3, (group, rows[1, group])
        assert final["diff norm"] < rows[1, group]["diff norm"] / 5, (group, rows[1, group], final)
    # Negative control: scaling the advantage stream by 1/gamma breaks the bound.
    assert rows[CHECKPOINTS[-1], "policy head"]["control rel"] > 0.1
