"""scripts/install_stack.sh: which TensorFlow it installs, and its refusals of a TensorFlow
outside TF_SUPPORTED, before it installs anything.

A stand-in interpreter reports the installed TensorFlow version and records any other call (the
pip commands), so the script is checked without pip or TensorFlow.
"""

import os
import re
import stat
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "install_stack.sh")
with open(SCRIPT, encoding="utf-8") as f:
    SUPPORTED = re.search(r'^TF_SUPPORTED="([^"]+)"$', f.read(), re.MULTILINE).group(1).split()
OLDEST, NEWEST = (int(v.split(".")[1]) for v in (SUPPORTED[0], SUPPORTED[-1]))


def _run(tmp_path, installed: str, wanted: str | None = None) -> subprocess.CompletedProcess:
    """Runs the script with a stand-in Python whose TensorFlow is ``installed`` ("" for none)."""
    python = tmp_path / "python"
    calls = tmp_path / "calls"
    # Every call of the stand-in reads TensorFlow's version (``-c``) or would install (``-m pip``).
    python.write_text(
        f'#!/bin/sh\nif [ "$1" = -c ]; then echo "{installed}"; else echo "$@" >> {calls}; fi\n'
    )
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if k != "SOFTRL_TF_VERSION"}
    if wanted is not None:
        env["SOFTRL_TF_VERSION"] = wanted
    result = subprocess.run(
        ["bash", SCRIPT, str(python)], capture_output=True, text=True, env=env, timeout=60
    )
    result.installs = calls.read_text() if calls.exists() else ""
    return result


def test_the_range_is_consecutive_minor_versions():
    assert SUPPORTED == [f"2.{m}" for m in range(OLDEST, NEWEST + 1)]


@pytest.mark.parametrize("installed", [f"2.{OLDEST - 1}.1", f"2.{NEWEST + 1}.0", "3.0.0"])
def test_a_tensorflow_outside_the_range_is_refused(tmp_path, installed):
    result = _run(tmp_path, installed)
    assert result.returncode == 1 and result.installs == ""
    assert f"supports TensorFlow {', '.join(SUPPORTED)}, but {installed} is installed" in (
        result.stderr
    )


def test_an_unsupported_requested_version_is_refused(tmp_path):
    result = _run(tmp_path, "", wanted=f"2.{OLDEST - 1}")
    assert result.returncode == 1 and result.installs == ""
    assert f"SOFTRL_TF_VERSION=2.{OLDEST - 1} is not a supported TensorFlow" in result.stderr


def test_the_installed_tensorflow_is_never_replaced_by_the_requested_one(tmp_path):
    installed = f"{SUPPORTED[-1]}.0"
    result = _run(tmp_path, installed, wanted=SUPPORTED[0])
    assert result.returncode == 1 and result.installs == ""
    assert f"{installed} is installed and is never replaced" in result.stderr


@pytest.mark.parametrize("wanted", [None, *SUPPORTED])
def test_with_no_tensorflow_the_requested_or_newest_cpu_build_is_installed(tmp_path, wanted):
    result = _run(tmp_path, "", wanted=wanted)
    minor = wanted or SUPPORTED[-1]
    assert result.returncode == 0, result.stderr
    first, keras = result.installs.splitlines()[:2]
    assert first.endswith(f"install -q tensorflow-cpu~={minor}.0")
    assert f"--no-deps tf_keras~={minor}.0 tf-agents==0.19.0 gym==0.23.1" in keras
