import math

import numpy as np
import pytest

from edge_rl.evaluation.stats import mean_ci, t_critical


@pytest.mark.parametrize(
    ("df", "expected"),
    # Two-sided 95% Student-t critical values from standard tables.
    [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (19, 2.093), (29, 2.045), (120, 1.980)],
)
def test_t_critical_matches_tables(df: int, expected: float) -> None:
    assert t_critical(0.95, df) == pytest.approx(expected, abs=1e-3)


def test_t_critical_tends_to_normal() -> None:
    assert t_critical(0.95, 100_000) == pytest.approx(1.95996, abs=1e-3)
    assert t_critical(0.99, 100_000) == pytest.approx(2.5758, abs=1e-3)


def test_mean_ci_by_hand() -> None:
    ci = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert ci.mean == 3.0
    assert ci.std == pytest.approx(math.sqrt(2.5))
    assert ci.ci95 == pytest.approx(2.776445 * math.sqrt(2.5) / math.sqrt(5), rel=1e-5)
    assert ci.low == pytest.approx(3.0 - ci.ci95)
    assert ci.n == 5


def test_mean_ci_covers_true_mean_about_95_percent() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(2000):
        ci = mean_ci(rng.normal(10.0, 3.0, size=8))
        covered += ci.low <= 10.0 <= ci.high
    assert 0.93 <= covered / 2000 <= 0.97


def test_mean_ci_single_value_and_errors() -> None:
    assert mean_ci([7.0]).ci95 == 0.0
    with pytest.raises(ValueError, match="at least one"):
        mean_ci([])
    with pytest.raises(ValueError, match="confidence"):
        t_critical(1.5, 3)
