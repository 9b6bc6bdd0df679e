"""Timing helpers shared by the env benchmarks (scripts/bench_*_env.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np


def vector_steps_per_s(env: gym.vector.VectorEnv, seconds: float) -> float:
    """Env steps per second of a vector env under uniformly random actions (64 batches of
    actions drawn up front, so drawing them is not timed)."""
    actions = np.random.default_rng(0).integers(env.single_action_space.n, size=(64, env.num_envs))
    env.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while True:
        for batch in actions:
            env.step(batch)
        steps += len(actions) * env.num_envs
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps / elapsed


def print_figures(results: dict[str, Any], width: int = 30) -> None:
    """One line per figure: floats with thousands separators, anything else as is."""
    for key, value in results.items():
        text = f"{value:,.2f}" if isinstance(value, float) else f"{value}"
        print(f"{key:{width}s} {text}")


def write_json(results: Any, path: str | None) -> None:
    """Write ``results`` to ``path`` (folders created), when a path is given."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(results, indent=2) + "\n")
