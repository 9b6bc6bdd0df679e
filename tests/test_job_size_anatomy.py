"""The JCT anatomy by job size (edge_rl.evaluation.job_size_anatomy): hand-made records and
real episodes checked against the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from edge_rl.baselines.load_balance import LeastObservedLoadPolicy, SizeIntervalPolicy
from edge_rl.evaluation.job_size_anatomy import (
    job_anatomy,
    play_anatomy,
    rate_ranks,
    summarize_anatomy,
)
from edge_rl.evaluation.runner import make_env


def _records() -> dict[str, np.ndarray]:
    """Two servers (rates 1.0 and 0.5). Job 0 (large) runs 0-1000 on server 0; job 1 waits
    behind it (10-1000) and runs 1000-1100; job 2 runs at once on server 1 (20-220); job 3
    arrives at 1050 and waits behind job 1, a small one (1050-1100), then runs to 1150."""
    return {
        "arrival": np.array([0, 10, 20, 1050]),
        "size": np.array([1000, 100, 100, 50]),
        "server": np.array([0, 0, 1, 0]),
        "finish": np.array([1000, 1100, 220, 1150]),
    }


def test_anatomy_of_hand_made_records():
    out = job_anatomy(_records(), np.array([1.0, 0.5]), cutoff=900, fastest=1)
    assert out["mean_jct"] == pytest.approx((1000 + 1090 + 200 + 100) / 4)
    assert out["large_part"] == pytest.approx(1000 / 4)
    assert out["small_part"] == pytest.approx((1090 + 200 + 100) / 4)
    assert out["large_part"] + out["small_part"] == pytest.approx(out["mean_jct"])
    assert out["small_wait"] == pytest.approx((990 + 0 + 50) / 3)
    assert out["small_wait_behind_large"] == pytest.approx(990 / 3)  # job 3 waited on job 1
    assert out["large_share"] == 0.25 and out["large_on_fastest"] == 1.0
    assert out["large_by_rank"] == [1, 0]
    # a higher cutoff: no large job, so nothing waits behind one
    none_large = job_anatomy(_records(), np.array([1.0, 0.5]), cutoff=5000, fastest=1)
    assert none_large["large_part"] == 0.0 and none_large["small_wait_behind_large"] == 0.0
    assert np.isnan(none_large["large_on_fastest"])


def test_anatomy_refuses_unfinished_or_broken_records():
    rates = np.array([1.0, 0.5])
    unfinished = _records() | {"finish": np.array([1000, -1, 220, 1150])}
    with pytest.raises(ValueError, match="needs a finished episode"):
        job_anatomy(unfinished, rates, 900, 1)
    overlapping = _records() | {"finish": np.array([1000, 1050, 220, 1150])}  # job 1 starts at 950
    with pytest.raises(ValueError, match="server 0: a job starts before"):
        job_anatomy(overlapping, rates, 900, 1)
    with pytest.raises(ValueError, match="fastest=2: must be in"):
        job_anatomy(_records(), rates, 900, 2)


def test_rate_ranks_put_the_fastest_first():
    assert rate_ranks(np.array([0.15, 1.05, 0.55, 1.05])).tolist() == [3, 0, 2, 1]


def test_real_episodes_agree_with_the_simulator_and_read_size_interval_s_rule():
    """On Park's workload the records reproduce the simulator's own return (play_anatomy
    checks it), the parts add up to the mean JCT, and size-interval sends every job above
    its cutoff (900) to its two reserved servers, the fastest, which LOL does not."""
    env = make_env("load-balance-trials", "park", episodes_per_trial=1)
    seeds = [20, 21]
    lol = play_anatomy(env, lambda s: LeastObservedLoadPolicy(), seeds, 900.0, 2)
    sita = play_anatomy(env, lambda s: SizeIntervalPolicy(), seeds, 900.0, 2)
    for row in lol + sita:
        assert row["jobs"] == 1000
        assert row["large_part"] + row["small_part"] == pytest.approx(row["mean_jct"])
    assert all(row["large_on_fastest"] == 1.0 for row in sita)
    assert all(row["large_on_fastest"] < 0.6 for row in lol)
    summary = summarize_anatomy(sita)
    assert summary["episodes"] == 2 and summary["large_on_fastest"]["mean"] == 1.0
    assert sum(summary["large_by_rank"][:2]) == pytest.approx(1.0)
    assert summary["mean_jct"]["mean"] == pytest.approx(np.mean([r["mean_jct"] for r in sita]))


def test_job_records_mark_unfinished_jobs():
    env = make_env("load-balance", "park")
    env.reset(seed=0)
    for _ in range(5):
        env.step(0)  # five jobs on one slow server: the later ones still queue
    jobs = env.unwrapped.job_records()
    assert len(jobs["arrival"]) == 5 and (jobs["server"] == 0).all()
    assert (jobs["finish"][1:] == -1).all()
    with pytest.raises(ValueError, match="needs a finished episode"):
        job_anatomy(jobs, env.unwrapped.service_rates, 900, 2)
