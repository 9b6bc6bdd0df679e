"""Heuristic load balancers (Park ships none; these are the standard ones).

Every heuristic reads the simulator through the unwrapped env's read-only accessors
(``queued_work()``, ``remaining_service_time()``, ``server_loads()``, ``service_rates``,
``incoming_job_size``), never through the observation, so it behaves the same under every
observation layout. Ties go to the lowest server index (``np.argmin``).

Units: queued work is in size units, remaining service time in time units; a server of rate r
needs ``size / r`` time units for ``size`` work.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from edge_rl.baselines.base import Policy


class RandomPolicy(Policy):
    """A uniformly random server (from ``self.rng``)."""

    name = "random"

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        return int(self.rng.integers(env.num_servers))


class RoundRobinPolicy(Policy):
    """Servers 0, 1, ..., N-1, 0, ... in turn, starting at 0 every episode."""

    name = "round-robin"

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self._next = 0

    def reset(self, env: gym.Env) -> None:
        self._next = 0

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        server = self._next % env.num_servers
        self._next = server + 1
        return server


class LeastWorkLeftPolicy(Policy):
    """The server with the least queued work (waiting jobs' sizes; the spec's definition)."""

    name = "least-work-left"

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        return int(np.argmin(env.queued_work()))


class ShortestProcessingTimePolicy(Policy):
    """The server whose queued work would take the least time: argmin queued work / rate."""

    name = "shortest-processing-time"

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        return int(np.argmin(env.queued_work() / env.service_rates))


class LeastObservedLoadPolicy(Policy):
    """The server with the lowest observed load (the first N values of the "park" layout)."""

    name = "least-observed-load"

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        return int(np.argmin(env.server_loads()))


def expected_delays(env: gym.Env) -> np.ndarray:
    """Per server: remaining service time + (queued work + incoming size) / rate."""
    work = env.queued_work() + env.incoming_job_size
    return env.remaining_service_time() + work / env.service_rates


class ShortestExpectedDelayPolicy(Policy):
    """The server where the incoming job would finish first (``expected_delays``)."""

    name = "shortest-expected-delay"

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        return int(np.argmin(expected_delays(env)))


class PowerOfTwoChoicesPolicy(Policy):
    """Two distinct random servers; the one with the lower expected delay (lower index on ties)."""

    name = "power-of-two-choices"

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        n = env.num_servers
        if n == 1:
            return 0
        pair = np.sort(self.rng.choice(n, size=2, replace=False))
        delays = expected_delays(env)
        return int(pair[np.argmin(delays[pair])])


#: command-line name -> policy class
LOAD_BALANCE_POLICIES: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (
        RandomPolicy,
        RoundRobinPolicy,
        LeastWorkLeftPolicy,
        ShortestProcessingTimePolicy,
        LeastObservedLoadPolicy,
        ShortestExpectedDelayPolicy,
        PowerOfTwoChoicesPolicy,
    )
}

__all__ = ["LOAD_BALANCE_POLICIES", "expected_delays"] + [
    cls.__name__ for cls in LOAD_BALANCE_POLICIES.values()
]
