"""The one kind of error a run raises when something other than its input fails.

A user's input that is wrong is a :class:`softrl_tf.config.ConfigError` (exit status 2). Anything
else that stops a run (a damaged checkpoint, a full disk, an unwritable directory, a dead
environment worker, a non-finite loss) is a :class:`RunFault` (exit status 1) whose message is
one sentence naming what was kept and how to resume.
"""

from __future__ import annotations

__all__ = ["RunFault"]


class RunFault(RuntimeError):
    """A run stopped by a fault; the message says what was kept and how to resume."""
