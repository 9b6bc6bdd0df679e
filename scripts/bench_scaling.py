"""Scaling benchmark: ADSAC env steps sampled per second and learner updates per second against
the number of env runners, with the scaling efficiency, a plot and JSON.

Run::

    python scripts/bench_scaling.py --runners 1 2 --json results/bench_scaling.json \\
        --plot results/bench_scaling.png                       # this machine (local Ray)
    python scripts/bench_scaling.py --runners 1 2 4 8 16 32 --address auto \\
        --env-runner-resource rollout=1                        # on a cluster (e.g. via ray job)
    python scripts/bench_scaling.py --quick                    # smoke run (seconds)

For each env-runner count K, two measurements, each over ``--seconds`` of whole iterations after
``--warmup`` untimed ones (iterations are timed here: RLlib's own timers are smoothed):

- sampling: learning off; env steps sampled per second (``K`` remote env runners of
  ``--envs-per-runner`` batched envs, ``--fragment`` steps per env per iteration).
- training: learning on (``--updates-per-env-step`` gradient updates per env step, one local
  learner); env steps per second and learner updates per second of the whole training loop.

Scaling efficiency of K runners = (rate(K) / rate(K0)) / (K / K0), K0 the smallest count: 1.0 is
linear scaling. On a machine with fewer cores than runners (plus the learner), expect it to fall.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

try:
    import edge_rl  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_rl.training.algos import RunSpec, build_config
from edge_rl.training.resources import check_plan, cluster_resources, init_ray, plan_from_config


@dataclass(frozen=True)
class BenchArgs:
    """Benchmark settings.

    Attributes:
        runners: env-runner counts to measure (each >= 1: remote rollout actors).
        envs_per_runner: batched env lanes per env runner.
        fragment: env steps per lane per iteration (rollout_fragment_length).
        seconds: timed wall-clock per measurement (whole iterations, at least 2).
        warmup: untimed iterations first (actor start-up, first updates).
        cpus_per_env_runner: CPUs each env runner reserves.
        env_runner_resources: custom resources per env runner (pin them to CPU nodes).
        updates_per_env_step: gradient updates per sampled env step when learning.
        attention_width: ADSAC token width (64: the CPU setting of the README's runs).
        train_batch_size: minibatch of each gradient update.
        address: Ray cluster address (None: a local Ray on this machine).
        seed: config seed.
    """

    runners: tuple[int, ...] = (1, 2)
    envs_per_runner: int = 8
    fragment: int = 64
    seconds: float = 15.0
    warmup: int = 1
    cpus_per_env_runner: float = 0.5
    env_runner_resources: dict[str, float] = field(default_factory=dict)
    updates_per_env_step: float = 0.25
    attention_width: int = 64
    train_batch_size: int = 512
    address: str | None = None
    seed: int = 0


def _spec(args: BenchArgs, runners: int, learning: bool) -> RunSpec:
    return RunSpec(
        algo="adsac",
        preset="adsac-paper",
        timesteps=10**9,
        num_env_runners=runners,
        envs_per_runner=args.envs_per_runner,
        cpus_per_env_runner=args.cpus_per_env_runner,
        env_runner_resources=dict(args.env_runner_resources),
        seed=args.seed,
        settings={
            "attention_width": args.attention_width,
            "rollout_fragment_length": args.fragment,
            "train_batch_size_per_learner": args.train_batch_size,
            "updates_per_env_step": args.updates_per_env_step,
            # learning off: never reach the start threshold
            "num_steps_sampled_before_learning_starts": 0 if learning else 10**12,
        },
    )


def _counts(result: dict[str, Any], last_updates: float) -> tuple[float, float]:
    """(env steps sampled, gradient updates) lifetime; RLlib reports NaN updates for an
    iteration without any, so the last finite count carries over."""
    steps = float(result["env_runners"]["num_env_steps_sampled_lifetime"])
    updates = result.get("num_gradient_updates_lifetime")
    if updates is None or not math.isfinite(float(updates)):
        return steps, last_updates
    return steps, float(updates)


def measure(args: BenchArgs, runners: int, learning: bool) -> dict[str, float]:
    """Rates of one configuration: env steps/s and learner updates/s over whole iterations."""
    config = build_config(_spec(args, runners, learning))
    totals, nodes = cluster_resources()
    check_plan(plan_from_config(config), totals, nodes, with_main=False)
    algo = config.build_algo()
    try:
        updates = 0.0
        for _ in range(args.warmup):
            steps, updates = _counts(algo.train(), updates)
        if not args.warmup:
            steps = 0.0
        steps0, updates0, iters = steps, updates, 0
        t0 = time.perf_counter()
        while iters < 2 or time.perf_counter() - t0 < args.seconds:
            steps, updates = _counts(algo.train(), updates)
            iters += 1
        elapsed = time.perf_counter() - t0
    finally:
        algo.stop()
    return {
        "env_steps_per_s": (steps - steps0) / elapsed,
        "learner_updates_per_s": (updates - updates0) / elapsed,
        "iterations": float(iters),
        "seconds": elapsed,
    }


def efficiency(rates: dict[int, float]) -> dict[int, float]:
    """(rate(K) / rate(K0)) / (K / K0) for every K, K0 the smallest count."""
    k0 = min(rates)
    if rates[k0] <= 0:
        return {k: float("nan") for k in rates}
    return {k: (rates[k] / rates[k0]) / (k / k0) for k in rates}


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runners = [int(k) for k in results["sampling"]]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = (
        ("sampling", "env_steps_per_s", "env steps/s, learning off"),
        ("training", "env_steps_per_s", "env steps/s, learning on"),
        ("training", "learner_updates_per_s", "learner updates/s"),
    )
    for ax, (mode, key, title) in zip(axes, panels, strict=True):
        rates = [results[mode][str(k)][key] for k in runners]
        ax.plot(runners, rates, "o-", label="measured")
        ax.plot(runners, [rates[0] * k / runners[0] for k in runners], ":", color="grey",
                label="linear scaling")  # fmt: skip
        ax.set_xlabel("env runners")
        ax.set_title(title)
        ax.set_xticks(runners)
        ax.set_ylim(bottom=0)
    axes[0].legend()
    fig.suptitle(
        f"ADSAC scaling on {results['environment']['cpus']:g} CPUs "
        f"({results['args']['updates_per_env_step']} updates per env step when learning)",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args: BenchArgs) -> dict[str, Any]:
    if any(k < 1 for k in args.runners):
        raise SystemExit(f"--runners {args.runners}: every count must be >= 1 (remote runners)")
    init_ray(args.address)
    import ray

    from edge_rl.algorithms.registry import register_rllib_envs

    register_rllib_envs()
    results: dict[str, Any] = {
        "args": asdict(args),
        "environment": {
            "python": platform.python_version(),
            "cpus": ray.cluster_resources().get("CPU", 0),
            "machine_cpus": os.cpu_count(),
            # Other processes skew timings: record how busy the machine was.
            "load_average_1min_at_start": os.getloadavg()[0],
        },
    }
    print(f"{'mode':<9} {'runners':>7} {'env steps/s':>12} {'updates/s':>10} {'efficiency':>10}")
    for mode in ("sampling", "training"):
        rows = {k: measure(args, k, learning=mode == "training") for k in sorted(args.runners)}
        eff = efficiency({k: r["env_steps_per_s"] for k, r in rows.items()})
        for k, row in rows.items():
            row["scaling_efficiency"] = eff[k]
            print(f"{mode:<9} {k:>7d} {row['env_steps_per_s']:>12.1f} "
                  f"{row['learner_updates_per_s']:>10.1f} {eff[k]:>10.2f}")  # fmt: skip
        results[mode] = {str(k): row for k, row in rows.items()}
    upd = efficiency({k: r["learner_updates_per_s"] for k, r in
                      ((int(k), r) for k, r in results["training"].items())})  # fmt: skip
    for k, value in upd.items():
        results["training"][str(k)]["updates_scaling_efficiency"] = value
    results["environment"]["load_average_1min_at_end"] = os.getloadavg()[0]
    return results


def parse_args(argv: list[str] | None = None) -> tuple[BenchArgs, Path | None, Path | None]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    d = BenchArgs()
    p.add_argument("--runners", type=int, nargs="+", default=list(d.runners), metavar="K")
    p.add_argument("--envs-per-runner", type=int, default=d.envs_per_runner)
    p.add_argument("--fragment", type=int, default=d.fragment)
    p.add_argument("--seconds", type=float, default=d.seconds)
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--cpus-per-env-runner", type=float, default=d.cpus_per_env_runner)
    p.add_argument("--env-runner-resource", action="append", metavar="NAME=AMOUNT")
    p.add_argument("--updates-per-env-step", type=float, default=d.updates_per_env_step)
    p.add_argument("--attention-width", type=int, default=d.attention_width)
    p.add_argument("--train-batch-size", type=int, default=d.train_batch_size)
    p.add_argument("--address", default=None, help="Ray cluster address (default: local Ray)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    p.add_argument("--plot", type=Path, default=None, help="write the plot (PNG) here")
    p.add_argument("--quick", action="store_true", help="tiny model, 1 runner: a smoke run")
    ns = p.parse_args(argv)
    from edge_rl.training.resources import parse_resources

    args = BenchArgs(
        runners=tuple(ns.runners),
        envs_per_runner=ns.envs_per_runner,
        fragment=ns.fragment,
        seconds=ns.seconds,
        warmup=ns.warmup,
        cpus_per_env_runner=ns.cpus_per_env_runner,
        env_runner_resources=parse_resources(ns.env_runner_resource, "--env-runner-resource"),
        updates_per_env_step=ns.updates_per_env_step,
        attention_width=ns.attention_width,
        train_batch_size=ns.train_batch_size,
        address=ns.address,
        seed=ns.seed,
    )
    if ns.quick:
        args = BenchArgs(
            runners=(1,), envs_per_runner=2, fragment=16, seconds=0.0, warmup=0,
            attention_width=16, train_batch_size=32, address=ns.address,
        )  # fmt: skip
    return args, ns.json, ns.plot


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, json_path, plot_path = parse_args(argv)
    results = run(args)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {json_path}")
    if plot_path is not None:
        plot(results, plot_path)
        print(f"wrote {plot_path}")
    return results


if __name__ == "__main__":
    main()
