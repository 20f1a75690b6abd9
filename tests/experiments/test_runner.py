"""The experiment runner on tiny CartPole runs: layout, skip-finished, resume-interrupted, reuse,
stale-result detection, and the worker-process path."""

import json
import os
import signal

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.experiments import runner, summary
from softrl_tf.experiments.specs import EnvBudget, TrainingExperiment, Variant
from softrl_tf.results.metrics import read_metrics
from softrl_tf.training import loop

import pytest

STEPS = 400  # 4 environments x 5 steps = 20 per update: 20 updates


def _experiment(name="tiny", steps=STEPS, seeds=(0, 1), variants=None):
    return TrainingExperiment(
        name=name,
        title="Tiny",
        description="",
        variants=variants or (Variant("proper", "a2c", {"entropy_mode": "proper"}),),
        envs=(
            EnvBudget(
                "CartPole-v1",
                total_steps=steps,
                log_every_steps=40,
                train_overrides={"num_envs": 4},
            ),
        ),
        seeds=seeds,
    )


def _read(path):
    with open(path) as f:
        return f.read()


def test_layout_summary_and_skip_finished(tmp_path):
    experiment = _experiment()
    records = runner.run_experiment(experiment, str(tmp_path), workers=0, log=None)
    assert [(r.name, r.status) for r in records] == [
        ("proper-CartPole-v1-s0", "finished"),
        ("proper-CartPole-v1-s1", "finished"),
    ]
    for seed in (0, 1):
        directory = tmp_path / "tiny" / f"proper-CartPole-v1-s{seed}"
        # Only the light results stay: no checkpoints, exports or event files.
        assert sorted(os.listdir(directory)) == ["config.json", "metrics.csv", "run.json"]
        config = json.loads(_read(directory / "config.json"))
        assert config["train"]["seed"] == seed and config["train"]["total_steps"] == STEPS
        assert config["agent"]["entropy_mode"] == "proper"
        record = json.loads(_read(directory / "run.json"))
        assert record["status"] == "finished" and record["attempts"] == 1
        assert record["env_steps"] == STEPS and record["wall_s"] > 0
        steps, values = read_metrics(directory / "metrics.csv").curve()
        assert steps[-1] == STEPS and len(values) > 3
    metrics = (tmp_path / "tiny" / "proper-CartPole-v1-s0" / "metrics.csv").read_bytes()
    rows, _ = summary.summarize(experiment, str(tmp_path))
    assert rows[0].seeds == [0, 1] and rows[0].total_steps == STEPS
    # A second invocation trains nothing and leaves the results untouched.
    records = runner.run_experiment(experiment, str(tmp_path), workers=0, log=None)
    assert [r.status for r in records] == ["skipped", "skipped"]
    assert (tmp_path / "tiny" / "proper-CartPole-v1-s0" / "metrics.csv").read_bytes() == metrics


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    experiment = _experiment(steps=800, seeds=(0,))
    # SIGINT arrives while the row of step 400 is written: the loop finishes the iteration, saves
    # a checkpoint (at 400) and raises TrainingInterrupted, as on Ctrl-C.
    original = loop.MetricsLogger.write

    def write(self, step, scalars):
        original(self, step, scalars)
        if step == 400:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(loop.MetricsLogger, "write", write)
    messages = []
    records = runner.run_experiment(experiment, str(tmp_path), workers=0, log=messages.append)
    monkeypatch.undo()
    assert [r.status for r in records] == ["interrupted"]
    directory = tmp_path / "tiny" / "proper-CartPole-v1-s0"
    record = json.loads(_read(directory / "run.json"))
    assert record["status"] == "interrupted" and record["env_steps"] == 400
    assert runner.has_checkpoint(str(directory))
    first = _read(directory / "metrics.csv").splitlines()
    assert first[-1].startswith("400,")
    assert runner.run_state(experiment.runs()[0], str(tmp_path)) == "interrupted"

    messages = []
    records = runner.run_experiment(experiment, str(tmp_path), workers=0, log=messages.append)
    assert [(r.status, r.resumed) for r in records] == [("finished", True)]
    assert "1 to resume, 0 to train" in messages[0]
    record = json.loads(_read(directory / "run.json"))
    assert record["status"] == "finished" and record["attempts"] == 2
    assert record["env_steps"] == 800 and record["updates"] == 40
    # The rows up to the checkpoint are the first attempt's, byte for byte (their wall times
    # included): training continued from step 400 instead of starting over.
    second = _read(directory / "metrics.csv").splitlines()
    assert second[: len(first)] == first
    steps = [int(line.split(",")[0]) for line in second[1:]]
    assert steps == sorted(set(steps)) and steps[-1] == 800 and len(steps) > len(first) - 1
    assert not runner.has_checkpoint(str(directory))


def test_changed_configuration_is_refused(tmp_path):
    runner.run_experiment(_experiment(seeds=(0,)), str(tmp_path), workers=0, log=None)
    changed = _experiment(seeds=(0,), variants=(Variant("proper", "a2c", {"tau": 0.5}),))
    with pytest.raises(runner.StaleResultError, match=r"agent\.tau: 0\.01 -> 0\.5"):
        runner.run_experiment(changed, str(tmp_path), workers=0, log=None)


def test_identical_runs_are_copied_from_another_experiment(tmp_path):
    first = _experiment(name="first", seeds=(0,))
    runner.run_experiment(first, str(tmp_path), workers=0, log=None)
    second = _experiment(
        name="second",
        seeds=(0,),
        variants=(
            Variant("a2c", "a2c", {"entropy_mode": "proper"}),  # same config, another name
            Variant("naive", "a2c", {"entropy_mode": "naive"}),
        ),
    )
    records = runner.run_experiment(second, str(tmp_path), workers=0, log=None)
    assert [(r.name, r.status) for r in records] == [
        ("a2c-CartPole-v1-s0", "copied"),
        ("naive-CartPole-v1-s0", "finished"),
    ]
    source = tmp_path / "first" / "proper-CartPole-v1-s0"
    copy = tmp_path / "second" / "a2c-CartPole-v1-s0"
    assert (copy / "metrics.csv").read_bytes() == (source / "metrics.csv").read_bytes()
    record = json.loads(_read(copy / "run.json"))
    assert record["copied_from"] == os.path.join("first", "proper-CartPole-v1-s0")
    assert record["spec"]["variant"] == "a2c"
    config = json.loads(_read(copy / "config.json"))
    assert config["train"]["root_dir"] == str(copy)
    assert runner.run_state(second.runs()[0], str(tmp_path)) == "finished"
    # Copies are not summed into the training time.
    rows, _ = summary.summarize(second, str(tmp_path))
    assert rows[0].wall_s == 0.0 and rows[1].wall_s > 0.0


def test_only_selects_runs_by_name(tmp_path):
    records = runner.run_experiment(
        _experiment(steps=40), str(tmp_path), workers=0, only=["-s1"], log=None
    )
    assert [r.name for r in records] == ["proper-CartPole-v1-s1"]


def test_worker_process_trains_a_run(tmp_path):
    records = runner.run_experiment(
        _experiment(steps=40, seeds=(3,)), str(tmp_path), workers=1, log=None
    )
    assert [(r.name, r.status) for r in records] == [("proper-CartPole-v1-s3", "finished")]
    directory = tmp_path / "tiny" / "proper-CartPole-v1-s3"
    assert sorted(os.listdir(directory)) == ["config.json", "metrics.csv", "run.json"]
    assert json.loads(_read(directory / "run.json"))["env_steps"] == 40


@pytest.mark.slow
def test_worker_processes_and_sigterm_resume(tmp_path):
    """The parallel path: two worker processes; SIGTERM to the runner stops both (each writes a
    checkpoint at its current step), and the next invocation resumes them."""
    import subprocess
    import sys
    import time

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (
        "import sys, softrl_tf\n"
        "from softrl_tf.experiments import runner\n"
        "from softrl_tf.experiments.specs import EnvBudget, TrainingExperiment, Variant\n"
        "e = TrainingExperiment('tiny', 'Tiny', '', (Variant('proper', 'a2c'),),\n"
        "    (EnvBudget('CartPole-v1', 300_000, log_every_steps=1000),), (0, 1))\n"
        "records = runner.run_experiment(e, sys.argv[1], workers=2)\n"
        "sys.exit(0 if all(r.status == 'finished' for r in records) else 3)\n"
    )
    args = [sys.executable, "-c", code, str(tmp_path)]
    parent = subprocess.Popen(args, cwd=repo)
    directories = [tmp_path / "tiny" / f"proper-CartPole-v1-s{s}" for s in (0, 1)]

    def training(directory):  # a few metric rows written: the worker is in its training loop
        path = directory / "metrics.csv"
        return path.is_file() and len(path.read_text().splitlines()) > 3

    deadline = time.monotonic() + 240
    while not all(training(d) for d in directories):
        assert time.monotonic() < deadline and parent.poll() is None
        time.sleep(0.2)
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=120) == 3
    for directory in directories:
        record = json.loads(_read(directory / "run.json"))
        assert record["status"] == "interrupted" and 0 < record["env_steps"] < 300_000
        assert runner.has_checkpoint(str(directory))
    assert subprocess.run(args, cwd=repo, timeout=600).returncode == 0
    for directory in directories:
        record = json.loads(_read(directory / "run.json"))
        assert record["status"] == "finished" and record["attempts"] == 2
        assert record["env_steps"] == 300_000


def test_a_setting_added_after_a_run_counts_as_its_default():
    """A config.json written before a setting existed matches the spec when the spec keeps the
    setting's default, and differs when it does not."""
    spec = runner.RunSpec("e", "v", "a2c", "CartPole-v1", 0, 100, 10)
    expected = runner.resolved_config(spec, "/x")
    old = json.loads(json.dumps(expected))
    del old["agent"]["precision"]
    assert expected["agent"]["precision"] == "float32"
    assert runner.config_differences(expected, old) == []
    expected["agent"]["precision"] = "mixed_bfloat16"
    assert runner.config_differences(expected, old) == [
        "agent.precision: 'float32' -> 'mixed_bfloat16'"
    ]
    old["agent"]["tau"] = 0.5
    assert "agent.tau: 0.5 -> 0.01" in runner.config_differences(expected, old)
