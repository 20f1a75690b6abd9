"""Environments given as ``module:EnvId`` ids and as constructors, through the command line and
``train()``: what ``config.json`` records, how resuming a constructor's run is refused, and that
``config.json`` is written atomically."""

import json
import os
import sys

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf import train_cli as cli
from softrl_tf.config import ConfigError, TrainConfig
from softrl_tf.presets import resolve
from softrl_tf.training import loop

import gymnasium
import pytest

ENVS_TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "envs")
TINY = ["--total-steps=80", "--num-envs=2", "--log-every-steps=40", "--hidden-sizes=8"]


@pytest.fixture
def lineworld_pkg(monkeypatch):
    """``tests/envs/lineworld_pkg.py`` on the path, not imported, ``LineWorld-v0`` unregistered."""
    monkeypatch.syspath_prepend(ENVS_TESTS)
    monkeypatch.delitem(sys.modules, "lineworld_pkg", raising=False)
    monkeypatch.delitem(gymnasium.registry, "LineWorld-v0", raising=False)


def _saved(root):
    with open(os.path.join(root, "config.json"), encoding="utf-8") as f:
        return json.load(f)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_cli_trains_on_a_module_prefixed_id(lineworld_pkg, tmp_path, capsys):
    root = str(tmp_path / "run")
    env_id = "lineworld_pkg:LineWorld-v0"
    assert cli.main([f"--env={env_id}", f"--root-dir={root}", *TINY, "--no-export"]) == 0
    assert "lineworld_pkg" in sys.modules  # imported by the environment layer, not here
    assert _saved(root)["train"]["env"] == env_id
    # The saved id is reused: the module is imported again from it.
    sys.modules.pop("lineworld_pkg")
    assert cli.main([f"--root-dir={root}", "--resume", "--total-steps=160"]) == 0
    assert _saved(root)["train"]["env"] == env_id


def test_cli_names_a_module_that_cannot_be_imported(tmp_path, capsys):
    root = str(tmp_path / "run")
    status = cli.main(["--env=no_such_pkg:LineWorld-v0", f"--root-dir={root}", *TINY])
    assert status == cli.EXIT_BAD_INPUT
    assert _error_line(capsys) == (
        "train.py: error: --env: Environment id 'no_such_pkg:LineWorld-v0' names the module "
        "'no_such_pkg', which cannot be imported (No module named 'no_such_pkg'): install it or "
        "put it on sys.path."
    )
    assert not os.path.exists(os.path.join(root, "config.json"))


def test_train_on_a_constructor_records_its_name_and_resumes_only_with_it(
    lineworld_pkg, tmp_path, capsys
):
    from lineworld_pkg import make_line_world

    root = str(tmp_path / "run")
    config = TrainConfig(
        env=make_line_world, num_envs=2, total_steps=80, log_every_steps=40, root_dir=root
    )
    config.export = False
    agent_config = resolve("softq", overrides={"hidden_sizes": (8,)}).agent
    result = loop.train(config, agent_config, progress=False)
    assert result.env_steps == 80
    assert _saved(root)["train"]["env"] == "callable:lineworld_pkg.make_line_world"

    before = _saved(root)
    capsys.readouterr()
    assert cli.main([f"--root-dir={root}", "--resume", "--total-steps=160"]) == cli.EXIT_BAD_INPUT
    assert _error_line(capsys) == (
        "train.py: error: --env: this run trained on an environment constructor "
        "(lineworld_pkg.make_line_world), which config.json records by name only; resume it "
        "from Python with TrainConfig(env=<that constructor>)."
    )
    assert _saved(root) == before

    saved = resolve("softq", saved=before, overrides={"env": make_line_world, "total_steps": 160})
    assert loop.train(saved, resume=True, progress=False).env_steps == 160
    assert _saved(root)["train"]["env"] == "callable:lineworld_pkg.make_line_world"


def test_config_json_is_replaced_whole_or_not_at_all(tmp_path):
    run = resolve("softq", overrides={"root_dir": str(tmp_path)})
    loop.write_config(run, str(tmp_path))
    before = _saved(tmp_path)
    run.agent.hidden_sizes = (object(),)  # not JSON
    with pytest.raises(TypeError):
        loop.write_config(run, str(tmp_path))
    assert _saved(tmp_path) == before
    assert sorted(os.listdir(tmp_path)) == ["config.json"]  # no temporary file left


def test_an_empty_env_is_refused():
    with pytest.raises(ConfigError, match=r"--env \(env\) must be a gymnasium id or a callable"):
        loop.train(TrainConfig(env=" "))
