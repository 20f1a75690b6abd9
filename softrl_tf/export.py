"""SavedModel export of a trained network, loadable by plain TensorFlow; PolicySaver export.

Two formats, for two kinds of users:

* :func:`export_saved_model` writes a TensorFlow SavedModel that needs nothing but TensorFlow to
  load and run: no softrl_tf, tf_agents, tensorflow_probability or Keras. Only the network's
  variables and the traced graph are saved (the ``tf_agents`` network object itself is not
  serialised), so TF Serving, TFLite conversion and ``scripts/evaluate.py`` consume it as is.
  Signatures, with ``B`` the batch size and ``A`` the number of actions:

  ``serving_default(observation) -> {"action": int64 [B], "logits": float [B, A], ...}``
      ``action`` is the greedy action ``argmax(logits)``. ``logits`` is the network's per-action
      output: the policy logits of an actor-critic network, the **Q-values** of a Q network.
      Kind-specific aliases make client code explicit: ``"value"`` ``[B]`` (actor-critic) and
      ``"q"`` ``[B, A]`` (Q networks; the same tensor as ``"logits"``).
  ``sample(observation, temperature) -> {"action": int64 [B]}``
      Draws ``a ~ softmax(policy_logits / temperature)`` with ``tf.random.categorical`` (a stateful
      RNG). ``policy_logits`` are the actor-critic logits, or for Q networks the Boltzmann
      log-probabilities ``log pi = log prior + (q - V) / tau`` (paper Eq. 28,
      :func:`softrl_tf.losses.boltzmann_log_probs`), i.e. ``softmax((q / tau + log_prior) / T)``;
      ``temperature=1`` samples the Boltzmann behaviour policy itself, as
      :class:`softrl_tf.policies.BoltzmannPolicy` does.
  ``sample_seeded(observation, temperature, seed) -> {"action": int64 [B]}``
      The same distribution drawn with ``tf.random.stateless_categorical`` from an int64 ``[2]``
      seed: reproducible sampling (``scripts/evaluate.py --sample --seed S`` uses it).

  The observation's dtype and shape come from the observation spec, with a leading batch
  dimension. A TensorFlow signature does not check shapes when it is called, so every signature
  asserts the shape itself and fails with an ``InvalidArgumentError`` whose message reads
  ``softrl_tf export: observation must have shape [batch, 4] (float32), got shape`` followed by
  the shape given. Non-finite input is refused the same way, never answered with an action: a
  nan or inf in a float observation fails with ``softrl_tf export: observation must be finite``, a
  network output that is not finite with ``the network's output is not finite``, and a
  ``temperature`` that is not a finite number > 0 with ``temperature must be a finite number > 0``;
  every action returned is in ``[0, A)``. ``softrl_tf_export.json`` beside ``saved_model.pb``
  records the observation spec, the number of actions, the output kind, ``tau`` and the env id.

* :func:`export_policy` writes TF-Agents' ``PolicySaver`` format, for users of TF-Agents.

Both write atomically: into a temporary directory next to the target, then renamed into place, so
a crash mid-export never leaves a half-written export at ``path`` (an older export it was replacing
may be left beside it as ``.<name>.old-*`` if the crash falls between the two renames).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from softrl_tf import losses

import numpy as np
import tensorflow as tf

EXPORT_METADATA_FILE = "softrl_tf_export.json"
"""Name of the metadata file written beside ``saved_model.pb``."""

EXPORT_FORMAT = "softrl_tf.saved_model"
EXPORT_FORMAT_VERSION = 1
SIGNATURES = ("serving_default", "sample", "sample_seeded")
OUTPUT_KINDS = ("actor_critic", "q")


def _spec_shape_dtype(observation_spec) -> tuple[tuple[int, ...], tf.DType]:
    """Shape (without batch) and dtype of a single TensorSpec / ArraySpec observation spec."""
    if tf.nest.is_nested(observation_spec):
        raise ValueError(
            "export_saved_model supports a single (non-nested) observation spec, got "
            f"{observation_spec!r}."
        )
    try:
        shape = tuple(int(d) for d in observation_spec.shape)
        dtype = tf.as_dtype(observation_spec.dtype)
    except (AttributeError, TypeError) as error:
        raise ValueError(
            f"observation_spec must be a TensorSpec or ArraySpec with a fully known shape, got "
            f"{observation_spec!r} ({error})."
        ) from error
    return shape, dtype


def _shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(["batch"] + [str(d) for d in shape]) + "]"


def _detect_output(outputs) -> str:
    """``"actor_critic"`` for a ``(logits, value)`` pair, ``"q"`` for a single ``[B, A]`` tensor."""
    if isinstance(outputs, (tuple, list)) and len(outputs) == 2:
        return "actor_critic"
    if tf.is_tensor(outputs) and outputs.shape.rank == 2:
        return "q"
    raise ValueError(
        "Cannot tell the network's output kind: expected (logits [B, A], value [B]) or "
        f"q-values [B, A], got {outputs!r}. Pass output='actor_critic' or output='q'."
    )


def _split_outputs(outputs, output: str) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """``(per-action tensor [B, A], named extra outputs)`` for an output kind."""
    if output == "actor_critic":
        if not (isinstance(outputs, (tuple, list)) and len(outputs) == 2):
            raise ValueError(
                f"output='actor_critic' needs a network returning (logits, value), got {outputs!r}."
            )
        logits, value = outputs
        return logits, {"value": value}
    if not tf.is_tensor(outputs):
        raise ValueError(f"output='q' needs a network returning q-values [B, A], got {outputs!r}.")
    return outputs, {"q": outputs}


def _swap_into_place(tmp_dir: str, path: str) -> None:
    """Renames ``tmp_dir`` to ``path``, replacing an existing directory there."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise ValueError(f"Cannot export to {path}: it exists and is not a directory.")
    old = None
    if os.path.exists(path):
        # rename(2) cannot replace a non-empty directory: move the old one aside first.
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=os.path.dirname(path))
        os.rmdir(old)
        os.rename(path, old)
    os.rename(tmp_dir, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _atomic_export(path: str | os.PathLike, write) -> str:
    """Calls ``write(tmp_dir)`` on a temporary directory beside ``path``, then swaps it in."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
    try:
        write(tmp_dir)
        _swap_into_place(tmp_dir, path)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return path


class _ExportModule(tf.Module):
    """The object saved: the network's variables and three traced signature functions.

    The network is reached through closures, never stored as an attribute: tracking it would make
    ``tf.saved_model.save`` serialise the Keras / tf_agents object graph, which plain TensorFlow
    does not need.
    """

    def __init__(
        self,
        network,
        shape: tuple[int, ...],
        dtype: tf.DType,
        output: str,
        tau: float,
        log_prior: np.ndarray | None,
    ):
        super().__init__(name="softrl_tf_export")
        self.network_variables = list(network.variables)
        expected = tf.constant(shape, tf.int32)
        rank = len(shape) + 1
        shape_message = (
            f"softrl_tf export: observation must have shape {_shape_text(shape)} ({dtype.name}), "
            "got shape"
        )

        def check(observation):
            # The signature does not check shapes when called, and graph optimisation folds any
            # test of the rank against the declared (not the actual) input shape: so compare the
            # element count and the trailing dims at run time for the clear message, then let
            # tf.ensure_shape catch whatever slips through (its message names the shape too).
            actual = tf.shape(observation)
            batch = tf.concat([actual, [-1]], axis=0)[0]  # -1 for a scalar: never matches
            ok = tf.logical_and(
                tf.equal(tf.size(observation), batch * int(np.prod(shape))),
                tf.reduce_all(tf.equal(actual[1:], expected)),
            )
            assertion = tf.debugging.Assert(ok, [shape_message, actual], summarize=rank + 2)
            checks = [assertion]
            if dtype.is_floating:
                checks.append(
                    tf.debugging.assert_all_finite(
                        observation, "softrl_tf export: observation must be finite (no nan or inf)"
                    )
                )
            with tf.control_dependencies(checks):
                return tf.ensure_shape(observation, (None,) + shape)

        def run(observation):
            outputs, _ = network(check(observation), training=False)
            per_action, extra = _split_outputs(outputs, output)
            # A non-finite output would make argmax pick 0 and categorical sampling pick an
            # action outside the action space: refuse it instead.
            finite = tf.debugging.assert_all_finite(
                per_action,
                "softrl_tf export: the network's output is not finite for this observation",
            )
            with tf.control_dependencies([finite]):
                return tf.identity(per_action), extra

        def policy_logits(observation, temperature):
            per_action, _ = run(observation)
            logits = tf.cast(per_action, tf.float32)
            if output == "q":
                logits = losses.boltzmann_log_probs(logits, tau, log_prior)
            positive = tf.debugging.Assert(
                tf.logical_and(tf.math.is_finite(temperature), temperature > 0),
                ["softrl_tf export: temperature must be a finite number > 0, got", temperature],
            )
            with tf.control_dependencies([positive]):
                return logits / temperature

        observation_spec = tf.TensorSpec((None,) + shape, dtype, name="observation")
        temperature_spec = tf.TensorSpec([], tf.float32, name="temperature")
        seed_spec = tf.TensorSpec([2], tf.int64, name="seed")

        def serve(observation):
            per_action, extra = run(observation)
            action = tf.argmax(per_action, axis=-1, output_type=tf.int64)
            return {"action": action, "logits": per_action, **extra}

        def sample(observation, temperature):
            logits = policy_logits(observation, temperature)
            action = tf.random.categorical(logits, 1, dtype=tf.int64)[:, 0]
            return {"action": action}

        def sample_seeded(observation, temperature, seed):
            logits = policy_logits(observation, temperature)
            action = tf.random.stateless_categorical(logits, 1, seed, dtype=tf.int64)[:, 0]
            return {"action": action}

        # No Python control flow depends on tensors here, and tf_agents networks are graph-safe:
        # autograph would only slow tracing down (it converts every tf_agents call on the way).
        self.serve = tf.function(serve, input_signature=[observation_spec], autograph=False)
        self.sample = tf.function(
            sample, input_signature=[observation_spec, temperature_spec], autograph=False
        )
        self.sample_seeded = tf.function(
            sample_seeded,
            input_signature=[observation_spec, temperature_spec, seed_spec],
            autograph=False,
        )

    def signatures(self) -> dict[str, Any]:
        return {
            "serving_default": self.serve.get_concrete_function(),
            "sample": self.sample.get_concrete_function(),
            "sample_seeded": self.sample_seeded.get_concrete_function(),
        }


def export_saved_model(
    network,
    observation_spec,
    path: str | os.PathLike,
    *,
    output: str = "auto",
    tau: float | None = None,
    log_prior=None,
    env_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> str:
    """Exports ``network`` as a SavedModel that plain TensorFlow loads and runs.

    See the module docstring for the signatures. The network is called as
    ``network(observation, training=False)`` and must return ``(outputs, state)``.

    Args:
      network: a ``tf_agents.networks.Network`` (or any callable with variables) returning
        ``((logits [B, A], value [B]), state)`` (actor-critic) or ``(q [B, A], state)``.
      observation_spec: ``tf.TensorSpec`` or ``ArraySpec`` of one observation (no batch dim).
      path: the export directory (``saved_model.pb`` lands directly in it); replaced if present.
      output: ``"actor_critic"``, ``"q"``, or ``"auto"`` to decide from the network's output.
      tau: temperature of the Boltzmann policy over Q-values (``"q"`` outputs only). ``None``
        takes the network's own ``tau`` attribute when it has one (``SoftQNetwork``), else 1.0.
      log_prior: ``[A]`` log prior ``log pi_bar`` added to ``q / tau`` when sampling (``"q"``
        outputs only). ``None`` takes the network's ``log_prior`` attribute when it has one, else
        a uniform prior (which does not change the softmax).
      env_id: recorded in ``softrl_tf_export.json``; ``scripts/evaluate.py`` defaults to it.
      metadata: extra JSON-serialisable facts recorded under ``"metadata"`` (agent, config...).

    Returns:
      The absolute export path.

    Raises:
      ValueError: nested or unknown-shape observation spec, unknown output kind, a ``tau <= 0``,
        a ``log_prior`` of the wrong shape or given for an actor-critic output.
    """
    shape, dtype = _spec_shape_dtype(observation_spec)
    # Builds the network's variables and tells the output kind and action count.
    outputs, _ = network(tf.zeros((1,) + shape, dtype), training=False)
    if output == "auto":
        output = _detect_output(outputs)
    if output not in OUTPUT_KINDS:
        raise ValueError(f"output must be 'auto' or one of {OUTPUT_KINDS}, got {output!r}.")
    per_action, _ = _split_outputs(outputs, output)
    num_actions = int(per_action.shape[-1])

    if output == "q":
        if tau is None:
            tau = getattr(network, "tau", None)
        tau = 1.0 if tau is None else float(tau)
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}.")
        if log_prior is None:
            log_prior = getattr(network, "log_prior", None)
        if log_prior is not None:
            log_prior = np.asarray(log_prior, np.float32)
            if log_prior.shape != (num_actions,):
                raise ValueError(
                    f"log_prior must have shape [{num_actions}] (one entry per action), got "
                    f"{list(log_prior.shape)}."
                )
    else:
        if log_prior is not None:
            raise ValueError(
                "log_prior applies to Q-value outputs only: an actor-critic network's logits "
                "already are the policy."
            )
        tau = None

    module = _ExportModule(network, shape, dtype, output, tau, log_prior)
    info = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_FORMAT_VERSION,
        "observation": {"shape": list(shape), "dtype": dtype.name},
        "num_actions": num_actions,
        "output": output,
        "tau": tau,
        "log_prior": None if log_prior is None else [float(x) for x in log_prior],
        "env_id": env_id,
        "signatures": list(SIGNATURES),
        "metadata": dict(metadata or {}),
    }

    def write(tmp_dir: str) -> None:
        tf.saved_model.save(module, tmp_dir, signatures=module.signatures())
        with open(os.path.join(tmp_dir, EXPORT_METADATA_FILE), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2)
            f.write("\n")

    return _atomic_export(path, write)


def export_policy(policy, path: str | os.PathLike, *, batch_size: int | None = None) -> str:
    """Exports a TF-Agents policy with ``tf_agents.policies.PolicySaver``, atomically.

    Load it with ``tf.saved_model.load(path)`` (``action``, ``get_initial_state`` and
    ``get_train_step`` functions); loading this format needs tf_agents' trajectory structures only
    to rebuild ``TimeStep`` inputs, not to run.

    Returns:
      The absolute export path.
    """
    from tf_agents.policies import policy_saver

    saver = policy_saver.PolicySaver(policy, batch_size=batch_size)
    return _atomic_export(path, saver.save)


def read_export_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``softrl_tf_export.json`` facts of an export directory (pure Python, no TensorFlow).

    Raises:
      ValueError: ``path`` is not a SavedModel directory, or not one written by
        :func:`export_saved_model`; the message names the path.
    """
    path = os.fspath(path)
    if not os.path.isdir(path) or not (
        os.path.isfile(os.path.join(path, "saved_model.pb"))
        or os.path.isfile(os.path.join(path, "saved_model.pbtxt"))
    ):
        raise ValueError(f"{path} is not a SavedModel directory (no saved_model.pb in it).")
    meta_path = os.path.join(path, EXPORT_METADATA_FILE)
    try:
        with open(meta_path, encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{path} is a SavedModel but not a softrl_tf export ({EXPORT_METADATA_FILE} is "
            f"missing or unreadable: {error}); export it with softrl_tf.export.export_saved_model."
        ) from error
    if not isinstance(info, dict) or info.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{path} is not a softrl_tf export ({meta_path} has no softrl_tf format).")
    return info


@dataclasses.dataclass(frozen=True)
class ExportedModel:
    """A loaded :func:`export_saved_model` export: plain-TensorFlow signatures plus their facts.

    Attributes:
      path: the export directory.
      model: what ``tf.saved_model.load`` returned; ``model.signatures`` holds the signatures.
      metadata: the ``softrl_tf_export.json`` facts (observation spec, ``num_actions``, ``output``,
        ``tau``, ``env_id``, ``metadata``).
    """

    path: str
    model: Any
    metadata: dict[str, Any]

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """Shape of one observation (no batch dimension)."""
        return tuple(self.metadata["observation"]["shape"])

    @property
    def observation_dtype(self) -> tf.DType:
        """The observation dtype the signatures take."""
        return tf.as_dtype(self.metadata["observation"]["dtype"])

    @property
    def num_actions(self) -> int:
        """Number of discrete actions."""
        return int(self.metadata["num_actions"])

    def greedy(self, observation) -> dict[str, np.ndarray]:
        """``serving_default`` on a batch ``[B, *observation_shape]``, as numpy arrays."""
        observation = tf.convert_to_tensor(observation, self.observation_dtype)
        outputs = self.model.signatures["serving_default"](observation=observation)
        return {name: value.numpy() for name, value in outputs.items()}

    def sample(self, observation, temperature: float = 1.0, seed=None) -> np.ndarray:
        """Sampled actions ``[B]``: ``sample``, or ``sample_seeded`` when ``seed`` (int64 [2])."""
        kwargs = {
            "observation": tf.convert_to_tensor(observation, self.observation_dtype),
            "temperature": tf.constant(temperature, tf.float32),
        }
        if seed is None:
            return self.model.signatures["sample"](**kwargs)["action"].numpy()
        kwargs["seed"] = tf.constant(seed, tf.int64)
        return self.model.signatures["sample_seeded"](**kwargs)["action"].numpy()


def load_exported(path: str | os.PathLike) -> ExportedModel:
    """Loads an :func:`export_saved_model` export with ``tf.saved_model.load`` and validates it.

    Raises:
      ValueError: ``path`` is not a SavedModel, cannot be loaded, or lacks the softrl_tf
        signatures; the message names the path.
    """
    info = read_export_metadata(path)
    try:
        loaded = tf.saved_model.load(os.fspath(path))
    except Exception as error:  # TF raises several types for corrupt or foreign files.
        raise ValueError(f"{path} could not be loaded as a SavedModel: {error}") from error
    missing = [name for name in SIGNATURES if name not in loaded.signatures]
    if missing:
        raise ValueError(
            f"{path} is a SavedModel but lacks the softrl_tf signature(s) {', '.join(missing)}."
        )
    return ExportedModel(path=os.fspath(path), model=loaded, metadata=info)
