"""Bad values on the training command line: exit status 2 and one line on stderr, from the
parser as from the configs' rules, before anything is written."""

import logging
import os

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.training import cli

import pytest

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
