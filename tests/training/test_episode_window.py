"""The cross-iteration episode window behind env/episode_return_last100 (no Ray)."""

from __future__ import annotations

import math

import pytest

from edge_rl.training.loop import EpisodeWindow, curated_row


def test_window_weights_iterations_by_their_episodes_and_keeps_the_last_n() -> None:
    window = EpisodeWindow(size=4)
    assert window.add(None, None) is None  # nothing finished yet
    assert window.add(10.0, 2) == 10.0
    assert window.add(float("nan"), 0) == 10.0  # an iteration without episodes changes nothing
    assert window.add(40.0, 1) == 20.0  # (10 + 10 + 40) / 3
    # 3 more episodes at 0: the last 4 are [40, 0, 0, 0]
    assert window.add(0.0, 3) == 10.0
    assert window.add(100.0, 4) == 100.0


def test_window_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="size=0"):
        EpisodeWindow(0)


def test_curated_row_reads_rllib_260_paths() -> None:
    result = {
        "training_iteration": 3,
        "env_runners": {"num_env_steps_sampled_lifetime": 96, "episode_return_mean": float("nan"),
                        "num_episodes": 0},
        "fault_tolerance": {"num_healthy_workers": 1, "num_remote_worker_restarts": 2},
        "learners": {"default_policy": {"critic_loss": float("nan")}},
    }  # fmt: skip
    row = curated_row(result, EpisodeWindow())
    assert row["env/steps"] == 96 and row["env_runners/restarts"] == 2
    assert row["env_runners/healthy"] == 1
    assert row["env/episode_return_mean"] is None  # no episode finished: no value
    assert row["env/episode_return_last100"] is None
    assert math.isnan(row["losses/critic"])  # losses keep NaN for the divergence guard
