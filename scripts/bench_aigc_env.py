#!/usr/bin/env python
"""Benchmark the AIGC edge envs against the ADSAC reference simulator (steps per second).

    python scripts/bench_aigc_env.py --reference ADSAC_TREE --seconds 6 --json bench.json
    python scripts/bench_aigc_env.py --reference ADSAC_TREE --agod-reference AGOD_TREE \\
        --returns --pairs 0:0 1:2 3:7

``--reference`` is a work tree of github.com/miilue/An-Attention-Diffusion-Aided-DRL-Method
(``--agod-reference``: github.com/Lizonghang/AGOD); neither is part of this project: extract them
anywhere outside the repo. Their ``env/`` package is copied into a temporary folder under a
unique name, with tiny ``gym``/``tianshou`` import shims written there, and run from it.

Speed: random actions drive every env; scalar envs reset when an episode ends, the vector env
autoresets. Goals: scalar >= 10x the reference env, vector (1024 lanes) >= 300x.

``--returns``: episode return, length, crash events and tasks killed of each heuristic per
(world seed, episode seed) pair, reference next to edge_rl (the expected numbers of
``tests/envs/test_aigc_reference.py`` come from this mode). Protocol on the reference:
``np.random.seed(world_seed)``, build the env (draws the world), ``np.random.seed(seed)``,
``reset()``; on edge_rl: ``AIGCEdgeEnv(preset, world_seed).reset(seed=seed)``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from bench_common import print_figures, vector_steps_per_s, write_json

from edge_rl.baselines.aigc import AIGC_POLICIES
from edge_rl.envs.aigc import AIGCEdgeEnv, AIGCEdgeVectorEnv

SCALAR_GOAL, VECTOR_GOAL = 10.0, 300.0
REFERENCE_FILES = ("env/__init__.py", "env/config.py", "env/env.py", "env/service_provider.py")
#: Heuristics whose reference counterpart the --returns mode can run.
RETURN_POLICIES = ("crash-avoid", "prophet", "round-robin", "random")
SHIMS: dict[str, str] = {
    "gym/__init__.py": "class Env:\n    pass\n",
    "gym/spaces/__init__.py": (
        "class Box:\n"
        "    def __init__(self, low=None, high=None, shape=None, dtype=None):\n"
        "        self.low, self.high, self.shape = low, high, shape\n\n\n"
        "class Discrete:\n"
        "    def __init__(self, n):\n"
        "        self.n, self.shape = n, ()\n"
    ),
    "tianshou/__init__.py": "",
    "tianshou/env/__init__.py": (
        "class DummyVectorEnv:\n"
        "    def __init__(self, fns):\n"
        "        self.envs = [fn() for fn in fns]\n\n"
        "    def seed(self, seed=None):\n"
        "        pass\n"
    ),
}


def load_reference(reference_dir: str, name: str = "adsac") -> ModuleType:
    """Import the reference's ``env/env.py`` from a temporary copy of ``reference_dir``.

    The package is imported as ``<name>_reference_env`` (its imports are relative), the shims
    are removed from ``sys.modules`` afterwards, and the reference's ``print`` calls are muted.
    """
    package = f"{name}_reference_env"
    if f"{package}.env" in sys.modules:
        return sys.modules[f"{package}.env"]
    src = Path(reference_dir)
    missing = [f for f in REFERENCE_FILES if not (src / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{reference_dir} is not an ADSAC/AGOD work tree: missing {missing}"
        )
    shimmed = ("gym", "gym.spaces", "tianshou", "tianshou.env")
    saved = {m: sys.modules.pop(m) for m in shimmed if m in sys.modules}
    with tempfile.TemporaryDirectory(prefix=f"{name}-ref-") as tmp:
        shutil.copytree(src / "env", Path(tmp) / package, ignore=shutil.ignore_patterns("*.pyc"))
        for rel, text in SHIMS.items():
            (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / rel).write_text(text)
        sys.path.insert(0, tmp)
        bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                module = importlib.import_module(f"{package}.env")
        finally:
            sys.dont_write_bytecode = bytecode
            sys.path.remove(tmp)
            for m in shimmed:
                sys.modules.pop(m, None)
            sys.modules.update(saved)
    return module


def _reference_env(module: ModuleType, world_seed: int, seed: int | None) -> Any:
    """The reference env with world ``RandomState(world_seed)``, reset on stream ``seed``."""
    with contextlib.redirect_stdout(io.StringIO()):
        np.random.seed(world_seed)
        if "if_test" in inspect.signature(module.AIGCEnv).parameters:  # ADSAC
            env = module.AIGCEnv(if_test=False)  # no reseeding at reset
        else:  # AGOD
            env = module.AIGCEnv()
        if seed is not None:
            np.random.seed(seed)
        env.reset()
    return env


def reference_episode(module: ModuleType, world_seed: int, seed: int, policy: str) -> dict:
    """One reference episode under ``policy``; crash counts read from its objects."""
    env = _reference_env(module, world_seed, seed)
    manager, n = env.swarm_manager, env.action_space.n
    rng = np.random.default_rng(seed)  # "random": the same draws as edge_rl's RandomPolicy
    total, length, done = 0.0, 0, False
    while not done:
        if policy == "crash-avoid":
            action = manager.most_availble_service_provider
        elif policy == "prophet":
            action = manager.best_reward_service_provider
        elif policy == "round-robin":
            action = length % n
        else:
            action = int(rng.integers(n))
        _, reward, done, _ = env.step(action)
        total, length = total + reward, length + 1
    servers = manager._service_providers
    models = [getattr(s, "_service_providers", [s]) for s in servers]  # ADSAC nests models
    return {
        "return": float(total),
        "length": length,
        "crash_events": int(sum(s._num_crashed for s in servers)),
        "tasks_killed": sum(len(m._terminated_tasks["crashed"]) for ms in models for m in ms),
    }


def edge_rl_episode(preset: str, world_seed: int, seed: int, policy: str) -> dict:
    """One edge_rl episode under ``policy`` (seeded with the episode seed)."""
    env = AIGCEdgeEnv(preset, world_seed=world_seed)
    agent = AIGC_POLICIES[policy](seed=seed)
    obs, _ = env.reset(seed=seed)
    agent.reset(env)
    terminated = False
    while not terminated:
        obs, _, terminated, _, info = env.step(agent.act(obs, env))
    return {k: info["summary"][k] for k in ("return", "length", "crash_events", "tasks_killed")}


def _scalar_rate(step: Any, reset: Any, num_actions: int, seconds: float) -> float:
    actions = np.random.default_rng(0).integers(num_actions, size=4096).tolist()
    steps, start = 0, time.perf_counter()
    while True:
        for action in actions:
            if step(action):
                reset()
        steps += len(actions)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps / elapsed


def _scalar_measure(step: Any, reset: Any) -> Any:
    """seconds -> steps/s of a scalar env given its ``step`` and ``reset`` (40 actions)."""
    return lambda seconds: _scalar_rate(lambda a: step(a)[2], reset, 40, seconds)


def run_benchmark(
    reference_dir: str | None, seconds: float, num_envs: int = 1024, rounds: int = 3
) -> dict[str, Any]:
    """Steps/s of edge_rl's scalar and vector AIGC envs (and of ADSAC's, given its work tree).

    ``adsac-paper`` (paper layout) for the ratios; ``regions`` (token layout, a new world per
    episode) for reference. Each figure is the best of ``rounds`` windows of
    ``seconds / rounds``, the envs taking turns, so a burst of other load does not decide a ratio.
    """
    runs = {}
    for label, preset in (("", "adsac-paper"), ("regions_", "regions")):
        scalar = AIGCEdgeEnv(preset)
        scalar.reset(seed=0)
        vector = AIGCEdgeVectorEnv(num_envs, preset=preset)
        runs[f"scalar_{label}steps_per_s"] = _scalar_measure(scalar.step, scalar.reset)
        runs[f"vector_{label}steps_per_s"] = lambda t, v=vector: vector_steps_per_s(v, t)
    if reference_dir is not None:
        ref = _reference_env(load_reference(reference_dir), 0, 0)
        runs["reference_steps_per_s"] = _scalar_measure(ref.step, ref.reset)
    rounds = max(rounds, 1)
    best = dict.fromkeys(runs, 0.0)
    for _ in range(rounds):
        for name, measure in runs.items():
            best[name] = max(best[name], measure(seconds / rounds))
    results: dict[str, Any] = {"num_envs": num_envs, "seconds": seconds, "rounds": rounds, **best}
    if reference_dir is not None:
        base = best["reference_steps_per_s"]
        for key in runs:
            if key != "reference_steps_per_s":
                results[key.replace("steps_per_s", "vs_reference")] = best[key] / base
        results["scalar_goal_met"] = results["scalar_vs_reference"] >= SCALAR_GOAL
        results["vector_goal_met"] = results["vector_vs_reference"] >= VECTOR_GOAL
    return results


def compare_returns(
    adsac_dir: str | None,
    agod_dir: str | None,
    pairs: Sequence[tuple[int, int]],
    policies: Sequence[str] = RETURN_POLICIES,
) -> list[dict[str, Any]]:
    """Per (preset, world seed, seed, policy): edge_rl's episode figures and the reference's."""
    rows = []
    for preset, ref_dir, name in (
        ("adsac-paper", adsac_dir, "adsac"),
        ("agod-paper", agod_dir, "agod"),
    ):
        module = load_reference(ref_dir, name) if ref_dir else None
        for world_seed, seed in pairs:
            for policy in policies:
                row: dict[str, Any] = {"preset": preset, "world_seed": world_seed, "seed": seed}
                row.update(policy=policy, edge_rl=edge_rl_episode(preset, world_seed, seed, policy))
                if module is not None:
                    row["reference"] = reference_episode(module, world_seed, seed, policy)
                    row["equal"] = row["reference"] == row["edge_rl"]
                rows.append(row)
    return rows


def _pair(text: str) -> tuple[int, int]:
    world, sep, seed = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WORLD_SEED:SEED, e.g. 3:7")
    return int(world), int(seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", default=None, help="ADSAC work tree (outside the repo)")
    parser.add_argument("--agod-reference", default=None, help="AGOD work tree (--returns)")
    parser.add_argument("--seconds", type=float, default=6.0, help="time per measurement")
    parser.add_argument("--num-envs", type=int, default=1024, help="vector env lanes")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved windows; best kept")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    parser.add_argument("--returns", action="store_true", help="heuristic returns, ref vs ours")
    parser.add_argument("--pairs", type=_pair, nargs="+", default=[(0, 0)], metavar="W:S")
    args = parser.parse_args(argv)
    if args.returns:
        results: Any = compare_returns(args.reference, args.agod_reference, args.pairs)
        for row in results:
            head = f"{row['preset']:12s} {row['world_seed']}:{row['seed']} {row['policy']:12s}"
            print(f"{head} edge_rl   {row['edge_rl']}")
            if "reference" in row:
                print(f"{'':{len(head)}s} reference {row['reference']} equal={row['equal']}")
    else:
        results = run_benchmark(args.reference, args.seconds, args.num_envs, args.rounds)
        print_figures(results, width=30)
    write_json(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
