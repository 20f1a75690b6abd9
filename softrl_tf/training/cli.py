"""The training command line, generated from the config dataclasses.

Every field of :class:`~softrl_tf.training.config.TrainConfig` and of the chosen agent's config
becomes a flag (``hidden_sizes`` -> ``--hidden-sizes 64,64``; booleans take ``--double-q`` /
``--no-double-q``), documented by the field's help text. Values resolve in this order, later ones
winning: the agent's registered defaults, the preset (``--preset``), the saved ``config.json`` of
the run (with ``--resume``), the flags given.

Exit status: 0 done; 2 bad input (one sentence on stderr, no traceback); 1 a training failure
(non-finite loss, a crashed environment worker); 130 / 143 stopped by SIGINT / SIGTERM after a
checkpoint was written.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import logging
import os
import shutil
import sys
import warnings

from softrl_tf.agents import AGENTS, get_entry
from softrl_tf.training.config import ConfigError, TrainConfig
from softrl_tf.training.loop import (
    NonFiniteLossError,
    TrainingInterrupted,
    checkpoint_dir,
    train,
)
from softrl_tf.training.presets import PRESETS

from absl import logging as absl_logging

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
RUN_ARTIFACTS = ("checkpoints", "saved_model", "policy", "metrics.csv", "config.json")


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


_PARSERS = {
    "int": int,
    "float": float,
    "str": str,
    "tuple[int, ...]": _int_tuple,
    "float | None": _optional_float,
}


def _add_fields(group, config_class, skip=()) -> None:
    for f in dataclasses.fields(config_class):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if f.type == "bool":
            group.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"{help_text} (default: {default})",
            )
            continue
        if f.type not in _PARSERS:
            raise TypeError(f"no flag parser for {config_class.__name__}.{f.name}: {f.type}")
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        group.add_argument(
            flag,
            dest=f.name,
            type=_PARSERS[f.type],
            default=argparse.SUPPRESS,
            metavar=f.name.upper(),
            help=f"{help_text} (default: {shown})",
        )


def build_parser(agent: str = "softq") -> argparse.ArgumentParser:
    """The full parser for ``agent``: training flags, then that agent's hyperparameters."""
    entry = get_entry(agent)
    parser = argparse.ArgumentParser(
        prog="train.py",
        description=(
            "Train a softrl_tf agent: collect, train, log (TensorBoard and metrics.csv), "
            "checkpoint, evaluate, export. Flags shown are for --agent "
            f"{agent}; `--agent NAME --help` shows another agent's."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--agent",
        default="softq",
        help=f"Agent to train: {' | '.join(sorted(AGENTS))}.",
    )
    parser.add_argument(
        "--preset",
        default=None,
        help=f"Named settings applied under the flags: {' | '.join(PRESETS)}.",
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
    _add_fields(parser.add_argument_group("training"), TrainConfig, skip=("agent",))
    _add_fields(parser.add_argument_group(f"{agent} hyperparameters"), entry.config_class)
    return parser


def parse_configs(argv: list[str]):
    """``(TrainConfig, agent config, args)`` from command-line arguments.

    Raises:
      ConfigError: unknown agent or preset, ``--resume`` with ``--overwrite``.
    """
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--agent", default="softq")
    known, _ = pre.parse_known_args(argv)
    try:
        entry = get_entry(known.agent)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    args = build_parser(known.agent).parse_args(argv)
    if args.resume and args.overwrite:
        raise ConfigError("--resume and --overwrite contradict each other: give one of them.")

    given = vars(args)
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    agent_fields = {f.name for f in dataclasses.fields(entry.config_class)}
    train_values = {"agent": args.agent}
    agent_values = dict(entry.defaults)
    if args.preset is not None:
        if args.preset not in PRESETS:
            raise ConfigError(
                f"unknown preset {args.preset!r}; valid presets: {', '.join(PRESETS)}."
            )
        preset_train, preset_agent = PRESETS[args.preset](args.agent)
        train_values.update(preset_train)
        agent_values.update(preset_agent)
    if args.resume:
        saved = _saved_config(given.get("root_dir", TrainConfig.root_dir))
        if saved is not None:
            if saved["train"].get("agent") != args.agent:
                raise ConfigError(
                    f"--resume: the run in {given.get('root_dir', TrainConfig.root_dir)!r} "
                    f"trained {saved['train'].get('agent')!r}, not {args.agent!r}: pass "
                    f"--agent={saved['train'].get('agent')}."
                )
            train_values.update(saved["train"])
            agent_values.update(saved["agent"])
    train_values.update({k: v for k, v in given.items() if k in train_fields})
    agent_values.update({k: v for k, v in given.items() if k in agent_fields})
    if "hidden_sizes" in agent_values:
        agent_values["hidden_sizes"] = tuple(agent_values["hidden_sizes"])
    return TrainConfig(**train_values), entry.config_class(**agent_values), args


def _saved_config(root_dir: str) -> dict | None:
    path = os.path.join(root_dir, "config.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        return {"train": dict(saved["train"]), "agent": dict(saved["agent"])}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"--resume: {path} is unreadable ({error}).") from None


def _clear_run(root_dir: str) -> None:
    """Removes what a previous run wrote in ``root_dir`` (and nothing else)."""
    for name in RUN_ARTIFACTS:
        path = os.path.join(root_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    for path in glob.glob(os.path.join(root_dir, "events.out.tfevents.*")):
        os.remove(path)


def _quiet_logging() -> None:
    """softrl_tf's own messages at INFO; TensorFlow's and absl's export chatter only on errors."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("softrl_tf").setLevel(logging.INFO)
    absl_logging.set_verbosity(absl_logging.ERROR)
    for name in ("absl", "tensorflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # PolicySaver records tfp distribution specs; loading with tfp installed handles them.
    warnings.filterwarnings("ignore", message="Encoding a StructuredValue with type tfp")


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    _quiet_logging()
    try:
        config, agent_config, args = parse_configs(argv)
        ckpt_dir = checkpoint_dir(config.root_dir)
        if args.overwrite:
            _clear_run(config.root_dir)
        elif not args.resume and os.path.isdir(ckpt_dir) and os.listdir(ckpt_dir):
            raise ConfigError(
                f"--root-dir {config.root_dir!r} already holds a run: pass --resume to continue "
                "it or --overwrite to start over."
            )
        result = train(config, agent_config, resume=args.resume)
    except ConfigError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TrainingInterrupted as interrupted:
        print(f"train.py: {interrupted}", file=sys.stderr)
        return 128 + int(interrupted.signal_number)
    except NonFiniteLossError as error:
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
