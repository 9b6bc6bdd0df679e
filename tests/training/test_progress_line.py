"""The progress line's time-left estimate honours both budgets (env steps and --max-minutes)."""

from edge_rl.training.loop import _progress_line


def test_time_left_is_the_earlier_budget():
    # 100 steps/s: 900 s left by steps; 10 minutes of budget with 100 s gone: 500 s left
    line = _progress_line(3, 10_000, 100_000, {}, 100.0, max_minutes=10)
    assert "left 0:08:20" in line
    assert "left 0:15:00" in _progress_line(3, 10_000, 100_000, {}, 100.0)
    assert "left 0:00:00" in _progress_line(3, 10_000, 100_000, {}, 700.0, max_minutes=10)


def test_a_resumed_run_counts_its_own_steps_and_time():
    # resumed at 5,000 steps: 5,000 steps in 100 s is 50 steps/s, 90,000 to go is 30 minutes
    line = _progress_line(3, 10_000, 100_000, {}, 100.0, start_steps=5_000)
    assert "50.0 steps/s" in line and "left 0:30:00" in line
