"""The config machinery: one rule and one message per field, Literal choice lists, routing."""

import dataclasses
import math
import typing

from softrl_tf.config import (
    ConfigError,
    ReplayConfig,
    TrainConfig,
    check,
    choices,
    split_overrides,
    validate,
)

import pytest
from hypothesis import given
from hypothesis import strategies as st


def test_choices_come_from_the_literal_type():
    assert choices(TrainConfig, "backend") == ("auto", "sync", "async", "parallel", "ale")
    assert choices(TrainConfig, "num_envs") is None


def test_check_names_flag_field_rule_and_value():
    with pytest.raises(ConfigError) as error:
        check(TrainConfig, total_steps=0)
    assert str(error.value) == "--total-steps (total_steps) must be an integer >= 1, got 0."
    with pytest.raises(ConfigError, match=r"--backend \(backend\) must be one of auto \| sync"):
        check(TrainConfig, backend="threads")
    check(TrainConfig, num_envs=3, backend="sync")  # good values pass


def test_sizes_that_would_exhaust_memory_are_refused_with_the_reason():
    with pytest.raises(ConfigError) as error:
        check(TrainConfig, num_envs=10**9)
    assert str(error.value).startswith(
        "--num-envs (num_envs) must be an integer in [1, 4,096] (each environment is a live "
        "simulator"
    )
    assert str(error.value).endswith("got 1000000000.")
    check(TrainConfig, num_envs=4096)
    with pytest.raises(ConfigError, match=r"must be at most 2\*\*53 = 9,007,199,254,740,992"):
        check(TrainConfig, total_steps=2**53 + 1)
    check(TrainConfig, total_steps=2**53)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "8", None, math.nan])
def test_integer_rules_refuse_non_integers_and_out_of_range(value):
    with pytest.raises(ConfigError, match="--batch-size"):
        check(ReplayConfig, batch_size=value)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_every_integer_field_refuses_every_float(value):
    """Integer settings take integers only: 2.0 would size arrays and loops wrongly."""
    for config_class in (TrainConfig, ReplayConfig):
        hints = typing.get_type_hints(config_class)
        for f in dataclasses.fields(config_class):
            if hints[f.name] is int:
                with pytest.raises(ConfigError):
                    check(config_class, **{f.name: value})


def test_validate_checks_every_field_and_skips_none():
    validate(TrainConfig(), None, ReplayConfig())
    with pytest.raises(ConfigError, match="--log-every-steps"):
        validate(TrainConfig(log_every_steps=0))


def test_split_overrides_routes_to_the_owning_section():
    routed = split_overrides(
        {"num_envs": 2, "batch_size": 8, "nope": 1}, {"train": TrainConfig, "replay": ReplayConfig}
    )
    assert routed == {"train": {"num_envs": 2}, "replay": {"batch_size": 8}, None: {"nope": 1}}


def test_env_is_an_id_or_a_callable():
    check(TrainConfig, env="CartPole-v1")
    check(TrainConfig, env="mypkg.envs:LineWorld-v0")
    check(TrainConfig, env=lambda: None)  # an environment constructor, from Python
    for value in ("", "  ", None, 3):
        with pytest.raises(ConfigError) as error:
            check(TrainConfig, env=value)
        assert str(error.value) == (
            f"--env (env) must be a gymnasium id or a callable returning an environment, got "
            f"{value!r}."
        )
