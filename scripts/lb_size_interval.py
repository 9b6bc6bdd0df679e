#!/usr/bin/env python
"""Size-interval routing (SITA-E) against least-observed-load and shortest-expected-delay.

    python scripts/lb_size_interval.py [--presets park pareto-45 ...] [--seeds 100 .. 299]
                                       [--shares 0.15 0.25 0.3333 0.45] [--factors 0.5 1 2]
                                       [--json PATH]

For every preset, the ``size-interval`` heuristic (``edge_rl.baselines.load_balance``) is run
with each reserved share of the service rate, each multiple of its SITA-E cutoff and both inner
rules (shortest-expected-delay, least-observed-load), one episode per seed (``reset(seed=S)``).
Every variant's mean JCT is printed with its paired difference (mean and 95% t-interval over the
seeds; negative = better) to least-observed-load and to shortest-expected-delay, best first.
The defaults (share 1/3, factor 1, inner shortest-expected-delay) were picked on seeds 100-299;
report them on other seeds. The simulator is plain numpy: about a minute per preset and 200
seeds on one core.
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
from edge_rl.baselines.load_balance import (
    LeastObservedLoadPolicy,
    ShortestExpectedDelayPolicy,
    SizeIntervalPolicy,
)
from edge_rl.envs.load_balance.config import PRESETS
from edge_rl.evaluation.runner import check_seeds, make_env, run_episode
from edge_rl.evaluation.stats import mean_ci


def episode_jcts(env: Any, policy: Policy, seeds: list[int]) -> np.ndarray:
    return np.array([run_episode(env, policy, seed)["mean_jct"] for seed in seeds])


def paired(jct: np.ndarray, base: np.ndarray) -> dict[str, float]:
    diff = mean_ci(jct - base)
    return {"mean": diff.mean, "ci95": diff.ci95, "better_on": int((jct < base).sum())}


def study_preset(
    preset: str, seeds: list[int], shares: list[float], factors: list[float]
) -> dict[str, Any]:
    env = make_env("load-balance", preset)
    lol = episode_jcts(env, LeastObservedLoadPolicy(), seeds)
    sed = episode_jcts(env, ShortestExpectedDelayPolicy(), seeds)
    sita_cutoff = {
        s: SizeIntervalPolicy(reserved_share=s).routing(env.unwrapped)[1] for s in shares
    }
    rows = []
    for share, factor, inner in itertools.product(shares, factors, SizeIntervalPolicy.INNER_RULES):
        cutoff = factor * sita_cutoff[share]
        policy = SizeIntervalPolicy(reserved_share=share, threshold=cutoff, inner=inner)
        jct = episode_jcts(env, policy, seeds)
        rows.append(
            {
                "reserved_share": share,
                "cutoff_factor": factor,
                "cutoff": cutoff,
                "inner": inner,
                "mean_jct": float(jct.mean()),
                "vs_least_observed_load": paired(jct, lol),
                "vs_shortest_expected_delay": paired(jct, sed),
            }
        )
    rows.sort(key=lambda r: r["mean_jct"])
    return {
        "least-observed-load": float(lol.mean()),
        "shortest-expected-delay": float(sed.mean()),
        "size-interval": rows,
    }


def print_preset(preset: str, result: dict[str, Any], n_seeds: int) -> None:
    lol, sed = result["least-observed-load"], result["shortest-expected-delay"]
    print(f"\n{preset}: least-observed-load {lol:.1f}, shortest-expected-delay {sed:.1f}")
    print(
        f"{'share':>6} {'factor':>6} {'cutoff':>7} {'inner':<24} {'mean JCT':>9}  "
        f"{'vs LOL (better on)':<26} vs SED (better on)"
    )
    for r in result["size-interval"]:
        a, b = r["vs_least_observed_load"], r["vs_shortest_expected_delay"]
        print(
            f"{r['reserved_share']:6.3f} {r['cutoff_factor']:6g} {r['cutoff']:7.0f} "
            f"{r['inner']:<24} {r['mean_jct']:9.1f}  "
            f"{a['mean']:+8.1f} ± {a['ci95']:<6.1f} ({a['better_on']}/{n_seeds})   "
            f"{b['mean']:+8.1f} ± {b['ci95']:<6.1f} ({b['better_on']}/{n_seeds})"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["park"], help="load-balancing presets")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(100, 300)))
    p.add_argument("--shares", type=float, nargs="+", default=[0.15, 0.25, 1.0 / 3.0, 0.45])
    p.add_argument("--factors", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--json", type=Path, default=None, help="write every variant here")
    args = p.parse_args(argv)
    try:
        seeds = check_seeds(args.seeds)
        unknown = [name for name in args.presets if name not in PRESETS]
        if unknown:
            raise ValueError(f"unknown preset(s) {unknown}; choose from {sorted(PRESETS)}")
        if any(not 0.0 < s < 1.0 for s in args.shares):
            raise ValueError(f"--shares {args.shares}: each must be in (0, 1)")
        if any(not f > 0.0 for f in args.factors):
            raise ValueError(f"--factors {args.factors}: each must be > 0")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report: dict[str, Any] = {"seeds": seeds, "presets": {}}
    for preset in args.presets:
        result = study_preset(preset, seeds, args.shares, args.factors)
        report["presets"][preset] = result
        print_preset(preset, result, len(seeds))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
