"""The TensorFlow stack check, run before the first module of softrl_tf that needs TensorFlow.

``import softrl_tf`` itself does not import TensorFlow, so that the TF-free parts
(:mod:`softrl_tf.results`, the configs and presets, the command line's parsing and its answers to
bad input) start in a fraction of a second.
Every other subpackage needs TensorFlow, tf_keras, TF-Agents and TensorFlow Probability; when one
of them cannot be imported, :func:`require_stack` raises an ``ImportError`` that says what to
install, instead of the bare ``ModuleNotFoundError`` of whichever import happened to come first.

:class:`StackCheck` is the ``sys.meta_path`` entry that ``softrl_tf/__init__.py`` installs: it
calls :func:`require_stack` when a ``softrl_tf`` submodule outside :data:`TF_FREE` is imported for
the first time, then removes itself. It finds no module itself (``find_spec`` returns ``None``), so
the import goes on as usual.
"""

from __future__ import annotations

import sys

STACK = ("tensorflow", "tf_keras", "tf_agents", "tensorflow_probability")
"""The packages every TensorFlow-using module of softrl_tf needs, in import order."""
TF_FREE = frozenset(
    {
        "softrl_tf._stack",
        "softrl_tf.agent_configs",
        "softrl_tf.colab",
        "softrl_tf.config",
        "softrl_tf.env_ids",
        "softrl_tf.results",
        "softrl_tf.evaluate",
        "softrl_tf.notebook",
        "softrl_tf.presets",
        "softrl_tf.train_cli",
        "softrl_tf.training.faults",
        "softrl_tf.training.run_dir",
    }
)
"""Modules (and packages, with everything below them) that import without TensorFlow."""
TF_FREE_INITS = frozenset({"softrl_tf.training"})
"""Packages whose ``__init__`` alone imports without TensorFlow (their other modules need it,
except those in :data:`TF_FREE`)."""

STACK_FIX = (
    "softrl_tf could not import {name} ({error}). Install the stack with "
    "`bash scripts/install_stack.sh <python>` from the softrl_tf repository, or by hand: "
    "`pip install --no-deps tf_keras~=<TensorFlow's major.minor>.0 tf-agents==0.19.0 "
    "gym==0.23.1` next to a supported TensorFlow (see the README, section Install)."
)


def require_stack() -> None:
    """Imports the TensorFlow stack; ``ImportError`` naming the missing package and the fix."""
    for name in STACK:
        try:
            __import__(name)
        except ImportError as error:
            raise ImportError(STACK_FIX.format(name=name, error=error)) from error


def needs_stack(fullname: str) -> bool:
    """Whether importing module ``fullname`` (a ``softrl_tf`` submodule) needs the stack."""
    if not fullname.startswith("softrl_tf.") or fullname in TF_FREE_INITS:
        return False
    return not any(fullname == free or fullname.startswith(free + ".") for free in TF_FREE)


class StackCheck:
    """A ``sys.meta_path`` finder that runs :func:`require_stack` once, before the first import of
    a ``softrl_tf`` submodule that needs TensorFlow, and then leaves ``sys.meta_path``."""

    def find_spec(self, fullname, path=None, target=None):
        """Checks the stack when ``fullname`` needs it; never finds a module itself."""
        if needs_stack(fullname):
            require_stack()  # raises before anything is removed: a retry checks again
            if self in sys.meta_path:
                sys.meta_path.remove(self)
        return None


def install() -> None:
    """Puts one :class:`StackCheck` at the front of ``sys.meta_path`` (idempotent)."""
    if not any(isinstance(finder, StackCheck) for finder in sys.meta_path):
        sys.meta_path.insert(0, StackCheck())
