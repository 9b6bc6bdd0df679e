"""The progress line's time-left estimate honours both budgets (env steps and --max-minutes)."""

from edge_rl.training.loop import _progress_line


def test_time_left_is_the_earlier_budget():
    # 100 steps/s: 900 s left by steps; 10 minutes of budget with 100 s gone: 500 s left
    line = _progress_line(3, 10_000, 100_000, {}, 100.0, max_minutes=10)
    assert "left 0:08:20" in line
    assert "left 0:15:00" in _progress_line(3, 10_000, 100_000, {}, 100.0)
    assert "left 0:00:00" in _progress_line(3, 10_000, 100_000, {}, 700.0, max_minutes=10)
