"""Shared pieces of the agent tests: specs, fixed-weight networks with numpy twins, a hand-made
trajectory with every kind of episode boundary, and small numpy helpers.

The numpy side recomputes everything from the weights, so a test compares the agent's TensorFlow
path (networks, ``unpack_segment``, ``softrl_tf.losses``) against an independent computation.
"""

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.networks import ActorCriticNetwork, QNetwork

import numpy as np
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory

OBS_DIM = 3
NUM_ACTIONS = 3
HIDDEN = 4
OBS_SPEC = tensor_spec.TensorSpec([OBS_DIM], tf.float32, name="observation")
# int64 like the gymnasium adapter's action spec.
ACTION_SPEC = tensor_spec.BoundedTensorSpec([], tf.int64, 0, NUM_ACTIONS - 1, name="action")
TIME_STEP_SPEC = ts.time_step_spec(OBS_SPEC)

FIRST, MID, LAST = (int(ts.StepType.FIRST), int(ts.StepType.MID), int(ts.StepType.LAST))


def random_weights(rng, shapes, scale=1.0):
    """One normal array per shape, times ``scale``."""
    return [scale * rng.normal(size=shape).astype(np.float32) for shape in shapes]


def assign(network, arrays):
    """Sets ``network.trainable_variables`` (in order) to ``arrays``."""
    variables = network.trainable_variables
    assert len(variables) == len(arrays)
    for variable, value in zip(variables, arrays, strict=True):
        assert tuple(variable.shape) == value.shape, (variable.name, value.shape)
        variable.assign(value)


def fixed_actor_critic(seed=0, logit_scale=1.0):
    """An :class:`ActorCriticNetwork` (MLP torso of one tanh layer of 4) with fixed weights.

    Returns ``(network, weights)`` with ``weights = [W1, b1, Wl, bl, Wv, bv]``.
    """
    network = ActorCriticNetwork(OBS_SPEC, ACTION_SPEC, hidden_sizes=(HIDDEN,), activation="tanh")
    network.create_variables()
    rng = np.random.default_rng(seed)
    shapes = [
        (OBS_DIM, HIDDEN),
        (HIDDEN,),
        (HIDDEN, NUM_ACTIONS),
        (NUM_ACTIONS,),
        (HIDDEN, 1),
        (1,),
    ]
    weights = random_weights(rng, shapes)
    weights[2] *= logit_scale
    weights[3] *= logit_scale
    assign(network, weights)
    return network, weights


def np_actor_critic(weights, obs):
    """numpy twin of :func:`fixed_actor_critic`'s network: ``(logits [..., A], value [...])``."""
    w1, b1, wl, bl, wv, bv = (np.asarray(w, np.float64) for w in weights)
    hidden = np.tanh(np.asarray(obs, np.float64) @ w1 + b1)
    return hidden @ wl + bl, (hidden @ wv + bv)[..., 0]


def fixed_q_network(seed=0, scale=1.0, name="QNetwork"):
    """A :class:`QNetwork` (one relu layer of 4) with fixed weights: ``(network, weights)``."""
    network = QNetwork(OBS_SPEC, ACTION_SPEC, hidden_sizes=(HIDDEN,), activation="relu", name=name)
    network.create_variables()
    rng = np.random.default_rng(seed)
    shapes = [(OBS_DIM, HIDDEN), (HIDDEN,), (HIDDEN, NUM_ACTIONS), (NUM_ACTIONS,)]
    weights = random_weights(rng, shapes, scale)
    assign(network, weights)
    return network, weights


def np_q_network(weights, obs):
    """numpy twin of :func:`fixed_q_network`: ``q [..., A]``."""
    w1, b1, wq, bq = (np.asarray(w, np.float64) for w in weights)
    hidden = np.maximum(np.asarray(obs, np.float64) @ w1 + b1, 0.0)
    return hidden @ wq + bq


def log_softmax(x):
    x = np.asarray(x, np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def make_trajectory(step_type, reward, discount, action, observation):
    """A batch-major ``Trajectory [B, T + 1]`` from numpy arrays.

    ``next_step_type[:, t]`` is ``step_type[:, t + 1]`` (the last item repeats its own): item t
    holds s_t, a_t and the *next* time step's reward and discount, as ``from_transition`` does.
    """
    step_type = np.asarray(step_type, np.int32)
    next_step_type = np.concatenate([step_type[:, 1:], step_type[:, -1:]], axis=1)
    return trajectory.Trajectory(
        step_type=tf.constant(step_type),
        observation=tf.constant(np.asarray(observation, np.float32)),
        action=tf.constant(np.asarray(action, np.int64)),
        policy_info=(),
        next_step_type=tf.constant(next_step_type),
        reward=tf.constant(np.asarray(reward, np.float32)),
        discount=tf.constant(np.asarray(discount, np.float32)),
    )


def boundary_segment(seed=1):
    """A ``[B = 3, T + 1 = 5]`` on-policy segment with every boundary case.

    Rows (items 0..3 are trained on; item 4 only carries the bootstrap observation):

    * env 0, no boundary: FIRST MID MID MID | MID.
    * env 1, termination: MID MID(-> LAST, discount 0) LAST(dummy) FIRST | MID. Item 1's return
      stops at its reward; item 2 is the dummy LAST -> FIRST transition (no loss).
    * env 2, truncation then episode end at the segment's end: MID(-> LAST, discount 1)
      LAST(dummy) FIRST MID(-> LAST, discount 0) | LAST. Item 0 bootstraps from V of the final
      observation (item 1's); item 3 terminates, so the bootstrap item's V is not used.

    The dummy transitions carry a non-zero reward and a random action here, so a test sees it if
    they leak into a loss (real ones have reward 0).

    Returns ``(trajectory, arrays)`` with the numpy arrays in a dict.
    """
    rng = np.random.default_rng(seed)
    step_type = [
        [FIRST, MID, MID, MID, MID],
        [MID, MID, LAST, FIRST, MID],
        [MID, LAST, FIRST, MID, LAST],
    ]
    reward = [
        [1.0, 0.5, -1.0, 2.0, 0.0],
        [0.3, 1.5, 7.0, -0.7, 0.0],
        [1.2, 9.0, 0.4, 2.5, 0.0],
    ]
    discount = [
        [1.0, 1.0, 1.0, 1.0, 1.0],
        [1.0, 0.0, 1.0, 1.0, 1.0],
        [1.0, 1.0, 1.0, 0.0, 1.0],
    ]
    action = rng.integers(0, NUM_ACTIONS, size=(3, 5))
    observation = rng.normal(size=(3, 5, OBS_DIM))
    arrays = dict(
        step_type=np.asarray(step_type),
        reward=np.asarray(reward, np.float32).astype(np.float64),
        discount=np.asarray(discount, np.float32).astype(np.float64),
        action=action,
        observation=observation.astype(np.float32).astype(np.float64),
    )
    return make_trajectory(step_type, reward, discount, action, observation), arrays


def np_returns(reward, discount, step_type, penalty, values, bootstrap, gamma, tau):
    """Backward recursion written out per entry: ``[B, T]`` value targets G.

    G_T = bootstrap; G_t = V(s_t) at a dummy LAST item; otherwise
    G_t = r_t - tau * penalty_t + gamma * discount_t * G_{t+1}.
    """
    batch, horizon = reward.shape
    targets = np.zeros((batch, horizon))
    for b in range(batch):
        g = bootstrap[b]
        for t in reversed(range(horizon)):
            if step_type[b, t] == LAST:
                g = values[b, t]
            else:
                g = reward[b, t] - tau * penalty[b, t] + gamma * discount[b, t] * g
            targets[b, t] = g
    return targets
