"""Checkpoints of a run: the agent, the run's counters and recent returns, optionally replay.

``tf.train.CheckpointManager`` writes the checkpoint files first and the index file that names the
latest checkpoint last (an atomic rename), so a crash mid-write leaves the previous checkpoint the
latest. :class:`RunState` is the part of a run that is not the agent: environment steps, updates,
finished episodes and the last 100 returns, as variables a checkpoint can hold.
"""

from __future__ import annotations

import collections
import os
import shutil

from softrl_tf.config import ConfigError
from softrl_tf.training.faults import RunFault
from softrl_tf.training.run_dir import checkpoint_dir

import numpy as np
import tensorflow as tf

RETURN_WINDOW = 100


def latest_checkpoint(root_dir: str) -> str | None:
    """The latest checkpoint's path prefix in ``root_dir``, or ``None``."""
    return tf.train.latest_checkpoint(checkpoint_dir(root_dir))


class CheckpointMismatchError(ConfigError):
    """The settings of a resumed run do not fit its checkpoint (a user error: nothing changed)."""

    def __init__(self, root_dir: str, reason: str):
        super().__init__(
            f"--resume: the settings given do not fit the checkpoint of the run in {root_dir!r} "
            f"({reason.strip().rstrip('.')}); nothing was changed: resume with the run's saved "
            "settings (leave out the flags that change its environment or network), or start "
            "over with --overwrite."
        )


class CheckpointWriteError(RunFault):
    """A checkpoint could not be written (full disk, permissions); the previous one is intact."""


class DamagedCheckpointError(RunFault):
    """A file of the checkpoint being restored is truncated or corrupt; nothing was changed."""


def _read_every_tensor(path: str, earlier: list[str]) -> None:
    """Reads every tensor of the checkpoint ``path``; a damaged file is one sentence naming it
    and the earlier checkpoints that were kept."""
    kept = ", ".join(os.path.basename(p) for p in earlier) or "none"
    try:
        reader = tf.train.load_checkpoint(path)
    except (tf.errors.OpError, IndexError, ValueError) as error:
        raise DamagedCheckpointError(_damaged(path + ".index", error, kept)) from None
    try:
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, ValueError) as error:
        data = tf.io.gfile.glob(path + ".data-*")
        raise DamagedCheckpointError(_damaged(", ".join(data) or path, error, kept)) from None


def _damaged(file: str, error: BaseException, kept: str) -> str:
    reason = getattr(error, "message", None) or str(error)
    return (
        f"--resume: the checkpoint file {file} is damaged ({reason.strip().rstrip('.')}); "
        f"nothing was changed and the earlier checkpoints were kept ({kept}): move the damaged "
        "checkpoint's files away and name the latest earlier one in the 'checkpoint' file beside "
        "them to resume from it, or start over with --overwrite."
    )


class RunState:
    """A run's progress: counters and the last ``RETURN_WINDOW`` episode returns.

    Attributes:
      env_steps: environment steps taken (over all environments).
      updates: gradient updates taken.
      episodes: finished episodes.
      recent: the last ``RETURN_WINDOW`` raw returns, oldest first.
    """

    def __init__(self):
        self.env_steps = 0
        self.updates = 0
        self.episodes = 0
        self.recent: collections.deque = collections.deque(maxlen=RETURN_WINDOW)
        self._variables = {
            "env_steps": tf.Variable(0, dtype=tf.int64, trainable=False),
            "updates": tf.Variable(0, dtype=tf.int64, trainable=False),
            "recent_returns": tf.Variable(tf.zeros([RETURN_WINDOW], tf.float64), trainable=False),
            "recent_count": tf.Variable(0, dtype=tf.int64, trainable=False),
            "episodes": tf.Variable(0, dtype=tf.int64, trainable=False),
        }

    @property
    def trackables(self) -> dict:
        """The variables a ``tf.train.Checkpoint`` tracks."""
        return dict(self._variables)

    def store(self) -> None:
        """Copies the Python counters into the variables (before a save)."""
        v = self._variables
        v["env_steps"].assign(self.env_steps)
        v["updates"].assign(self.updates)
        v["episodes"].assign(self.episodes)
        padded = np.zeros(RETURN_WINDOW)
        if self.recent:
            padded[RETURN_WINDOW - len(self.recent) :] = list(self.recent)
        v["recent_returns"].assign(padded)
        v["recent_count"].assign(len(self.recent))

    def load(self) -> None:
        """Copies the variables into the Python counters (after a restore)."""
        v = self._variables
        self.env_steps = int(v["env_steps"].numpy())
        self.updates = int(v["updates"].numpy())
        self.episodes = int(v["episodes"].numpy())
        count = int(v["recent_count"].numpy())
        self.recent.clear()
        self.recent.extend(v["recent_returns"].numpy()[RETURN_WINDOW - count :].tolist())


class Checkpointer:
    """Saves and restores the agent, the run state and any extra trackables of a run.

    Args:
      root_dir: the run directory (checkpoints go to :func:`checkpoint_dir`).
      state: the run's :class:`RunState`.
      keep: how many recent checkpoints to keep.
      trackables: the agent and anything else to hold (e.g. ``replay_buffer``).
    """

    def __init__(self, root_dir: str, state: RunState, keep: int, **trackables):
        self._state = state
        self._root_dir = root_dir
        checkpoint = tf.train.Checkpoint(**trackables, **state.trackables)
        self._manager = tf.train.CheckpointManager(
            checkpoint, checkpoint_dir(root_dir), max_to_keep=keep
        )

    @property
    def latest(self) -> str | None:
        """The latest checkpoint's path prefix, or ``None``."""
        return self._manager.latest_checkpoint

    def save(self) -> str:
        """Writes a checkpoint numbered by the environment step; returns its path prefix.

        Raises:
          CheckpointWriteError: the disk is full or the directory is not writable; the temporary
            files of the failed write are removed and the previous checkpoint stays the latest.
        """
        self._state.store()
        number = self._state.env_steps
        try:
            return self._manager.save(checkpoint_number=number)
        except (
            tf.errors.ResourceExhaustedError,
            tf.errors.PermissionDeniedError,
            OSError,
        ) as error:
            directory = self._manager.directory
            for leftover in tf.io.gfile.glob(os.path.join(directory, f"ckpt-{number}_temp*")):
                shutil.rmtree(leftover, ignore_errors=True)
            reason = getattr(error, "message", None) or str(error)
            kept = self._manager.latest_checkpoint
            raise CheckpointWriteError(
                f"writing the checkpoint of environment step {number} to {directory} failed "
                f"({reason.strip().rstrip('.')}): free disk space or make {directory} writable, "
                f"then continue with --resume; the previous checkpoint ({kept or 'none'}) is "
                "intact."
            ) from None

    def restore(self) -> str:
        """Restores the latest checkpoint into the agent and the run state; returns its path.

        Every tensor of the checkpoint is read first, so a damaged file is found before anything
        is restored (the optimizer's slots would otherwise be read only at the first update).

        Raises:
          CheckpointMismatchError: the checkpoint does not fit the run being resumed (another
            environment, network or agent setting).
          DamagedCheckpointError: a file of the checkpoint is truncated or corrupt.
        """
        path = self._manager.latest_checkpoint
        _read_every_tensor(path, self._earlier(path))
        try:
            self._manager.checkpoint.restore(path).assert_existing_objects_matched()
        except ValueError as error:  # a variable of another shape
            raise CheckpointMismatchError(self._root_dir, str(error)) from None
        except AssertionError:  # objects of the run that the checkpoint does not hold
            raise CheckpointMismatchError(
                self._root_dir, "the run holds objects that the checkpoint does not"
            ) from None
        self._state.load()
        return path

    def _earlier(self, path: str) -> list[str]:
        return [p for p in self._manager.checkpoints if p != path]
