#!/usr/bin/env python
"""How much room is there above least-observed-load on a load-balancing workload? A grid of
index heuristics, each scored against least-observed-load on the same episodes.

    python scripts/lb_heuristic_grid.py [--preset park] [--seeds 0 .. 19] [--json PATH]

Every policy of the grid sends the incoming job to the server with the lowest index

    score_i = a * (remaining service time of server i's job in service)
              + (queued work of server i + b * incoming job size) / rate_i ** p

which covers the standard heuristics: least-observed-load is a=1, b=0, p=0 (the observed load
mixes time and work units, as in Park), least-work-left a=0, b=0, p=0, shortest-processing-time
a=0, b=0, p=1 and shortest-expected-delay a=1, b=1, p=1 (b is left out at p=0, where it adds
the same to every score). One episode per seed
(``reset(seed=S)``); each grid point's mean JCT and its paired difference against
least-observed-load (mean with 95% t-interval over the seeds; negative = better) are printed,
best first. The simulator is plain numpy, so the whole grid takes about a minute on one core.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge_rl.baselines.base import Policy
from edge_rl.evaluation.runner import check_seeds, make_env, run_episode
from edge_rl.evaluation.stats import mean_ci

A_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
B_VALUES = (0.0, 0.5, 1.0)
P_VALUES = (0.0, 0.25, 0.5, 0.75, 1.0)
LOL = (1.0, 0.0, 0.0)  # least-observed-load's (a, b, p)


class IndexPolicy(Policy):
    """argmin over servers of a * remaining + (queued + b * size) / rate ** p."""

    def __init__(self, a: float, b: float, p: float) -> None:
        super().__init__(seed=0)
        self.a, self.b, self.p = a, b, p
        self.name = f"a={a:g} b={b:g} p={p:g}"

    def act(self, obs: np.ndarray, env: Any) -> int:
        work = env.queued_work() + self.b * env.incoming_job_size
        score = self.a * env.remaining_service_time() + work / env.service_rates**self.p
        return int(np.argmin(score))


def mean_jcts(preset: str, point: tuple[float, float, float], seeds: list[int]) -> np.ndarray:
    env = make_env("load-balance", preset)
    policy = IndexPolicy(*point)
    return np.array([run_episode(env, policy, seed)["mean_jct"] for seed in seeds])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", default="park", help="load-balancing preset (default park)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(20)))
    p.add_argument("--json", type=Path, default=None, help="write every grid point here")
    args = p.parse_args(argv)
    try:
        seeds = check_seeds(args.seeds)
        base = mean_jcts(args.preset, LOL, seeds)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows = []
    for point in itertools.product(A_VALUES, B_VALUES, P_VALUES):
        if point[2] == 0.0 and point[1] != 0.0:
            continue  # at p=0, b * size adds the same to every server's score
        jct = base if point == LOL else mean_jcts(args.preset, point, seeds)
        diff = mean_ci(jct - base)
        rows.append(
            {
                "a": point[0],
                "b": point[1],
                "p": point[2],
                "mean_jct": float(jct.mean()),
                "paired_vs_lol": diff.to_dict(),
                "seeds_better": int((jct < base).sum()),
            }
        )
    rows.sort(key=lambda r: r["mean_jct"])
    print(
        f"{args.preset}, seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}): least-observed-load "
        f"{base.mean():.1f}; {len(rows)} index heuristics, best first"
    )
    print(f"{'a':>4} {'b':>4} {'p':>5} {'mean JCT':>9}  {'minus LOL (95% CI)':>20}  better on")
    for r in rows:
        d = r["paired_vs_lol"]
        print(
            f"{r['a']:>4g} {r['b']:>4g} {r['p']:>5g} {r['mean_jct']:>9.1f}  "
            f"{d['mean']:>+9.1f} ± {d['ci95']:<8.1f}  {r['seeds_better']}/{len(seeds)}"
        )
    significant = [r for r in rows if r["paired_vs_lol"]["high"] < 0]
    print(f"significantly better than least-observed-load: {len(significant)} of {len(rows)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "preset": args.preset,
            "seeds": seeds,
            "lol_mean_jct": float(base.mean()),
            "grid": rows,
        }
        args.json.write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
