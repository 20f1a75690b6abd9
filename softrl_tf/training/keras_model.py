"""Training as Keras training: a ``tf_keras.Model`` whose ``train_step`` is one agent iteration.

:class:`AgentModel` wraps a TF-Agents agent and one iteration of its kind
(:mod:`softrl_tf.training.iterations`). Its ``train_step`` collects from the parallel
environments with the current weights and applies the agent's update, in the graph; ``fit`` then
runs it, so any Keras callback works on a run (``TensorBoard``, ``CSVLogger``, ``EarlyStopping``,
``ModelCheckpoint``, ``BackupAndRestore``, ``LearningRateScheduler``, the progress bar). The model
is compiled with the agent's own optimizer, so ``model.optimizer`` is the one that trains.

One Keras epoch is one logging period (``log_every_steps`` environment steps, rounded up to whole
iterations); its logs carry the metric row: ``episode/return_mean100``, ``episode/length_mean100``,
``episodes``, ``env_steps``, ``env_steps_per_s``, the train metrics and any evaluation, so that
``EarlyStopping(monitor="episode/return_mean100", mode="max")`` stops on the 100-episode return.

:class:`RunCallback` is the library's own callback, always first in the list: it counts steps and
episodes (from the environment layer's raw, unclipped episode statistics), stops ``fit`` at the
step budget, refuses a non-finite loss, evaluates, writes ``metrics.csv`` and the TensorBoard
events of the run directory (:class:`~softrl_tf.training.logging.MetricsLogger`, whose
resume-aware, crash-safe CSV ``CSVLogger`` does not give), writes checkpoints and turns SIGINT /
SIGTERM into a checkpoint and a clean stop. These are the parts of a run that are this library's;
everything else is Keras's.
"""

from __future__ import annotations

import math
import re
import time

from softrl_tf.training.checkpoints import RETURN_WINDOW
from softrl_tf.training.faults import RunFault

import numpy as np
import tensorflow as tf
import tf_keras


class AgentModel(tf_keras.Model):
    """A Keras model whose ``train_step`` is one iteration of ``agent``.

    Args:
      agent: a softrl_tf agent (a TF-Agents ``TFAgent``).
      iteration: an ``OnPolicyIteration`` or ``OffPolicyIteration`` over that agent.
    """

    def __init__(self, agent, iteration, steps_per_execution: int = 1):
        super().__init__(name="agent_model")
        self.agent = agent
        self.iteration = iteration
        self.iterations_done = tf.Variable(
            0,
            dtype=tf.int64,
            trainable=False,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        # Replicas of a strategy return the agent's terms already summed over them (the agents'
        # _train): any replica's value is the whole batch's, where Keras's default would add
        # them up again.
        self.distribute_reduction_method = "first"
        self.compile(optimizer=agent.optimizer, steps_per_execution=steps_per_execution)
        self._max_steps_per_execution = steps_per_execution
        # Made now, while steps_per_execution is the configured value: Keras builds a
        # single-step function when it is 1 then, and a loop over the (variable) value otherwise,
        # which limit_execution may lower between calls.
        self.make_train_function()

    def limit_execution(self, iterations: int | None) -> None:
        """The next call of the training function runs at most ``iterations`` iterations (and
        never more than the configured ``steps_per_execution``); ``None`` restores that."""
        limit = self._max_steps_per_execution
        if iterations is not None:
            limit = max(1, min(limit, int(iterations)))
        self._steps_per_execution.assign(limit)

    def call(self, inputs, training=False):
        """The exported network's output (policy logits or Q-values) for observations."""
        network, _ = self.agent.export_network()
        output, _ = network(inputs, training=training)
        return output[0] if isinstance(output, tuple) else output

    def train_step(self, data):
        """One iteration: collect with the current weights, then update (data is unused)."""
        del data
        logs = self.iteration.train_step()
        # A non-finite loss term stops the call at once: the next iteration would act with
        # non-finite weights (and, on a discrete action space, pick an action outside it).
        checks = [
            tf.debugging.assert_all_finite(value, message=f"{NON_FINITE}train/{name} ")
            for name, value in logs.items()
        ]
        with tf.control_dependencies(checks):
            self.iterations_done.assign_add(1)
        return logs


class NonFiniteLossError(RunFault):
    """A loss term became nan or inf; training stopped without overwriting the last checkpoint."""


NON_FINITE = "softrl_tf non-finite: "
"""Marks the graph's non-finite-loss check in TensorFlow's error message."""


class RunCallback(tf_keras.callbacks.Callback):
    """Counts, logs, evaluates, checkpoints and stops a run (see the module docstring).

    Between two calls of the training function it advances the counters by the iterations that
    ran (read from the model's iteration counter), writes a metric row at every multiple of
    ``log_every_steps`` and at the budget, and sizes the next call (Keras's
    ``steps_per_execution``) so that it ends exactly at the next of those points.

    Args:
      config: the run's ``TrainConfig``.
      py_env: the batched training environment (its finished-episode statistics are read).
      iteration: the run's iteration (steps and updates per call).
      state: the run's ``RunState`` (counters and recent returns, checkpointed).
      result: the ``TrainResult`` being filled.
      target_steps: the environment step at which this ``fit`` stops.
      metrics: a ``MetricsLogger``, or ``None`` to write no files.
      checkpointer: a ``Checkpointer``, or ``None``.
      evaluate: ``() -> dict`` of ``eval/*`` metrics, or ``None``.
      stop: a ``StopSignals`` whose ``received`` is checked after every call.
    """

    def __init__(
        self,
        config,
        py_env,
        iteration,
        state,
        result,
        target_steps,
        *,
        metrics=None,
        checkpointer=None,
        evaluate=None,
        stop=None,
    ):
        super().__init__()
        self._config = config
        self._py_env = py_env
        self._iteration = iteration
        self._state = state
        self._result = result
        self._target = target_steps
        self._metrics = metrics
        self._checkpointer = checkpointer
        self._evaluate = evaluate
        self._stop = stop
        self.interrupted_by: int | None = None
        self.interruption_checkpoint: str | None = None
        self._extra: dict | None = None
        self._diagnostics: dict = {}
        self._started = time.monotonic()
        self._started_step = state.env_steps
        every = config.log_every_steps
        self._next_log = (state.env_steps // every + 1) * every
        self._next_checkpoint = state.env_steps + config.checkpoint_every_steps
        every = config.eval_every_steps
        self._next_eval = state.env_steps + every if every and evaluate is not None else None
        self._last_row: tuple[int, dict] | None = None
        self._iterations_seen = 0

    # -- bookkeeping shared by the warm-up collection and the Keras hooks -------------------

    def record_steps(self, updates: int, iterations: int = 1) -> None:
        """Advances the counters by ``iterations`` iterations (of ``updates`` updates each) and
        records the episodes they finished."""
        state = self._state
        state.updates += updates * iterations
        state.env_steps += self._iteration.env_steps_per_call * iterations
        finished = self._py_env.pop_finished_episodes()
        if len(finished.returns):
            returns = finished.returns.tolist()
            self._result.episode_returns.extend(returns)
            self._result.episode_lengths.extend(finished.lengths.tolist())
            self._result.episode_end_steps.extend([state.env_steps] * len(returns))
            state.recent.extend(returns)
            state.episodes += len(returns)
        self._result.env_steps, self._result.updates = state.env_steps, state.updates

    def metric_row(self, evaluate: bool = True) -> dict:
        """The metric row at the current step."""
        state = self._state
        elapsed = max(time.monotonic() - self._started, 1e-9)
        row = {
            "env_steps": float(state.env_steps),
            "env_steps_per_s": (state.env_steps - self._started_step) / elapsed,
            "episodes": float(state.episodes),
        }
        if state.recent:
            row["episode/return_mean100"] = float(np.mean(state.recent))
        if self._result.episode_lengths:
            lengths = self._result.episode_lengths[-RETURN_WINDOW:]
            row["episode/length_mean100"] = float(np.mean(lengths))
        if self._extra is not None:
            row.update({f"train/{k}": v for k, v in self._extra.items()})
        if evaluate:
            row.update(self._diagnostics)
            self._diagnostics = {}
            if self._next_eval is not None and (
                state.env_steps >= self._next_eval or state.env_steps >= self._target
            ):
                self._next_eval = state.env_steps + self._config.eval_every_steps
                row.update(self._evaluate())
        return row

    def write_row(self) -> dict:
        """Writes the metric row to the run directory (when it has one) and returns it."""
        every = self._config.log_every_steps
        self._next_log = (self._state.env_steps // every + 1) * every
        row = self.metric_row()
        if self._metrics is not None:
            self._metrics.write(self._state.env_steps, row)
        self._result.last_metrics = row
        self._last_row = (self._state.env_steps, row)
        return row

    def after_iteration(self) -> bool:
        """Rows, checkpoints and signals after iterations; True when the run must stop."""
        state = self._state
        done = state.env_steps >= self._target
        if state.env_steps >= self._next_log or done:
            self.write_row()
        if self._checkpointer is not None and state.env_steps >= self._next_checkpoint and not done:
            self._next_checkpoint = state.env_steps + self._config.checkpoint_every_steps
            self._checkpointer.save()
        return self.stop_requested() or done

    def stop_requested(self) -> bool:
        """True (after writing a checkpoint) once SIGINT or SIGTERM has arrived."""
        if self.interrupted_by is not None:
            return True
        if self._stop is not None and self._stop.received is not None:
            self.interrupted_by = self._stop.received
            if self._checkpointer is not None:
                self.interruption_checkpoint = self._checkpointer.save()
            return True
        return False

    def iterations_to_next_stop(self) -> int:
        """Iterations until the next metric row or the budget, whichever comes first."""
        per_call = self._iteration.env_steps_per_call
        until = min(self._next_log, self._target) - self._state.env_steps
        return max(1, math.ceil(until / per_call))

    # -- Keras hooks ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._iterations_seen = int(self.model.iterations_done.numpy())
        per_epoch = self.params.get("steps") or 1
        self.model.limit_execution(min(self.iterations_to_next_stop(), per_epoch))

    def non_finite(self, error: tf.errors.InvalidArgumentError) -> NonFiniteLossError:
        """The one-sentence error for the graph's non-finite check; the failed call's
        iterations, the failing one included, are counted."""
        names = sorted(set(re.findall(re.escape(NON_FINITE) + r"(\S+)", error.message)))
        done = int(self.model.iterations_done.numpy()) + 1
        self.record_steps(self._iteration.updates_per_call, done - self._iterations_seen)
        kept = None if self._checkpointer is None else self._checkpointer.latest
        return NonFiniteLossError(
            f"non-finite {', '.join(names)} at update {self._state.updates} (environment step "
            f"{self._state.env_steps}); training stopped and the last checkpoint ({kept}) was "
            "kept."
        )

    def on_train_batch_end(self, batch, logs=None):
        done = int(self.model.iterations_done.numpy())
        iterations, self._iterations_seen = done - self._iterations_seen, done
        extra = {name: float(value) for name, value in (logs or {}).items()}
        self.record_steps(self._iteration.updates_per_call, iterations)
        self._extra = extra
        self._diagnostics.update(self._iteration.new_diagnostics())
        if self.after_iteration():
            self.model.stop_training = True
        # Never past the epoch's end either: Keras would cut that call short and then restore
        # the steps per execution it had read, over this limit.
        per_epoch = self.params.get("steps") or 1
        left_in_epoch = per_epoch - (batch + 1) % per_epoch
        self.model.limit_execution(min(self.iterations_to_next_stop(), left_in_epoch))

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        # Later callbacks (EarlyStopping, CSVLogger, TensorBoard, the progress bar) see the row
        # of this step: the one just written, or the current values between two rows.
        if self._last_row is not None and self._last_row[0] == self._state.env_steps:
            row = self._last_row[1]
        else:
            row = self.metric_row(evaluate=False)
        logs.update({k: v for k, v in row.items() if not k.startswith("train/")})

    def on_train_end(self, logs=None):
        self.model.limit_execution(None)
