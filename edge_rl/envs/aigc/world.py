"""Worlds (servers and model profiles) and task streams of the AIGC edge simulator.

Two ways to draw each, one per protocol:

- Reference protocol (``world_per_episode=False``): the world comes from
  ``RandomState(world_seed)`` and each episode's task stream from ``RandomState(episode_seed)``,
  in the exact legacy draw order of the reference simulators, so their numbers reproduce.
- Edge regions (``world_per_episode=True``): world and stream come, vectorised, from the env's
  own ``numpy.random.Generator`` (seeded by ``reset(seed=...)``).

Both the scalar and the vector env build their episodes from these functions; the dynamics
that run on them are implemented separately in ``env.py`` and ``vector.py``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from edge_rl.envs.aigc.config import AIGCConfig

# Legacy RandomState seeds are 32-bit; larger seeds go through a SeedSequence instead.
_LEGACY_SEED_LIMIT = 2**32


def runtime(demand: np.ndarray | int) -> np.ndarray | float:
    """Run time of a task with demand ``t`` denoising steps: (0.001 t^2 + 2.5 t - 14) * 60.

    Evaluated in the reference's operation order so the float values match it bit for bit.
    """
    return (0.001 * demand**2 + 2.5 * demand - 14) * 60


def legacy_random_state(
    seed: int, reuse: np.random.RandomState | None = None
) -> np.random.RandomState:
    """``RandomState(seed)`` for 32-bit seeds (the reference's generator); larger seeds seed a
    Mersenne Twister through a SeedSequence instead of failing.

    ``reuse``: a RandomState to reseed in place (50x cheaper than building one; same state).
    """
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed={seed}: must be >= 0")
    if seed >= _LEGACY_SEED_LIMIT:
        return np.random.RandomState(np.random.MT19937(np.random.SeedSequence(seed)))
    if reuse is None:
        return np.random.RandomState(seed)
    reuse.seed(seed)
    return reuse


@dataclass(frozen=True)
class World:
    """One edge region: E servers with M models each.

    Attributes:
        capacity: (E,) int64, server capacity in denoising-step units.
        baseline: (E, M, K) float64, capability baseline b[e, m, k] (zeros where not drawn).
        ax, ay, bx, by: (E, M) float64, quality-curve knees of each model.
        arrival_rate: Poisson arrival rate of this region's tasks.
    """

    capacity: np.ndarray
    baseline: np.ndarray
    ax: np.ndarray
    ay: np.ndarray
    bx: np.ndarray
    by: np.ndarray
    arrival_rate: float

    def __post_init__(self) -> None:
        for name in ("capacity", "baseline", "ax", "ay", "bx", "by"):
            getattr(self, name).flags.writeable = False  # shared by envs and heuristics

    def utility_table(self, config: AIGCConfig) -> np.ndarray:
        """(K * T, A) float64: utility of action a for a task of type k and demand index i
        (row k * T + i, T = number of demand choices); b + Q or Q per ``config.reward``.

        Computed elementwise in the reference's operation order: equal to its floats exactly.
        """
        demand = config.choices("demand_range").astype(np.float64)[:, None]  # (T, 1)
        ax, ay = self.ax.reshape(1, -1), self.ay.reshape(1, -1)  # (1, A)
        bx, by = self.bx.reshape(1, -1), self.by.reshape(1, -1)
        rising = (by - ay) / (bx - ax) * (demand - ax)
        quality = np.where(demand < ax, 0.0, np.where(demand <= bx, rising, by - ay))  # (T, A)
        num_types = self.baseline.shape[2]
        if config.reward == "b+q":
            base = self.baseline.reshape(-1, num_types).T  # (K, A)
        else:
            base = np.zeros((num_types, quality.shape[1]))
        return (base[:, None, :] + quality[None, :, :]).reshape(-1, quality.shape[1])

    def effective_baseline(self, config: AIGCConfig) -> np.ndarray:
        """(A, K) float64: the baseline that enters the utility (zeros for ``reward="q"``)."""
        flat = self.baseline.reshape(-1, self.baseline.shape[2])
        return flat if config.reward == "b+q" else np.zeros_like(flat)


def draw_world_legacy(config: AIGCConfig, world_seed: int) -> World:
    """The fixed world of the reference protocol, from ``RandomState(world_seed)``.

    ``reference="adsac"``: for each server, for each model: K baselines, then ax, ay, bx, by
    (one ``choice`` each); then the server capacity. ``reference="agod"``: first two location
    coordinates per user, then for each provider: per model ax, ay, bx, by; the capacity; two
    location coordinates (the locations are unused but consume the stream, as in AGOD).
    """
    rs = legacy_random_state(world_seed)
    num_e, num_m, num_k = config.num_servers, config.models_per_server, config.num_task_types
    base = config.choices("baseline_range")
    curve = [config.choices(n) for n in ("ax_range", "ay_range", "bx_range", "by_range")]
    capacities = config.choices("capacity_range")
    baseline = np.zeros((num_e, num_m, num_k))
    knees = np.zeros((4, num_e, num_m))
    capacity = np.zeros(num_e, dtype=np.int64)
    if config.reference == "agod":
        rs.randint(0, 100, size=(config.num_users, 2))  # user locations (unused)
    for e in range(num_e):
        for m in range(num_m):
            if config.reference == "adsac":
                for k in range(num_k):
                    baseline[e, m, k] = rs.choice(base)
            for c in range(4):
                knees[c, e, m] = rs.choice(curve[c])
        capacity[e] = rs.choice(capacities)
        if config.reference == "agod":
            rs.randint(0, 100, size=2)  # provider location (unused)
    return World(capacity, baseline, *knees, arrival_rate=float(config.arrival_rate))


def draw_world(config: AIGCConfig, rng: np.random.Generator) -> World:
    """A fresh edge region from ``rng`` (``world_per_episode``): capacities, profiles, load."""
    shape = (config.num_servers, config.models_per_server)
    capacity = rng.choice(config.choices("capacity_range"), size=config.num_servers)
    baseline = rng.choice(config.choices("baseline_range"), size=(*shape, config.num_task_types))
    knees = [
        rng.choice(config.choices(n), size=shape)
        for n in ("ax_range", "ay_range", "bx_range", "by_range")
    ]
    if config.arrival_rate_range is None:
        rate = float(config.arrival_rate)
    else:
        rate = float(rng.uniform(*config.arrival_rate_range))
    return World(
        capacity.astype(np.int64),
        baseline.astype(np.float64),
        *(k.astype(np.float64) for k in knees),
        arrival_rate=rate,
    )


@dataclass(frozen=True)
class TaskStream:
    """One episode's tasks: N + 1 arrivals, of which the first N are decided (the reference
    draws one more task than it schedules).

    Attributes:
        arrival: (N+1,) int64 arrival times, sorted, starting at 0.
        task_type: (N+1,) int64 type k of each task.
        demand_index: (N+1,) int64 index of each task's demand in the demand choices.
        demand: (N+1,) int64 demand t.
        runtime: (N+1,) float64 run time of each task.
        finish_index: (N+1,) int64: the decision at which the task, if still running, finishes
            (first i with arrival[i] >= arrival[j] + runtime[j]); N + 1 if never.
    """

    arrival: np.ndarray
    task_type: np.ndarray
    demand_index: np.ndarray
    demand: np.ndarray
    runtime: np.ndarray
    finish_index: np.ndarray

    def __post_init__(self) -> None:
        for name in ("arrival", "task_type", "demand_index", "demand", "runtime", "finish_index"):
            getattr(self, name).flags.writeable = False  # shared by the env and its readers

    @property
    def num_decisions(self) -> int:
        """N: decisions in the episode."""
        return len(self.arrival) - 1


def make_stream(
    config: AIGCConfig, arrival: np.ndarray, task_type: np.ndarray, demand_index: np.ndarray
) -> TaskStream:
    """A ``TaskStream`` from arrivals (sorted ints), types and demand indices (into the demand
    choices); run times and finish decisions are derived. Also builds hand-made scenarios."""
    demand = config.choices("demand_range").astype(np.int64)[demand_index]
    run = runtime(demand)
    # Reference: a task finishes at the first later arrival with curr_time >= arrival + runtime.
    finish = np.searchsorted(arrival.astype(np.float64), arrival + run, side="left")
    return TaskStream(arrival, task_type, demand_index, demand, run, finish.astype(np.int64))


def _arrivals(config: AIGCConfig, uniform: np.ndarray) -> np.ndarray:
    # [0] + sorted uniform times, truncated to integers, as the reference does.
    return np.hstack([[0], np.sort(uniform * config.horizon)]).astype(np.int64)


def draw_stream_legacy(
    config: AIGCConfig,
    episode_seed: int,
    arrival_rate: float,
    reuse: np.random.RandomState | None = None,
) -> TaskStream:
    """The reference task stream from ``RandomState(episode_seed)``.

    Draw order: N ~ Poisson(rate * horizon); N uniform arrival times; then per task, in turn, a
    user (``choice`` over ``num_users``), the type (``randint(0, K)``) and the demand
    (``choice``). The per-task draws are reproduced from one block of raw 32-bit words (see
    ``parse_bounded_draws``) instead of ~4500 Python-level calls. ``reuse``: see
    ``legacy_random_state``.
    """
    rs = legacy_random_state(episode_seed, reuse)
    count = int(rs.poisson(arrival_rate * config.horizon))
    arrival = _arrivals(config, rs.random(count))
    num_t = len(config.choices("demand_range"))
    _, task_type, demand_index = parse_bounded_draws(
        rs, count + 1, (config.num_users, config.num_task_types, num_t)
    )
    return make_stream(config, arrival, task_type, demand_index)


def draw_stream(config: AIGCConfig, rng: np.random.Generator, arrival_rate: float) -> TaskStream:
    """A task stream from a Generator (``world_per_episode``); same law as the reference."""
    count = int(rng.poisson(arrival_rate * config.horizon))
    arrival = _arrivals(config, rng.random(count))
    task_type = rng.integers(0, config.num_task_types, size=count + 1)
    demand_index = rng.integers(0, len(config.choices("demand_range")), size=count + 1)
    return make_stream(config, arrival, task_type, demand_index)


def parse_bounded_draws(
    rs: np.random.RandomState, num_tasks: int, sizes: tuple[int, ...], block: int | None = None
) -> list[np.ndarray]:
    """Reproduce ``num_tasks`` rounds of legacy ``randint(0, n)`` draws, one per n in ``sizes``.

    Legacy ``randint``/``choice`` draws a bounded integer from raw 32-bit Mersenne-Twister words
    by masking (mask = next power of two - 1) and rejecting values >= n; n = 1 consumes nothing.
    So we draw a block of raw words and find which of them were rejected: a word is rejected iff
    it is out of range for the draw it falls on, and with r rejections before position q it
    falls on draw (q - r) mod D. Rejections are rare (~130 per ADSAC episode), so we walk from
    one to the next. ``block``: raw words drawn at first (default: the expected number + 3% +
    64); more are drawn from the same stream when they run out. Returns one (num_tasks,) int64
    array per size.
    """
    active = [(d, n, (1 << (n - 1).bit_length()) - 1) for d, n in enumerate(sizes) if n > 1]
    out = [np.zeros(num_tasks, dtype=np.int64) for _ in sizes]
    if not active or num_tasks == 0:
        return out
    per_task = sum((mask + 1) / n for _, n, mask in active)
    length = int(num_tasks * per_task * 1.03) + 64 if block is None else block
    words = rs.randint(0, 2**32, size=length, dtype=np.uint32)
    while True:
        values = _parse_words(words, num_tasks, active)
        if values is not None:
            for column, (d, _, mask) in enumerate(active):
                out[d] = (values[:, column] & mask).astype(np.int64)
            return out
        more = rs.randint(0, 2**32, size=length // 4 + 64, dtype=np.uint32)
        words = np.concatenate([words, more])  # the stream continues where it left off


def _parse_words(
    words: np.ndarray, num_tasks: int, active: list[tuple[int, int, int]]
) -> np.ndarray | None:
    """(num_tasks, D) accepted words, or None when ``words`` runs out first."""
    num_d, length = len(active), len(words)
    need = num_tasks * num_d
    bad = np.stack([(words & mask) >= n for _, n, mask in active])  # (D, length)
    maybe = np.flatnonzero(bad.any(axis=0))  # words some draw would reject (a few %)
    # Rejections per phase offset r mod D: with r rejections before it, word q is on draw
    # (q - r) mod D.
    candidates = [maybe[bad[(maybe - r) % num_d, maybe]].tolist() for r in range(num_d)]
    rejected: list[int] = []
    start = 0
    while True:
        phase = candidates[len(rejected) % num_d]
        k = bisect.bisect_left(phase, start)
        if k == len(phase) or phase[k] - len(rejected) >= need:
            break  # the words needed all lie before the next rejection
        rejected.append(phase[k])
        start = phase[k] + 1
    if length - len(rejected) < need:
        return None
    keep = np.ones(length, dtype=bool)
    keep[rejected] = False
    return words[np.flatnonzero(keep)[:need]].reshape(num_tasks, num_d)


__all__ = [
    "TaskStream",
    "World",
    "draw_stream",
    "draw_stream_legacy",
    "draw_world",
    "draw_world_legacy",
    "legacy_random_state",
    "make_stream",
    "parse_bounded_draws",
    "runtime",
]
