"""The whole path a user takes, on whichever supported TensorFlow is installed.

``make test-tf-oldest`` runs this module (``pytest -m tfcompat``) under the oldest supported
TensorFlow; the default run covers the newest. Each estimator trains 2,000 steps, exports, and
the export answers through plain TensorFlow.
"""

import os
import pathlib
import re

import softrl_tf

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

pytestmark = pytest.mark.tfcompat

INSTALL_STACK = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "install_stack.sh"
SMALL = dict(num_envs=4, hidden_sizes=(16,), log_every_steps=1000, seed=0)
REPLAY = dict(learning_starts=200, batch_size=16, target_update_period=50)
ESTIMATORS = {
    "a2c": (softrl_tf.A2C, {}),
    "softq": (softrl_tf.SoftQ, {}),
    "soft_dqn": (softrl_tf.SoftDQN, REPLAY),
    "dqn": (softrl_tf.DQN, REPLAY),
}


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def supported_versions() -> list[str]:
    """The supported TensorFlow versions, read from their one home in install_stack.sh."""
    found = re.search(r'^TF_SUPPORTED="([^"]+)"$', INSTALL_STACK.read_text(), re.MULTILINE)
    assert found, f"{INSTALL_STACK} defines no TF_SUPPORTED"
    return found.group(1).split()


def test_tensorflow_is_a_supported_version_with_its_keras_2():
    assert _minor(tf.__version__) in supported_versions(), tf.__version__
    # install_stack.sh installs the tf_keras of TensorFlow's minor version.
    assert _minor(tf_keras.__version__) == _minor(tf.__version__)
    wanted = os.environ.get("SOFTRL_TF_VERSION")
    if wanted:  # make test-tf-oldest: the venv holds the TensorFlow it asked for
        assert _minor(tf.__version__) == wanted


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_fit_export_and_plain_tensorflow_serving(name, tmp_path):
    cls, extra = ESTIMATORS[name]
    with cls("CartPole-v1", **SMALL, **extra) as model:
        result = model.fit(2000, progress=False)
        assert result.env_steps == 2000 and result.updates > 0
        model.export(str(tmp_path))
        obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
        expected = model.predict(obs)
    exported = tf.saved_model.load(str(tmp_path / "saved_model"))
    actions = exported.signatures["serving_default"](observation=tf.constant(obs))["action"]
    actions = actions.numpy()
    assert actions.shape == (5,) and set(actions.tolist()) <= {0, 1}
    np.testing.assert_array_equal(actions, expected)
