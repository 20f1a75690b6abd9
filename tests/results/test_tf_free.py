"""softrl_tf.results and the command lines' front doors load without TensorFlow; the modules that
need the TensorFlow stack name what to install when it is missing. Fresh interpreters each."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO, env=env
    )


def test_results_the_cli_modules_and_the_notebook_helpers_do_not_import_tensorflow():
    result = _python(
        "import sys\n"
        "import softrl_tf, softrl_tf.results, softrl_tf.results.plot, softrl_tf.evaluate\n"
        "import softrl_tf.notebook\n"
        "print(sorted(m for m in ('tensorflow', 'tf_agents', 'tf_keras', 'matplotlib') "
        "if m in sys.modules))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_missing_stack_package_is_named_when_a_tensorflow_module_is_imported():
    # sys.modules[name] = None makes `import name` fail, as an absent package does.
    result = _python(
        "import sys\n"
        "sys.modules['tf_agents'] = None\n"
        "import softrl_tf.results\n"
        "try:\n"
        "    import softrl_tf.networks\n"
        "except ImportError as error:\n"
        "    print(error)\n"
        "try:\n"
        "    from softrl_tf.agents import AGENTS\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith("softrl_tf could not import tf_agents ("), line
        assert "bash scripts/install_stack.sh" in line


def test_the_stack_is_imported_with_the_first_tensorflow_module():
    result = _python(
        "import sys\n"
        "import softrl_tf.losses\n"
        "print(all(m in sys.modules for m in "
        "('tensorflow', 'tf_keras', 'tf_agents', 'tensorflow_probability')))\n"
        "print(sys.modules['tensorflow'].keras.Model.__module__.split('.')[0])\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["True", "tf_keras"]
