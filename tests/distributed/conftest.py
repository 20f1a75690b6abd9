"""A local Ray cluster of 2 CPUs for the tests that start runners in this process.

Tests that need it take the ``ray_cluster`` fixture; it is shut down after the module. Ray is an
optional extra (``softrl_tf[distributed]``): without it these tests are skipped.
"""

import logging

import pytest


@pytest.fixture(scope="module")
def ray_cluster():
    """``ray.init(num_cpus=2)`` for the module, shut down after it."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
