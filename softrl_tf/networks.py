"""Networks of the paper's experiments, as TF-Agents networks over Keras 2 (``tf_keras``) layers.

- :func:`build_torso`: the shared feature extractor. The Nature CNN of DQN/A2C for image
  observations (as in OpenAI baselines' A2C, which paper §6.1 used: conv 32x8x8 s4 -> 64x4x4 s2
  -> 64x3x3 s1 -> FC 512 ReLU), an MLP otherwise.
- :class:`ActorCriticNetwork`: the A2C network, one torso with a policy-logit head and a value head
  (paper §6.1, §6.3); ``(logits, value)``.
- :class:`QNetwork`: one torso with a linear Q head; DQN and soft DQN (paper §6.2).
- :class:`SoftQNetwork`: the paper's §6.3 head over an :class:`ActorCriticNetwork`,
  ``Q(s, a) = V(s) + tau * (log pi(a|s) - log prior(a))``, sharing the wrapped network's variables.

Conventions shared by every network here:

- Observations keep their dtype up to the network: ``uint8`` frames are cast to float32 and divided
  by 255 inside :func:`preprocess_observation` (first thing ``call`` does), other dtypes are cast to
  float32 unchanged. Replay buffers therefore hold 1 byte per pixel.
- With ``normalize_observations`` the preprocessed observation is then standardised by running
  statistics (:class:`ObservationNormalizer`), variables of the network: checkpointed, copied to
  target networks and runners with the weights, and part of every export, so that exported
  models take raw observations. The training iterations fold each new batch of observations in
  (:meth:`_TorsoNetwork.update_observation_statistics`).
- Any number of outer dimensions: an observation of shape ``[outer..., *observation_spec.shape]``
  (``[B]``, ``[B, T]``, ``[T, B]``, or none at all) is flattened to ``[N, *shape]``, run through the
  layers, and the outputs are reshaped back to ``[outer..., ...]``
  (``tf_agents.networks.utils.BatchSquash``).
- Initialisation as in OpenAI baselines A2C: orthogonal kernels, zero biases; gain sqrt(2) for
  hidden layers, 1.0 for the value and Q heads, and by default 0.01 for the policy-logit head (a
  near-uniform initial policy; baselines from 2018 on, Stable-Baselines3). The A2C that the
  paper's Atari runs used (baselines' first release, ``a2c/policies.py`` at commit 3f676f7) gave
  the policy head gain 1.0: ``ActorCriticNetwork(policy_head_gain=...)``, the ``atari`` preset.
- ``network.copy(name=...)`` builds a network with the same configuration and fresh, independent
  variables (what TF-Agents uses for target networks); :meth:`SoftQNetwork.copy` copies the wrapped
  network too.
"""

from __future__ import annotations

import functools
import logging
import math
import typing
from collections.abc import Sequence

from softrl_tf.agent_configs import POLICY_HEAD_GAIN
from softrl_tf.config import Precision, Torso

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tf_agents.networks import network
from tf_agents.networks import utils as network_utils
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.utils import nest_utils, tensor_normalizer

__all__ = [
    "ActorCriticNetwork",
    "ObservationNormalizer",
    "QNetwork",
    "SoftQNetwork",
    "build_torso",
    "num_actions",
    "preprocess_observation",
    "resolve_precision",
    "uniform_log_prior",
]

logger = logging.getLogger("softrl_tf.networks")

TORSOS = typing.get_args(Torso)
PRECISIONS = typing.get_args(Precision)

# Smallest square image the Nature CNN accepts: 36 -> 8 (8x8 s4) -> 3 (4x4 s2) -> 1 (3x3 s1).
_NATURE_CNN_MIN_SIZE = 36

# Orthogonal-init gains of hidden layers by activation. baselines and Stable-Baselines3 use sqrt(2)
# for their tanh MLPs as well as for ReLU (the CartPole settings we reuse were tuned that way);
# PyTorch's calculate_gain("tanh") = 5/3 is close to it.
_HIDDEN_GAINS = {"relu": math.sqrt(2.0), "tanh": math.sqrt(2.0), "elu": math.sqrt(2.0)}
VALUE_HEAD_GAIN = 1.0
Q_HEAD_GAIN = 1.0


def num_actions(action_spec) -> int:
    """Number of actions ``A = maximum - minimum + 1`` of a scalar discrete action spec.

    Raises:
      ValueError: if ``action_spec`` is not a single scalar integer ``BoundedTensorSpec``.
    """
    flat = tf.nest.flatten(action_spec)
    if len(flat) != 1:
        raise ValueError(f"softrl_tf networks need a single action spec, got {action_spec}")
    spec = flat[0]
    if not tensor_spec.is_bounded(spec) or not spec.dtype.is_integer or spec.shape.rank != 0:
        raise ValueError(
            f"softrl_tf networks need a scalar, bounded, integer action spec, got {spec}"
        )
    minimum = np.asarray(spec.minimum)
    maximum = np.asarray(spec.maximum)
    if minimum.size != 1 or maximum.size != 1:
        raise ValueError(f"action spec bounds must be scalars, got {spec}")
    return int(maximum.item()) - int(minimum.item()) + 1


def uniform_log_prior(n: int) -> tf.Tensor:
    """Log-probabilities ``[n]`` of the uniform prior, ``-log n`` each (float32)."""
    return tf.fill([n], -math.log(n))


def preprocess_observation(observation: tf.Tensor, observation_spec) -> tf.Tensor:
    """Observation -> float32 network input.

    ``uint8`` (frames) is cast and divided by 255, so values lie in [0, 1]; any other dtype is
    cast to float32 unchanged. The dtype tested is the spec's, not the tensor's.
    """
    if tf.as_dtype(observation_spec.dtype) == tf.uint8:
        return tf.cast(observation, tf.float32) / 255.0
    return tf.cast(observation, tf.float32)


class ObservationNormalizer(tf.Module):
    """Standardises float32 observations ``[N, *shape]`` by the running mean and variance of
    every observation folded in so far, per component, clipped to ``[-CLIP, CLIP]``.

    The statistics are TF-Agents' ``StreamingTensorNormalizer`` (exact over the whole history:
    Chan et al.'s parallel update with a Kahan-summed second moment). Its own ``normalize``
    divides by zero variance before the first update; here, while fewer than one observation has
    been folded in, the mean is 0 and the variance 1 (as SB3's ``VecNormalize`` starts), so
    observations are only clipped and the first segment is not acted on with saturated inputs.
    """

    CLIP = 10.0
    EPSILON = 1e-8

    def __init__(self, shape, name: str = "observation_normalizer"):
        super().__init__(name=name)
        self._statistics = tensor_normalizer.StreamingTensorNormalizer(
            tf.TensorSpec(shape, tf.float32), scope=name
        )

    def update(self, observations: tf.Tensor):
        """Folds ``[N, *shape]`` float32 observations into the statistics."""
        return self._statistics.update(observations)

    def _variables(self):
        """``(count, mean, m2)``, each ``[*shape]`` (the count repeated per component)."""
        (count,), (mean,), (m2,), _ = (tf.nest.flatten(v) for v in self._statistics.variables)
        return count, mean, m2

    @property
    def count(self) -> tf.Tensor:
        """How many observations have been folded in (float32 scalar; ~0 before the first)."""
        return tf.reshape(self._variables()[0], [-1])[0]

    def moments(self):
        """``(mean, variance)``, each ``[*shape]``: ``(0, 1)`` before any observation."""
        count, mean, m2 = self._variables()
        seen = count >= 1.0
        variance = m2 / tf.maximum(count, 1.0)
        return tf.where(seen, mean, 0.0), tf.where(seen, variance, 1.0)

    def __call__(self, observations: tf.Tensor) -> tf.Tensor:
        """``clip((x - mean) / sqrt(variance + EPSILON), -CLIP, CLIP)``, ``[N, *shape]``."""
        mean, variance = self.moments()
        standardised = (observations - mean) * tf.math.rsqrt(variance + self.EPSILON)
        return tf.clip_by_value(standardised, -self.CLIP, self.CLIP)


def _single_spec(observation_spec):
    flat = tf.nest.flatten(observation_spec)
    if len(flat) != 1 or not isinstance(flat[0], tf.TypeSpec):
        raise ValueError(
            "softrl_tf networks take a single (non-nested) observation spec, got "
            f"{observation_spec}"
        )
    return flat[0]


def _dense(units, activation, gain, name, dtype="float32"):
    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=keras.initializers.Orthogonal(gain=gain),
        bias_initializer="zeros",
        name=name,
        dtype=dtype,
    )


def _conv(filters, kernel, stride, gain, name, dtype):
    # Orthogonal init of a conv kernel treats it as a [kh * kw * c_in, c_out] matrix, as baselines.
    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding="valid",
        activation="relu",
        kernel_initializer=keras.initializers.Orthogonal(gain=gain),
        bias_initializer="zeros",
        name=name,
        dtype=dtype,
    )


def resolve_precision(precision: str) -> str:
    """The Keras dtype policy of a ``precision`` setting: ``"float32"`` or ``"mixed_bfloat16"``
    as given; ``"auto"`` is ``"mixed_bfloat16"`` where :func:`bfloat16_is_native`, else
    ``"float32"``."""
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}: choose one of {PRECISIONS}.")
    if precision != "auto":
        return precision
    return "mixed_bfloat16" if bfloat16_is_native() else "float32"


@functools.lru_cache(maxsize=1)
def bfloat16_is_native() -> bool:
    """Whether the device the networks run on computes bfloat16 in hardware: the first GPU
    TensorFlow sees when there is one (compute capability 8.0 or later: Ampere, Hopper and
    newer), else the CPU (x86 with AVX512_BF16 or AMX, see :func:`cpu_has_bfloat16`). Elsewhere
    bfloat16 is emulated and slower than float32. Decided once per process, and logged."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        native = capability is not None and tuple(capability) >= (8, 0)
        where = f"GPU of compute capability {capability}"
    else:
        native = cpu_has_bfloat16()
        where = "CPU " + ("with" if native else "without") + " AVX512_BF16 or AMX"
    logger.info("precision 'auto': %s (%s)", "mixed_bfloat16" if native else "float32", where)
    return native


def cpu_has_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU's flags (Linux's ``cpuinfo``) list ``avx512_bf16`` or ``amx_bf16``, the
    instructions oneDNN runs bfloat16 matmuls and convolutions on; False where the file is not
    there (other systems)."""
    try:
        with open(cpuinfo) as lines:
            for line in lines:
                if line.startswith("flags"):
                    return bool({"avx512_bf16", "amx_bf16"} & set(line.partition(":")[2].split()))
    except OSError:
        pass
    return False


def _resolve_torso(observation_spec, torso: str) -> str:
    if torso not in TORSOS:
        raise ValueError(f"torso must be one of {TORSOS}, got {torso!r}")
    if torso != "auto":
        return torso
    shape = observation_spec.shape
    if shape.rank == 3 and min(shape[0], shape[1]) >= _NATURE_CNN_MIN_SIZE:
        return "nature_cnn"
    return "mlp"


def build_torso(
    observation_spec,
    torso: str = "auto",
    hidden_sizes: Sequence[int] = (64, 64),
    activation: str = "tanh",
    precision: str = "float32",
) -> keras.Sequential:
    """Feature extractor: a Keras ``Sequential`` mapping float32 ``[N, *obs_shape]`` -> ``[N, F]``.

    The input is already preprocessed (see :func:`preprocess_observation`: the networks below do
    that before calling the torso).

    Args:
      observation_spec: spec of one observation (no batch dimension).
      torso: ``"nature_cnn"``: conv 32x8x8 stride 4 -> 64x4x4 s2 -> 64x3x3 s1 -> Flatten -> Dense
        512, all ReLU (OpenAI baselines' A2C, which paper §6.1 used; ``hidden_sizes`` and
        ``activation`` are ignored), F = 512;
        ``"mlp"``: Flatten -> one Dense layer per entry of ``hidden_sizes`` with ``activation``,
        F = ``hidden_sizes[-1]`` (or the flattened observation size when ``hidden_sizes`` is
        empty); ``"auto"``: the Nature CNN for rank-3 observations of at least 36x36 pixels
        ([84, 84, 4] Atari frames), the MLP otherwise (vectors, small grids such as MinAtar).
      hidden_sizes: MLP layer sizes.
      activation: MLP activation (a Keras activation name).
      precision: the layers' Keras dtype policy: ``"float32"``, or ``"mixed_bfloat16"``
        (bfloat16 computation and ``[N, F]`` bfloat16 features, float32 weights), or ``"auto"``
        (``"mixed_bfloat16"`` where the hardware has bfloat16, see :func:`resolve_precision`).
        The heads of the networks below are float32 either way, so their outputs and the losses
        are too.

    Orthogonal kernels (gain sqrt(2)), zero biases.
    """
    spec = _single_spec(observation_spec)
    kind = _resolve_torso(spec, torso)
    precision = resolve_precision(precision)
    if kind == "nature_cnn":
        if spec.shape.rank != 3:
            raise ValueError(f"nature_cnn needs [H, W, C] observations, got shape {spec.shape}")
        if min(spec.shape[0], spec.shape[1]) < _NATURE_CNN_MIN_SIZE:
            raise ValueError(
                f"nature_cnn needs images of at least {_NATURE_CNN_MIN_SIZE}x"
                f"{_NATURE_CNN_MIN_SIZE}, got shape {spec.shape}; use torso='mlp'"
            )
        gain = _HIDDEN_GAINS["relu"]
        return keras.Sequential(
            [
                _conv(32, 8, 4, gain, "conv1", precision),
                _conv(64, 4, 2, gain, "conv2", precision),
                _conv(64, 3, 1, gain, "conv3", precision),
                keras.layers.Flatten(name="flatten", dtype=precision),
                _dense(512, "relu", gain, "fc", precision),
            ],
            name="nature_cnn",
        )
    gain = _HIDDEN_GAINS.get(activation, 1.0)
    layers = [keras.layers.Flatten(name="flatten", dtype=precision)]
    layers += [
        _dense(int(size), activation, gain, f"dense{i + 1}", precision)
        for i, size in enumerate(hidden_sizes)
    ]
    return keras.Sequential(layers, name="mlp")


def _apply_flat(observation, observation_spec, fn, normalizer=None):
    """Runs ``fn`` on ``[N, *obs_shape]`` float input and restores the outer dims on its outputs.

    ``fn`` maps the flattened, preprocessed (and, with a ``normalizer``, standardised) batch to a
    nest of ``[N, ...]`` tensors.
    """
    squash, flat = _flat_input(observation, observation_spec)
    if normalizer is not None:
        flat = normalizer(flat)
    return tf.nest.map_structure(squash.unflatten, fn(flat))


def _flat_input(observation, observation_spec):
    """``(squash, flat)``: the preprocessed observation as ``[N, *obs_shape]`` float32, and the
    ``BatchSquash`` that restores its outer dimensions."""
    squash = network_utils.BatchSquash(nest_utils.get_outer_rank(observation, observation_spec))
    return squash, squash.flatten(preprocess_observation(observation, observation_spec))


class _Network(network.Network):
    """``tf_agents`` ``Network`` whose ``create_variables`` also works for ``uint8`` observations.

    TF-Agents 0.19 builds a network by calling it on ``tensor_spec.sample_spec_nest(spec)``, which
    fails for uint8 specs under numpy 2 (its inclusive upper bound 255 + 1 wraps to 0 in uint8:
    "Need minval < maxval"). Building on zeros of the spec's shape and dtype avoids sampling.
    """

    def create_variables(self, input_tensor_spec=None, **kwargs):
        """Builds the network on a zero batch of one; returns the unbatched output spec."""
        if self._network_output_spec is not None:
            return self._network_output_spec
        if self._input_tensor_spec is None:
            self._input_tensor_spec = input_tensor_spec
        if self._input_tensor_spec is None:
            raise ValueError(f"Unable to create_variables of {self.name}: no input_tensor_spec")
        zeros = tf.nest.map_structure(
            lambda s: tf.zeros([1] + s.shape.as_list(), s.dtype), self._input_tensor_spec
        )
        outputs, _ = self(
            zeros,
            step_type=tf.fill((1,), ts.StepType.FIRST),
            network_state=self.get_initial_state(batch_size=1),
            **kwargs,
        )
        self._network_output_spec = tf.nest.map_structure(
            lambda x: tensor_spec.remove_outer_dims_nest(tf.type_spec_from_value(x), 1), outputs
        )
        return self._network_output_spec


class _TorsoNetwork(_Network):
    """A feed-forward network over one observation spec: the torso of :func:`build_torso`
    (``torso``, ``hidden_sizes``, ``activation``, ``precision``), the optional observation
    normaliser, the action count and spec; subclasses add their heads and take the same torso
    keywords (``**torso_options``)."""

    def __init__(
        self,
        observation_spec,
        action_spec,
        name: str,
        torso: str = "auto",
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        precision: str = "float32",
        normalize_observations: bool = False,
    ):
        super().__init__(input_tensor_spec=observation_spec, state_spec=(), name=name)
        self._observation_spec = _single_spec(observation_spec)
        self._action_spec = action_spec
        self._num_actions = num_actions(action_spec)
        self._torso_args = (observation_spec, torso, hidden_sizes, activation, precision)
        self._torso = build_torso(*self._torso_args)
        self._normalizer = None
        if normalize_observations:
            self._normalizer = ObservationNormalizer(self._observation_spec.shape)

    @property
    def normalizer(self) -> ObservationNormalizer | None:
        """The observation normaliser (``normalize_observations``), else ``None``."""
        return self._normalizer

    def update_observation_statistics(self, observation):
        """Folds observations ``[outer..., *obs_shape]`` (the spec's dtype) into the
        normaliser's statistics; nothing without one."""
        if self._normalizer is None:
            return tf.no_op()
        return self._normalizer.update(_flat_input(observation, self._observation_spec)[1])

    @property
    def num_actions(self) -> int:
        """Number of actions A."""
        return self._num_actions

    @property
    def action_spec(self):
        """The action spec the network was built for (TF-Agents policies check it)."""
        return self._action_spec


class ActorCriticNetwork(_TorsoNetwork):
    """A2C network: a torso shared by a policy-logit head and a value head (the paper's), or with
    ``shared_torso=False`` a torso of the same configuration for each head, so that neither
    head's loss moves the other's features.

    ``call(observation, step_type=None, network_state=(), training=False)`` returns
    ``((logits, value), network_state)``: ``logits`` float32 ``[outer..., A]``, ``value`` float32
    ``[outer...]``, for an observation of shape ``[outer..., *observation_spec.shape]``.

    The logits define the policy ``pi = softmax(logits)``; for soft Q-learning the same network
    read through :class:`SoftQNetwork` defines ``Q = V + tau * log(pi / prior)`` (paper §6.3).
    Heads: orthogonal init, gain ``policy_head_gain`` for the logits (default 0.01: a
    near-uniform initial policy whose loss barely reaches the shared torso at first), 1.0 for the
    value. Keywords beyond ``name``, ``shared_torso`` and ``policy_head_gain``: ``torso``,
    ``hidden_sizes``, ``activation`` (default tanh), ``precision`` (see :func:`build_torso`) and
    ``normalize_observations``.
    """

    def __init__(
        self,
        observation_spec,
        action_spec,
        name: str = "ActorCriticNetwork",
        shared_torso: bool = True,
        policy_head_gain: float = POLICY_HEAD_GAIN,
        **torso_options,
    ):
        super().__init__(observation_spec, action_spec, name, **torso_options)
        self._value_torso = self._torso if shared_torso else build_torso(*self._torso_args)
        self._logits_layer = _dense(self._num_actions, None, policy_head_gain, "logits")
        self._value_layer = _dense(1, None, VALUE_HEAD_GAIN, "value")

    def call(self, observation, step_type=None, network_state=(), training=False):
        del step_type  # Feed-forward: no episode boundaries to handle.

        def heads(flat):
            features = self._torso(flat, training=training)
            logits = self._logits_layer(features)
            if self._value_torso is not self._torso:
                features = self._value_torso(flat, training=training)
            value = tf.squeeze(self._value_layer(features), axis=-1)
            return logits, value

        outputs = _apply_flat(observation, self._observation_spec, heads, self._normalizer)
        return outputs, network_state


class QNetwork(_TorsoNetwork):
    """Q network: torso and a linear head, ``q`` float32 ``[outer..., A]``.

    ``call(observation, step_type=None, network_state=(), training=False)`` returns
    ``(q, network_state)``. Works with TF-Agents' ``QPolicy`` (and so ``EpsilonGreedyPolicy``) and
    with :class:`softrl_tf.policies.BoltzmannPolicy`. Head: orthogonal init, gain 1.0. Keywords
    beyond ``name``: those of :class:`ActorCriticNetwork`'s torso, ``activation`` defaulting to
    ReLU.
    """

    def __init__(
        self,
        observation_spec,
        action_spec,
        name: str = "QNetwork",
        activation: str = "relu",
        **torso_options,
    ):
        super().__init__(
            observation_spec, action_spec, name, activation=activation, **torso_options
        )
        self._q_layer = _dense(self._num_actions, None, Q_HEAD_GAIN, "q")

    def call(self, observation, step_type=None, network_state=(), training=False):
        del step_type  # Feed-forward.

        def head(flat):
            return self._q_layer(self._torso(flat, training=training))

        outputs = _apply_flat(observation, self._observation_spec, head, self._normalizer)
        return outputs, network_state


class SoftQNetwork(_Network):
    """The paper's §6.3 Q head over an actor-critic network (a dueling-style parametrisation).

    ``Q(s, a) = V(s) + tau * (log_softmax(logits(s))[a] - log_prior[a])``, returned as
    ``(q [outer..., A], network_state)``. By construction the soft value of this Q under the prior
    is exactly the value head, ``tau * logsumexp(Q / tau + log_prior) = V``, and its Boltzmann
    policy ``prior * exp((Q - V) / tau)`` is exactly ``softmax(logits)`` (docs/theory.md §2,
    Eq. 57).

    The wrapped network's variables are used as they are (no copy): training the actor-critic
    network trains this Q. :meth:`copy` (target networks) copies the wrapped network as well.

    Args:
      actor_critic_network: an :class:`ActorCriticNetwork` (or any network returning
        ``((logits [.., A], value [..]), state)``).
      tau: temperature tau > 0 (a float, or a scalar tensor/variable).
      log_prior: log-probabilities of the prior, shape ``[A]``; ``None`` means uniform
        (``-log A`` each: the paper's KL form). Not renormalised: zeros give the counting measure,
        i.e. the entropy-bonus form of docs/theory.md §2.
      name: network name.
    """

    def __init__(self, actor_critic_network, tau, log_prior=None, name: str = "SoftQNetwork"):
        super().__init__(
            input_tensor_spec=actor_critic_network.input_tensor_spec,
            state_spec=actor_critic_network.state_spec,
            name=name,
        )
        if isinstance(tau, (int, float)) and not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self._actor_critic_network = actor_critic_network
        self._action_spec = getattr(actor_critic_network, "action_spec", None)
        output_spec = actor_critic_network.create_variables()
        if not isinstance(output_spec, (tuple, list)) or len(output_spec) != 2:
            raise ValueError(
                "SoftQNetwork wraps a network returning (logits, value); "
                f"{actor_critic_network.name} returns {output_spec}"
            )
        n = output_spec[0].shape[-1]
        self._num_actions = n
        self._tau = tau
        if log_prior is None:
            self._log_prior = uniform_log_prior(n)
        else:
            self._log_prior = tf.constant(log_prior, dtype=tf.float32)
            if self._log_prior.shape != (n,):
                raise ValueError(
                    f"log_prior must have shape [{n}], got {self._log_prior.shape.as_list()}"
                )

    @property
    def actor_critic_network(self):
        """The wrapped network whose variables this Q uses."""
        return self._actor_critic_network

    @property
    def tau(self):
        """Temperature tau."""
        return self._tau

    @property
    def log_prior(self) -> tf.Tensor:
        """Log prior ``[A]`` (float32)."""
        return self._log_prior

    @property
    def num_actions(self) -> int:
        """Number of actions A."""
        return self._num_actions

    @property
    def action_spec(self):
        """The wrapped network's action spec, if it has one."""
        return self._action_spec

    def copy(self, **kwargs):
        """A SoftQNetwork over a copy of the wrapped network: independent variables.

        ``name`` renames both (the wrapped copy gets ``<name>_<wrapped name>``); pass
        ``actor_critic_network=`` explicitly to wrap another network instead.
        """
        if "actor_critic_network" not in kwargs:
            inner = self._actor_critic_network
            inner_name = f"{kwargs['name']}_{inner.name}" if "name" in kwargs else inner.name
            kwargs["actor_critic_network"] = inner.copy(name=inner_name)
        return super().copy(**kwargs)

    def call(self, observation, step_type=None, network_state=(), training=False):
        (logits, value), network_state = self._actor_critic_network(
            observation, step_type=step_type, network_state=network_state, training=training
        )
        tau = tf.cast(self._tau, logits.dtype)
        log_pi = tf.nn.log_softmax(logits, axis=-1)
        q = value[..., None] + tau * (log_pi - self._log_prior)
        return q, network_state
