#!/usr/bin/env python
"""Learning curves and a final-return table from several `edge-rl train` run directories.

    python scripts/plot_learning_curves.py runs/adsac-s0 runs/adsac-s1 runs/d2sac-s0 \
        --png results/curves.png --csv results/curves.csv [--x env/steps|perf/elapsed_s]

Runs are grouped by their algorithm (from run.json; ``--label DIR=NAME`` renames one). Each
curve is the mean over a group's runs of ``env/episode_return_mean`` (RLlib's window of recent
episodes) against env steps, with the min-max band across seeds. The table lists, per group,
the runs, the last logged return, env steps and wall-clock minutes.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def read_run(run_dir: Path, x_key: str, y_key: str) -> tuple[str, np.ndarray, np.ndarray, dict]:
    spec = json.loads((run_dir / "run.json").read_text())["spec"]
    xs, ys, last = [], [], {}
    with (run_dir / "metrics.csv").open() as f:
        for row in csv.DictReader(f):
            last = row
            if row.get(y_key) and row.get(x_key) and np.isfinite(float(row[y_key])):
                xs.append(float(row[x_key]))
                ys.append(float(row[y_key]))
    return spec["algo"], np.asarray(xs), np.asarray(ys), last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories")
    parser.add_argument("--x", default="env/steps", help="x axis column of metrics.csv")
    parser.add_argument("--y", default="env/episode_return_mean", help="y axis column")
    parser.add_argument("--label", action="append", default=[], metavar="DIR=NAME")
    parser.add_argument("--png", type=Path, default=None)
    parser.add_argument("--csv", type=Path, default=None)
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)
    labels = dict(item.split("=", 1) for item in args.label)
    groups: dict[str, list[tuple[Path, np.ndarray, np.ndarray, dict]]] = defaultdict(list)
    for run in args.runs:
        if not (run / "metrics.csv").is_file():
            print(f"skipping {run}: no metrics.csv", file=sys.stderr)
            continue
        algo, xs, ys, last = read_run(run, args.x, args.y)
        groups[labels.get(str(run), algo)].append((run, xs, ys, last))
    if not groups:
        print("no runs with metrics", file=sys.stderr)
        return 2

    rows = []
    for name, runs in groups.items():
        for run, _, ys, last in runs:
            rows.append(
                {
                    "group": name,
                    "run": str(run),
                    "final_return": float(ys[-1]) if len(ys) else float("nan"),
                    "env_steps": float(last.get("env/steps") or 0),
                    "minutes": float(last.get("perf/elapsed_s") or 0) / 60,
                    "crash_events": last.get("env/crash_events_mean") or "",
                }
            )
    print(f"{'group':<12} {'run':<40} {'final return':>12} {'env steps':>10} {'minutes':>8}")
    for r in rows:
        print(
            f"{r['group']:<12} {r['run'][-40:]:<40} {r['final_return']:>12.1f} "
            f"{r['env_steps']:>10.0f} {r['minutes']:>8.1f}"
        )
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with args.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for name, runs in groups.items():
            runs = [r for r in runs if len(r[1])]
            if not runs:
                continue
            grid = np.linspace(0, min(r[1][-1] for r in runs), 200)
            curves = np.stack([np.interp(grid, xs, ys) for _, xs, ys, _ in runs])
            line = ax.plot(grid, curves.mean(0), label=f"{name} (n={len(runs)})")[0]
            if len(runs) > 1:
                ax.fill_between(
                    grid, curves.min(0), curves.max(0), alpha=0.2, color=line.get_color()
                )
        ax.set_xlabel(args.x)
        ax.set_ylabel(args.y)
        ax.set_title(args.title or "learning curves")
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        args.png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.png, dpi=120)
        print(f"plot: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
