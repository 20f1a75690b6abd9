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
import time

from softrl_tf.training.checkpoints import RETURN_WINDOW

import numpy as np
import tf_keras


class AgentModel(tf_keras.Model):
    """A Keras model whose ``train_step`` is one iteration of ``agent``.

    Args:
      agent: a softrl_tf agent (a TF-Agents ``TFAgent``).
      iteration: an ``OnPolicyIteration`` or ``OffPolicyIteration`` over that agent.
    """

    def __init__(self, agent, iteration):
        super().__init__(name="agent_model")
        self.agent = agent
        self.iteration = iteration

    def call(self, inputs, training=False):
        """The exported network's output (policy logits or Q-values) for observations."""
        network, _ = self.agent.export_network()
        output, _ = network(inputs, training=training)
        return output[0] if isinstance(output, tuple) else output

    def train_step(self, data):
        """One iteration: collect with the current weights, then update (data is unused)."""
        del data
        return self.iteration.train_step()


class NonFiniteLossError(RuntimeError):
    """A loss term became nan or inf; training stopped without overwriting the last checkpoint."""


class RunCallback(tf_keras.callbacks.Callback):
    """Counts, logs, evaluates, checkpoints and stops a run (see the module docstring).

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
      stop: a ``StopSignals`` whose ``received`` is checked after every iteration.
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
        self._next_checkpoint = state.env_steps + config.checkpoint_every_steps
        every = config.eval_every_steps
        self._next_eval = state.env_steps + every if every and evaluate is not None else None

    # -- bookkeeping shared by the warm-up collection and the Keras hooks -------------------

    def record_steps(self, updates: int) -> None:
        """Advances the counters by one iteration and records the episodes it finished."""
        state = self._state
        state.updates += updates
        state.env_steps += self._iteration.env_steps_per_call
        finished = self._py_env.pop_finished_episodes()
        if len(finished.returns):
            returns = finished.returns.tolist()
            self._result.episode_returns.extend(returns)
            self._result.episode_lengths.extend(finished.lengths.tolist())
            self._result.episode_end_steps.extend([state.env_steps] * len(returns))
            state.recent.extend(returns)
            state.episodes += len(returns)
        self._result.env_steps, self._result.updates = state.env_steps, state.updates

    def metric_row(self) -> dict:
        """The metric row at the current step (also the epoch's Keras logs)."""
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
        row = self.metric_row()
        if self._metrics is not None:
            self._metrics.write(self._state.env_steps, row)
        self._result.last_metrics = row
        return row

    def after_iteration(self) -> bool:
        """Checkpoints and signal handling after an iteration; True when the run must stop."""
        state = self._state
        done = state.env_steps >= self._target
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

    # -- Keras hooks ---------------------------------------------------------------------------

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        extra, diagnostics = {}, {}
        for name, value in logs.items():
            value = float(value)
            if name.startswith("diagnostics/"):
                if math.isfinite(value):
                    diagnostics[name] = value
            else:
                extra[name] = value
        self.record_steps(self._iteration.updates_per_call)
        bad = [name for name, value in extra.items() if not math.isfinite(value)]
        if bad:
            kept = None if self._checkpointer is None else self._checkpointer.latest
            raise NonFiniteLossError(
                f"non-finite {', '.join(f'train/{b}={extra[b]}' for b in bad)} at update "
                f"{self._state.updates} (environment step {self._state.env_steps}); training "
                f"stopped and the last checkpoint ({kept}) was kept."
            )
        self._extra = extra
        if diagnostics:
            self._diagnostics = diagnostics
        if self.after_iteration():
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        row = self.write_row()
        if logs is not None:
            # Later callbacks (EarlyStopping, CSVLogger, TensorBoard, the progress bar) see the row.
            logs.update({k: v for k, v in row.items() if not k.startswith("train/")})
        if self.stop_requested():
            self.model.stop_training = True
