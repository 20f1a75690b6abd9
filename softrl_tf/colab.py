"""The Colab install: softrl_tf next to Colab's own TensorFlow, from one variable.

Colab ships TensorFlow with Keras 3. softrl_tf needs TF-Agents 0.19 and Keras 2 (``tf_keras``),
whose pins would replace that TensorFlow (see ``setup.py``), so they are installed without their
dependencies, ``tf_keras`` at the minor version of the TensorFlow already there; then softrl_tf
with its other dependencies. TensorFlow itself is never named in a pip command.

Where the code lives, and why. On a fresh Colab runtime softrl_tf is not importable, so the
notebooks' first cell cannot start by importing this module. It holds a few lines of plain Python,
identical in every notebook (``tests/test_colab.py`` checks that, and executes them): on Colab
only, with ``SOFTRL_INSTALL`` set, it installs the package alone (``pip install --no-deps``, which
imports no TensorFlow) and then calls :func:`setup` here, which does the rest and prints one line.
With ``SOFTRL_INSTALL`` unset the cell prints one sentence saying what to set and installs
nothing; off Colab it does nothing. This module imports only the standard library: it runs before
the stack is complete, and must not load TensorFlow before ``TF_USE_LEGACY_KERAS`` is set.

``SOFTRL_INSTALL`` is either a git URL, ``git+https://<host>/<owner>/softrl_tf`` (optionally
``@<branch or tag>``), or the path of a wheel uploaded to the Colab session, built from a checkout
with ``python -m build --wheel`` (``dist/softrl_tf-<version>-py3-none-any.whl``).
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence

VARIABLE = "SOFTRL_INSTALL"
"""The environment variable (and the first cell's variable) that names what to install."""
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tf-nightly")
"""The distributions that provide TensorFlow, in the order they are looked up."""
STACK = ("tf-agents==0.19.0", "gym==0.23.1")
"""Installed without dependencies next to ``tf_keras`` (see the module docstring)."""
EXTRAS = "atari,minatar"
"""The extras the notebooks' quick runs need (MinAtar and Atari environments)."""
UNSET_MESSAGE = (
    f"On Colab, set {VARIABLE} to softrl_tf's git URL (git+https://...) or to the path of an "
    "uploaded wheel (python -m build --wheel), then rerun this cell."
)
"""What the first cell prints on Colab when :data:`VARIABLE` is not set."""


class ColabInstallError(RuntimeError):
    """A source that cannot be installed, or a pip command that failed: one sentence."""


def on_colab(modules: Mapping[str, object] | None = None) -> bool:
    """Whether this Python runs in a Colab kernel (``google.colab`` is imported there)."""
    return "google.colab" in (sys.modules if modules is None else modules)


def tensorflow_version() -> str | None:
    """The installed TensorFlow's version, read from its metadata (TensorFlow is not imported)."""
    for name in TENSORFLOW_DISTRIBUTIONS:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def requirement(source: str, extras: str = EXTRAS) -> str:
    """The pip requirement of softrl_tf with ``extras`` from ``source`` (git URL or wheel path).

    Raises:
      ColabInstallError: ``source`` is neither a ``git+`` URL nor a ``.whl`` path.
    """
    source = source.strip()
    if source.startswith("git+"):
        return f"softrl_tf[{extras}] @ {source}"
    if source.endswith(".whl"):
        return f"{source}[{extras}]"
    raise ColabInstallError(
        f"{VARIABLE}={source!r} is neither a git URL (git+https://...) nor a wheel path (*.whl); "
        "set it to one of them."
    )


def install_commands(source: str, tf_version: str, python: str = sys.executable) -> list[list[str]]:
    """The pip commands of the install: the Keras-2 stack without dependencies, then softrl_tf.

    Args:
      source: a git URL or a wheel path (see the module docstring).
      tf_version: the installed TensorFlow's version, e.g. ``"2.19.0"``: ``tf_keras`` follows
        its minor version.
      python: the interpreter whose pip installs.
    """
    major, minor = tf_version.split(".")[:2]
    pip = [python, "-m", "pip", "install", "-q"]
    return [
        [*pip, "--no-deps", f"tf_keras~={major}.{minor}.0", *STACK],
        [*pip, requirement(source)],
    ]


def setup(
    source: str | None = None,
    *,
    run: Callable[..., object] | None = None,
    modules: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    tf_version: str | None = None,
    echo: Callable[[str], object] = print,
) -> str | None:
    """Installs softrl_tf's stack and softrl_tf itself on Colab; does nothing elsewhere.

    Args:
      source: what to install (default: the :data:`VARIABLE` environment variable).
      run: runs one command, with ``subprocess.run``'s signature (default: ``subprocess.run``,
        looked up at each call).
      modules, environ: ``sys.modules`` and ``os.environ`` by default.
      tf_version: the installed TensorFlow's version (default: read from its metadata).
      echo: where the one line goes.

    Returns:
      The line printed: what was installed, or :data:`UNSET_MESSAGE`; ``None`` off Colab.

    Raises:
      ColabInstallError: a source that is neither a git URL nor a wheel, no TensorFlow installed,
        or a pip command that failed.
    """
    if not on_colab(modules):
        return None
    environ = os.environ if environ is None else environ
    source = (source if source is not None else environ.get(VARIABLE, "")).strip()
    if not source:
        echo(UNSET_MESSAGE)
        return UNSET_MESSAGE
    requirement(source)  # the source is checked before anything is installed
    tf_version = tf_version or tensorflow_version()
    if tf_version is None:
        raise ColabInstallError(
            "No TensorFlow is installed in this runtime; install TensorFlow (Colab's default "
            "runtime has it), then rerun this cell."
        )
    for command in install_commands(source, tf_version):
        _run(run or subprocess.run, command)
    line = (
        f"Installed softrl_tf[{EXTRAS}] from {source} with tf_keras {_minor(tf_version)}, "
        f"{', '.join(STACK)} next to Colab's TensorFlow {tf_version} (kept)."
    )
    echo(line)
    return line


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _run(run: Callable[..., object], command: Sequence[str]) -> None:
    try:
        run(list(command), check=True)
    except subprocess.CalledProcessError as error:
        raise ColabInstallError(
            f"`{' '.join(command[1:])}` failed with exit status {error.returncode}; its output "
            "above says why."
        ) from None
