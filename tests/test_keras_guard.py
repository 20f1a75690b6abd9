"""The Keras guard of softrl_tf/__init__.py, tested in fresh interpreters.

TF-Agents needs Keras 2 (tf_keras) behind tf.keras, and TensorFlow decides which Keras tf.keras
means once, when it is imported, from TF_USE_LEGACY_KERAS. Each scenario runs in its own
subprocess: an import order cannot be undone in this one.
"""

import os
import subprocess
import sys

import pytest

FIX = (
    "softrl_tf needs Keras 2 (tf_keras) behind tf.keras, but TensorFlow was already imported with "
    "Keras 3. Import softrl_tf before tensorflow, or set the environment variable "
    "TF_USE_LEGACY_KERAS=1 before Python starts"
)

# Prints which Keras tf.keras is, as the last line of output.
_REPORT = "print('tf.keras is', tf.keras.Model.__module__.split('.')[0])"

SCENARIOS = {
    # The mistake the guard exists for: tensorflow first, with Keras 3 behind tf.keras.
    "tensorflow_first": (None, "import tensorflow as tf\nimport softrl_tf\n" + _REPORT),
    "softrl_tf_first": (None, "import softrl_tf\nimport tensorflow as tf\n" + _REPORT),
    # The fix the error message gives: the variable set before Python starts.
    "variable_before_python": ("1", "import tensorflow as tf\nimport softrl_tf\n" + _REPORT),
    # TensorFlow reads only "1", "true" and "True": with "yes" it loads Keras 3.
    "variable_yes_tensorflow_first": (
        "yes",
        "import tensorflow as tf\nimport softrl_tf\n" + _REPORT,
    ),
    # The variable set after TensorFlow was imported comes too late for tf.keras.
    "variable_set_after_tensorflow": (
        None,
        "import os\nimport tensorflow as tf\nos.environ['TF_USE_LEGACY_KERAS'] = '1'\n"
        "import softrl_tf\n" + _REPORT,
    ),
}


def run_scenario(name: str) -> tuple[int, str, str]:
    """Runs one scenario in a fresh interpreter: (return code, stdout, stderr)."""
    variable, code = SCENARIOS[name]
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    if variable is not None:
        env["TF_USE_LEGACY_KERAS"] = variable
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    process = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return process.returncode, process.stdout, process.stderr


def _last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


def test_tensorflow_first_raises_import_error_with_the_fix():
    returncode, _, stderr = run_scenario("tensorflow_first")
    assert returncode != 0
    assert _last_line(stderr).startswith(f"ImportError: {FIX}"), stderr


def test_softrl_tf_first_gives_keras_2():
    returncode, stdout, stderr = run_scenario("softrl_tf_first")
    assert returncode == 0, stderr
    assert _last_line(stdout) == "tf.keras is tf_keras"


def test_variable_set_before_python_gives_keras_2():
    returncode, stdout, stderr = run_scenario("variable_before_python")
    assert returncode == 0, stderr
    assert _last_line(stdout) == "tf.keras is tf_keras"


@pytest.mark.parametrize(
    "scenario", ["variable_yes_tensorflow_first", "variable_set_after_tensorflow"]
)
def test_tensorflow_imported_with_keras_3_is_refused(scenario):
    returncode, stdout, stderr = run_scenario(scenario)
    # Today both import softrl_tf with Keras 3 behind tf.keras (stdout: "tf.keras is keras").
    assert returncode != 0 and FIX in stderr, stdout
