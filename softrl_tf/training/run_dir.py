"""A run's directory, without TensorFlow: where things go, what counts as a run, its saved config.

The command line answers a ``--root-dir`` that cannot be used (one that holds a run, with neither
``--resume`` nor ``--overwrite``; a resume of a directory without a run; an unwritable path) and
reads the saved ``config.json`` of a resumed run before TensorFlow loads; the trainer makes the
same checks through :func:`check_root_dir`. Layout of ``<root_dir>``: :data:`RUN_FILES`.
"""

from __future__ import annotations

import json
import os
import shutil

from softrl_tf.config import CONFIG_JSON, ConfigError


def checkpoint_dir(root_dir: str) -> str:
    """Where a run keeps its checkpoints: ``<root_dir>/checkpoints``."""
    return os.path.join(root_dir, "checkpoints")


RUN_FILES = ("checkpoints", "saved_model", "policy", "metrics.csv", CONFIG_JSON)
"""What a run writes in its directory (with ``events.out.tfevents.*``)."""


def holds_run(root_dir: str) -> bool:
    """Whether ``root_dir`` holds a run: a checkpoint directory with anything in it."""
    directory = checkpoint_dir(root_dir)
    return os.path.isdir(directory) and bool(os.listdir(directory))


def clear_run(root_dir: str) -> None:
    """Removes what a previous run wrote in ``root_dir`` (:data:`RUN_FILES`, event files), and
    nothing else."""
    if not os.path.isdir(root_dir):
        return
    for name in RUN_FILES:
        path = os.path.join(root_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    for name in os.listdir(root_dir):
        if name.startswith("events.out.tfevents."):
            os.remove(os.path.join(root_dir, name))


def check_writable(root_dir: str) -> None:
    """Raises a one-sentence ``ConfigError`` when ``root_dir`` cannot be created or written."""
    try:
        os.makedirs(root_dir, exist_ok=True)
        probe = os.path.join(root_dir, ".write-test")
        with open(probe, "w", encoding="utf-8") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as error:
        raise ConfigError(
            f"--root-dir {root_dir!r} is not writable ({error.strerror}): choose another directory."
        ) from None


def no_checkpoint_error(root_dir: str) -> ConfigError:
    """The one sentence for a resume of a directory without a checkpoint to resume from."""
    return ConfigError(
        f"--resume: there is no checkpoint in {checkpoint_dir(root_dir)}; run without --resume "
        "to start anew."
    )


def refuse_resume_with_overwrite(resume: bool, overwrite: bool) -> None:
    """Raises the one-sentence ``ConfigError`` when both are asked for."""
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other: give one of them.")


def check_root_dir(root_dir: str | None, *, resume: bool, overwrite: bool) -> None:
    """Raises the one-sentence ``ConfigError`` for a ``root_dir`` the run cannot use; writes
    nothing but the directory itself (created when missing, as the run would).

    Refused: ``resume`` with ``overwrite``; a directory holding a run with neither; a ``resume``
    of a directory without a run (or of no directory: ``root_dir=None``); a path that cannot be
    created or written.
    """
    refuse_resume_with_overwrite(resume, overwrite)
    if root_dir is None:
        if resume:
            raise no_checkpoint_error(".")
        return
    if not resume and not overwrite and holds_run(root_dir):
        raise ConfigError(
            f"--root-dir {root_dir!r} already holds a run: pass --resume to continue it or "
            "--overwrite to start over."
        )
    if resume and not holds_run(root_dir):
        raise no_checkpoint_error(root_dir)
    check_writable(root_dir)


def read_config(directory: str) -> dict | None:
    """``directory/config.json`` as ``{section: {field: value}}``, or ``None`` without one.

    Raises:
      ConfigError: the file exists but is not a JSON object of sections.
    """
    path = os.path.join(directory, CONFIG_JSON)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        return {name: dict(section) for name, section in saved.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(f"{path} is unreadable ({error}).") from None


__all__ = [
    "RUN_FILES",
    "check_root_dir",
    "check_writable",
    "checkpoint_dir",
    "clear_run",
    "holds_run",
    "no_checkpoint_error",
    "read_config",
    "refuse_resume_with_overwrite",
]
