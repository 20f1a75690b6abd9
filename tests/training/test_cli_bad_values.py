"""Bad values on the training command line: exit status 2 and one line on stderr, from the
parser as from the configs' rules, before anything is written; a property test feeds generated
bad values to every numeric flag."""

import contextlib
import dataclasses
import io
import logging
import os
import tempfile

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf import train_cli as cli
from softrl_tf.agents import AGENTS
from softrl_tf.config import field_types, flag
from softrl_tf.presets import section_classes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

PARSER_ERRORS = [
    (["--tau=abc"], "argument --tau: expected a number such as 0.01, got 'abc'"),
    (["--total-steps=nan"], "argument --total-steps: expected an integer such as 1000, got 'nan'"),
    (
        ["--total-steps=1e30"],
        "argument --total-steps: expected an integer such as 1000, got '1e30'",
    ),
    (["--total-steps=2.5"], "argument --total-steps: expected an integer"),
    (["--hidden-sizes=abc"], "argument --hidden-sizes: expected comma-separated integers"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["--agent"], "argument --agent: expected one argument"),
    (["--seed"], "argument --seed: expected one argument"),
]


@pytest.mark.parametrize("argv, message", PARSER_ERRORS, ids=[a[0] for a, _ in PARSER_ERRORS])
def test_parser_errors_are_one_line_without_the_usage_block(argv, message, tmp_path, capsys):
    root = tmp_path / "run"
    status = cli.main([f"--root-dir={root}", *argv])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err == f"train.py: error: {message}; see train.py --help." or message in err
    assert len(err.splitlines()) == 1, err
    assert "usage:" not in err
    assert not os.path.exists(root)


def test_an_environment_refused_at_start_up_logs_nothing_before_its_sentence(
    tmp_path, capsys, caplog
):
    """The backend chosen is logged once training begins, not in front of a refusal."""
    with caplog.at_level(logging.INFO):
        status = cli.main([f"--root-dir={tmp_path / 'run'}", "--env=Pendulum-v1"])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1, err
    assert "need a Discrete action space" in err
    assert not [r for r in caplog.records if r.name.startswith("softrl_tf")]


def _numeric_flags():
    """``(flag, agent, kind)`` for every int and float setting of every agent's run, derived from
    the configs (TrainConfig, ReplayConfig, each agent's config); the first agent using it."""
    out = {}
    for agent in sorted(AGENTS):
        for config_class in section_classes(agent).values():
            for f in dataclasses.fields(config_class):
                annotation = field_types(config_class)[f.name]
                kind = {int: "int", float: "float", float | None: "float"}.get(annotation)
                if kind is not None:
                    out.setdefault(flag(f.name), (agent, kind))
    return sorted((name, agent, kind) for name, (agent, kind) in out.items())


NUMERIC_FLAGS = _numeric_flags()
# Letters that spell no number and no "none": text that no numeric flag may accept.
TEXT = st.text(alphabet="abcxyz!@#_", min_size=1, max_size=8)
NON_FINITE = st.sampled_from(["nan", "inf", "-inf", "NaN", "1e400", "-1e400"])
BAD_INTS = st.one_of(
    st.integers(max_value=-1).map(str),
    st.integers(min_value=2**53 + 1, max_value=10**40).map(str),
    st.sampled_from(["2.5", "1e30", "1e3", "0x10", ""]),
    NON_FINITE,
    TEXT,
)
BAD_FLOATS = st.one_of(
    st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False).map(repr),
    NON_FINITE,
    TEXT,
)


def test_every_numeric_setting_is_a_flag_of_the_property_test():
    names = {name for name, _, _ in NUMERIC_FLAGS}
    assert {"--total-steps", "--num-envs", "--n-steps", "--tau", "--learning-rate"} <= names
    assert {"--batch-size", "--replay-capacity", "--target-update-tau"} <= names
    assert {"--advantage-scale", "--value-coef", "--rmsprop-rho"} <= names


@pytest.mark.parametrize("name, agent, kind", NUMERIC_FLAGS, ids=[n for n, _, _ in NUMERIC_FLAGS])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_bad_numeric_values_exit_2_with_one_line_and_write_nothing(name, agent, kind, data):
    value = data.draw(BAD_INTS if kind == "int" else BAD_FLOATS, label="value")
    with tempfile.TemporaryDirectory() as parent:
        root = os.path.join(parent, "run")
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            status = cli.main([f"--agent={agent}", f"--root-dir={root}", f"{name}={value}"])
        err = stderr.getvalue().strip()
        assert status == 2, (name, value, err)
        assert "Traceback" not in err
        assert len(err.splitlines()) == 1, err
        assert err.startswith("train.py: error: ")
        assert os.listdir(parent) == []
