"""softrl_tf: entropy-regularised policy gradients and soft Q-learning as TF-Agents agents.

Implements Schulman, Chen & Abbeel (2017), "Equivalence Between Policy Gradients and Soft
Q-Learning" (arXiv:1704.06440).

TF-Agents 0.19 needs Keras 2 (``tf_keras``) behind ``tf.keras``. TensorFlow decides which Keras
``tf.keras`` means from ``TF_USE_LEGACY_KERAS``; so this module sets that variable before
TensorFlow loads, and refuses to load (with the fix spelled out) when TensorFlow was already
imported without it, that is, with Keras 3 behind ``tf.keras``.

Importing this package does not import TensorFlow: :mod:`softrl_tf.results` (reading and plotting
``metrics.csv``) works without it. The first import of a submodule that needs TensorFlow checks
that the whole stack (TensorFlow, tf_keras, TF-Agents, TensorFlow Probability) imports, and names
what to install when it does not (:mod:`softrl_tf._stack`).
"""

import os
import sys

_KERAS_FIX = (
    "softrl_tf needs Keras 2 (tf_keras) behind tf.keras, but TensorFlow was already imported with "
    "Keras 3. Import softrl_tf before tensorflow, or set the environment variable "
    "TF_USE_LEGACY_KERAS=1 before Python starts (in a notebook: "
    "`import os; os.environ['TF_USE_LEGACY_KERAS'] = '1'` in the first cell, then restart the "
    "kernel)."
)


def _imported_tensorflow_uses_keras_2() -> bool:
    """Which Keras the already imported TensorFlow chose, at the time it was imported.

    TensorFlow records its choice in ``tensorflow._tf_uses_legacy_keras`` when it loads; the
    variable's value now says nothing if it was set after that import. TensorFlow versions without
    the attribute fall back to the values TensorFlow itself accepts.
    """
    decided = getattr(sys.modules["tensorflow"], "_tf_uses_legacy_keras", None)
    if decided is not None:
        return bool(decided)
    return os.environ.get("TF_USE_LEGACY_KERAS") in ("true", "True", "1")


# TensorFlow imported with Keras 3: setting the variable now is not enough, because TensorFlow's
# own lazy loaders may already have bound (or later re-bind) tf.keras to Keras 3.
if "tensorflow" in sys.modules and not _imported_tensorflow_uses_keras_2():
    raise ImportError(_KERAS_FIX)
os.environ["TF_USE_LEGACY_KERAS"] = "1"

# TensorFlow itself loads only with the first submodule that needs it (see softrl_tf._stack), so
# softrl_tf.results and the command lines' --help start without it.
from softrl_tf import _stack  # noqa: E402 - after the guard, which must run first

_stack.install()

__version__ = "0.1.0"

# The estimators load TensorFlow: they are imported on first use (``softrl_tf.SoftQ``), so that
# ``import softrl_tf.results`` stays TensorFlow-free.
_ESTIMATORS = ("A2C", "SoftQ", "SoftDQN", "DQN", "load")


def __getattr__(name: str):
    if name in _ESTIMATORS:
        from softrl_tf import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'softrl_tf' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_ESTIMATORS])


__all__ = ["A2C", "DQN", "SoftDQN", "SoftQ", "__version__", "load"]
