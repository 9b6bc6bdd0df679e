"""The task family for meta-RL: random workloads around Park's, with a held-out band.

A task is a workload on fixed servers: a job-size distribution (Pareto or uniform), an offered
load (which fixes the mean inter-arrival time) and a permutation of the service rates, so the fast
servers move. Meta-training draws ``"train"`` tasks; tasks whose offered load lies in
``held_out_load`` are never drawn for training and are the unseen tasks of the adaptation tests
(``"held-out"``). The band sits between the named presets (pareto-70: 0.71, park: 0.91), so none
of them is held out.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from edge_rl.envs.load_balance.config import LoadBalanceConfig

#: What ``sample_task`` can draw from.
SPLITS: tuple[str, ...] = ("train", "held-out", "all")

Interval = tuple[float, float]


@dataclass(frozen=True)
class TaskFamily:
    """Ranges that ``sample_task`` draws from (each uniformly, bounds included).

    Attributes:
        base: servers, service rates, episode length, observation layout and clip shared by all
            tasks (the spaces of an env must not change between episodes).
        pareto_probability: chance that a task has Pareto sizes (else uniform sizes).
        pareto_shape: tail index alpha; 1.3 is very heavy, 2.5 nearly light-tailed (Park: 1.5).
        pareto_scale: minimum job size x_m (Park: 100).
        uniform_low: lower end of uniform sizes.
        uniform_width: ``uniform_high - uniform_low`` (the spec's uniform task: 100 + 900).
        load: offered load (mean work arriving per time unit over total service rate); the mean
            inter-arrival time follows from it. Park's default is 0.91; above 1 queues grow.
        held_out_load: ``[low, high)`` loads reserved for testing; inside ``load``.
        permute_rates: draw a random permutation of the service rates per task.
    """

    base: LoadBalanceConfig = field(default_factory=LoadBalanceConfig)
    pareto_probability: float = 0.5
    pareto_shape: Interval = (1.3, 2.5)
    pareto_scale: Interval = (50.0, 200.0)
    uniform_low: Interval = (50.0, 300.0)
    uniform_width: Interval = (300.0, 1500.0)
    load: Interval = (0.5, 1.2)
    held_out_load: Interval = (0.78, 0.86)
    permute_rates: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> TaskFamily:
        """Raise ``ValueError`` naming the bad field, its value and the valid range; else self."""
        if not 0.0 <= self.pareto_probability <= 1.0:
            raise ValueError(
                f"pareto_probability={self.pareto_probability!r}: must be a number in [0, 1]"
            )
        for name, floor in (
            ("pareto_shape", 1.0),
            ("pareto_scale", 0.0),
            ("uniform_width", 0.0),
            ("load", 0.0),
        ):
            lo, hi = getattr(self, name)
            if not (math.isfinite(hi) and floor < lo <= hi):
                raise ValueError(
                    f"{name}={(lo, hi)!r}: must be (low, high) with {floor:g} < low <= high"
                )
        lo, hi = self.uniform_low
        if not (math.isfinite(hi) and 0.0 <= lo <= hi):
            raise ValueError(f"uniform_low={(lo, hi)!r}: must be (low, high) with 0 <= low <= high")
        lo, hi = self.held_out_load
        if not (self.load[0] <= lo < hi <= self.load[1]):
            raise ValueError(
                f"held_out_load={(lo, hi)!r}: must be (low, high) with low < high inside "
                f"load={self.load!r}"
            )
        return self


#: The project's default task family (Park's servers, 1000 jobs per episode).
TASK_FAMILY = TaskFamily()


def is_held_out(config: LoadBalanceConfig, family: TaskFamily = TASK_FAMILY) -> bool:
    """Whether ``config``'s offered load lies in the family's held-out band."""
    lo, hi = family.held_out_load
    return lo <= config.offered_load < hi


def sample_task(
    rng: np.random.Generator, split: str = "train", family: TaskFamily = TASK_FAMILY
) -> LoadBalanceConfig:
    """Draw one task config from ``family``.

    Args:
        rng: the caller's seeded generator (the only source of randomness).
        split: ``"train"`` (load outside the held-out band), ``"held-out"`` (inside it) or
            ``"all"``.
        family: the ranges to draw from.

    Returns:
        A validated config named ``"<split>:<dist>(...),load=<load>"``; ``is_held_out`` tells
        held-out tasks apart.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: must be one of {list(SPLITS)}")
    while True:
        config = _draw_config(rng, split, family)
        held_out = is_held_out(config, family)
        # The drawn load and the one recomputed from the interval can differ in the last bit;
        # redraw in that (vanishingly rare) case so the split promise holds exactly.
        if split == "all" or held_out == (split == "held-out"):
            tag = "held-out" if held_out else "train"
            return dataclasses.replace(config, name=f"{tag}:{config.name}")


def _draw_config(rng: np.random.Generator, split: str, family: TaskFamily) -> LoadBalanceConfig:
    base = family.base
    if rng.random() < family.pareto_probability:
        shape = float(rng.uniform(*family.pareto_shape))
        scale = float(rng.uniform(*family.pareto_scale))
        dist = {"job_size_dist": "pareto", "pareto_shape": shape, "pareto_scale": scale}
        mean_size = scale * shape / (shape - 1.0)
        label = f"pareto(a={shape:.2f},xm={scale:.0f})"
    else:
        low = float(rng.uniform(*family.uniform_low))
        high = low + float(rng.uniform(*family.uniform_width))
        dist = {"job_size_dist": "uniform", "uniform_low": low, "uniform_high": high}
        mean_size = 0.5 * (low + high)
        label = f"uniform({low:.0f},{high:.0f})"
    load = _draw_load(rng, split, family)
    perm = None
    if family.permute_rates:
        perm = tuple(int(p) for p in rng.permutation(base.num_servers))
    return LoadBalanceConfig(
        name=f"{label},load={load:.3f}",
        num_servers=base.num_servers,
        service_rates=base.service_rates,
        mean_interval=mean_size / (load * sum(base.service_rates)),
        jobs_per_episode=base.jobs_per_episode,
        obs_clip=base.obs_clip,
        rate_permutation=perm,
        obs_layout=base.obs_layout,
        reward_mode=base.reward_mode,
        **dist,
    )


def _draw_load(rng: np.random.Generator, split: str, family: TaskFamily) -> float:
    lo, hi = family.load
    band_lo, band_hi = family.held_out_load
    if split == "all":
        return float(rng.uniform(lo, hi))
    if split == "held-out":
        # uniform() may return its upper bound in floating point; keep the band half-open.
        return min(float(rng.uniform(band_lo, band_hi)), math.nextafter(band_hi, band_lo))
    # Train: uniform over the two pieces either side of the band, by length.
    below, above = band_lo - lo, hi - band_hi
    u = float(rng.uniform(0.0, below + above))
    return lo + u if u < below else band_hi + (u - below)
