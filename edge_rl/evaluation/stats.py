"""Confidence intervals for evaluation reports (Student t, no SciPy needed)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

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
