"""Settings of the edge AIGC service-selection simulator: one frozen dataclass and named presets.

Every "range" knob is an arange triple ``(start, stop, step)`` with ``stop`` exclusive, exactly as
the reference simulators write their choice sets (``np.arange(600, 1500, step=100)``), so the
floating-point choice values, and hence the reference numbers, are reproduced bit for bit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Observation layouts: the ADSAC paper's flat vector, the D2SAC (AGOD) paper's flat vector, and
#: one token per task and per (server, model) pair (see ``edge_rl.envs.aigc.observation``).
OBSERVATIONS: tuple[str, ...] = ("paper-adsac", "paper-agod", "tokens")
#: Reward of an accepted task: capability baseline + quality curve (ADSAC) or the curve only (AGOD).
REWARDS: tuple[str, ...] = ("b+q", "q")
#: Reference simulators whose conventions (world draw order, penalty summation) can be followed.
REFERENCES: tuple[str, ...] = ("adsac", "agod")

Arange = tuple[float, float, float]


@dataclass(frozen=True)
class AIGCConfig:
    """Every knob of the AIGC edge simulator. Build one with ``make_aigc_config(preset, ...)``.

    Attributes:
        num_servers: edge servers E (the reference: 10 for ADSAC, 20 providers for AGOD).
        models_per_server: AIGC models M hosted per server; action a picks server a // M, model
            a % M.
        num_task_types: task types K. Each model has one capability baseline per type. With
            K = 1 the type is not drawn at all (the AGOD stream has no type draw).
        capacity_range: server capacity choices in denoising-step units, arange triple.
        baseline_range: capability baseline b[e, m, k] choices (ADSAC: 0.0 .. 0.9).
        ax_range, ay_range, bx_range, by_range: quality-curve knee choices: Q(t) is 0 below ax,
            rises linearly from 0 at ax to by - ay at bx, and stays at by - ay above bx.
        demand_range: task demand t choices (denoising steps), arange triple.
        arrival_rate: Poisson arrival rate per time unit (0.0015 -> ~1500 tasks per episode).
        arrival_rate_range: ``(low, high)``: draw each episode's rate uniformly from it
            (edge regions with different loads); None uses ``arrival_rate``. Needs
            ``world_per_episode``.
        horizon: episode length in time units; arrivals are uniform on [0, horizon).
        num_users: users drawn per task in the reference streams; it affects nothing but the
            random stream, kept so the reference numbers reproduce.
        crash_penalty: crash penalty coefficient c: a crash costs c + sum over the killed tasks of
            c * (1 - progress).
        observation: observation layout, one of ``OBSERVATIONS``.
        reward: ``"b+q"`` (utility = baseline + quality) or ``"q"`` (quality only).
        world_per_episode: False: one world per env, from ``RandomState(world_seed)`` (the
            reference protocol); True: a fresh world (capacities, model profiles, load) per
            episode from the env's seeded generator (edge regions).
        reference: ``"adsac"`` or ``"agod"``: whose conventions the simulator follows where
            the two reference simulators differ: the legacy RandomState draw order of the fixed
            world (``"agod"`` draws no baselines, so it needs ``reward="q"``, but draws unused
            user and provider locations) and the float summation order of crash penalties.
    """

    num_servers: int = 10
    models_per_server: int = 4
    num_task_types: int = 4
    capacity_range: Arange = (600, 1500, 100)
    baseline_range: Arange = (0.0, 1.0, 0.1)
    ax_range: Arange = (0, 100, 10)
    ay_range: Arange = (0.0, 0.5, 0.05)
    bx_range: Arange = (150, 250, 10)
    by_range: Arange = (0.5, 1.0, 0.05)
    demand_range: Arange = (100, 250, 10)
    arrival_rate: float = 0.0015
    arrival_rate_range: tuple[float, float] | None = None
    horizon: int = 1_000_000
    num_users: int = 1000
    crash_penalty: float = 2.0
    observation: str = "paper-adsac"
    reward: str = "b+q"
    world_per_episode: bool = False
    reference: str = "adsac"

    # -- derived values -------------------------------------------------------------------------
    @property
    def num_actions(self) -> int:
        """E * M: one action per (server, model) pair."""
        return self.num_servers * self.models_per_server

    def choices(self, name: str) -> np.ndarray:
        """The choice set of the range knob ``name`` (e.g. ``"capacity_range"``) as an array."""
        start, stop, step = getattr(self, name)
        return np.arange(start, stop, step=step)

    @property
    def max_arrival_rate(self) -> float:
        """The largest arrival rate an episode can have (sizes buffers)."""
        if self.arrival_rate_range is None:
            return float(self.arrival_rate)
        return float(self.arrival_rate_range[1])

    # -- validation -----------------------------------------------------------------------------
    def validate(self) -> AIGCConfig:
        """Raise ``ValueError`` naming the bad field, its value and the valid range; else self."""
        for name, low in (
            ("num_servers", 1),
            ("models_per_server", 1),
            ("num_task_types", 1),
            ("horizon", 1),
            ("num_users", 1),
        ):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name}={value!r}: must be an integer >= {low}")
        for name in RANGE_FIELDS:
            self._check_range(name)
        if self.choices("capacity_range")[0] <= 0:
            raise ValueError(f"capacity_range={self.capacity_range!r}: capacities must be > 0")
        demand = self.choices("demand_range")
        if demand[0] < 10 or np.any(demand != np.round(demand)):
            raise ValueError(
                f"demand_range={self.demand_range!r}: demands must be integers >= 10 "
                "(runtime(t) = (0.001 t^2 + 2.5 t - 14) * 60 must be positive)"
            )
        if np.any(self.choices("ax_range") >= self.choices("bx_range")[0]):
            raise ValueError(
                f"ax_range={self.ax_range!r}, bx_range={self.bx_range!r}: every ax must be "
                "below every bx (the quality curve rises from ax to bx)"
            )
        if self.choices("capacity_range")[-1] < demand[-1]:
            raise ValueError(
                f"capacity_range={self.capacity_range!r}: the largest capacity must fit the "
                f"largest demand {demand[-1]}"
            )
        if not (_is_number(self.arrival_rate) and self.arrival_rate > 0):
            raise ValueError(f"arrival_rate={self.arrival_rate!r}: must be a finite number > 0")
        if self.arrival_rate_range is not None:
            pair = self.arrival_rate_range
            ok = isinstance(pair, tuple | list) and len(pair) == 2 and all(map(_is_number, pair))
            if not (ok and 0 < pair[0] <= pair[1]):
                raise ValueError(
                    f"arrival_rate_range={self.arrival_rate_range!r}: must be (low, high) with "
                    "0 < low <= high"
                )
            if not self.world_per_episode:
                raise ValueError(
                    f"arrival_rate_range={self.arrival_rate_range!r} needs "
                    "world_per_episode=True (a fixed world has one load); use arrival_rate"
                )
        if self.max_arrival_rate * self.horizon > 1e6:
            raise ValueError(
                f"arrival_rate * horizon = {self.max_arrival_rate * self.horizon:g} tasks per "
                "episode: must be <= 1e6; lower arrival_rate(_range) or horizon"
            )
        if not (_is_number(self.crash_penalty) and self.crash_penalty >= 0):
            raise ValueError(f"crash_penalty={self.crash_penalty!r}: must be a finite number >= 0")
        for name, valid in (
            ("observation", OBSERVATIONS),
            ("reward", REWARDS),
            ("reference", REFERENCES),
        ):
            if getattr(self, name) not in valid:
                raise ValueError(f"{name}={getattr(self, name)!r}: must be one of {list(valid)}")
        if not isinstance(self.world_per_episode, bool):
            raise ValueError(f"world_per_episode={self.world_per_episode!r}: must be True or False")
        if self.reference == "agod" and self.reward != "q":
            raise ValueError(
                f"reference='agod' with reward={self.reward!r}: AGOD draws no capability "
                "baselines; use reward='q' or reference='adsac'"
            )
        return self

    def _check_range(self, name: str) -> None:
        value = getattr(self, name)
        ok = isinstance(value, tuple | list) and len(value) == 3 and all(map(_is_number, value))
        if not ok or not (value[2] > 0 and value[1] > value[0]):
            raise ValueError(
                f"{name}={value!r}: must be an arange triple (start, stop, step) of finite "
                "numbers with step > 0 and stop > start, e.g. (600, 1500, 100)"
            )
        if value[0] < 0:
            raise ValueError(f"{name}={value!r}: values must be >= 0")

    def with_overrides(self, **overrides: Any) -> AIGCConfig:
        """A copy with ``overrides`` (field name -> value) applied, validated. Lists (e.g. range
        knobs typed on a command line) become tuples, so configs stay hashable.

        Raises ``ValueError`` for an unknown field, listing the valid ones.
        """
        valid = [f.name for f in dataclasses.fields(AIGCConfig)]
        unknown = sorted(set(overrides) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown AIGC env setting(s) {unknown}; valid keys: {', '.join(valid)}"
            )
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        return dataclasses.replace(self, **fixed).validate()


def _is_number(value: Any) -> bool:
    """A finite real number (bools excluded)."""
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and bool(np.isfinite(value))
    )


RANGE_FIELDS: tuple[str, ...] = (
    "capacity_range",
    "baseline_range",
    "ax_range",
    "ay_range",
    "bx_range",
    "by_range",
    "demand_range",
)

#: Named presets: the two reference settings and the project's edge regions.
PRESETS: dict[str, AIGCConfig] = {
    # ADSAC: 10 ES x 4 models x 4 task types, one fixed world.
    "adsac-paper": AIGCConfig(),
    # D2SAC (AGOD): 20 providers x 1 model, rate 0.001, no task types, reward = quality only.
    "agod-paper": AIGCConfig(
        num_servers=20,
        models_per_server=1,
        num_task_types=1,
        capacity_range=(400, 1000, 100),
        demand_range=(100, 260, 10),
        arrival_rate=0.001,
        observation="paper-agod",
        reward="q",
        reference="agod",
    ),
    # Edge regions: the ADSAC scale, but every episode is a fresh region (capacities, model
    # profiles, load between ~1000 and ~2200 tasks) seen through the token layout.
    "regions": AIGCConfig(
        arrival_rate_range=(0.001, 0.0022),
        observation="tokens",
        world_per_episode=True,
    ),
}


def make_aigc_config(preset: str = "adsac-paper", **overrides: Any) -> AIGCConfig:
    """The preset ``preset`` with ``overrides`` (field name -> value) applied, validated.

    Raises ``ValueError`` for an unknown preset or field (listing the valid ones) and for bad
    values (see ``AIGCConfig.validate``).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(sorted(PRESETS))}")
    return PRESETS[preset].with_overrides(**overrides)


__all__ = [
    "REFERENCES",
    "OBSERVATIONS",
    "PRESETS",
    "RANGE_FIELDS",
    "REWARDS",
    "AIGCConfig",
    "make_aigc_config",
]
