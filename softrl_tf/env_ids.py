"""Environment ids: which gymnasium registration an id names, without TensorFlow.

The command line checks ``--env`` here before TensorFlow loads, and
:func:`softrl_tf.envs.make_env` builds from the same lookup, so an unknown id gets one message
wherever it is given. :func:`describe_env` names an environment in ``config.json``: an id as it
is, a constructor as ``"callable:<module>.<name>"``.

Looking an id up registers what it needs first: ale-py's games (also so that they can be suggested
as close ids), MinAtar's ids on first use, and the module of a ``"module:EnvId"`` id (gymnasium's
own lookup imports it).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from typing import Any

from softrl_tf.config import ConfigError

import gymnasium

ATARI_EXTRA_FIX = 'pip install "softrl_tf[atari]"'
_ATARI_ID = re.compile(r"^(ALE/[A-Za-z0-9]+-v\d+|[A-Z][A-Za-z0-9]*NoFrameskip-v\d+)$")
# "<Game>-v0" / "<Game>-v4" have the form of any gymnasium id (CartPole-v1), so without ale-py
# they are recognised by the game's name: the games that ale-py registers with these versions.
_LEGACY_ATARI_ID = re.compile(r"^([A-Z][A-Za-z0-9]*)-v[04]$")
_LEGACY_ATARI_GAMES = frozenset(
    """Adventure AirRaid Alien Amidar Assault Asterix Asteroids Atlantis BankHeist BattleZone
    BeamRider Berzerk Bowling Boxing Breakout Carnival Centipede ChopperCommand CrazyClimber
    Defender DemonAttack DoubleDunk ElevatorAction Enduro FishingDerby Freeway Frostbite Gopher
    Gravitar Hero IceHockey Jamesbond JourneyEscape Kangaroo Krull KungFuMaster MontezumaRevenge
    MsPacman NameThisGame Phoenix Pitfall Pong Pooyan PrivateEye Qbert Riverraid RoadRunner
    Robotank Seaquest Skiing Solaris SpaceInvaders StarGunner Tennis TimePilot Tutankham UpNDown
    Venture VideoPinball WizardOfWor YarsRevenge Zaxxon""".split()
)
_ATARI_ENTRY_POINT = "ale_py.env:AtariEnv"


def looks_like_atari_id(env_id: str) -> bool:
    """Whether ``env_id`` is an Atari id (``ALE/<Game>-v5``, ``<Game>NoFrameskip-v4``,
    ``<Game>-v4`` or ``-v0`` of an ALE game).

    Works without ale-py, so that a missing extra can be reported as such.
    """
    if _ATARI_ID.match(env_id):
        return True
    legacy = _LEGACY_ATARI_ID.match(env_id)
    return bool(legacy) and legacy.group(1) in _LEGACY_ATARI_GAMES


def is_atari_spec(spec: gymnasium.envs.registration.EnvSpec) -> bool:
    """Whether a registered gymnasium env is an ale-py Atari game."""
    return spec.entry_point == _ATARI_ENTRY_POINT


def import_ale(env_id: str | None = None):
    """Imports ale-py and registers its environments with gymnasium.

    Raises:
      ValueError: when ale-py is not installed, saying how to install it.
    """
    try:
        import ale_py
    except ImportError as error:
        what = f"{env_id!r} is an Atari game, which needs" if env_id else "Atari games need"
        raise ValueError(
            f"{what} ale-py, which is not installed ({error}): install the atari extra with "
            f"`{ATARI_EXTRA_FIX}`."
        ) from None
    gymnasium.register_envs(ale_py)
    return ale_py


MINATAR_PREFIX = "MinAtar/"
MINATAR_EXTRA_FIX = 'pip install "softrl_tf[minatar]"'


def registered_spec(env_id: str) -> gymnasium.envs.registration.EnvSpec:
    """The registry entry of ``env_id``; ValueError naming close ids when there is none."""
    if ":" in env_id:
        return _module_id_spec(env_id)
    if env_id.startswith(MINATAR_PREFIX) and env_id not in gymnasium.registry:
        _register_minatar(env_id)
    if looks_like_atari_id(env_id):
        import_ale(env_id)  # registers the ALE ids, or says how to install ale-py
    else:
        try:  # register the Atari ids too, so that they can be suggested
            import_ale(env_id)
        except ValueError:
            pass
    spec = gymnasium.registry.get(env_id)
    if spec is None:
        raise ValueError(f"Unknown environment id {env_id!r}: {close_ids_hint(env_id)}")
    return spec


def close_ids_hint(name: str) -> str:
    close = difflib.get_close_matches(name, list(gymnasium.registry), n=3, cutoff=0.6)
    if close:
        return f"did you mean {' or '.join(map(repr, close))}?"
    return "see gymnasium.pprint_registry() for the registered ids."


def _module_id_spec(env_id: str) -> gymnasium.envs.registration.EnvSpec:
    """The registry entry of a ``"module:EnvId"`` id, found by ``gymnasium.make``'s own lookup
    (it imports the module, which registers the id); ValueError in one sentence otherwise."""
    module, _, name = env_id.partition(":")
    if not module or not name or ":" in name:
        raise ValueError(
            f"Malformed environment id {env_id!r}: write a module to import and a registered id "
            "separated by one colon, such as 'mypkg.envs:LineWorld-v0'."
        )
    try:
        # The lookup gymnasium.make runs on a string id; private, but it is the one that makes
        # make_env accept exactly the "module:EnvId" ids that gymnasium.make accepts.
        return gymnasium.envs.registration._find_spec(env_id)
    except ImportError as error:
        reason = error.__cause__ if isinstance(error.__cause__, ImportError) else error
        raise ValueError(
            f"Environment id {env_id!r} names the module {module!r}, which cannot be imported "
            f"({reason}): install it or put it on sys.path."
        ) from None
    except gymnasium.error.Error:
        raise ValueError(
            f"Unknown environment id {env_id!r}: importing {module!r} did not register {name!r}; "
            f"{close_ids_hint(name)}"
        ) from None


def _register_minatar(env_id: str) -> None:
    """Registers MinAtar's gymnasium ids (``MinAtar/<Game>-v0``, ``-v1``: full and minimal action
    sets), keeping any ``MinAtar/`` id registered before (e.g. with a custom entry point).

    Raises:
      ValueError: when the minatar package is not installed, saying how to install it.
    """
    try:
        from minatar import gym as minatar_gym
    except ImportError as error:
        raise ValueError(
            f"{env_id!r} is a MinAtar game, which needs minatar, which is not installed ({error}): "
            f"install the minatar extra with `{MINATAR_EXTRA_FIX}`."
        ) from None
    kept = {k: spec for k, spec in gymnasium.registry.items() if k.startswith(MINATAR_PREFIX)}
    for k in kept:  # re-registering would warn and replace them
        del gymnasium.registry[k]
    minatar_gym.register_envs()
    gymnasium.registry.update(kept)


CONSTRUCTOR_PREFIX = "callable:"
"""How :func:`describe_env` marks an environment constructor, which a description cannot rebuild."""


def describe_env(env: str | Callable[[], Any]) -> str:
    """A readable, JSON-ready name of ``env`` (what ``config.json`` records).

    Args:
      env: a gymnasium id, or a callable returning an environment.

    Returns:
      An id unchanged; for a callable, :data:`CONSTRUCTOR_PREFIX` followed by its module-qualified
      name (``"callable:mypkg.make_line_world"``), a ``functools.partial`` written out with that
      name (``"callable:functools.partial(mypkg.make_line_world, 5, size=3)"``), or for another
      callable object ``"callable:<mypkg.LineWorldFactory instance>"``.
    """
    if isinstance(env, str):
        return env
    return CONSTRUCTOR_PREFIX + callable_name(env)


def described_constructor(env: Any) -> str | None:
    """The constructor's name in a :func:`describe_env` description; ``None`` for anything else
    (an id, a callable)."""
    if isinstance(env, str) and env.startswith(CONSTRUCTOR_PREFIX):
        return env[len(CONSTRUCTOR_PREFIX) :]
    return None


def callable_name(obj: Any) -> str:
    """A readable module-qualified name of a callable (``functools.partial`` written out)."""
    if isinstance(obj, functools.partial):
        parts = [callable_name(obj.func), *map(repr, obj.args)]
        parts += [f"{k}={v!r}" for k, v in obj.keywords.items()]
        return f"functools.partial({', '.join(parts)})"
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(qualname, str):  # functions, classes, bound methods
        module = getattr(obj, "__module__", None)
        return f"{module}.{qualname}" if module else qualname
    kind = type(obj)
    return f"<{kind.__module__}.{kind.__qualname__} instance>"


def refuse_constructor_description(env: Any, resume: bool) -> None:
    """A saved config's constructor description in place of the constructor: the one-sentence
    ``ConfigError`` saying to pass the constructor from Python."""
    name = described_constructor(env)
    if name is None:
        return
    what = "resume it" if resume else "train on it"
    raise ConfigError(
        f"--env: this run trained on an environment constructor ({name}), which config.json "
        f"records by name only; {what} from Python with TrainConfig(env=<that constructor>)."
    )


__all__ = [
    "CONSTRUCTOR_PREFIX",
    "callable_name",
    "describe_env",
    "described_constructor",
    "ATARI_EXTRA_FIX",
    "MINATAR_EXTRA_FIX",
    "MINATAR_PREFIX",
    "close_ids_hint",
    "import_ale",
    "is_atari_spec",
    "looks_like_atari_id",
    "refuse_constructor_description",
    "registered_spec",
]
