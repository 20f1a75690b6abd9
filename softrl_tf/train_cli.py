"""The training command line, generated from the run's config dataclasses.

Every field of :class:`~softrl_tf.config.TrainConfig`, of the chosen agent's config and (for
replay-based agents) of :class:`~softrl_tf.config.ReplayConfig` becomes a flag (``hidden_sizes``
-> ``--hidden-sizes 64,64``; booleans take ``--double-q`` / ``--no-double-q``), documented by the
field's help text, with the choices of ``Literal`` fields and the value the run will use as its
default. Values resolve through :func:`softrl_tf.presets.resolve`: the defaults, the preset
(``--preset``; with ``--resume`` the run's saved ``config.json`` instead), the flags given. A flag
that the chosen agent does not use is refused, naming the agents that use it.

Bad input is answered before TensorFlow loads (this module, the configs, the presets, the
environment-id lookup and the run-directory checks import without it): one sentence in well under
a second, with none of TensorFlow's start-up lines in front of it. TensorFlow is imported once the
input has passed every check that needs no TensorFlow.

Exit status: 0 done; 2 bad input, parse errors included (one sentence on stderr, no traceback,
nothing written); 1 a fault (:class:`~softrl_tf.training.faults.RunFault`: non-finite loss, a
damaged checkpoint, a failed checkpoint write, a dead environment worker), one sentence naming
what was kept; 130 / 143 stopped by SIGINT / SIGTERM (after a checkpoint was written during
training; at once on a second signal; with one line at start-up or export).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
import typing
import warnings

from softrl_tf.agent_configs import AGENT_CONFIGS, agent_config_class
from softrl_tf.config import ConfigError, RunConfig, choices, flag
from softrl_tf.env_ids import refuse_constructor_description, registered_spec
from softrl_tf.presets import (
    PRESET_NAMES,
    agents_using,
    describe_preset,
    preset_values,
    refuse_unused,
    resolve,
    section_classes,
)
from softrl_tf.training.faults import RunFault
from softrl_tf.training.run_dir import (
    check_root_dir,
    checkpoint_dir,
    read_config,
    refuse_resume_with_overwrite,
)

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
DEFAULT_AGENT = "softq"
DEFAULT_ROOT_DIR = "runs/latest"


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are a ``ConfigError`` (one line, exit 2), not the usage
    block followed by the error."""

    def error(self, message):
        raise ConfigError(f"{message}; see train.py --help.")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer such as 1000, got {text!r}"
        ) from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.01, got {text!r}") from None


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 64,64, got {text!r}"
        ) from None


def _optional_float(text: str) -> float | None:
    if text.strip().lower() in ("none", ""):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None


def _parser_of(config_class: type, name: str):
    annotation = typing.get_type_hints(config_class)[name]
    if choices(config_class, name) is not None:
        return str
    parsers = {int: _int, float: _float, str: str, tuple[int, ...]: _int_tuple}
    if annotation in parsers:
        return parsers[annotation]
    if annotation == (float | None):
        return _optional_float
    if str in typing.get_args(annotation):  # env: an id here, an id or a callable from Python
        return str
    raise TypeError(f"no flag parser for {config_class.__name__}.{name}: {annotation}")


def _add_fields(group, config, skip=()) -> None:
    """One flag per field of the config dataclass ``config``, its value shown as the default."""
    config_class = type(config)
    for f in dataclasses.fields(config_class):
        if f.name in skip:
            continue
        help_text = f.metadata.get("help", "")
        value = getattr(config, f.name)
        allowed = choices(config_class, f.name)
        if allowed is not None:
            help_text = f"{help_text} One of: {' | '.join(allowed)}."
        if isinstance(value, bool):
            group.add_argument(
                flag(f.name),
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"{help_text} (default: {value})",
            )
            continue
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
        group.add_argument(
            flag(f.name),
            dest=f.name,
            type=_parser_of(config_class, f.name),
            default=argparse.SUPPRESS,
            metavar=f.name.upper(),
            help=f"{help_text} (default: {shown})",
        )


def build_parser(
    agent: str = DEFAULT_AGENT, preset: str | None = None, env: str | None = None
) -> argparse.ArgumentParser:
    """The full parser for ``agent``: training flags, then that agent's settings, each showing
    the value a run on ``env`` with ``preset`` uses."""
    run = resolve(agent, preset, overrides=None if env is None else {"env": env})
    parser = _Parser(
        prog="train.py",
        description=(
            "Train a softrl_tf agent: collect, train, log (TensorBoard and metrics.csv), "
            "checkpoint, evaluate, export. Flags shown are for --agent "
            f"{agent}; `--agent NAME --help` shows another agent's."
        ),
    )
    parser.add_argument(
        "--agent",
        default=DEFAULT_AGENT,
        help=f"Agent to train: {' | '.join(sorted(AGENT_CONFIGS))}.",
    )
    parser.add_argument(
        "--preset",
        default=None,
        help=f"Named settings applied under the flags: {' | '.join(PRESET_NAMES)} (default: "
        "auto, which picks atari for an Atari --env, minatar for a MinAtar one and classic_control "
        "for any other).",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="Continue the run in --root-dir from its latest checkpoint and saved config.",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="Delete a previous run's checkpoints, metrics and exports in --root-dir first.",
    )
    _add_fields(parser.add_argument_group("training"), run.train, skip=("agent",))
    _add_fields(parser.add_argument_group(f"{agent} settings"), run.agent)
    if run.replay is not None:
        _add_fields(parser.add_argument_group("replay"), run.replay)
    return parser


def _refuse_other_agents_flags(agent: str, argv: list[str]) -> None:
    """A flag of another agent's settings is one sentence naming the agents that use it."""
    own = {f.name for cls in section_classes(agent).values() for f in dataclasses.fields(cls)}
    for token in argv:
        if not token.startswith("--"):
            continue
        name = token[2:].split("=", 1)[0].replace("-", "_")
        for candidate in (name, name[3:] if name.startswith("no_") else None):
            if candidate and candidate not in own and agents_using(candidate):
                refuse_unused(agent, candidate)


def parse_configs(argv: list[str]) -> tuple[RunConfig, argparse.Namespace]:
    """``(RunConfig, args)`` from command-line arguments.

    Raises:
      ConfigError: unknown agent or preset, a flag the agent does not use, ``--resume`` with
        ``--overwrite``, a value out of range.
    """
    pre = _Parser(add_help=False)
    pre.add_argument("--agent", default=DEFAULT_AGENT)
    pre.add_argument("--preset", default=None)
    pre.add_argument("--env", default=None)
    known, _ = pre.parse_known_args(argv)
    agent_config_class(known.agent)  # an unknown agent: one sentence listing the valid ones
    preset_values(known.agent, known.preset, known.env)  # an unknown preset: likewise
    _refuse_other_agents_flags(known.agent, argv)
    args = build_parser(known.agent, known.preset, known.env).parse_args(argv)
    refuse_resume_with_overwrite(args.resume, args.overwrite)
    given = {
        k: v for k, v in vars(args).items() if k not in ("agent", "preset", "resume", "overwrite")
    }
    saved = None
    if args.resume:
        root_dir = given.get("root_dir", DEFAULT_ROOT_DIR)
        try:
            saved = read_config(root_dir)
        except ConfigError as error:
            raise ConfigError(f"--resume: {error}") from None
        trained = None if saved is None else saved.get("train", {}).get("agent")
        if trained is not None and trained != args.agent:
            raise ConfigError(
                f"--resume: the run in {root_dir!r} trained {trained!r}, not {args.agent!r}: "
                f"pass --agent={trained}."
            )
    return resolve(args.agent, args.preset, saved, given), args


def check_before_tensorflow(run: RunConfig, args: argparse.Namespace) -> None:
    """The checks of a run's input that need no TensorFlow: an environment recorded as a
    constructor description, the environment id (registered, or close ids suggested), then the
    root directory (:func:`softrl_tf.training.run_dir.check_root_dir`, which creates it when
    missing: last, so that bad input leaves no directory behind). The trainer repeats them; here
    they answer bad input before TensorFlow's start-up, in under a second (MinAtar ids: about
    two, the minatar package's own imports).

    Raises:
      ConfigError: a constructor description, an unknown environment id, a root directory the run
        cannot use.
    """
    env = run.train.env
    refuse_constructor_description(env, args.resume)
    if isinstance(env, str):  # a constructor description was refused just above
        try:
            registered_spec(env)
        except ValueError as error:  # the lookup's messages name the input and the fix
            raise ConfigError(f"--env: {error}") from None
    check_root_dir(run.train.root_dir, resume=args.resume, overwrite=args.overwrite)


def _quiet_logging() -> None:
    """softrl_tf's own messages at INFO; TensorFlow's and absl's export chatter only on errors."""
    from absl import logging as absl_logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("softrl_tf").setLevel(logging.INFO)
    absl_logging.set_verbosity(absl_logging.ERROR)
    for name in ("absl", "tensorflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # PolicySaver records tfp distribution specs; loading with tfp installed handles them.
    warnings.filterwarnings("ignore", message="Encoding a StructuredValue with type tfp")


class _HeldLogs(logging.Handler):
    """softrl_tf's log records of the start-up, held back until training begins.

    A run refused during start-up (an environment without discrete actions, a resume that does
    not fit its checkpoint) then prints its one sentence alone; a run that starts shows them
    (the backend chosen, the checkpoint resumed from) when its first iteration begins.
    """

    def __init__(self):
        super().__init__(logging.INFO)
        self._logger = logging.getLogger("softrl_tf")
        self._records: list[logging.LogRecord] = []

    def emit(self, record):
        self._records.append(record)

    def __enter__(self):
        self._logger.addHandler(self)
        self._logger.propagate = False
        return self

    def show(self, logs=None) -> None:
        """Stops holding, then logs the held records as they would have been."""
        del logs
        if self not in self._logger.handlers:
            return
        self._logger.removeHandler(self)
        self._logger.propagate = True
        for record in self._records:
            logging.getLogger(record.name).handle(record)
        self._records.clear()

    def __exit__(self, *exc_info):
        self._records.clear()
        self._logger.removeHandler(self)
        self._logger.propagate = True


class _Signalled(KeyboardInterrupt):
    """SIGTERM outside training (start-up, export), raised like SIGINT's ``KeyboardInterrupt``."""

    def __init__(self, signal_number: int):
        super().__init__(signal_number)
        self.signal_number = signal_number


def _raise_signalled(signal_number, frame):
    del frame
    raise _Signalled(signal_number)


def _scale_out(run):
    """Env runners on Ray for a run with ``--runners`` > 1 or ``--ray-address``, else ``None``.

    The command line is the application's entry point, above the distributed layer: it wires
    the env runners into the training loop, which knows nothing of Ray. Imported here, after the
    input has passed, because the distributed layer loads TensorFlow.
    """
    from softrl_tf.distributed import scale_out_for

    return scale_out_for(run)


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, _raise_signalled)
        # SIGINT raises KeyboardInterrupt outside training whatever the caller's handler was (a
        # test runner's, Ray's), as Python's default handler does.
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _main(argv)
    except KeyboardInterrupt as error:  # SIGINT or SIGTERM outside training: at start-up, export
        number = getattr(error, "signal_number", signal.SIGINT)
        print(
            f"train.py: {signal.Signals(number).name} received outside training: stopped; any "
            "checkpoint written before is intact (continue a run with --resume).",
            file=sys.stderr,
        )
        return 128 + int(number)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _main(argv: list[str]) -> int:
    try:  # bad input is answered here, before TensorFlow loads
        run, args = parse_configs(argv)
        check_before_tensorflow(run, args)
    except ConfigError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from softrl_tf.training.loop import TrainingInterrupted, train

    import tf_keras

    _quiet_logging()
    config = run.train
    try:
        with _HeldLogs() as held:
            logging.getLogger("softrl_tf.presets").info(
                "preset: %s", describe_preset(args.preset, config.env, args.resume)
            )
            begin = tf_keras.callbacks.LambdaCallback(on_train_begin=held.show)
            result = train(
                run,
                resume=args.resume,
                overwrite=args.overwrite,
                callbacks=[begin],
                scale_out=_scale_out(run),
            )
            held.show()
    except ConfigError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TrainingInterrupted as interrupted:
        print(f"train.py: {interrupted}", file=sys.stderr)
        return 128 + int(interrupted.signal_number)
    except RunFault as error:  # a non-finite loss, a damaged checkpoint, a full disk
        print(f"train.py: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except (EOFError, BrokenPipeError, ConnectionError) as error:
        print(
            f"train.py: error: an environment worker process died ({type(error).__name__}: "
            f"{error}); the last checkpoint is in {checkpoint_dir(config.root_dir)}.",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    mean = result.mean_return()
    print(
        f"train.py: done: {result.env_steps} environment steps, {result.updates} updates, "
        f"{len(result.episode_returns)} episodes, mean return of the last 100: {mean:.1f}.\n"
        f"  metrics:     {os.path.join(config.root_dir, 'metrics.csv')}\n"
        f"  checkpoints: {checkpoint_dir(config.root_dir)}"
    )
    if config.export:
        saved_model = os.path.join(config.root_dir, "saved_model")
        print(
            f"  exports:     {saved_model} (plain TensorFlow), "
            f"{os.path.join(config.root_dir, 'policy')} (TF-Agents PolicySaver)\n"
            f"  evaluate:    python scripts/evaluate.py {saved_model} --episodes 10"
        )
    return 0


__all__ = ["build_parser", "main", "parse_configs"]
