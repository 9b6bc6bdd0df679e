#!/usr/bin/env python
"""Benchmark edge_rl's simulators against the reference simulators, side by side in one run.

    python scripts/bench_envs.py --aigc-reference ADSAC_TREE --park-reference PARK_TREE \
        --seconds 5 --json results/bench_envs.json

The reference checkouts are NOT part of this project: clone them anywhere outside the repo
(github.com/miilue/An-Attention-Diffusion-Aided-DRL-Method and github.com/park-project/park) and
pass their paths; without them only edge_rl's own figures are printed. Goals (issue 2): AIGC scalar
>= 10x the reference env, AIGC vector (1024 lanes) >= 300x; load balancing scalar >= 2x Park,
vector (1024 lanes) >= 10x Park.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_aigc_env  # noqa: E402
import bench_load_balance_env  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aigc-reference", default=None, help="ADSAC reference work tree")
    parser.add_argument("--park-reference", default=None, help="Park work tree")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--json", default=None, help="write all figures to this JSON file")
    args = parser.parse_args(argv)
    results = {
        "aigc": bench_aigc_env.run_benchmark(args.aigc_reference, args.seconds),
        "load_balance": bench_load_balance_env.run_benchmark(args.park_reference, args.seconds),
    }
    print(f"{'figure':40s} {'value':>14s}")
    for family, figures in results.items():
        for key, value in figures.items():
            if isinstance(value, float):
                print(f"{family + '/' + key:40s} {value:14,.1f}")
            elif isinstance(value, bool):
                print(f"{family + '/' + key:40s} {str(value):>14s}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
