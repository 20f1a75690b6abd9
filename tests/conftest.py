"""Shared test configuration.

Under CI (the ``CI`` environment variable set, as ``.ci/run`` runs), hypothesis draws the same
examples every run, so a red CI is reproducible; locally it explores new examples each run.
Neither profile has hypothesis' per-example deadline: these tests check values, not speed, and a
deadline fails them on a machine busy with other work (the first example also pays TensorFlow's
tracing).
"""

import os

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before any test imports TensorFlow

from hypothesis import settings

settings.register_profile("local", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "local")
