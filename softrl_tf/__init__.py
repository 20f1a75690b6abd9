"""softrl_tf: entropy-regularised policy gradients and soft Q-learning as TF-Agents agents.

Implements Schulman, Chen & Abbeel (2017), "Equivalence Between Policy Gradients and Soft
Q-Learning" (arXiv:1704.06440).

TF-Agents 0.19 needs Keras 2 (``tf_keras``) behind ``tf.keras``. TensorFlow decides which Keras
``tf.keras`` means from ``TF_USE_LEGACY_KERAS``; so this module sets that variable before
TensorFlow loads, and refuses to load (with the fix spelled out) when TensorFlow was already
imported without it, that is, with Keras 3 behind ``tf.keras``.
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
_STACK_FIX = (
    "softrl_tf could not import {name} ({error}). Install the stack with "
    "`bash scripts/install_stack.sh <python>` from the softrl_tf repository, or by hand: "
    "`pip install --no-deps tf_keras~=2.21.0 tf-agents==0.19.0 gym==0.23.1` next to "
    "TensorFlow 2.21 (see the README, section Install)."
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

for _name in ("tensorflow", "tf_keras", "tf_agents", "tensorflow_probability"):
    try:
        __import__(_name)
    except ImportError as _error:  # pragma: no cover - exercised only on broken installs
        raise ImportError(_STACK_FIX.format(name=_name, error=_error)) from _error

__version__ = "0.1.0"

__all__ = ["__version__"]
