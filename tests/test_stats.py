import math

import numpy as np
import pytest

from edge_rl.evaluation.stats import mean_ci, run_level_difference, t_critical


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


def test_run_level_difference_by_hand() -> None:
    # a = 1, 2, 3 (var 1), b = 4, 5, 6, 7 (var 5/3): se^2 = 1/3 + 5/12 = 0.75
    got = run_level_difference([1, 2, 3], [4, 5, 6, 7])
    df = 0.75**2 / ((1 / 3) ** 2 / 2 + (5 / 12) ** 2 / 3)  # Welch-Satterthwaite: 4.959
    assert got["mean"] == pytest.approx(-3.5)
    assert got["df"] == pytest.approx(df)
    assert got["ci95"] == pytest.approx(t_critical(0.95, 4) * math.sqrt(0.75))  # df rounded down
    assert (got["low"], got["high"]) == pytest.approx((-3.5 - got["ci95"], -3.5 + got["ci95"]))
    # the groups are fully separated: of the C(7, 3) = 35 splits only this one and its mirror
    # image are as extreme, so p = 2/35 (the smallest p that 3 vs 4 runs can give)
    assert got["p_permutation"] == pytest.approx(2 / 35)
    assert (got["n_a"], got["n_b"]) == (3, 4)


def test_run_level_difference_permutation_counts_ties_and_overlap() -> None:
    # identical groups: every split is at least as extreme as a difference of 0
    same = run_level_difference([5.0, 6.0], [5.0, 6.0])
    assert same["mean"] == 0.0 and same["p_permutation"] == 1.0
    # overlapping groups: [1, 4] vs [2, 3] has |diff| 0; all 6 splits are >= 0
    assert run_level_difference([1, 4], [2, 3])["p_permutation"] == 1.0
    # [1, 2] vs [3, 10]: |diff| 5; of the six splits the others give |diff| 4, 3, 3, 4, so only
    # this one and its mirror image reach 5: p = 2/6
    assert run_level_difference([1, 2], [3, 10])["p_permutation"] == pytest.approx(2 / 6)
    flat = run_level_difference([2.0, 2.0], [1.0, 1.0])
    assert flat["ci95"] == 0.0 and flat["mean"] == 1.0


def test_run_level_difference_rank_statistics_resist_a_collapsed_run() -> None:
    # a's runs are lower than all of b's except one collapsed run at 1e6: the mean difference
    # (and its permutation test) says a is far worse; the ranks see 20 of 25 pairs lower
    got = run_level_difference([1, 2, 3, 4, 1e6], [6, 7, 8, 9, 10])
    assert got["mean"] > 1e5 and got["p_permutation"] == 1.0
    assert (got["median_a"], got["median_b"]) == (3.0, 8.0)
    assert got["share_a_lower"] == pytest.approx(20 / 25)
    # a's rank sum 1+2+3+4+10 = 20, 7.5 below its null centre 27.5; 38 of the C(10, 5) = 252
    # splits are at least that far from it
    assert got["p_rank"] == pytest.approx(38 / 252)
    separated = run_level_difference([1, 2, 3], [4, 5, 6, 7])
    assert separated["share_a_lower"] == 1.0 and separated["p_rank"] == pytest.approx(2 / 35)
    # ties count half and share mid-ranks
    tied = run_level_difference([1.0, 2.0], [2.0, 3.0])
    assert tied["share_a_lower"] == pytest.approx(3.5 / 4)
    same = run_level_difference([5.0, 6.0], [5.0, 6.0])
    assert same["share_a_lower"] == 0.5 and same["p_rank"] == 1.0


def test_run_level_difference_samples_splits_when_there_are_too_many() -> None:
    # 30 vs 30 runs: C(60, 30) ~ 1.2e17 splits cannot be enumerated; a fixed-seed sample is used
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.0, 1.0, 30), rng.normal(1.5, 1.0, 30)
    got = run_level_difference(a, b)
    assert got["permutations"] == "sampled 200000"
    # clearly separated: hardly a sampled split is as extreme; the observed one counts, so p > 0
    for key in ("p_permutation", "p_rank"):
        assert 1 / 200_001 <= got[key] < 1e-4
    assert run_level_difference(a, b) == got  # the same p on every call
    # no difference: the sampled p is near 1, not near 0
    same = run_level_difference(a, a[::-1].copy())
    assert same["p_permutation"] > 0.9 and same["p_rank"] > 0.9
    assert run_level_difference([1, 2, 3], [4, 5, 6, 7])["permutations"] == "exact"


def test_run_level_difference_needs_two_runs_each() -> None:
    with pytest.raises(ValueError, match="needs >= 2 runs per agent, got 1 and 3"):
        run_level_difference([1.0], [1.0, 2.0, 3.0])
