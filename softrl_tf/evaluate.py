"""``softrl-evaluate``: play a softrl_tf SavedModel export on a gymnasium or Atari environment.

    softrl-evaluate runs/quickstart/saved_model --episodes=10
    softrl-evaluate runs/pong/saved_model --env=ALE/Pong-v5 --episodes=30 --json
    softrl-evaluate runs/quickstart/saved_model --sample --temperature=0.5 --seed=3
    softrl-evaluate runs/quickstart/saved_model --episodes=5 --video=runs/cartpole.mp4

(``scripts/evaluate.py`` is the same command.)

The export (:func:`softrl_tf.export.export_saved_model`) is loaded with plain TensorFlow
(:func:`softrl_tf.export.load_exported`) and played for exactly ``--episodes`` complete episodes,
one after the other on one environment built by :func:`softrl_tf.envs.make_env` (the same
observation preprocessing as training). Episode ``i`` starts from ``env.reset(seed=S + i)``, so
each episode is reproducible on its own. Returns are the raw, undiscounted sums of the game's
rewards: evaluation turns reward clipping off, and Atari episodes are whole games
(``episodic_life`` is off), as in the paper's reported scores.

Actions are greedy (the ``serving_default`` signature, ``argmax`` of the policy logits or
Q-values) unless ``--sample`` draws them from ``softmax(policy_logits / T)`` (the ``sample`` and
``sample_seeded`` signatures). The mean and (population) standard deviation of the returns go to
stdout, as text or as one JSON line; one progress line per episode goes to stderr.

Bad input (an export directory that is not a softrl_tf SavedModel, an unknown or
continuous-action environment, an environment that does not fit the export, ``--episodes < 1``,
``--temperature <= 0``) exits with status 2 and one sentence on stderr.

TensorFlow is imported when the episodes are played, not with this module: ``--help`` and argument
errors answer at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

PROG = "softrl-evaluate"
VIDEO_PACKAGE = "moviepy"
"""The package gymnasium's ``RecordVideo`` writes videos with."""

Policy = Callable[[np.ndarray, int, int], np.ndarray]
"""``policy(observation [1, *shape], episode, t) -> action [1]`` (int64) for the ``t``-th step of
episode ``episode``, both counted from 0."""


class UsageError(Exception):
    """Bad input: ``main`` prints the message as one sentence and exits with status 2."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block), status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help).\n")


@dataclasses.dataclass
class EvaluationResult:
    """Undiscounted raw returns and lengths (agent steps) of complete episodes, in play order."""

    returns: list[float]
    lengths: list[int]

    @property
    def mean_return(self) -> float:
        """Mean return over the episodes."""
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        """Population standard deviation (``ddof=0``) of the returns; 0 for a single episode."""
        return float(np.std(self.returns))


def run_episodes(
    env,
    policy: Policy,
    episodes: int,
    *,
    seed: int | None = 0,
    on_episode: Callable[[int, float, int], None] | None = None,
) -> EvaluationResult:
    """Plays exactly ``episodes`` complete episodes of ``policy`` on a batch-of-one environment.

    Args:
      env: a :class:`softrl_tf.envs.BatchedEnvironment` with ``batch_size == 1`` (what
        ``make_env(env_id, 1, ...)`` returns). Its ``finished_episodes`` statistics give the raw
        return (before any reward clipping) and the length of each episode.
      policy: ``policy(observation [1, *shape], episode, t) -> action [1]``.
      episodes: number of episodes, >= 1.
      seed: episode ``i`` starts with ``env.reset()`` seeded ``seed + i``; ``None`` leaves the
        resets unseeded.
      on_episode: called as ``on_episode(i, return, length)`` after each episode.

    Returns:
      An :class:`EvaluationResult` with ``episodes`` returns and lengths.
    """
    if env.batch_size != 1:
        raise ValueError(
            f"run_episodes needs an environment of batch size 1, got {env.batch_size}."
        )
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}.")
    result = EvaluationResult(returns=[], lengths=[])
    for episode in range(episodes):
        # An explicit reset per episode (rather than the environment's auto-reset) gives every
        # episode its own seed, so episode i does not depend on how long the earlier ones lasted.
        env.seed(None if seed is None else seed + episode)
        time_step = env.reset()
        t = 0
        while True:
            action = np.asarray(policy(time_step.observation, episode, t), np.int64).reshape(1)
            time_step = env.step(action)
            t += 1
            finished = env.finished_episodes
            if len(finished.returns):
                result.returns.append(float(finished.returns[0]))
                result.lengths.append(int(finished.lengths[0]))
                break
        if on_episode is not None:
            on_episode(episode, result.returns[-1], result.lengths[-1])
    return result


def exported_policy(
    exported, *, sample: bool = False, temperature: float = 1.0, seed: int | None = None
) -> Policy:
    """A :data:`Policy` over a :class:`softrl_tf.export.ExportedModel`'s signatures.

    Greedy (``serving_default``) by default. With ``sample``, actions are drawn from
    ``softmax(policy_logits / temperature)``: with ``seed`` by ``sample_seeded`` with the int64
    seed ``[seed + episode, t]`` (reproducible, and the same draws for an episode whatever the
    episodes before it did), without by the stateful ``sample`` signature.
    """
    dtype = exported.observation_dtype.as_numpy_dtype

    def greedy(observation, episode, t):
        return exported.greedy(np.asarray(observation, dtype))["action"]

    def sampled(observation, episode, t):
        draw_seed = None if seed is None else [seed + episode, t]
        return exported.sample(np.asarray(observation, dtype), temperature, seed=draw_seed)

    return sampled if sample else greedy


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = _Parser(
        prog=PROG,
        description=(
            "Play a softrl_tf SavedModel export (softrl_tf.export.export_saved_model) for N "
            "complete episodes with plain TensorFlow and print the mean and standard deviation "
            "of the raw (unclipped) episode returns. Episode i is seeded SEED + i."
        ),
        epilog=(
            "Exit status: 0 on success, 2 on bad input (the reason in one sentence on stderr). "
            "Example: softrl-evaluate runs/quickstart/saved_model --episodes=10 --json"
        ),
    )
    parser.add_argument(
        "export_dir",
        metavar="EXPORT_DIR",
        help="Directory of the export, holding saved_model.pb and softrl_tf_export.json "
        "(softrl-train writes it to <root-dir>/saved_model; a run's root dir works too).",
    )
    parser.add_argument(
        "--env",
        metavar="ID",
        help="Gymnasium or Atari environment id with discrete actions (default: the env id "
        "recorded in the export). Its observations must have the export's shape.",
    )
    parser.add_argument(
        "--episodes",
        type=_positive_int,
        default=10,
        metavar="N",
        help="Number of complete episodes to play (default: %(default)s).",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="S",
        help="Episode i resets the environment with seed S + i (default: S = 0). With --sample "
        "it also makes the action draws reproducible (the sample_seeded signature); without "
        "--seed, --sample draws differ from run to run.",
    )
    parser.add_argument(
        "--sample",
        action="store_true",
        help="Sample actions from softmax(policy_logits / T) instead of taking the greedy "
        "argmax (for Q networks: the Boltzmann policy softmax(q / tau + log prior)).",
    )
    parser.add_argument(
        "--temperature",
        type=_positive_float,
        default=1.0,
        metavar="T",
        help="Sampling temperature T > 0 for --sample (default: %(default)s, the trained "
        "policy itself).",
    )
    parser.add_argument(
        "--video",
        metavar="OUT.mp4",
        help="Record the first episode to this .mp4 file (gymnasium's RecordVideo; needs "
        f"{VIDEO_PACKAGE}).",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='Print one JSON line: {"episodes", "mean_return", "std_return", "returns", '
        '"lengths", "env", "policy", "temperature", "seed", "export", "video"}.',
    )
    parser.add_argument(
        "--quiet", action="store_true", help="No progress line per episode on stderr."
    )
    return parser


def _check_video_path(path: str) -> str:
    if not path.lower().endswith(".mp4"):
        raise UsageError(f"--video must name an .mp4 file, got {path!r}.")
    try:
        import moviepy  # noqa: F401
    except ImportError:
        raise UsageError(
            f"Recording a video needs {VIDEO_PACKAGE}, which is not installed: run "
            f"`pip install {VIDEO_PACKAGE}` (or leave out --video)."
        ) from None
    return os.path.abspath(path)


def _video_constructor(env_id: str, video_dir: str, atari: bool) -> Callable[[], Any]:
    """A constructor of one ``RecordVideo``-wrapped gymnasium env recording its first episode."""
    from softrl_tf.envs import atari as atari_envs

    import gymnasium

    def make():
        if atari:
            options = atari_envs.AtariOptions()
            env = atari_envs.make_atari_gymnasium_env(env_id, options)
            # make_atari_gymnasium_env builds the emulator without a render mode; ale-py's render()
            # reads the attribute at each call, so setting it afterwards gives the RGB screen.
            env.unwrapped.render_mode = "rgb_array"
            fps = max(1, round(60 / options.frame_skip))  # real time: the ALE runs at 60 Hz
        else:
            env = gymnasium.make(env_id, render_mode="rgb_array")
            fps = None
        return gymnasium.wrappers.RecordVideo(
            env,
            video_dir,
            episode_trigger=lambda episode: episode == 0,
            name_prefix="evaluation",
            fps=fps,
            disable_logger=True,
        )

    return make


def _make_env(env_id: str, seed: int, video_dir: str | None):
    """``make_env(env_id, 1)`` without reward clipping or episodic life; optionally recording."""
    from softrl_tf import envs

    import gymnasium

    try:
        # backend "sync": the gymnasium preprocessing route for Atari too, with RecordVideo below.
        env = envs.make_env(env_id, 1, backend="sync", seed=seed, reward_clipping=False)
        if video_dir is not None:
            atari = isinstance(env, envs.AtariVectorPyEnvironment)
            env.close()
            env = envs.make_env(
                _video_constructor(env_id, video_dir, atari),
                1,
                backend="sync",
                seed=seed,
                reward_clipping=False,
            )
    except (ValueError, gymnasium.error.Error) as error:
        raise UsageError(_one_line(error)) from None
    return env


def _is_saved_model(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "saved_model.pb"))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if text.endswith((".", "?", "!")) else text + "."


def _export_error(error: BaseException, env_id: str) -> str | None:
    """The sentence for an export's own input check (observation shape, temperature), else None."""
    message = str(error)
    start = message.find("softrl_tf export:")
    if start < 0:
        return None
    # TensorFlow's assertion text: "... [softrl_tf export: ... got shape] [1 6]\n\t [[{{node ...".
    detail = message[start:].split("\n", 1)[0].replace("] [", " [").rstrip()
    return f"The environment {env_id!r} does not fit this export: {detail}."


def evaluate(args: argparse.Namespace, progress) -> dict[str, Any]:
    """Loads the export, runs the episodes and returns the JSON-ready summary."""
    video_path = _check_video_path(args.video) if args.video else None

    from softrl_tf import export

    import gymnasium
    import tensorflow as tf

    nested = os.path.join(args.export_dir, "saved_model")
    if not _is_saved_model(args.export_dir) and _is_saved_model(nested):
        args.export_dir = nested  # a training run's --root-dir: its export is saved_model/
    try:
        metadata = export.read_export_metadata(args.export_dir)
    except ValueError as error:
        raise UsageError(_one_line(error)) from None
    env_id = args.env or metadata.get("env_id")
    if not env_id:
        raise UsageError(f"{args.export_dir} records no environment id: pass one with --env=ID.")
    try:
        exported = export.load_exported(args.export_dir)
    except ValueError as error:
        raise UsageError(_one_line(error)) from None

    seed = 0 if args.seed is None else args.seed
    video_dir = video_tmp = None
    if video_path is not None:
        # pygame-rendered environments draw off-screen; without a display SDL would complain.
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.makedirs(os.path.dirname(video_path), exist_ok=True)
        video_tmp = tempfile.mkdtemp(prefix=".evaluate-video-", dir=os.path.dirname(video_path))
        video_dir = os.path.join(video_tmp, "video")  # RecordVideo creates it
    try:
        env = _make_env(env_id, seed, video_dir)
        try:
            env_actions = int(env.action_spec().maximum) - int(env.action_spec().minimum) + 1
            if env_actions != exported.num_actions:
                raise UsageError(
                    f"The environment {env_id!r} has {env_actions} actions but the export has "
                    f"{exported.num_actions} (it was exported for "
                    f"{metadata.get('env_id') or 'another environment'}): pick a matching --env."
                )
            policy = exported_policy(
                exported, sample=args.sample, temperature=args.temperature, seed=args.seed
            )
            try:
                result = run_episodes(env, policy, args.episodes, seed=seed, on_episode=progress)
            except tf.errors.InvalidArgumentError as error:
                sentence = _export_error(error, env_id)
                if sentence is None:
                    raise
                raise UsageError(sentence) from None
            except gymnasium.error.DependencyNotInstalled as error:
                # Rendering for --video is the one thing the first reset needs beyond make_env.
                raise UsageError(
                    f"Recording a video of {env_id!r} needs a package that is not installed: "
                    f"{_one_line(error)}"
                ) from None
        finally:
            with warnings.catch_warnings():
                # RecordVideo's notes (no frames after a failed first reset) are not for users.
                warnings.simplefilter("ignore")
                env.close()  # also makes RecordVideo write the recording
        if video_dir is not None:
            recorded = sorted(f for f in os.listdir(video_dir) if f.endswith(".mp4"))
            if not recorded:
                raise UsageError(f"No video was recorded for {env_id!r}.")
            os.replace(os.path.join(video_dir, recorded[0]), video_path)
    finally:
        if video_tmp is not None:
            shutil.rmtree(video_tmp, ignore_errors=True)

    return {
        "episodes": len(result.returns),
        "mean_return": result.mean_return,
        "std_return": result.std_return,
        "returns": result.returns,
        "lengths": result.lengths,
        "env": env_id,
        "policy": "sample" if args.sample else "greedy",
        "temperature": args.temperature if args.sample else None,
        "seed": seed,
        "export": os.path.abspath(args.export_dir),
        "video": video_path,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 on bad input)."""
    # TensorFlow's C++ start-up notes would bury the one-sentence errors; an explicit setting wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    started = time.monotonic()

    def progress(episode: int, episode_return: float, length: int) -> None:
        if not args.quiet:
            print(
                f"[evaluate] episode {episode + 1}/{args.episodes}: return {episode_return:g}, "
                f"length {length} ({time.monotonic() - started:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    try:
        summary = evaluate(args, progress)
    except UsageError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary))
    else:
        how = "greedy" if not args.sample else f"sampled at temperature {args.temperature:g}"
        returns = np.asarray(summary["returns"])
        print(
            f"{summary['env']}: {summary['episodes']} episode"
            f"{'s' if summary['episodes'] != 1 else ''}, {how} actions: mean return "
            f"{summary['mean_return']:.2f} +- {summary['std_return']:.2f} (std; min "
            f"{returns.min():g}, max {returns.max():g})"
        )
        if summary["video"]:
            print(f"video of episode 1: {summary['video']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
