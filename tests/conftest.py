"""Shared test configuration.

Under CI (the ``CI`` environment variable set, as ``.ci/run`` runs), hypothesis draws the same
examples every run, so a red CI is reproducible; locally it explores new examples each run.
"""

import os

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before any test imports TensorFlow

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
