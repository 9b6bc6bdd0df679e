"""One episode's job stream (arrival times and sizes), drawn exactly as Park draws it.

Park draws lazily, one job per decision: ``size = int((rng.pareto(shape) + 1) * scale)`` then
``dt = int(rng.exponential(interval))`` from one legacy ``RandomState``. Both legacy draws consume
exactly one standard-exponential variate (numpy's ``legacy_pareto`` is ``expm1(E / shape)`` and
``legacy_exponential`` is ``scale * E``), so one ``standard_exponential(2 * n)`` call yields the
same numbers, in the same order, and leaves the generator in the same state as Park after ``n``
jobs. Drawing a whole episode at once is what makes the simulators fast; ``skip_jobs`` replays the
draw count when an episode is abandoned early, so the stream continues exactly where Park's would.

The uniform size distribution (not in Park) uses the same stream: ``U = -expm1(-E)`` is an exact
inverse-CDF uniform, so both distributions consume one variate per size and one per gap.
"""

from __future__ import annotations

import numpy as np

from edge_rl.envs.load_balance.config import LoadBalanceConfig

#: Sizes are capped here so every time stays an exact integer in float64 and int64. Park's
#: defaults can never reach it (the largest possible size is about 4.3e12).
MAX_JOB_SIZE: int = 2**50


def draw_job_stream(
    rs: np.random.RandomState, config: LoadBalanceConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one episode: ``(arrival_times, sizes)``, both int64 arrays of ``jobs_per_episode``.

    Job 0 arrives at its own gap after time 0 (Park pushes it at ``0 + dt``); job ``j + 1``
    arrives ``dt_{j+1}`` after job ``j``.
    """
    draws = rs.standard_exponential(2 * config.jobs_per_episode)
    size_draws, gap_draws = draws[0::2], draws[1::2]
    if config.job_size_dist == "pareto":
        sizes_f = (np.expm1(size_draws / config.pareto_shape) + 1.0) * config.pareto_scale
    else:
        width = config.uniform_high - config.uniform_low
        sizes_f = config.uniform_low + width * -np.expm1(-size_draws)
    sizes = np.minimum(sizes_f, float(MAX_JOB_SIZE)).astype(np.int64)
    gaps = (config.mean_interval * gap_draws).astype(np.int64)
    return np.cumsum(gaps), sizes


def skip_jobs(rs: np.random.RandomState, num_jobs: int) -> None:
    """Advance ``rs`` past ``num_jobs`` jobs' draws (two variates each), discarding them."""
    if num_jobs > 0:
        rs.standard_exponential(2 * num_jobs)


def legacy_seeded(seed: int) -> np.random.RandomState:
    """Park's ``seeding.np_random(seed)``; seeds outside [0, 2**32 - 1] raise a clear error."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise ValueError(
            f"seed={seed!r}: must be an integer in [0, 2**32 - 1] (the simulator seeds numpy's "
            "legacy RandomState, as Park does)"
        )
    return np.random.RandomState(int(seed))
