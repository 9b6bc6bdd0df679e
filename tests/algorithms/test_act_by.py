"""``--act-by`` forms of checkpoints: parsing and the rollout planner's settings (no Ray)."""

from __future__ import annotations

import pytest

from edge_rl.algorithms.checkpoint_policy import parse_act_by, rollout_settings


def test_act_by_forms_parse() -> None:
    assert parse_act_by("argmax") == ("argmax", 1)
    assert parse_act_by("mean-probs:8") == ("mean-probs", 8)
    assert parse_act_by("rollout") == ("rollout", 16)
    assert parse_act_by("rollout:samples=32,crash_weight=30") == ("rollout", 32)


def test_rollout_settings_fill_defaults_and_convert() -> None:
    assert rollout_settings("rollout") == {
        "samples": 16,
        "horizon": 40,
        "crash_weight": 0.0,
        "switch_z": 0.0,
    }
    got = rollout_settings("rollout:horizon=20,crash_weight=7.5,switch_z=1")
    assert got == {"samples": 16, "horizon": 20, "crash_weight": 7.5, "switch_z": 1.0}
    assert isinstance(got["horizon"], int) and isinstance(got["switch_z"], float)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("rollout:depth=3", "'depth=3' is not a rollout setting"),
        ("rollout:samples", "'samples' is not a rollout setting"),
        ("rollout:samples=x", "samples='x' is not an integer"),
        ("rollout:crash_weight=heavy", "crash_weight='heavy' is not a number"),
        ("rollout:samples=0", "samples=0: must be >= 1"),
        ("rollout:crash_weight=-1", "crash_weight=-1.0: must be >= 0"),
        ("rollout:samples=1,switch_z=1", "needs samples >= 2"),
        ("rolloutz", "write one of argmax"),
    ],
)
def test_bad_rollout_forms_say_what_to_fix(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match="--act-by") as err:
        parse_act_by(text)
    assert needle in str(err.value) and "\n" not in str(err.value)
