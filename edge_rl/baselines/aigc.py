"""Heuristics for the AIGC edge simulator (``edge_rl/AIGCEdge-v0``), every preset and layout.

They read the unwrapped env's read-only accessors (``free_capacity``, ``action_utilities``,
``feasible_mask``, ...), not the observation, so they work with every observation layout.
``crash-avoid`` and ``prophet`` are the reference's (ADSAC / AGOD ``benchmark/``) rules exactly,
ties and fallbacks included, so the reference numbers reproduce with them.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from edge_rl.baselines.base import Policy


class RandomPolicy(Policy):
    """Uniform over all E * M actions (crashes often)."""

    name = "random"

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        return int(self.rng.integers(env.action_space.n))


class RoundRobinPolicy(Policy):
    """Actions 0, 1, ..., E * M - 1, 0, ... in turn; the turn restarts at each episode."""

    name = "round-robin"

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self._turn = 0

    def reset(self, env: gym.Env) -> None:
        self._turn = 0

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        action = int(self._turn % env.action_space.n)
        self._turn += 1
        return action


class CrashAvoidPolicy(Policy):
    """The reference's Crash-Avoid: model 0 of the server with the most free capacity (the
    first such server on ties). It crashes when even that server lacks room."""

    name = "crash-avoid"

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        return int(np.argmax(env.free_capacity)) * env.config.models_per_server


class ProphetPolicy(Policy):
    """The reference's Prophet: the feasible (server, model) with the highest utility for this
    task (the first on ties); action 0 when no feasible action has utility > 0, which crashes
    server 0 if it lacks room."""

    name = "prophet"

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        utility = np.where(env.feasible_mask, env.action_utilities, -np.inf)
        best = int(np.argmax(utility))
        return best if utility[best] > 0.0 else 0


class CheapCrashProphetPolicy(Policy):
    """Prophet with a capacity-aware crash rule (this project's heuristic).

    1. If some action fits (its server has room), take the highest-utility one; utility 0
       included, where Prophet would fall back to action 0 and may crash server 0 needlessly.
    2. Else a crash is unavoidable and the task is lost either way; crash the server with the
       lowest penalty per unit of capacity it frees (``crash_penalties / capacities``): it
       sheds few, nearly finished tasks and leaves the most room for the next arrivals.

    Measured (mean return over episode seeds 10-19, world seed 0): ``regions`` 1842.4 vs
    Prophet's 1831.7, ``adsac-paper`` 1973.8 vs 1965.5, ``adsac-paper`` with
    ``arrival_rate=0.002`` 2163.6 vs 2127.7; better on 9 of the 10 (preset, load, world seed)
    settings tried (worse: ``adsac-paper`` world 0 at rate 0.0025, 1956.0 vs 1971.6), with
    more, but cheaper, crash events.
    """

    name = "prophet-cheap-crash"

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        m = env.config.models_per_server
        free, demand = env.free_capacity, env.current_demand
        fits = np.repeat(free >= demand, m)
        if fits.any():
            return int(np.argmax(np.where(fits, env.action_utilities, -np.inf)))
        return int(np.argmin(env.crash_penalties / env.capacities)) * m


#: command-line name -> policy class
AIGC_POLICIES: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (
        RandomPolicy,
        RoundRobinPolicy,
        CrashAvoidPolicy,
        ProphetPolicy,
        CheapCrashProphetPolicy,
    )
}

__all__ = [
    "AIGC_POLICIES",
    "CheapCrashProphetPolicy",
    "CrashAvoidPolicy",
    "ProphetPolicy",
    "RandomPolicy",
    "RoundRobinPolicy",
]
