"""Heuristic load balancers: the standard ones (Park ships none), and size-interval routing.

Every heuristic reads the simulator through the unwrapped env's read-only accessors
(``queued_work()``, ``remaining_service_time()``, ``server_loads()``, ``service_rates``,
``incoming_job_size``; size-interval also the task's ``config``), never through the observation,
so it behaves the same under every observation layout. Ties go to the lowest server index
(``np.argmin``).

Units: queued work is in size units, remaining service time in time units; a server of rate r
needs ``size / r`` time units for ``size`` work.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from edge_rl.baselines.base import Policy
from edge_rl.envs.load_balance.config import LoadBalanceConfig


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


def reserved_servers(rates: np.ndarray, share: float) -> np.ndarray:
    """The fastest servers whose combined rate comes closest to ``share`` of the total.

    At least one server is reserved and at least one is left; ties in the distance go to the
    smaller set, ties in rate to the lower index. Park's rates 0.15 ... 1.05 with share 1/3:
    servers 8 and 9 (0.95 + 1.05 = 2.0 of 6.0).
    """
    rates = np.asarray(rates, dtype=np.float64)
    if rates.size < 2:
        raise ValueError("size-interval routing needs at least two servers")
    order = np.argsort(-rates, kind="stable")
    shares = np.cumsum(rates[order])[:-1] / rates.sum()  # reserving the 1, 2, ..., N-1 fastest
    k = int(np.argmin(np.abs(shares - share))) + 1
    return np.sort(order[:k])


def work_share_threshold(config: LoadBalanceConfig, share: float) -> float:
    """The job size above which jobs carry ``share`` of the expected work (SITA-E's cutoff).

    Pareto(alpha, x_m) sizes (Park's ``(pareto(alpha) + 1) * x_m``): the work of the jobs above
    T is (x_m / T) ** (alpha - 1) of the total, so T = x_m * share ** (-1 / (alpha - 1)); for
    Park (alpha 1.5, x_m 100) and share 1/3, T = 900. Uniform[lo, hi): the work above T is
    (hi^2 - T^2) / (hi^2 - lo^2), so T = sqrt(hi^2 - share * (hi^2 - lo^2)).
    """
    if not 0.0 < share < 1.0:
        raise ValueError(f"share={share!r}: must be in (0, 1)")
    if config.job_size_dist == "pareto":
        return config.pareto_scale * share ** (-1.0 / (config.pareto_shape - 1.0))
    lo, hi = config.uniform_low, config.uniform_high
    return float(np.sqrt(hi**2 - share * (hi**2 - lo**2)))


class SizeIntervalPolicy(Policy):
    """Size-interval task assignment (SITA-E) over shortest-expected-delay, for heavy tails.

    The fastest servers with about ``reserved_share`` of the total service rate
    (``reserved_servers``) are the only ones that take jobs larger than a cutoff; small jobs may
    go anywhere, and each job goes to the server with the shortest expected delay
    (``expected_delays``; ``inner="least-observed-load"``: the lowest observed load) among those
    it may use. Big jobs therefore never land on a slow server, where a heavy-tailed job blocks
    its queue for a long time. The cutoff is SITA-E's (Harchol-Balter, Crovella and Murta, "On
    Choosing a Task Assignment Policy for a Distributed Server System", 1999): the size above
    which jobs carry the reserved servers' share of the work, computed from the current task's
    job-size distribution (``work_share_threshold``). So, like Prophet in the AIGC env, this
    heuristic knows the workload's parameters, not just its observations; give ``threshold`` to
    fix the cutoff instead. On Park's workload: servers 8 and 9, cutoff 900. It pays off at high
    load with heavy-tailed sizes and loses to plain shortest-expected-delay at low load or with
    uniform sizes (``scripts/lb_size_interval.py`` measures all of it).
    """

    name = "size-interval"
    INNER_RULES = ("shortest-expected-delay", "least-observed-load")

    def __init__(
        self,
        seed: int | None = None,
        reserved_share: float = 1.0 / 3.0,
        threshold: float | None = None,
        inner: str = "shortest-expected-delay",
    ) -> None:
        super().__init__(seed)
        if not 0.0 < reserved_share < 1.0:
            raise ValueError(f"reserved_share={reserved_share!r}: must be in (0, 1)")
        if threshold is not None and not threshold >= 0:
            raise ValueError(f"threshold={threshold!r}: must be >= 0 (or None for SITA-E's)")
        if inner not in self.INNER_RULES:
            raise ValueError(f"inner={inner!r}: must be one of {list(self.INNER_RULES)}")
        self.reserved_share = float(reserved_share)
        self.threshold = threshold
        self.inner = inner
        self._cache: tuple[object, np.ndarray, float] | None = None

    def routing(self, env: gym.Env) -> tuple[np.ndarray, float]:
        """(reserved server indices, size cutoff) for the env's current task."""
        config = env.config
        if self._cache is None or self._cache[0] is not config:
            rates = env.service_rates
            reserved = reserved_servers(rates, self.reserved_share)
            if self.threshold is not None:
                cutoff = float(self.threshold)
            else:
                cutoff = work_share_threshold(config, rates[reserved].sum() / rates.sum())
            self._cache = (config, reserved, cutoff)
        return self._cache[1], self._cache[2]

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        if self.inner == "shortest-expected-delay":
            cost = expected_delays(env)
        else:
            cost = env.server_loads()
        reserved, cutoff = self.routing(env)
        if env.incoming_job_size > cutoff:
            return int(reserved[np.argmin(cost[reserved])])
        return int(np.argmin(cost))


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
        SizeIntervalPolicy,
    )
}

__all__ = [
    "LOAD_BALANCE_POLICIES",
    "expected_delays",
    "reserved_servers",
    "work_share_threshold",
] + [cls.__name__ for cls in LOAD_BALANCE_POLICIES.values()]
