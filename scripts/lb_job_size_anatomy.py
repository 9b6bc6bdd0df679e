#!/usr/bin/env python
"""Where each policy's mean JCT comes from: large jobs, small jobs, and small behind large.

    python scripts/lb_job_size_anatomy.py [--preset park] [--seeds 20 .. 39]
        [--policy least-observed-load shortest-expected-delay size-interval]
        [--checkpoint RUN_OR_CHECKPOINT ...] [--cutoff SIZE] [--fastest K] [--json PATH]

Plays one episode per seed of the load-balancing workload ``--preset`` (a one-episode trial,
as ``edge-rl evaluate --schedule PRESET:1``; checkpoints with their run's env knobs) for each
heuristic and checkpoint, and splits the mean JCT by job size (``edge_rl.evaluation.
job_size_anatomy``): the large jobs' (> cutoff) and small jobs' parts of the mean, the small
jobs' mean wait in queue, the part of it while their server served a large job, and the share
of large jobs placed on the ``--fastest`` fastest servers. Defaults: size-interval's cutoff
and reserved servers for the preset's task (Park's workload: 900 and the two fastest), so its
rule reads off directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge_rl.baselines import make_policy
from edge_rl.baselines.load_balance import SizeIntervalPolicy
from edge_rl.evaluation.job_size_anatomy import play_anatomy, summarize_anatomy
from edge_rl.evaluation.runner import make_env

COLUMNS = (
    ("mean_jct", "mean JCT"),
    ("large_part", "large part"),
    ("small_part", "small part"),
    ("small_wait", "small: wait"),
    ("small_wait_behind_large", "small: wait behind large"),
    ("large_on_fastest", "large on fastest"),
)


def size_interval_routing(preset: str) -> tuple[int, float]:
    """(number of reserved servers, cutoff) of size-interval on the preset's task."""
    env = make_env("load-balance-trials", preset, episodes_per_trial=1)
    env.reset(seed=0)
    reserved, cutoff = SizeIntervalPolicy().routing(env.unwrapped.inner)
    env.close()
    return len(reserved), cutoff


def players(args: argparse.Namespace) -> list[tuple[str, Any, dict]]:
    """(name, seed -> policy, env knobs) for every heuristic and checkpoint asked for."""
    from edge_rl.commands.evaluate import checkpoint_knobs

    out: list[tuple[str, Any, dict]] = [
        (name, lambda seed, n=name: make_policy("load-balance", n, seed=seed), {})
        for name in args.policy
    ]
    if args.checkpoint:
        from edge_rl.algorithms.checkpoint_policy import (
            CheckpointPolicy,
            default_policy_name,
            resolve_checkpoint,
        )

        for path in args.checkpoint:
            ckpt, spec = resolve_checkpoint(path)
            name = f"{default_policy_name(spec)}:{ckpt.parent.parent.name}/{ckpt.name}"
            knobs = checkpoint_knobs(spec, "load-balance-trials", {}, {})
            out.append((name, lambda seed, c=ckpt, n=name: CheckpointPolicy(c, seed, n), knobs))
    return out


def format_rows(summaries: dict[str, dict[str, Any]]) -> str:
    head = ["policy", *(label for _, label in COLUMNS)]
    rows = [head]
    for name, s in summaries.items():
        cells = [name]
        for key, _ in COLUMNS:
            v = s[key]
            if v is None:
                cells.append("n/a")
            elif key == "large_on_fastest":
                cells.append(f"{v['mean']:.2f} ± {v['ci95']:.2f}")
            else:
                cells.append(f"{v['mean']:.1f} ± {v['ci95']:.1f}")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", default="park", help="a load-balancing workload preset")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(20, 40)))
    p.add_argument(
        "--policy",
        nargs="*",
        default=["least-observed-load", "shortest-expected-delay", "size-interval"],
        help="heuristics (NAME or NAME:KEY=VALUE,...)",
    )
    p.add_argument("--checkpoint", nargs="*", default=[], help="run directories or checkpoints")
    p.add_argument("--cutoff", type=float, default=None, help="job size above which a job is large")
    p.add_argument("--fastest", type=int, default=None, help="how many fastest servers to count")
    p.add_argument("--json", type=Path, default=None, help="write every episode's anatomy here")
    args = p.parse_args(argv)
    try:
        reserved, sita_cutoff = size_interval_routing(args.preset)
        cutoff = sita_cutoff if args.cutoff is None else args.cutoff
        fastest = reserved if args.fastest is None else args.fastest
        if not cutoff >= 0:
            raise ValueError(f"--cutoff {args.cutoff}: must be a job size >= 0")
        summaries, episodes = {}, {}
        for name, maker, knobs in players(args):
            env = make_env("load-balance-trials", args.preset, episodes_per_trial=1, **knobs)
            rows = play_anatomy(env, maker, args.seeds, cutoff, fastest)
            env.close()
            summaries[name], episodes[name] = summarize_anatomy(rows), rows
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"preset {args.preset}, {len(args.seeds)} seed(s); large = size > {cutoff:g}; "
        f"'large on fastest' counts the {fastest} fastest servers (mean ± 95% CI over episodes)"
    )
    print(format_rows(summaries))
    if args.json is not None:
        report = {
            "preset": args.preset,
            "seeds": args.seeds,
            "cutoff": cutoff,
            "fastest": fastest,
            "summary": summaries,
            "episodes": episodes,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
        print(f"json: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
