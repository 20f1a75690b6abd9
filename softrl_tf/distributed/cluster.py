"""Joining or starting the Ray cluster of a run, with every refusal a one-sentence ``ConfigError``.

``--ray-address``: ``local`` uses this process's Ray (``ray.init`` with this machine's CPUs when
none is running here yet), ``auto`` the cluster ``ray start`` runs on this machine, ``HOST:PORT``
(or ``ray://HOST:PORT``) a remote head. Refused before anything waits without bound: Ray not
installed; an address where nothing answers within :data:`CONNECT_TIMEOUT_S` seconds (checked
with a plain TCP connection first, because ``ray.init`` retries for a minute); more runners than
the cluster has CPUs (each runner takes one, and an actor that cannot be placed would wait for
ever).
"""

from __future__ import annotations

import logging
import os
import socket
import time

from softrl_tf.config import ConfigError

CONNECT_TIMEOUT_S = 5.0
"""How long an address may take to answer a TCP connection before it is refused."""

INSTALL = 'pip install "softrl_tf[distributed]"'


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"--runners and --ray-address need Ray, which is not installed: {INSTALL}."
        ) from None
    return ray


def local_cpus() -> int:
    """The CPUs this process may run on (what a local Ray cluster offers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _refuse_silent(address: str) -> None:
    """A ``HOST:PORT`` where nothing accepts a TCP connection within the timeout."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(
            f"--ray-address {address!r}: nothing answers there within {CONNECT_TIMEOUT_S:g} s "
            f"({reason}); start the cluster with `ray start --head` on that machine or give "
            "the address it printed."
        ) from None


def check_address(address: str, runners: int) -> None:
    """What can be refused before connecting: Ray missing, more runners than a local cluster's
    CPUs, a ``HOST:PORT`` where nothing answers (within :data:`CONNECT_TIMEOUT_S`).

    Raises:
      ConfigError: one sentence naming the flag and the fix.
    """
    ray = _ray()
    if ray.is_initialized():
        return
    if address in ("", "local"):
        _refuse_cpus(runners, local_cpus(), "a local Ray cluster here")
    elif address != "auto":
        _refuse_silent(address)


def _refuse_cpus(runners: int, cpus: int, where: str) -> None:
    if runners > cpus:
        raise ConfigError(
            f"--runners={runners} needs {runners} CPUs (one per runner) but {where} has {cpus}: "
            f"use --runners <= {cpus} or join a larger cluster (`ray start --address=HEAD:PORT` "
            "adds a node)."
        )


def connect(address: str, runners: int) -> bool:
    """Connects this process to the cluster at ``address`` (see the module docstring) and checks
    that it has a CPU for each of ``runners``.

    Returns:
      Whether this call started Ray here (then :func:`disconnect` shuts it down).

    Raises:
      ConfigError: Ray missing, an unreachable address, too few CPUs.
    """
    ray = _ray()
    started = False
    where = "this machine"
    if not ray.is_initialized():
        options = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        if address in ("", "local"):
            _refuse_cpus(runners, local_cpus(), "a local Ray cluster here")
            ray.init(num_cpus=local_cpus(), **options)
        else:
            if address != "auto":
                _refuse_silent(address)
            try:
                ray.init(address=address, **options)
            except (ConnectionError, RuntimeError, ValueError) as error:
                first = str(error).strip().splitlines()[0] if str(error).strip() else ""
                raise ConfigError(
                    f"--ray-address {address!r}: could not join a Ray cluster ({first.rstrip('.')}"
                    "); start one with `ray start --head` or give its HOST:PORT."
                ) from None
            where = f"the cluster at {address}"
        started = True
    try:
        _refuse_cpus(
            runners, int(ray.cluster_resources().get("CPU", 0)), f"the Ray cluster of {where}"
        )
        free = _free_cpus(ray, runners)
        if runners > free:  # the cluster's other work holds the rest: actors would wait
            raise ConfigError(
                f"--runners={runners} needs {runners} free CPUs but the Ray cluster of {where} "
                f"has {free} free now: use --runners <= {free} or wait for its other work."
            )
    except ConfigError:
        disconnect(started)
        raise
    return started


FREE_WAIT_S = 10.0
"""How long to wait for CPUs that ended actors (a previous run's runners) still hold."""


def _free_cpus(ray, wanted: int) -> int:
    """The cluster's free CPUs, waiting up to :data:`FREE_WAIT_S` for ``wanted`` of them: Ray
    releases a killed actor's CPU a moment after ``ray.kill`` returns."""
    deadline = time.monotonic() + FREE_WAIT_S
    while True:
        free = int(ray.available_resources().get("CPU", 0))
        if free >= wanted or time.monotonic() > deadline:
            return free
        time.sleep(0.1)


def disconnect(started: bool) -> None:
    """Shuts Ray down in this process if :func:`connect` started it here."""
    if started:
        ray = _ray()
        if ray.is_initialized():
            ray.shutdown()
