"""Heuristics named with settings on the command line: NAME:KEY=VALUE,..."""

from __future__ import annotations

import math

import pytest

from edge_rl.baselines import make_policy, parse_policy_spec, policy_parameters
from edge_rl.baselines.aigc import KeepOpenProphetPolicy, ProphetRolloutPolicy
from edge_rl.baselines.load_balance import SizeIntervalPolicy


def test_values_take_the_parameter_types():
    cls, kwargs = parse_policy_spec("aigc", "prophet-rollout:horizon=20,crash_weight=5")
    assert cls is ProphetRolloutPolicy and kwargs == {"horizon": 20, "crash_weight": 5.0}
    assert type(kwargs["horizon"]) is int and type(kwargs["crash_weight"]) is float
    _, kwargs = parse_policy_spec("aigc", "prophet-keep-open:reserve=none,slack=inf")
    assert kwargs["reserve"] is None and math.isinf(kwargs["slack"])
    cls, kwargs = parse_policy_spec(
        "load-balance", "size-interval:reserved_share=0.25,threshold=900,inner=least-observed-load"
    )
    assert cls is SizeIntervalPolicy
    assert kwargs == {"reserved_share": 0.25, "threshold": 900.0, "inner": "least-observed-load"}
    assert parse_policy_spec("aigc", "prophet") == (parse_policy_spec("aigc", "prophet")[0], {})


def test_the_policy_carries_its_spec_as_name():
    policy = make_policy("aigc", "prophet-keep-open:reserve=300", seed=1)
    assert isinstance(policy, KeepOpenProphetPolicy) and policy.reserve == 300
    assert policy.name == "prophet-keep-open:reserve=300"
    assert KeepOpenProphetPolicy.name == "prophet-keep-open"  # the class keeps its own
    assert make_policy("aigc", "prophet-keep-open").name == "prophet-keep-open"


def test_parameters_exclude_the_seed():
    assert set(policy_parameters(KeepOpenProphetPolicy)) == {"reserve", "slack"}
    assert set(policy_parameters(ProphetRolloutPolicy)) == {
        "horizon",
        "samples",
        "crash_weight",
        "switch_z",
    }


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("nope:x=1", "unknown policy 'nope' for --env aigc; choose one of:"),
        ("prophet:x=1", "prophet has no setting 'x'; it takes no settings"),
        ("prophet-keep-open:bogus=1", "its settings: reserve (default None), slack (default inf)"),
        ("prophet-keep-open:reserve", "write its settings as prophet-keep-open:KEY=VALUE"),
        ("prophet-keep-open:", "nothing after ':'"),
        ("prophet-keep-open:reserve=3.5", "reserve='3.5': expected an integer or none"),
        ("prophet-rollout:crash_weight=nan", "crash_weight='nan': expected a number"),
        ("prophet-rollout:horizon=0", "horizon=0: must be >= 1"),
        ("prophet-rollout:switch_z=-1", "switch_z=-1.0: must be >= 0"),
    ],
)
def test_bad_specs_say_what_to_fix(spec, needle):
    with pytest.raises(ValueError) as err:
        parse_policy_spec("aigc", spec)
    assert needle in str(err.value) and spec.split(":")[0] in str(err.value)
