#!/usr/bin/env python
"""Benchmark the load-balancing envs against Park's ``load_balance`` (steps per second).

    python scripts/bench_load_balance_env.py --reference PARK_TREE --seconds 5 --json bench.json
    python scripts/bench_load_balance_env.py --reference PARK_TREE --returns --seeds 0 1 2 3 4

``--reference`` is a work tree of github.com/park-project/park (NOT part of this project; clone
or extract it anywhere outside the repo). Its load_balance sources are copied into a temporary
folder with tiny import shims written here (Park's package ``__init__`` files import every Park
env and their dependencies) and run from there. Random actions drive every env; the scalar envs
reset when an episode ends; the vector env autoresets. Goals: scalar >= 2x Park, vector (1024
lanes) >= 10x Park. ``--returns`` prints, per heuristic and seed, Park's episode return next to
edge_rl's (the reference numbers of ``tests/envs/test_load_balance_reference.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from bench_common import print_figures, vector_steps_per_s, write_json

from edge_rl.baselines.load_balance import LOAD_BALANCE_POLICIES
from edge_rl.envs.load_balance import (
    LoadBalanceConfig,
    LoadBalanceEnv,
    LoadBalanceVectorEnv,
    make_load_balance_config,
)

SCALAR_GOAL, VECTOR_GOAL = 2.0, 10.0

#: The Park files the load_balance env needs (the rest of Park is not imported).
PARK_FILES: tuple[str, ...] = (
    "park/core.py",
    "park/param.py",
    "park/logger.py",
    "park/utils/seeding.py",
    "park/spaces/box.py",
    "park/spaces/discrete.py",
    "park/spaces/rng.py",
    "park/envs/load_balance/__init__.py",
    "park/envs/load_balance/job.py",
    "park/envs/load_balance/job_generator.py",
    "park/envs/load_balance/load_balance.py",
    "park/envs/load_balance/server.py",
    "park/envs/load_balance/timeline.py",
    "park/envs/load_balance/wall_time.py",
)
#: Shims replacing Park's package __init__ files, which import all of Park.
PARK_SHIMS: dict[str, str] = {
    "park/__init__.py": "",
    "park/envs/__init__.py": "",
    "park/utils/__init__.py": "",
    "park/spaces/__init__.py": (
        "from park.spaces.box import Box\nfrom park.spaces.discrete import Discrete\n"
    ),
}


def load_park(reference_dir: str) -> SimpleNamespace:
    """Import Park's load_balance from a temporary copy of ``reference_dir``.

    Returns ``SimpleNamespace(env_cls=LoadBalanceEnv, config=park.param.config)``; Park reads
    the global ``config`` when an env is built and when it draws jobs (see ``configure_park``).
    """
    loaded = sys.modules.get("park.envs.load_balance.load_balance")
    if loaded is not None:
        return SimpleNamespace(
            env_cls=loaded.LoadBalanceEnv, config=sys.modules["park.param"].config
        )
    src = Path(reference_dir)
    missing = [f for f in PARK_FILES if not (src / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{reference_dir} is not a Park work tree: missing {missing}")
    with tempfile.TemporaryDirectory(prefix="park-ref-") as tmp:
        for rel in PARK_FILES:
            (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / rel, Path(tmp) / rel)
        for rel, text in PARK_SHIMS.items():
            (Path(tmp) / rel).write_text(text)
        root = logging.getLogger()
        shield = logging.NullHandler()  # makes Park's logging.basicConfig a no-op
        argv, bytecode = sys.argv, sys.dont_write_bytecode
        sys.path.insert(0, tmp)
        root.addHandler(shield)
        # Park parses sys.argv at import (parse_known_args): give it none of ours.
        sys.argv, sys.dont_write_bytecode = [argv[0] if argv else "park"], True
        try:
            from park.envs.load_balance.load_balance import LoadBalanceEnv as ParkEnv
            from park.param import config
        finally:
            sys.argv, sys.dont_write_bytecode = argv, bytecode
            sys.path.remove(tmp)
    return SimpleNamespace(env_cls=ParkEnv, config=config)


def configure_park(park: SimpleNamespace, config: LoadBalanceConfig) -> None:
    """Set Park's global config to ``config``'s workload (Park draws Pareto sizes only)."""
    if config.job_size_dist != "pareto":
        raise ValueError(f"{config.name}: Park has no {config.job_size_dist!r} job sizes")
    c = park.config
    c.num_servers = config.num_servers
    c.service_rates = list(config.effective_rates)
    c.job_interval = config.mean_interval
    c.job_size_pareto_shape = config.pareto_shape
    c.job_size_pareto_scale = config.pareto_scale
    c.num_stream_jobs = config.jobs_per_episode
    c.load_balance_obs_high = config.obs_clip


class ParkView:
    """Park's env state through the read-only accessors edge_rl's heuristics use."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.num_servers = len(env.servers)
        self.service_rates = np.array([s.service_rate for s in env.servers], dtype=np.float64)

    @property
    def incoming_job_size(self) -> int:
        job = self.env.incoming_job
        return 0 if job is None else int(job.size)

    def queued_work(self) -> np.ndarray:
        return np.array([sum(j.size for j in s.queue) for s in self.env.servers], dtype=np.int64)

    def remaining_service_time(self) -> np.ndarray:
        now = self.env.wall_time.curr_time
        return np.array(
            [0 if s.curr_job is None else s.curr_job.finish_time - now for s in self.env.servers],
            dtype=np.int64,
        )

    def server_loads(self) -> np.ndarray:
        return np.asarray(self.env.observe(), dtype=np.float64)[:-1]


def park_returns(
    reference_dir: str, config: LoadBalanceConfig, seeds: Sequence[int], policies: Sequence[str]
) -> dict[str, list[float]]:
    """Park's episode return per policy and seed (``env.seed(s); env.reset()``)."""
    park = load_park(reference_dir)
    configure_park(park, config)
    env = park.env_cls()
    view = ParkView(env)
    out: dict[str, list[float]] = {}
    with _quiet_park():
        for name in policies:
            out[name] = []
            for seed in seeds:
                policy = LOAD_BALANCE_POLICIES[name](seed=seed)
                env.seed(seed)
                obs, done, total = env.reset(), False, 0.0
                policy.reset(view)
                while not done:
                    obs, reward, done, _ = env.step(policy.act(obs, view))
                    total += reward
                out[name].append(float(total))
    return out


def edge_rl_returns(
    config: LoadBalanceConfig, seeds: Sequence[int], policies: Sequence[str]
) -> dict[str, list[float]]:
    """edge_rl's episode return per policy and seed (``reset(seed=s)``)."""
    env = LoadBalanceEnv(config=config)
    out: dict[str, list[float]] = {}
    for name in policies:
        out[name] = []
        for seed in seeds:
            policy = LOAD_BALANCE_POLICIES[name](seed=seed)
            obs, _ = env.reset(seed=seed)
            policy.reset(env)
            done, total = False, 0.0
            while not done:
                obs, reward, done, _, _ = env.step(policy.act(obs, env))
                total += reward
            out[name].append(total)
    return out


@contextmanager
def _quiet_park() -> Iterator[None]:
    """Park logs a warning per clipped observation; keep that I/O out of its timings."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    overrides = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair!r}: expected KEY=VALUE, e.g. mean_interval=45")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        overrides[key] = tuple(value) if isinstance(value, list) else value
    return overrides


def _scalar_rate(env: Any, gym_api: bool, seconds: float, num_servers: int) -> float:
    actions = np.random.default_rng(0).integers(num_servers, size=1 << 16).tolist()
    if gym_api:
        env.reset(seed=0)
    else:
        env.seed(0)
        env.reset()
    steps, start = 0, time.perf_counter()
    while True:
        for action in actions[:4096]:
            done = env.step(action)[2]
            if done:
                env.reset()
        steps += 4096
        actions = actions[4096:] + actions[:4096]
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps / elapsed


def run_benchmark(
    reference_dir: str | None, seconds: float, num_envs: int = 1024, rounds: int = 3
) -> dict[str, Any]:
    """Steps/s of edge_rl's scalar and vector envs (and of Park's, given its work tree).

    Each figure is the best of ``rounds`` windows of ``seconds / rounds``, the envs taking turns,
    so a burst of other load on the machine does not decide a ratio.
    """
    config = make_load_balance_config("park")
    scalar, vector = LoadBalanceEnv(), LoadBalanceVectorEnv(num_envs)
    runs = {
        "scalar_steps_per_s": lambda t: _scalar_rate(scalar, True, t, config.num_servers),
        "vector_steps_per_s": lambda t: vector_steps_per_s(vector, t),
    }
    if reference_dir is not None:
        park = load_park(reference_dir)
        configure_park(park, config)
        park_env = park.env_cls()

        def park_rate(t: float) -> float:
            with _quiet_park():
                return _scalar_rate(park_env, False, t, config.num_servers)

        runs["park_steps_per_s"] = park_rate
    best = dict.fromkeys(runs, 0.0)
    for _ in range(max(rounds, 1)):
        for name, measure in runs.items():
            best[name] = max(best[name], measure(seconds / max(rounds, 1)))
    results: dict[str, Any] = {"num_envs": num_envs, "seconds": seconds, "rounds": rounds, **best}
    if reference_dir is not None:
        park_rate_best = best["park_steps_per_s"]
        results["scalar_vs_park"] = best["scalar_steps_per_s"] / park_rate_best
        results["vector_vs_park"] = best["vector_steps_per_s"] / park_rate_best
        results["scalar_goal_met"] = results["scalar_vs_park"] >= SCALAR_GOAL
        results["vector_goal_met"] = results["vector_vs_park"] >= VECTOR_GOAL
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", default=None, help="Park work tree (outside the repo)")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--num-envs", type=int, default=1024, help="vector env lanes")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved windows; best kept")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    parser.add_argument(
        "--returns", action="store_true", help="print heuristic returns, Park vs edge_rl"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--preset", default="park", help="workload for --returns")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for --returns (JSON value), e.g. --set 'service_rates=[1, 2]'",
    )
    args = parser.parse_args(argv)
    if args.returns:
        policies = list(LOAD_BALANCE_POLICIES)
        config = make_load_balance_config(args.preset, **_parse_overrides(args.set))
        ours = edge_rl_returns(config, args.seeds, policies)
        theirs = (
            park_returns(args.reference, config, args.seeds, policies) if args.reference else {}
        )
        results: dict[str, Any] = {"config": config.name, "seeds": args.seeds, "edge_rl": ours}
        if theirs:
            results["park"] = theirs
            results["equal"] = ours == theirs
        for name in policies:
            print(f"{name:26s} edge_rl {ours[name]}")
            if theirs:
                print(f"{'':26s} park    {theirs[name]}")
    else:
        results = run_benchmark(args.reference, args.seconds, args.num_envs, args.rounds)
        print_figures(results, width=22)
    write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
