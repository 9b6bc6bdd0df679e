"""Where a load-balancing policy's mean JCT comes from, split by job size.

With Park's heavy-tailed job sizes (Pareto 1.5: infinite variance) the mean job completion
time is decided by how the few large jobs are placed, directly (a large job on a slow server
takes long itself) and indirectly (every job queued behind it waits). Size-interval task
assignment (SITA-E, Harchol-Balter, Crovella and Murta 1999; ``SizeIntervalPolicy``) keeps
large jobs off the slow servers so that small jobs there never queue behind one. This module
measures both effects for any policy's finished episode, from the simulator's own job records
(``LoadBalanceEnv.job_records``):

    large_part / small_part     the large (> cutoff) and small jobs' sums of JCT per job of the
                                episode: they add up to the episode's mean JCT
    small_wait                  per small job, its whole wait in its server's queue, averaged
    small_wait_behind_large     the part of it while its server served a large job (FIFO: the
                                jobs ahead of it); the rest, behind small jobs, includes the
                                backlog that built up behind an earlier large job
    large_on_fastest            share of the large jobs placed on the ``fastest`` servers of
                                highest rate (size-interval's reserved ones by default)

No Ray here; ``scripts/lb_job_size_anatomy.py`` runs heuristics and checkpoints through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edge_rl.baselines.base import Policy
from edge_rl.evaluation.runner import check_seeds, run_episode
from edge_rl.evaluation.stats import mean_ci

#: per-episode numbers of ``job_anatomy`` that ``summarize_anatomy`` averages over episodes
ANATOMY_METRICS = (
    "mean_jct",
    "large_part",
    "small_part",
    "large_mean_jct",
    "small_mean_jct",
    "small_wait",
    "small_wait_behind_large",
    "large_share",
    "large_on_fastest",
)


def rate_ranks(rates: np.ndarray) -> np.ndarray:
    """Each server's rank by service rate, 0 = fastest (ties: the lower index first)."""
    order = np.argsort(-np.asarray(rates, dtype=np.float64), kind="stable")
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order))
    return ranks


def job_anatomy(
    jobs: dict[str, np.ndarray], rates: np.ndarray, cutoff: float, fastest: int
) -> dict[str, Any]:
    """The JCT anatomy of one finished episode (module docstring) from its job records.

    ``jobs``: ``arrival``, ``size``, ``server``, ``finish`` per job in arrival order (FIFO
    servers, service time ``int(size / rate)``, as the simulator). Raises ValueError for an
    unfinished episode or records that break FIFO (a job starting before the one ahead of it
    on its server finished).
    """
    arrival, size = np.asarray(jobs["arrival"]), np.asarray(jobs["size"])
    server, finish = np.asarray(jobs["server"]), np.asarray(jobs["finish"])
    rates = np.asarray(rates, dtype=np.float64)
    n = len(arrival)
    if n == 0 or (finish < 0).any():
        raise ValueError("job_anatomy needs a finished episode (every job dispatched and done)")
    if not 1 <= fastest < len(rates):
        raise ValueError(f"fastest={fastest}: must be in [1, {len(rates) - 1}]")
    service = np.array([int(s / rates[k]) for s, k in zip(size, server, strict=True)])
    start = finish - service
    large = size > cutoff
    behind_large = np.zeros(n)
    for k in range(len(rates)):
        on_k = np.flatnonzero(server == k)  # FIFO: served in dispatch (= arrival) order
        if len(on_k) > 1 and (start[on_k[1:]] < finish[on_k[:-1]]).any():
            raise ValueError(f"server {k}: a job starts before the one ahead of it finished")
        for i, j in enumerate(on_k):
            # the jobs ahead of j still on server k when j arrived: the last ones before it
            p = i - 1
            while p >= 0 and finish[on_k[p]] > arrival[j]:
                ahead = on_k[p]
                if large[ahead]:
                    overlap = min(finish[ahead], start[j]) - max(start[ahead], arrival[j])
                    behind_large[j] += max(overlap, 0)
                p -= 1
    jct = (finish - arrival).astype(np.float64)
    small = ~large
    rank = rate_ranks(rates)[server]  # each job's server's rank, 0 = fastest
    on_fastest = rank < fastest
    nan = float("nan")
    return {
        "jobs": n,
        "mean_jct": float(jct.mean()),
        "large_part": float(jct[large].sum() / n),
        "small_part": float(jct[small].sum() / n),
        "large_mean_jct": float(jct[large].mean()) if large.any() else nan,
        "small_mean_jct": float(jct[small].mean()) if small.any() else nan,
        "small_wait": float((start - arrival)[small].mean()) if small.any() else nan,
        "small_wait_behind_large": float(behind_large[small].mean()) if small.any() else nan,
        "large_share": float(large.mean()),
        "large_on_fastest": float(on_fastest[large].mean()) if large.any() else nan,
        "large_by_rank": np.bincount(rank[large], minlength=len(rates)).tolist(),
    }


def play_anatomy(
    env: Any, make_policy: Any, seeds: Sequence[int], cutoff: float, fastest: int
) -> list[dict[str, Any]]:
    """Play one episode per seed (a one-episode trial env, ``MetaTrialEnv``) with the policy
    ``make_policy(seed)`` builds; the anatomy of each, with its seed.

    Checks the records against the simulator's own return: the summed JCTs must equal minus
    the episode's return (computed by the simulator from its event clock), else RuntimeError.
    """
    rows = []
    for seed in check_seeds(seeds):
        policy: Policy = make_policy(seed)
        run_episode(env, policy, seed)
        inner = env.unwrapped.inner
        row = job_anatomy(inner.job_records(), inner.service_rates, cutoff, fastest)
        simulated = -inner.episode_summary()["return"] / row["jobs"]
        if not np.isclose(row["mean_jct"], simulated, rtol=1e-9, atol=1e-6):
            raise RuntimeError(
                f"seed {seed}: job records give mean JCT {row['mean_jct']}, the simulator "
                f"{simulated}: was the episode played to its end in a one-episode trial?"
            )
        rows.append({"seed": int(seed), **row})
    return rows


def summarize_anatomy(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and 95% half-width over episodes of each ``ANATOMY_METRICS`` entry (episodes
    without large or small jobs are left out of the metrics about them), and the large jobs
    by server-rate rank pooled over the episodes (shares, fastest first)."""
    out: dict[str, Any] = {"episodes": len(rows)}
    for key in ANATOMY_METRICS:
        values = [r[key] for r in rows if not np.isnan(r[key])]
        ci = mean_ci(values) if values else None
        out[key] = {"mean": ci.mean, "ci95": ci.ci95} if ci else None
    by_rank = np.sum([r["large_by_rank"] for r in rows], axis=0)
    out["large_by_rank"] = (by_rank / max(by_rank.sum(), 1)).round(4).tolist()
    return out
