"""Quiet by default: a short fit, predict, evaluate and export print no library warnings."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import tempfile

    import numpy as np

    import softrl_tf

    for cls, extra in ((softrl_tf.SoftQ, {}), (softrl_tf.SoftDQN, {"learning_starts": 100})):
        model = cls("CartPole-v1", num_envs=4, hidden_sizes=(8,), log_every_steps=200, **extra)
        model.fit(400, progress=False)
        model.predict(np.zeros(4, np.float32), deterministic=False)
        model.evaluate(episodes=2)
        model.export(tempfile.mkdtemp())
        model.close()
    print("done")
    """
)

# What the stack printed on a short run before it was silenced at the source or by exact filters.
LIBRARY_NOISE = (
    "Warning",  # SyntaxWarning, UserWarning, DeprecationWarning lines of the warnings module
    "Instructions for updating",
    "is deprecated",
    "Sanitizing",
    "WARNING:",
)


def test_a_short_fit_and_export_print_no_library_warnings():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("done")
    # TensorFlow's C++ start-up lines (oneDNN, CPU features) come before any Python runs and are
    # not library warnings; everything else on stderr is.
    lines = [
        line
        for line in proc.stderr.splitlines()
        if line.strip()
        and not line.startswith(("I0000", "E0000", "W0000"))
        and "absl::InitializeLog" not in line
        and "rebuild TensorFlow with the appropriate compiler flags" not in line
    ]
    noisy = [line for line in lines if any(word in line for word in LIBRARY_NOISE)]
    assert not noisy, "\n".join(lines)
