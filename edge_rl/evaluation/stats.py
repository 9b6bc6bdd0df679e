"""Confidence intervals for evaluation reports (Student t, no SciPy needed)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from itertools import combinations, islice

import numpy as np


def _t_pdf(x: float, df: int) -> float:
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1) / 2 * math.log1p(x * x / df))


def _t_cdf_upper_half(x: float, df: int, panels: int = 2000) -> float:
    """P(0 <= T <= x) by Simpson's rule; the t pdf is smooth, so this is accurate to ~1e-10."""
    h = x / panels
    total = _t_pdf(0.0, df) + _t_pdf(x, df)
    for i in range(1, panels):
        total += (4 if i % 2 else 2) * _t_pdf(i * h, df)
    return total * h / 3


@lru_cache(maxsize=256)
def t_critical(confidence: float, df: int) -> float:
    """Two-sided Student-t critical value, e.g. ``t_critical(0.95, 4) == 2.776``."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}: must be in (0, 1)")
    if df < 1:
        raise ValueError(f"df={df}: must be >= 1")
    target = confidence / 2
    lo, hi = 0.0, 1.0
    while _t_cdf_upper_half(hi, df) < target:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if _t_cdf_upper_half(mid, df) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class MeanCI:
    """Sample mean with a two-sided Student-t confidence interval (``ci95`` is the half-width)."""

    mean: float
    ci95: float
    low: float
    high: float
    std: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def mean_ci(values: list[float] | np.ndarray, confidence: float = 0.95) -> MeanCI:
    """Mean and t-interval of ``values``; with one value the half-width is 0 (n=1, undefined CI)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(x.mean())
    if x.size == 1:
        return MeanCI(mean, 0.0, mean, mean, 0.0, 1)
    std = float(x.std(ddof=1))
    half = t_critical(confidence, x.size - 1) * std / math.sqrt(x.size)
    return MeanCI(mean, half, mean - half, mean + half, std, int(x.size))


#: up to this many splits of the pooled runs the permutation tests enumerate all of them; beyond
#: (e.g. 13 vs 13 runs: 10.4M) they draw SAMPLED_SPLITS random splits (fixed seed: same p twice)
EXACT_SPLITS = 1_000_000
SAMPLED_SPLITS = 200_000


def _splits(n: int, k: int, chunk: int = 50_000) -> tuple[Iterator[np.ndarray], str]:
    """Blocks of index rows (each row k of range(n): one split of the pooled runs) and the
    method: every k-subset, or SAMPLED_SPLITS random ones when there are more than
    EXACT_SPLITS."""
    if math.comb(n, k) <= EXACT_SPLITS:

        def every() -> Iterator[np.ndarray]:
            rows = combinations(range(n), k)
            while block := list(islice(rows, chunk)):
                yield np.array(block, dtype=np.intp)

        return every(), "exact"

    def sampled() -> Iterator[np.ndarray]:
        rng = np.random.default_rng(0)
        for start in range(0, SAMPLED_SPLITS, chunk):
            size = min(chunk, SAMPLED_SPLITS - start)
            yield rng.random((size, n)).argsort(axis=1)[:, :k]

    return sampled(), f"sampled {SAMPLED_SPLITS}"


def _permutation_p(scores: np.ndarray, k: int) -> tuple[np.ndarray, str]:
    """Two-sided permutation p-values, one per column of ``scores`` (pooled runs x statistics;
    the first ``k`` rows are group a's), and the method. For each column the statistic is a's
    sum, compared by its distance from its mean over all splits: for raw scores that is the
    difference of the group means (a linear function of a's sum), for ranks the rank-sum test."""
    n = scores.shape[0]
    centre = k * scores.mean(axis=0)  # a's sum when the groups do not differ
    observed = np.abs(scores[:k].sum(axis=0) - centre)
    tolerance = 1e-9 * np.maximum(1.0, k * np.abs(scores).max(axis=0))  # float noise of sums
    splits, method = _splits(n, k)
    extreme, total = np.zeros(scores.shape[1], dtype=np.int64), 0
    for block in splits:  # block: rows of k indices, each row one split
        sums = scores[block].sum(axis=1)  # (splits in block, statistics)
        extreme += (np.abs(sums - centre) >= observed - tolerance).sum(axis=0)
        total += block.shape[0]
    if method != "exact":  # a sampled test counts the observed split too (never p = 0)
        extreme, total = extreme + 1, total + 1
    return extreme / total, method


def _mid_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1 of ``values``, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size)
    ranks[order] = np.arange(1, values.size + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def run_level_difference(
    a: list[float] | np.ndarray, b: list[float] | np.ndarray, confidence: float = 0.95
) -> dict[str, float | int]:
    """Compare two agents by the scores of their training runs (one number per run).

    ``a`` and ``b`` hold one score per independent training run of each agent (e.g. each run's
    mean JCT over the same test episodes). Returns the difference of the means (``a - b``) with
    Welch's t-interval (unequal variances; the Welch-Satterthwaite degrees of freedom rounded
    down, which widens the interval a little) and the two-sided p-value of an exact permutation
    test (every way of splitting the pooled runs into groups of the two sizes; no normality
    assumed; beyond ``EXACT_SPLITS`` splits a fixed-seed sample of ``SAMPLED_SPLITS`` of them,
    named in ``permutations``). This interval covers the spread between runs, which a paired
    comparison over episodes of one checkpoint per agent does not. Needs two or more runs per agent.

    Run scores can be heavy-tailed (one collapsed run at 1e6 JCT among runs near 1e3 decides a
    mean and its interval), so rank statistics come with them: the medians, the share of
    (run of a, run of b) pairs in which a's run scores lower (``share_a_lower``, ties counted
    half: the probability of superiority, Mann-Whitney U / (n_a n_b)) and the two-sided p of the
    rank-sum test (Wilcoxon-Mann-Whitney, over the same splits, mid-ranks for ties).
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size < 2 or y.size < 2:
        raise ValueError(
            f"run_level_difference needs >= 2 runs per agent, got {x.size} and {y.size}"
        )
    diff = float(x.mean() - y.mean())
    va, vb = float(x.var(ddof=1)) / x.size, float(y.var(ddof=1)) / y.size
    if va + vb == 0:
        df, half = float("inf"), 0.0
    else:
        df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
        half = t_critical(confidence, max(1, math.floor(df))) * math.sqrt(va + vb)
    pooled = np.concatenate([x, y])
    p_values, method = _permutation_p(np.stack([pooled, _mid_ranks(pooled)], axis=1), x.size)
    lower = (x[:, None] < y[None, :]).sum() + 0.5 * (x[:, None] == y[None, :]).sum()
    return {
        "mean": diff,
        "ci95": half,
        "low": diff - half,
        "high": diff + half,
        "df": df,
        "p_permutation": float(p_values[0]),
        "median_a": float(np.median(x)),
        "median_b": float(np.median(y)),
        "share_a_lower": float(lower / (x.size * y.size)),
        "p_rank": float(p_values[1]),
        "permutations": method,
        "n_a": int(x.size),
        "n_b": int(y.size),
    }
