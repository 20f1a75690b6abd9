"""Runs the training runs of an experiment: in parallel processes, skipping, resuming, reusing.

Layout: every run of experiment ``E`` lives in ``<results_dir>/E/<run name>/``:

* ``config.json``: the resolved configuration, written by :func:`softrl_tf.training.loop.train`;
* ``metrics.csv``: the training curve (``MetricsLogger``);
* ``run.json``: written here: ``status`` (``running``, ``finished``, ``interrupted``, ``failed``),
  the run's spec, ``wall_s`` (summed over attempts), ``attempts``, ``env_steps``, ``episodes``,
  and ``copied_from`` when the run was reused from another experiment.

State of a run, from its directory:

* **finished** (``run.json`` says so): skipped, after checking that its ``config.json`` is the one
  the spec resolves to now (a mismatch raises :class:`StaleResultError`: results are never mixed
  across configurations silently);
* **interrupted** (a checkpoint in ``checkpoints/``, not finished): resumed with
  ``train(..., resume=True)``, which continues from the checkpoint's step and truncates
  ``metrics.csv`` to it;
* **new**: trained from the start. Before training, a finished run with an identical
  configuration elsewhere under the results dir (another experiment's) is copied instead: for
  example the proper-A2C runs shared by the entropy and the soft-Q experiments.

A finished run keeps ``config.json``, ``metrics.csv`` and ``run.json`` only: checkpoints, exports
and TensorBoard event files are deleted (the CSV has the same scalars).

Parallelism: ``workers >= 1`` runs each training run in a fresh Python process
(``python -m softrl_tf.experiments._worker``), at most ``workers`` at a time, each with TensorFlow
limited to ``cpu_count // workers`` threads; ``workers = 0`` trains in this process, one run after
another (quick mode, tests). SIGINT or SIGTERM to the runner is passed on to the workers, which
write a checkpoint and stop (``train``'s own signal handling); the next invocation resumes them.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from softrl_tf.config import CONFIG_JSON
from softrl_tf.experiments.specs import RunSpec, TrainingExperiment
from softrl_tf.results.metrics import METRICS_CSV
from softrl_tf.training.run_dir import checkpoint_dir

RUN_JSON = "run.json"
WORKER_LOG = "worker.log"
# Config fields that do not change what a run computes.
_IGNORED_FIELDS = {("train", "root_dir")}


class StaleResultError(RuntimeError):
    """A run directory holds results of a different configuration than the spec asks for."""


@dataclass
class RunRecord:
    """What happened to one run in one invocation.

    Attributes:
      name: the run's name.
      status: ``finished`` (trained now), ``skipped`` (finished before), ``copied`` (reused),
        ``interrupted`` or ``failed``.
      wall_s: seconds spent on it in this invocation.
      resumed: whether training resumed from a checkpoint.
      message: the error, for failures.
    """

    name: str
    status: str
    wall_s: float = 0.0
    resumed: bool = False
    message: str = ""


def run_dir(results_dir: str, spec: RunSpec) -> str:
    """``<results_dir>/<experiment>/<run name>``."""
    return os.path.join(results_dir, spec.experiment, spec.name)


def resolved_config(spec: RunSpec, directory: str) -> dict:
    """The ``config.json`` content that training ``spec`` in ``directory`` writes."""
    return _jsonable(spec.resolve(directory).to_dict())


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _read_json(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path: str, value: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, default=str)
        f.write("\n")
    os.replace(tmp, path)


def _defaults(agent: str) -> dict:
    """``(section, field) -> default``, as ``config.json`` writes it, of ``agent``'s run."""
    from softrl_tf.presets import section_classes

    return {
        (section, f.name): json.loads(json.dumps(f.default))
        for section, cls in section_classes(agent).items()
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING
    }


def config_differences(expected: dict, found: dict) -> list[str]:
    """``section.field: found -> expected`` for every field that differs (root_dir ignored).

    A field that ``found`` lacks (a ``config.json`` written before the setting existed) counts
    as its default: a run that predates a setting ran with its default behaviour.
    """
    differences = []
    agent = (expected.get("train") or {}).get("agent")
    defaults = _defaults(agent) if agent else {}
    for section in sorted(set(expected) | set(found)):
        want, have = expected.get(section) or {}, dict(found.get(section) or {})
        for name in sorted(set(want) | set(have)):
            if (section, name) in _IGNORED_FIELDS:
                continue
            if name not in have and (section, name) in defaults:
                have[name] = defaults[(section, name)]
            if want.get(name) != have.get(name):
                differences.append(f"{section}.{name}: {have.get(name)!r} -> {want.get(name)!r}")
    return differences


def has_checkpoint(directory: str) -> bool:
    """Whether ``directory/checkpoints`` has a checkpoint index (``train`` can resume)."""
    return os.path.isfile(os.path.join(checkpoint_dir(directory), "checkpoint"))


def run_state(spec: RunSpec, results_dir: str) -> str:
    """``finished``, ``interrupted`` or ``new`` (see the module docstring).

    Raises:
      StaleResultError: the directory holds a finished or resumable run of another configuration.
    """
    directory = run_dir(results_dir, spec)
    record = _read_json(os.path.join(directory, RUN_JSON)) or {}
    finished = record.get("status") == "finished"
    resumable = has_checkpoint(directory)
    if not (finished or resumable):
        return "new"
    found = _read_json(os.path.join(directory, CONFIG_JSON))
    differences = (
        config_differences(resolved_config(spec, directory), found)
        if found
        else ["config.json is missing"]
    )
    if differences:
        raise StaleResultError(
            f"{directory} holds a {'finished' if finished else 'partial'} run of another "
            f"configuration ({'; '.join(differences[:5])}): delete that directory to run it "
            "again, or use another results dir."
        )
    return "finished" if finished else "interrupted"


def find_reusable(spec: RunSpec, results_dir: str) -> str | None:
    """A finished run elsewhere under ``results_dir`` with exactly this spec's configuration."""
    own = os.path.abspath(run_dir(results_dir, spec))
    expected = None
    for record_path in sorted(glob.glob(os.path.join(results_dir, "*", "*", RUN_JSON))):
        directory = os.path.dirname(record_path)
        if os.path.abspath(directory) == own:
            continue
        record = _read_json(record_path) or {}
        if record.get("status") != "finished" or record.get("copied_from"):
            continue
        found = _read_json(os.path.join(directory, CONFIG_JSON))
        if not found or found.get("train", {}).get("env") != spec.env:
            continue
        if expected is None:
            expected = resolved_config(spec, own)
        if not config_differences(expected, found):
            return directory
    return None


def copy_run(source: str, spec: RunSpec, results_dir: str) -> None:
    """Copies a finished run with the same configuration into this spec's directory."""
    directory = run_dir(results_dir, spec)
    os.makedirs(directory, exist_ok=True)
    shutil.copyfile(os.path.join(source, METRICS_CSV), os.path.join(directory, METRICS_CSV))
    config = _read_json(os.path.join(source, CONFIG_JSON))
    config["train"]["root_dir"] = directory
    _write_json(os.path.join(directory, CONFIG_JSON), config)
    record = _read_json(os.path.join(source, RUN_JSON))
    record.update(
        spec=_spec_dict(spec),
        copied_from=os.path.relpath(source, results_dir),
        attempts=0,
    )
    _write_json(os.path.join(directory, RUN_JSON), record)


def _spec_dict(spec: RunSpec) -> dict:
    return _jsonable(asdict(spec))


def clean_run_dir(directory: str) -> None:
    """Deletes what a finished run does not need: checkpoints, exports, event files, logs."""
    shutil.rmtree(checkpoint_dir(directory), ignore_errors=True)
    for name in ("saved_model", "policy"):
        shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        os.remove(path)
    for name in (WORKER_LOG,):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            os.remove(path)


def execute_run(spec: RunSpec, results_dir: str) -> RunRecord:
    """Trains (or resumes) one run in this process and records the outcome in ``run.json``.

    Catches the training loop's interruption (SIGINT/SIGTERM: a checkpoint was written) and any
    other error, which it records as ``failed`` with its message.
    """
    from softrl_tf.experiments.envs import prepare_env
    from softrl_tf.training.loop import TrainingInterrupted, train

    directory = run_dir(results_dir, spec)
    state = run_state(spec, results_dir)
    if state == "finished":
        return RunRecord(spec.name, "skipped")
    os.makedirs(directory, exist_ok=True)
    record_path = os.path.join(directory, RUN_JSON)
    previous = _read_json(record_path) or {}
    resume = state == "interrupted"
    record = {
        "status": "running",
        "spec": _spec_dict(spec),
        "wall_s": float(previous.get("wall_s", 0.0)) if resume else 0.0,
        "attempts": int(previous.get("attempts", 0)) + 1 if resume else 1,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    _write_json(record_path, record)
    run_config = spec.resolve(directory)
    started = time.monotonic()
    status, message, result = "finished", "", None
    try:
        prepare_env(spec.env)
        result = train(run_config, resume=resume, progress=False)
    except TrainingInterrupted as interruption:
        status, message, result = "interrupted", str(interruption), interruption.result
    except Exception as error:  # noqa: BLE001 - recorded in run.json, reported by the runner
        status, message = "failed", f"{type(error).__name__}: {error}"
    wall = time.monotonic() - started
    record.update(status=status, wall_s=record["wall_s"] + wall)
    if result is not None:
        record.update(env_steps=result.env_steps, updates=result.updates, episodes=result.episodes)
    if message:
        record["message"] = message
    if status == "finished":
        record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    _write_json(record_path, record)
    if status == "finished":
        clean_run_dir(directory)
    return RunRecord(spec.name, status, wall, resumed=resume, message=message)


def _threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _worker_command(spec: RunSpec, results_dir: str, threads: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "softrl_tf.experiments._worker",
        "--results-dir",
        results_dir,
        "--threads",
        str(threads),
        json.dumps(_spec_dict(spec)),
    ]


def spec_from_dict(values: dict) -> RunSpec:
    """The inverse of ``dataclasses.asdict`` for :class:`RunSpec` (worker processes)."""
    return RunSpec(**values)


def _record_from_dir(spec: RunSpec, results_dir: str, wall: float, resumed: bool, code: int):
    directory = run_dir(results_dir, spec)
    record = _read_json(os.path.join(directory, RUN_JSON)) or {}
    status = record.get("status", "failed")
    message = record.get("message", "")
    if status == "running":  # the worker died without recording an outcome
        status = "failed"
        message = f"worker exited with status {code}; see {os.path.join(directory, WORKER_LOG)}"
    return RunRecord(spec.name, status, wall, resumed=resumed, message=message)


class _Forwarder:
    """Passes SIGINT/SIGTERM on to the worker processes and remembers that one came."""

    def __init__(self):
        self.received = None
        self.children: dict[int, subprocess.Popen] = {}
        self._previous = {}

    def _handle(self, signal_number, frame):
        del frame
        self.received = signal_number
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _run_in_processes(
    pending: list[tuple[RunSpec, str]],
    results_dir: str,
    workers: int,
    report: Callable[[RunRecord], None],
) -> list[RunRecord]:
    threads = _threads_per_worker(workers)
    records = []
    queue = list(pending)
    running: dict[int, tuple[RunSpec, float, bool, subprocess.Popen, object]] = {}
    with _Forwarder() as forwarder:
        while queue or running:
            while queue and len(running) < workers and forwarder.received is None:
                spec, state = queue.pop(0)
                directory = run_dir(results_dir, spec)
                os.makedirs(directory, exist_ok=True)
                log = open(os.path.join(directory, WORKER_LOG), "a", encoding="utf-8")  # noqa: SIM115
                child = subprocess.Popen(
                    _worker_command(spec, results_dir, threads),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # signals reach it through the forwarder only
                )
                forwarder.children[child.pid] = child
                running[child.pid] = (spec, time.monotonic(), state == "interrupted", child, log)
            time.sleep(0.2)
            for pid, (spec, started, resumed, child, log) in list(running.items()):
                code = child.poll()
                if code is None:
                    continue
                log.close()
                del running[pid], forwarder.children[pid]
                record = _record_from_dir(
                    spec, results_dir, time.monotonic() - started, resumed, code
                )
                if record.status == "finished":
                    path = os.path.join(run_dir(results_dir, spec), WORKER_LOG)
                    if os.path.exists(path):
                        os.remove(path)
                records.append(record)
                report(record)
            if forwarder.received is not None and not running:
                break
    for spec, _ in queue:
        records.append(RunRecord(spec.name, "interrupted", message="not started"))
    return records


def run_experiment(
    experiment: TrainingExperiment,
    results_dir: str = "results",
    *,
    workers: int = 1,
    quick: bool = False,
    only: Iterable[str] | None = None,
    reuse: bool = True,
    log: Callable[[str], None] | None = print,
) -> list[RunRecord]:
    """Trains every run of ``experiment`` that is not finished yet.

    Args:
      experiment: the experiment.
      results_dir: where ``<experiment>/<run>/`` go.
      workers: parallel worker processes; 0 trains in this process.
      quick: the experiment's quick version (see :mod:`softrl_tf.experiments.specs`).
      only: substrings; when given, only runs whose name contains one of them.
      reuse: copy finished runs with identical configurations from other experiments.
      log: where progress lines go (None: silent).

    Returns:
      One :class:`RunRecord` per run, in the experiment's order of completion.

    Raises:
      StaleResultError: a run directory holds another configuration's results.
    """
    say = log or (lambda line: None)
    specs = experiment.runs(quick=quick)
    if only:
        patterns = list(only)
        specs = [spec for spec in specs if any(p in spec.name for p in patterns)]
    records: list[RunRecord] = []
    pending: list[tuple[RunSpec, str]] = []
    for spec in specs:
        state = run_state(spec, results_dir)
        if state == "finished":
            records.append(RunRecord(spec.name, "skipped"))
            continue
        if state == "new" and reuse:
            source = find_reusable(spec, results_dir)
            if source is not None:
                copy_run(source, spec, results_dir)
                records.append(RunRecord(spec.name, "copied", message=source))
                continue
        pending.append((spec, state))
    total = len(specs)
    counts = {s: sum(r.status == s for r in records) for s in ("skipped", "copied")}
    resumes = sum(state == "interrupted" for _, state in pending)
    say(
        f"{experiment.name}: {total} runs: {counts['skipped']} finished before, "
        f"{counts['copied']} copied from identical runs, {resumes} to resume, "
        f"{len(pending) - resumes} to train"
        + (f" ({workers} worker{'s' * (workers != 1)})" if pending else "")
    )
    done = [len(records)]

    def report(record: RunRecord) -> None:
        done[0] += 1
        extra = f": {record.message}" if record.message else ""
        say(
            f"[{done[0]}/{total}] {record.name} {record.status}"
            f"{' (resumed)' if record.resumed else ''} in {record.wall_s:.1f} s{extra}"
        )

    if workers <= 0:
        for index, (spec, _) in enumerate(pending):
            record = execute_run(spec, results_dir)
            records.append(record)
            report(record)
            if record.status == "interrupted":
                records += [
                    RunRecord(later.name, "interrupted", message="not started")
                    for later, _ in pending[index + 1 :]
                ]
                break
    else:
        records += _run_in_processes(pending, results_dir, workers, report)
    return records
