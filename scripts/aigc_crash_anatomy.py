#!/usr/bin/env python
"""Why do policies crash servers? Every crash event of a policy, sorted by its cause.

    python scripts/aigc_crash_anatomy.py [--preset adsac-paper] [--world-seed 0]
        [--seeds 0 .. 19] [--policy prophet best-fit prophet-keep-open:reserve=300 ...]
        [--checkpoint RUN ... [--act-by mean-probs:128]] [--set KEY=VALUE ...]
        [--paired-against prophet] [--json PATH]

Each policy (heuristics by name, checkpoints of trained runs as in ``edge-rl evaluate``) plays
one episode per seed on the AIGC simulator (``reset(seed=S)``), with the env knobs the
checkpoints were trained with unless ``--set`` says otherwise (e.g. ``--set crash_penalty=2`` for
a run trained with a costlier crash). Before each step the script
looks at the simulator's state and, when the chosen action crashes its server, files the crash
under one cause:

- ``avoidable``: another server had room for the task; the pick itself was the mistake.
- ``fragmented``: no single server had room, but the servers' free capacity together did: a
  different placement of the tasks before it (packing) could have kept a server open.
- ``overloaded``: not even the servers' free capacity together covered the task: only crashes
  earlier on (which free capacity) could have prevented this one.

Printed per policy: mean return, utility (what the placed tasks earned), crash penalty (what
the crashes cost: utility - return), crash events, tasks killed and the three causes (means over
the seeds), and the paired differences of return, utility, penalty and crash events to
``--paired-against`` (mean and 95% t-interval over the seeds; how often the policy had fewer
crash events).
The simulator is plain numpy: a heuristic plays an episode in well under a second on one core.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge_rl.baselines import make_policy, parse_policy_spec
from edge_rl.baselines.base import Policy
from edge_rl.commands.common import UsageError, parse_overrides
from edge_rl.evaluation.runner import check_seeds, make_env, run_episode
from edge_rl.evaluation.stats import mean_ci

CAUSES = ("avoidable", "fragmented", "overloaded")
METRICS = ("return", "utility", "crash_penalty", "crash_events", "tasks_killed", *CAUSES)
PAIRED = ("return", "utility", "crash_penalty", "crash_events")


def crash_cause(sim: Any, action: int) -> str | None:
    """The cause of the crash ``action`` would cause now (``CAUSES``), or None if it fits."""
    free, demand = sim.free_capacity, sim.current_demand
    if free[action // sim.config.models_per_server] >= demand:
        return None
    if (free >= demand).any():
        return "avoidable"
    return "fragmented" if free.sum() >= demand else "overloaded"


class CrashFiler(Policy):
    """Plays ``inner`` unchanged and files each crash its actions cause under ``CAUSES``."""

    def __init__(self, inner: Policy) -> None:
        super().__init__()
        self.inner, self.name = inner, inner.name
        self.causes = dict.fromkeys(CAUSES, 0)

    def reset(self, env: Any) -> None:
        self.causes = dict.fromkeys(CAUSES, 0)
        self.inner.reset(env)

    def act(self, obs: Any, env: Any) -> int:
        action = int(self.inner.act(obs, env))
        cause = crash_cause(env, action)
        if cause is not None:
            self.causes[cause] += 1
        return action


def play(env: Any, policy: Policy, seed: int) -> dict[str, float]:
    """One episode (the project's ``run_episode``): return, utility, crash penalty, crash
    events, tasks killed and the crash causes."""
    filer = CrashFiler(policy)
    summary = run_episode(env, filer, seed)
    if sum(filer.causes.values()) != summary["crash_events"]:
        raise RuntimeError(f"{sum(filer.causes.values())} crashes filed, env counted {summary}")
    out = {k: summary[k] for k in ("return", "utility", "crash_events", "tasks_killed")}
    out["crash_penalty"] = out["utility"] - out["return"]  # what the crashes cost in all
    return {**out, **{k: float(v) for k, v in filer.causes.items()}}


def make_policies(args: argparse.Namespace) -> tuple[list[tuple[str, Any]], dict[str, Any]]:
    """(name, seed -> Policy) for every --policy and --checkpoint in the order given, and the
    env knobs the checkpoints were trained with (heuristics work with every layout)."""
    for name in args.policy:
        parse_policy_spec("aigc", name)  # a ValueError names the valid policies or settings
    makers: list[tuple[str, Any]] = [
        (name, lambda seed, name=name: make_policy("aigc", name, seed=seed)) for name in args.policy
    ]
    knobs: dict[str, Any] | None = None
    for ckpt in args.checkpoint:
        from edge_rl.algorithms.checkpoint_policy import CheckpointPolicy, resolve_checkpoint

        path, spec = resolve_checkpoint(ckpt)  # a FileNotFoundError says what to pass
        if spec and (spec.get("env"), spec.get("preset")) != ("aigc", args.preset):
            raise ValueError(
                f"{ckpt} was trained on {spec.get('env')}/{spec.get('preset')}, not "
                f"aigc/{args.preset}; pass --preset {spec.get('preset')}"
            )
        run_knobs = spec.get("env_overrides") or {}
        if knobs is not None and run_knobs != knobs:
            raise ValueError(
                f"{ckpt} was trained with env knobs {run_knobs}, another checkpoint with "
                f"{knobs}; compare checkpoints of one env setting per call"
            )
        knobs = run_knobs
        CheckpointPolicy(path, act_by=args.act_by)  # a bad --act-by fails here, not mid-run
        makers.append(
            (
                f"{Path(ckpt).name}[{args.act_by}]",
                lambda seed, c=path: CheckpointPolicy(c, seed=seed, act_by=args.act_by),
            )
        )
    names = [n for n, _ in makers]
    if len(set(names)) != len(names):
        raise ValueError(f"policy names repeat ({names}); give each policy and run once")
    if not makers:
        raise ValueError("nothing to evaluate: give --policy NAME ... or --checkpoint RUN ...")
    return makers, knobs or {}


def summarise(episodes: dict[str, list[dict[str, float]]], baseline: str | None) -> dict:
    out: dict[str, Any] = {}
    for name, eps in episodes.items():
        row: dict[str, Any] = {}
        for key in METRICS:
            ci = mean_ci(np.array([e[key] for e in eps]))
            row[key] = {"mean": ci.mean, "ci95": ci.ci95}
        if baseline is not None and name != baseline:
            base = episodes[baseline]
            for key in PAIRED:
                diff = np.array([e[key] - b[key] for e, b in zip(eps, base, strict=True)])
                ci = mean_ci(diff)
                row[f"{key}_vs_{baseline}"] = {
                    "mean": ci.mean,
                    "ci95": ci.ci95,
                    "lower_on": int((diff < 0).sum()),
                    "higher_on": int((diff > 0).sum()),
                }
        out[name] = row
    return out


def print_table(summary: dict, baseline: str | None, n: int) -> None:
    head = ("return", "utility", "penalty", "crashes", "killed", *CAUSES)
    print(f"{'policy':30s} {'return':>16s}" + "".join(f" {h:>10s}" for h in head[1:]))
    for name, row in summary.items():
        ret = row["return"]
        cells = [row[k]["mean"] for k in METRICS[1:]]
        print(
            f"{name:30s} {ret['mean']:9.1f} ± {ret['ci95']:4.1f}"
            + "".join(f" {c:10.2f}" for c in cells)
        )
    if baseline is None:
        return
    print(f"\npaired against {baseline} over {n} seeds (mean ± 95% CI)")
    for name, row in summary.items():
        if name == baseline:
            continue
        r, u, p, c = (row[f"{k}_vs_{baseline}"] for k in PAIRED)
        print(
            f"  {name:28s} return {r['mean']:+7.1f} ± {r['ci95']:4.1f}  utility {u['mean']:+7.1f} "
            f"± {u['ci95']:4.1f}  penalty {p['mean']:+6.1f} ± {p['ci95']:4.1f}  crash events "
            f"{c['mean']:+5.2f} ± {c['ci95']:4.2f} (fewer on {c['lower_on']}/{n}, "
            f"more on {c['higher_on']}/{n})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[2], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="adsac-paper")
    parser.add_argument("--world-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(20)))
    parser.add_argument("--policy", nargs="*", default=["prophet"], help="heuristic names")
    parser.add_argument("--checkpoint", nargs="*", default=[], help="run or checkpoint dirs")
    parser.add_argument("--act-by", default="argmax", help="how checkpoints act (as evaluate)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="an env knob")
    parser.add_argument("--paired-against", default=None, help="default: the first policy")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        seeds = check_seeds(args.seeds)
        makers, knobs = make_policies(args)
        knobs = {**knobs, **parse_overrides(args.set)}
        env = make_env("aigc", args.preset, args.world_seed, **knobs)
        baseline = args.paired_against or makers[0][0]
        if baseline not in [n for n, _ in makers]:
            raise ValueError(
                f"--paired-against {baseline}: not among the policies ({[n for n, _ in makers]})"
            )
    except (ValueError, TypeError, FileNotFoundError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    episodes = {name: [play(env, make(seed), seed) for seed in seeds] for name, make in makers}
    baseline = baseline if len(makers) > 1 else None
    summary = summarise(episodes, baseline)
    print_table(summary, baseline, len(seeds))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "preset": args.preset,
            "world_seed": args.world_seed,
            "overrides": knobs,
            "seeds": seeds,
            "paired_against": baseline,
            "summary": summary,
            "episodes": {
                name: [{"seed": s, **e} for s, e in zip(seeds, eps, strict=True)]
                for name, eps in episodes.items()
            },
        }
        args.json.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
