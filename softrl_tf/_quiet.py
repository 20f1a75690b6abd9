"""Silences, by exact message, the warnings the TensorFlow stack prints on a correct run.

A short ``fit`` and export would otherwise print a dozen lines that ask nothing of the user:
AutoGraph's ``SyntaxWarning`` about ``is`` with a literal in TF-Agents code it converts,
TensorFlow Probability's ``UserWarning`` when ``PolicySaver`` encodes its distribution specs, and
absl's notes that SavedModel argument names were sanitised, and TensorFlow's note that TF-Agents'
``ReplayBuffer.get_next`` is deprecated (its replacement, ``as_dataset``, calls it itself).
:func:`quiet_stack` filters exactly those, only while softrl_tf's own calls run; every other
warning still shows.
"""

from __future__ import annotations

import contextlib
import logging
import warnings

_FILTERS = (
    # AutoGraph compiles converted TF-Agents code that compares with "is" against a literal.
    ("ignore", r'"is( not)?" with a literal', SyntaxWarning),
    # PolicySaver records tfp distribution specs; loading with tfp installed handles them.
    ("ignore", r"Encoding a StructuredValue with type tfp", UserWarning),
)


class _DropMessages(logging.Filter):
    """A logging filter dropping records whose message contains one of ``fragments``."""

    def __init__(self, *fragments: str):
        super().__init__()
        self._fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(fragment in message for fragment in self._fragments)


# absl logs these through Python logging (logger "absl") while a SavedModel is written.
_ABSL_NOTES = _DropMessages("Sanitizing", "Function `", "Found untraced functions")
# TensorFlow's deprecation notice (logger "tensorflow") for the replay buffer's sampling.
_TF_NOTES = _DropMessages(
    "ReplayBuffer.get_next (from tf_agents.replay_buffers.replay_buffer) is deprecated"
)


@contextlib.contextmanager
def quiet_stack():
    """Within the block, the stack's known, harmless warnings are not shown (see the module)."""
    loggers = (
        (logging.getLogger("absl"), _ABSL_NOTES),
        (logging.getLogger("tensorflow"), _TF_NOTES),
    )
    with warnings.catch_warnings():
        for action, message, category in _FILTERS:
            warnings.filterwarnings(action, message=message, category=category)
        for logger, notes in loggers:
            logger.addFilter(notes)
        try:
            yield
        finally:
            for logger, notes in loggers:
                logger.removeFilter(notes)
