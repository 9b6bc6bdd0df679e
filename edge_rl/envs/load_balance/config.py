"""Settings of the load-balancing simulator: one frozen dataclass and the named task presets.

The defaults are Park's ``load_balance`` settings (``park/param.py``): 10 servers with service
rates 0.15 .. 1.05, Pareto(shape 1.5, scale 100) job sizes, exponential inter-arrival gaps of mean
55, 1000 jobs per episode, observations clipped at 5e5. The other presets are the task family of
the load-balance-env spec (``shared/specs/load-balance-env.md``): the same servers under
lighter, heavier or differently shaped workloads.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

#: Park's service rates: 0.15, 0.25, ..., 1.05 (sum 6.0).
PARK_SERVICE_RATES: tuple[float, ...] = (0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.05)
#: Job-size distributions: Park's ``int((pareto(shape) + 1) * scale)`` or ``int(U[low, high))``.
JOB_SIZE_DISTS: tuple[str, ...] = ("pareto", "uniform")
#: Observation layouts (see ``edge_rl.envs.load_balance.observation``).
OBS_LAYOUTS: tuple[str, ...] = ("park", "scaled")
#: training rewards: Park's time integral, or each job's completion time charged at dispatch
REWARD_MODES: tuple[str, ...] = ("park", "jct")
#: Fields that do not change the workload (a task's name stays the same when they are overridden).
PRESENTATION_FIELDS: frozenset[str] = frozenset({"name", "obs_layout", "obs_clip"})


@dataclass(frozen=True)
class LoadBalanceConfig:
    """Every knob of the load-balancing simulator. Build one with ``make_load_balance_config``.

    Attributes:
        name: the task's name, reported as ``info["task"]`` (presets set it to their key).
        num_servers: number of FIFO servers, which is also the number of actions.
        service_rates: work units a server completes per time unit, one per server; a job of size
            z takes ``int(z / rate)`` time units (Park's truncation).
        job_size_dist: ``"pareto"`` (Park) or ``"uniform"``.
        pareto_shape: Pareto tail index alpha (> 1 so the mean ``scale * alpha / (alpha - 1)`` is
            finite; 1.5 in Park: infinite variance). Sizes are ``int((lomax(alpha) + 1) * scale)``.
        pareto_scale: Pareto minimum x_m (Park: 100).
        uniform_low, uniform_high: the size interval ``[low, high)`` of the uniform distribution.
        mean_interval: mean of the exponential inter-arrival gap, truncated with ``int`` as in
            Park, so simultaneous arrivals happen (Park: 55; offered load ~0.92).
        jobs_per_episode: jobs (= decisions) per episode (Park: 1000).
        obs_clip: cap on each observed load and on the observed job size (Park: 5e5).
        rate_permutation: optional permutation ``p`` of ``range(num_servers)``: server ``i`` gets
            ``service_rates[p[i]]``, so the fast servers move (a task-family knob); None keeps
            the order.
        obs_layout: ``"park"``: Park's 11 raw floats; ``"scaled"``: ``log1p`` of the same values
            (a symlog-style compression of the heavy-tailed loads, better suited to learning).
        reward_mode: ``"park"``: minus the jobs-in-system time integral between decisions (Park);
            ``"jct"``: minus the completion time of the job just dispatched, known at dispatch
            because servers are FIFO with deterministic service times. Both sum to minus the
            total JCT over an episode (the undiscounted return and the metric are the same); the
            second credits each decision with its own job's delay, a reward redistribution that
            removes most of the arrival-driven noise from the learning signal.
    """

    name: str = "park"
    num_servers: int = 10
    service_rates: tuple[float, ...] = PARK_SERVICE_RATES
    job_size_dist: str = "pareto"
    pareto_shape: float = 1.5
    pareto_scale: float = 100.0
    uniform_low: float = 100.0
    uniform_high: float = 1000.0
    mean_interval: float = 55.0
    jobs_per_episode: int = 1000
    obs_clip: float = 5e5
    rate_permutation: tuple[int, ...] | None = None
    obs_layout: str = "park"
    reward_mode: str = "park"

    def __post_init__(self) -> None:
        # Lists from JSON / command lines become tuples so configs stay hashable and comparable.
        if isinstance(self.service_rates, list):
            object.__setattr__(self, "service_rates", tuple(self.service_rates))
        if isinstance(self.rate_permutation, list):
            object.__setattr__(self, "rate_permutation", tuple(self.rate_permutation))
        self.validate()

    # -- derived values -------------------------------------------------------------------------
    @property
    def effective_rates(self) -> tuple[float, ...]:
        """Service rate of each server after ``rate_permutation``."""
        if self.rate_permutation is None:
            return tuple(float(r) for r in self.service_rates)
        return tuple(float(self.service_rates[p]) for p in self.rate_permutation)

    @property
    def mean_job_size(self) -> float:
        """Nominal mean job size (before ``int`` truncation, which lowers it by ~0.5)."""
        if self.job_size_dist == "pareto":
            return self.pareto_scale * self.pareto_shape / (self.pareto_shape - 1.0)
        return 0.5 * (self.uniform_low + self.uniform_high)

    @property
    def offered_load(self) -> float:
        """Work arriving per time unit over total service rate (> 1: queues grow without bound)."""
        return self.mean_job_size / (self.mean_interval * sum(self.service_rates))

    # -- validation -----------------------------------------------------------------------------
    def validate(self) -> LoadBalanceConfig:
        """Raise ``ValueError`` naming the bad field, its value and the valid range; else self."""
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name={self.name!r}: must be a non-empty string")
        for field, low in (("num_servers", 1), ("jobs_per_episode", 1)):
            value = getattr(self, field)
            if not _is_int(value) or value < low:
                raise ValueError(f"{field}={value!r}: must be an integer >= {low}")
        rates = self.service_rates
        if not isinstance(rates, tuple) or len(rates) != self.num_servers:
            raise ValueError(
                f"service_rates={rates!r}: must hold num_servers={self.num_servers} rates "
                "(pass service_rates along with num_servers)"
            )
        if not all(_is_real(r) and math.isfinite(r) and r > 0 for r in rates):
            raise ValueError(f"service_rates={rates!r}: every rate must be a finite number > 0")
        if self.job_size_dist not in JOB_SIZE_DISTS:
            raise ValueError(
                f"job_size_dist={self.job_size_dist!r}: must be one of {list(JOB_SIZE_DISTS)}"
            )
        _check_range("pareto_shape", self.pareto_shape, 1.0, 100.0, low_open=True)
        _check_range("pareto_scale", self.pareto_scale, 0.0, 1e6, low_open=True)
        _check_range("uniform_low", self.uniform_low, 0.0, 1e9)
        _check_range("uniform_high", self.uniform_high, 0.0, 1e9, low_open=True)
        if self.uniform_high <= self.uniform_low:
            raise ValueError(
                f"uniform_high={self.uniform_high!r}: must be > uniform_low={self.uniform_low!r}"
            )
        _check_range("mean_interval", self.mean_interval, 0.0, 1e9, low_open=True)
        _check_range("obs_clip", self.obs_clip, 0.0, 1e12, low_open=True)
        perm = self.rate_permutation
        if perm is not None and (
            not isinstance(perm, tuple)
            or not all(_is_int(p) for p in perm)
            or sorted(perm) != list(range(self.num_servers))
        ):
            raise ValueError(
                f"rate_permutation={perm!r}: must be None or a permutation of "
                f"range({self.num_servers})"
            )
        if self.obs_layout not in OBS_LAYOUTS:
            raise ValueError(f"obs_layout={self.obs_layout!r}: must be one of {list(OBS_LAYOUTS)}")
        if self.reward_mode not in REWARD_MODES:
            raise ValueError(
                f"reward_mode={self.reward_mode!r}: must be one of {list(REWARD_MODES)}"
            )
        return self


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_range(
    field: str, value: Any, low: float, high: float, *, low_open: bool = False
) -> None:
    ok = _is_real(value) and math.isfinite(value) and value <= high
    ok = ok and (value > low if low_open else value >= low)
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{field}={value!r}: must be a number in {bracket}{low:g}, {high:g}]")


def _pareto(interval: float, name: str) -> LoadBalanceConfig:
    return LoadBalanceConfig(name=name, mean_interval=interval)


def _uniform(interval: float, name: str) -> LoadBalanceConfig:
    return LoadBalanceConfig(name=name, job_size_dist="uniform", mean_interval=interval)


#: Named presets. "park" is Park's default exactly; the rest is the spec's task family (offered
#: loads: pareto-45 1.11, pareto-55 0.91, pareto-70 0.71, pareto-100 0.50, uniform-100 0.92,
#: uniform-55 1.67 = overloaded). "debug" shrinks an episode to 100 jobs for quick tests.
PRESETS: dict[str, LoadBalanceConfig] = {
    "park": LoadBalanceConfig(),
    "pareto-45": _pareto(45.0, "pareto-45"),
    "pareto-55": _pareto(55.0, "pareto-55"),
    "pareto-70": _pareto(70.0, "pareto-70"),
    "pareto-100": _pareto(100.0, "pareto-100"),
    "uniform-100": _uniform(100.0, "uniform-100"),
    "uniform-55": _uniform(55.0, "uniform-55"),
    "debug": LoadBalanceConfig(name="debug", jobs_per_episode=100),
}


def make_load_balance_config(preset: str = "park", **overrides: Any) -> LoadBalanceConfig:
    """The preset ``preset`` with ``overrides`` applied (validated).

    Overriding a workload field without ``name=`` renames the task ``"<preset>[field=value]"``
    so ``info["task"]`` never passes off a changed workload under a preset's name.
    Unknown presets or fields raise ``ValueError`` listing the valid ones.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    return with_overrides(PRESETS[preset], **overrides)


def with_overrides(config: LoadBalanceConfig, **overrides: Any) -> LoadBalanceConfig:
    """``config`` with ``overrides`` applied and validated (see ``make_load_balance_config``)."""
    fields = [f.name for f in dataclasses.fields(LoadBalanceConfig)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown LoadBalanceConfig field(s) {unknown}; valid fields: {', '.join(fields)}"
        )
    if not overrides:
        return config
    updated = dataclasses.replace(config, **overrides)
    changed = [
        f"{k}={getattr(updated, k)}"
        for k in sorted(overrides)
        if k not in PRESENTATION_FIELDS and getattr(updated, k) != getattr(config, k)
    ]
    if changed and "name" not in overrides:
        updated = dataclasses.replace(updated, name=f"{config.name}[{','.join(changed)}]")
    return updated
