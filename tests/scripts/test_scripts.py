"""Each file in scripts/ is a thin shell that still runs: ``--help`` in a fresh interpreter.

The commands themselves are tested through their package modules (tests/results, test_evaluate,
tests/training, tests/experiments); this checks only that every shell reaches its ``main``, and
that the console entry points of setup.py name functions that exist.
"""

import ast
import importlib
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = {
    "train.py": "--agent",
    "evaluate.py": "EXPORT_DIR",
    "plot.py": "ROOT_DIR",
    "experiment.py": "{list,report,run,summary}",
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_script_runs_help(script):
    path = os.path.join(REPO, "scripts", script)
    with open(path, encoding="utf-8") as f:
        assert len(f.read().splitlines()) < 60, f"scripts/{script} is no longer a thin shell"
    result = subprocess.run(
        [sys.executable, path, "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ") and SCRIPTS[script] in result.stdout


def _console_scripts() -> dict[str, str]:
    with open(os.path.join(REPO, "setup.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["CONSOLE_SCRIPTS"]:
            entries = ast.literal_eval(node.value)
            return dict(tuple(part.strip() for part in entry.split("=")) for entry in entries)
    raise AssertionError("setup.py has no CONSOLE_SCRIPTS")


def test_console_entry_points_name_main_functions():
    entries = _console_scripts()
    assert sorted(entries) == ["softrl-evaluate", "softrl-plot", "softrl-train"]
    for target in entries.values():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), target
