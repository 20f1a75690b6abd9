"""benchmarks/segment_bound.py: the figures it derives from its timings, on known values."""

import importlib.util
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location(
    "segment_bound", os.path.join(REPO, "benchmarks", "segment_bound.py")
)
segment_bound = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(segment_bound)


def test_bound_is_steps_over_the_sum_of_the_parts():
    row = segment_bound.bound_figures(80, {"emulator": 25.0, "forward": 15.0, "update": 40.0}, 100)
    assert row["bound_steps_per_s"] == pytest.approx(1000.0)  # 80 steps in 80 ms
    assert row["iteration_steps_per_s"] == pytest.approx(800.0)
    assert row["fraction_of_bound"] == pytest.approx(0.8)
    assert row["limit"] == "update"


@pytest.mark.parametrize(
    "beside_ms, saved",
    [
        (40.0, 0.0),  # as long as one after the other: nothing hidden
        (25.0, 1.0),  # the emulator alone: the forward passes (15 ms) wholly hidden
        (31.0, 0.6),  # 9 of 15 ms hidden
        (44.5, -0.3),  # slower than one after the other: contention, reported as a loss
    ],
)
def test_overlap_reports_the_hidden_share_of_the_smaller_part(beside_ms, saved):
    row = segment_bound.overlap_figures(emulator_ms=25.0, then_ms=40.0, beside_ms=beside_ms)
    assert row["emulator_beside_forward_ms"] == beside_ms
    assert row["saved_fraction"] == pytest.approx(saved)


def test_overlap_measures_against_the_smaller_part_whichever_it_is():
    # Emulator 10 ms, forward passes 30 ms: hiding the emulator entirely saves 10 ms.
    row = segment_bound.overlap_figures(emulator_ms=10.0, then_ms=40.0, beside_ms=30.0)
    assert row["saved_fraction"] == pytest.approx(1.0)
