"""Run policies on the edge simulators and collect per-episode records.

One episode per (seed, episode index): the first episode of a seed starts with
``env.reset(seed=seed)``, the following ones with ``env.reset()``, which continues the seeded
stream (the reference protocol for several episodes per seed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from edge_rl.baselines.base import Policy
from edge_rl.envs import AIGC_ENV_ID, LOAD_BALANCE_ENV_ID, LOAD_BALANCE_TRIALS_ENV_ID

#: command-line env family -> registered gymnasium id
ENV_FAMILIES: dict[str, str] = {
    "aigc": AIGC_ENV_ID,
    "load-balance": LOAD_BALANCE_ENV_ID,
    "load-balance-trials": LOAD_BALANCE_TRIALS_ENV_ID,
}

#: per-episode metrics reported for each family (beyond seed/return/length)
FAMILY_METRICS: dict[str, tuple[str, ...]] = {
    "aigc": ("return", "length", "utility", "crash_events", "tasks_killed", "crash_rate"),
    "load-balance": ("return", "length", "mean_jct"),
    "load-balance-trials": ("return", "length", "mean_jct"),
}

MAX_SEED = 2**32 - 1  # the reference simulators seed numpy's legacy RandomState


def family_presets(env_family: str) -> tuple[str, ...]:
    """The preset names of an env family (imported lazily: the env modules are heavy-ish)."""
    if env_family == "aigc":
        from edge_rl.envs.aigc.config import PRESETS
    elif env_family == "load-balance":
        from edge_rl.envs.load_balance.config import PRESETS
    elif env_family == "load-balance-trials":
        from edge_rl.envs.load_balance.config import PRESETS
        from edge_rl.envs.load_balance.trial import FAMILY_PRESET

        return (FAMILY_PRESET, *sorted(PRESETS))
    else:
        raise ValueError(
            f"unknown env family {env_family!r}; choose one of: {', '.join(ENV_FAMILIES)}"
        )
    return tuple(sorted(PRESETS))


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """Seeds must be integers in [0, 2**32 - 1] (legacy RandomState's range)."""
    if len(seeds) == 0:
        raise ValueError("no seeds given; pass at least one, e.g. --seeds 0 1 2")
    bad = [s for s in seeds if not isinstance(s, int | np.integer) or not 0 <= s <= MAX_SEED]
    if bad:
        raise ValueError(f"bad seed(s) {bad}: seeds are integers in [0, {MAX_SEED}]")
    return [int(s) for s in seeds]


def make_env(
    env_family: str, preset: str, world_seed: int | None = None, **overrides: Any
) -> gym.Env:
    """Build the scalar simulator of ``env_family`` with a validated preset name."""
    presets = family_presets(env_family)
    if preset not in presets:
        raise ValueError(
            f"unknown preset {preset!r} for --env {env_family}; choose one of: {', '.join(presets)}"
        )
    kwargs: dict[str, Any] = dict(preset=preset, **overrides)
    if world_seed is not None:
        if env_family != "aigc":
            raise ValueError("--world-seed applies only to --env aigc (edge regions' worlds)")
        if not 0 <= world_seed <= MAX_SEED:
            raise ValueError(f"world seed {world_seed}: must be an integer in [0, {MAX_SEED}]")
        kwargs["world_seed"] = world_seed
    return gym.make(ENV_FAMILIES[env_family], **kwargs)


@dataclass
class EpisodeRecord:
    """One evaluated episode; ``metrics`` holds the family's summary values."""

    policy: str
    seed: int
    episode: int
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "seed": self.seed, "episode": self.episode, **self.metrics}


def run_episode(env: gym.Env, policy: Policy, seed: int | None) -> dict[str, float]:
    """Play one episode and return the env's episode summary (``info["summary"]``)."""
    obs, _ = env.reset(seed=seed)
    sim = env.unwrapped
    policy.reset(sim)
    terminated = truncated = False
    info: dict[str, Any] = {}
    total = 0.0
    while not (terminated or truncated):
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, sim))
        total += float(reward)
    summary = dict(info.get("summary") or sim.episode_summary())
    if not np.isclose(summary["return"], total, rtol=1e-9, atol=1e-6):
        raise RuntimeError(
            f"env summary return {summary['return']} != summed rewards {total}: simulator bug"
        )
    # Numbers only (trial summaries also hold a per-episode list and the task's name).
    return {k: float(v) for k, v in summary.items() if isinstance(v, int | float | np.number)}


def evaluate(
    env_family: str,
    preset: str,
    make_policy: Callable[[int], Policy],
    seeds: Sequence[int],
    episodes_per_seed: int = 1,
    world_seed: int | None = None,
    policy_name: str | None = None,
    **overrides: Any,
) -> list[EpisodeRecord]:
    """Evaluate a policy over ``seeds`` x ``episodes_per_seed`` episodes.

    ``make_policy(seed)`` builds a fresh policy per seed, so a stochastic policy's draws are
    reproducible per seed too.
    """
    seeds = check_seeds(seeds)
    if episodes_per_seed < 1:
        raise ValueError(f"episodes_per_seed={episodes_per_seed}: must be >= 1")
    env = make_env(env_family, preset, world_seed, **overrides)
    keep = FAMILY_METRICS[env_family]
    records = []
    try:
        for seed in seeds:
            policy = make_policy(seed)
            name = policy_name or policy.name
            for episode in range(episodes_per_seed):
                summary = run_episode(env, policy, seed if episode == 0 else None)
                metrics = {k: summary[k] for k in keep if k in summary}
                records.append(EpisodeRecord(name, seed, episode, metrics))
    finally:
        env.close()
    return records
