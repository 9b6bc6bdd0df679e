"""Heuristics for the AIGC edge simulator (``edge_rl/AIGCEdge-v0``), every preset and layout.

They read the unwrapped env's read-only accessors (``free_capacity``, ``action_utilities``,
``feasible_mask``, ...), not the observation, so they work with every observation layout.
``crash-avoid`` and ``prophet`` are the reference's (ADSAC / AGOD ``benchmark/``) rules exactly,
ties and fallbacks included, so the reference numbers reproduce with them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from edge_rl.baselines.base import Policy
from edge_rl.envs.aigc.world import runtime


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


class BestFitPolicy(Policy):
    """Utility-blind Best Fit bin packing (this project's packing baseline).

    The server with the least room left after taking the task, among those with room (the first
    on ties), and its highest-utility model; when no server has room, the reference's fallback
    (action 0). It ignores the user's utility across servers, so it packs tightly and keeps the
    most room in one place for large tasks: on ``adsac-paper`` (world 0, episode seeds 0-19)
    2.55 crash events against Prophet's 2.95, at a return of 1764 against 1973.
    """

    name = "best-fit"

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        m = env.config.models_per_server
        left = env.free_capacity - env.current_demand
        if (left < 0).all():
            return 0
        server = int(np.argmin(np.where(left >= 0, left, np.iinfo(np.int64).max)))
        return server * m + int(np.argmax(env.action_utilities[server * m : (server + 1) * m]))


class KeepOpenProphetPolicy(Policy):
    """Prophet that keeps one server open for large tasks (this project's heuristic).

    Every crash Prophet makes on ``adsac-paper`` is one of fragmentation: no server has room for
    the task, though the servers together have (``scripts/aigc_crash_anatomy.py``). This rule
    takes Prophet's pick unless it would leave no server with at least ``reserve`` free (default:
    the largest demand of the preset, so any task still fits somewhere); then it takes the
    highest-utility action that keeps such a server, if that costs at most ``slack`` utility
    against Prophet's pick (default: any cost). Otherwise, and when no action keeps a server
    open, Prophet's pick. The defaults were chosen on episode seeds 100-199 (world 0) among
    reserves 240/300/480 and slacks 0.1/0.3/any; the effect is small (docs/history/aigc.md,
    session 21).
    """

    name = "prophet-keep-open"

    def __init__(
        self, seed: int | None = None, reserve: int | None = None, slack: float = math.inf
    ):
        super().__init__(seed)
        if reserve is not None and reserve < 0:
            raise ValueError(f"reserve={reserve}: must be >= 0 (capacity units)")
        if slack < 0:
            raise ValueError(f"slack={slack}: must be >= 0 (utility)")
        self.reserve, self.slack = reserve, float(slack)

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        m = env.config.models_per_server
        reserve = self.reserve
        if reserve is None:
            reserve = max(env.config.choices("demand_range"))
        free, demand = env.free_capacity, env.current_demand
        utility = np.where(env.feasible_mask, env.action_utilities, -np.inf)
        pick = int(np.argmax(utility))
        if utility[pick] <= 0.0:
            return 0  # Prophet's fallback
        # keeps[e]: after the task goes to server e, some server still has ``reserve`` free
        keeps = (free - demand * np.eye(len(free), dtype=free.dtype)).max(axis=1) >= reserve
        if keeps[pick // m]:
            return pick
        kept = np.where(np.repeat(keeps, m), utility, -np.inf)
        alt = int(np.argmax(kept))
        if kept[alt] > 0.0 and kept[alt] >= utility[pick] - self.slack:
            return alt
        return pick


@dataclass
class RolloutStep:
    """One simulated decision of a batch of B rollouts, as a base policy sees it.

    Attributes:
        rows_B: the task's utility-table row, type k * T + demand index i.
        demand_B: the task's demand t.
        used_BE: capacity in use per server.
        fits_BA: whether action a's server has room for the task.
        util_BA: the utility action a earns if placed.
        action_BR: the action that placed each slot's task, -1 once it ended or was killed.
        demand_BR: the demand of each slot's task.
    """

    rows_B: np.ndarray
    demand_B: np.ndarray
    used_BE: np.ndarray
    fits_BA: np.ndarray
    util_BA: np.ndarray
    action_BR: np.ndarray
    demand_BR: np.ndarray

    def load_BA(self) -> np.ndarray:
        """Demand running per action (server, model), as the ``tokens`` layout shows it."""
        b, a = self.util_BA.shape
        load_BA = np.zeros((b, a))
        bi, ri = np.nonzero(self.action_BR >= 0)
        np.add.at(load_BA, (bi, self.action_BR[bi, ri]), self.demand_BR[bi, ri])
        return load_BA


#: a base policy of the rollouts: the action of every rollout at one simulated decision
BasePick = Callable[[RolloutStep], np.ndarray]


def prophet_pick(step: RolloutStep) -> np.ndarray:
    """Prophet on a batch of simulated decisions (``ProphetPolicy``, fallback included)."""
    masked_BA = np.where(step.fits_BA, step.util_BA, -np.inf)
    pick_B = np.argmax(masked_BA, axis=1)
    best_B = masked_BA[np.arange(len(pick_B)), pick_B]
    return np.where(best_B > 0.0, pick_B, 0)


class RolloutPlanner:
    """The rollout algorithm on the known AIGC simulator, over any base policy.

    Bertsekas, Tsitsiklis and Wu ("Rollout algorithms for combinatorial optimization", J.
    Heuristics 1997): for each server with room for the task (its best model: the models of one
    server take the same capacity), simulate ``horizon`` future tasks ``samples`` times with the
    base policy placing them, and take the server whose rollouts score best. A rollout's score
    is the utility it earns minus the crash penalties it pays, minus ``crash_weight`` per crash
    event: 0 plans for the return, a larger weight trades utility for fewer crashes. The future
    is sampled, not read: arrivals from the region's Poisson rate, task types and demands
    uniform as the simulator draws them (the same sampled futures for every candidate, common
    random numbers); the present is read exactly (running tasks, their demands and end times),
    as Prophet reads the utility table. Costs ``candidates x samples x horizon`` simulated
    decisions per real one, each simulated step one batched call of ``base``.

    ``switch_z`` > 0 keeps the base policy's own server (when it has room) unless the best
    candidate's paired score difference to it (common random numbers, ``samples`` pairs)
    exceeds ``switch_z`` standard errors: with few samples the candidates' differences are
    mostly sampling noise, and 0 (the plain rollout algorithm) follows that noise away from a
    good base policy.

    Args:
        rng: the generator the futures are drawn from (the owning policy's).
        horizon, samples, crash_weight, switch_z: see above.
        base: the base policy (default: Prophet, ``prophet_pick``).
    """

    def __init__(
        self,
        rng: np.random.Generator,
        horizon: int = 40,
        samples: int = 8,
        crash_weight: float = 0.0,
        switch_z: float = 0.0,
        base: BasePick = prophet_pick,
    ) -> None:
        if horizon < 1:
            raise ValueError(f"horizon={horizon}: must be >= 1 future task")
        if samples < 1:
            raise ValueError(f"samples={samples}: must be >= 1 rollout per candidate")
        if not crash_weight >= 0:
            raise ValueError(f"crash_weight={crash_weight}: must be >= 0 (reward units)")
        if not switch_z >= 0:
            raise ValueError(f"switch_z={switch_z}: must be >= 0 (standard errors)")
        if switch_z > 0 and samples < 2:
            raise ValueError(f"switch_z={switch_z} needs samples >= 2 (a standard error)")
        self.horizon, self.samples, self.crash_weight = int(horizon), int(samples), crash_weight
        self.switch_z, self.rng, self.base = float(switch_z), rng, base

    def reset(self, env: gym.Env) -> None:
        """Read the episode's world (utility table) from the unwrapped simulator."""
        cfg = env.config
        self.util_CA = np.asarray(env.world.utility_table(cfg))  # row k * T + i
        self.demands_T = cfg.choices("demand_range").astype(np.int64)
        self.runtimes_T = np.asarray(runtime(self.demands_T), dtype=np.float64)

    def plan(self, env: gym.Env, base_action: int) -> int:
        """The best-scoring candidate server's best model; ``base_action`` (the base policy's
        own choice now) when fewer than two servers have room."""
        m = env.config.models_per_server
        servers = np.flatnonzero(env.free_capacity >= env.current_demand)
        if len(servers) < 2:
            return int(base_action)
        utility_A = env.action_utilities
        per_server = utility_A.reshape(-1, m)
        cand_C = servers * m + np.argmax(per_server[servers], axis=1)
        scores_CS = utility_A[cand_C, None] + self.rollouts(env, cand_C)
        best = int(np.argmax(scores_CS.mean(axis=1)))
        stay = np.flatnonzero(servers == base_action // m)
        if self.switch_z > 0 and len(stay) and best != stay[0]:
            diff_S = scores_CS[best] - scores_CS[stay[0]]
            if diff_S.mean() <= self.switch_z * diff_S.std(ddof=1) / np.sqrt(len(diff_S)):
                best = int(stay[0])
        return int(cand_C[best])

    def future(self, env: gym.Env) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``samples`` sampled futures of ``horizon`` tasks: arrival times, utility-table rows,
        demands, run times (``[S, H]``); tasks past the episode's horizon get arrival -1."""
        cfg, s, h = env.config, self.samples, self.horizon
        rate = env.world.arrival_rate
        gaps_SH = self.rng.exponential(1.0 / rate, size=(s, h))
        arrival_SH = np.floor(env.current_time + np.cumsum(gaps_SH, axis=1)).astype(np.int64)
        arrival_SH[arrival_SH >= cfg.horizon] = -1
        kind_SH = self.rng.integers(0, cfg.num_task_types, size=(s, h))
        index_SH = self.rng.integers(0, len(self.demands_T), size=(s, h))
        rows_SH = kind_SH * len(self.demands_T) + index_SH
        return arrival_SH, rows_SH, self.demands_T[index_SH], self.runtimes_T[index_SH]

    def rollouts(self, env: gym.Env, cand_C: np.ndarray) -> np.ndarray:
        """Score of every (candidate, sampled future): ``[C, S]``."""
        m, coef = env.config.models_per_server, env.config.crash_penalty
        cap_E = env.capacities
        c, s, h = len(cand_C), self.samples, self.horizon
        arrival_SH, rows_SH, demand_SH, run_SH = self.future(env)
        now, demand = env.current_time, env.current_demand
        running = env.running_tasks
        # slots: the running tasks, the task placed now, then one per future task
        n0 = len(running["demand"])
        slots = n0 + 1 + h
        b = c * s  # one simulation per (candidate, sample), candidate-major
        action_BR = np.full((b, slots), -1, dtype=np.int64)
        action_BR[:, :n0] = running["action"]
        action_BR[:, n0] = np.repeat(cand_C, s)
        demand_BR = np.zeros((b, slots), dtype=np.int64)
        demand_BR[:, :n0] = running["demand"]
        demand_BR[:, n0] = demand
        start_BR = np.zeros((b, slots), dtype=np.float64)
        start_BR[:, :n0] = running["arrival"]
        start_BR[:, n0] = now
        run_BR = np.ones((b, slots), dtype=np.float64)
        run_BR[:, :n0] = running["runtime"]
        run_BR[:, n0] = runtime(demand)
        used_BE = np.tile(cap_E - env.free_capacity, (b, 1))
        used_BE[np.arange(b), action_BR[:, n0] // m] += demand
        score_B = np.zeros(b)
        rows_B_H = np.tile(rows_SH, (c, 1))
        arrival_B_H = np.tile(arrival_SH, (c, 1))
        demand_B_H = np.tile(demand_SH, (c, 1))
        run_B_H = np.tile(run_SH, (c, 1))
        all_b = np.arange(b)
        for k in range(h):
            t_B = arrival_B_H[:, k]
            live_B = t_B >= 0
            if not live_B.any():
                break
            # tasks that ended by this arrival free their capacity
            done_BR = (action_BR >= 0) & (start_BR + run_BR <= t_B[:, None]) & live_B[:, None]
            if done_BR.any():
                bi, ri = np.nonzero(done_BR)
                np.subtract.at(used_BE, (bi, action_BR[bi, ri] // m), demand_BR[bi, ri])
                action_BR[done_BR] = -1
            d_B = demand_B_H[:, k]
            fits_BA = np.repeat(cap_E[None, :] - used_BE >= d_B[:, None], m, axis=1)
            util_BA = self.util_CA[rows_B_H[:, k]]
            step = RolloutStep(rows_B_H[:, k], d_B, used_BE, fits_BA, util_BA, action_BR, demand_BR)
            pick_B = np.asarray(self.base(step), dtype=np.int64)
            e_B = pick_B // m
            placed_B = live_B & fits_BA[all_b, pick_B]
            crashed_B = live_B & ~placed_B
            score_B += np.where(placed_B, util_BA[all_b, pick_B], 0.0)
            if crashed_B.any():
                on_BR = crashed_B[:, None] & (action_BR >= 0) & (action_BR // m == e_B[:, None])
                left_BR = 1.0 - (t_B[:, None] - start_BR) / run_BR
                penalty_B = coef + np.where(on_BR, left_BR * coef, 0.0).sum(axis=1)
                score_B -= np.where(crashed_B, penalty_B + self.crash_weight, 0.0)
                action_BR[on_BR] = -1
                used_BE[crashed_B, e_B[crashed_B]] = 0
            slot = n0 + 1 + k
            action_BR[placed_B, slot] = pick_B[placed_B]
            demand_BR[:, slot] = d_B
            start_BR[:, slot] = t_B
            run_BR[:, slot] = run_B_H[:, k]
            used_BE[all_b[placed_B], e_B[placed_B]] += d_B[placed_B]
        return score_B.reshape(c, s)


class RolloutObserver:
    """The observations the simulator would show in a batch of simulated decisions, so that a
    policy that reads observations (a trained checkpoint) can be the rollouts' base policy.

    Args:
        env: the unwrapped simulator of the episode (its layout, world and normalisers).
    """

    def __init__(self, env: gym.Env) -> None:
        from edge_rl.envs.aigc.observation import ObservationBuilder

        self._make = ObservationBuilder
        self.config, self.world = env.config, env.world
        self.num_demands = len(self.config.choices("demand_range"))
        self._builders: dict[int, ObservationBuilder] = {}

    def __call__(self, step: RolloutStep) -> np.ndarray:
        """(B, *observation shape) float32, as ``env.step`` would return them."""
        b = len(step.rows_B)
        builder = self._builders.get(b)
        if builder is None:  # one per batch size (candidates x samples)
            builder = self._make(self.config, b)
            builder.set_world(slice(None), self.world)
            self._builders[b] = builder
        load_BA = step.load_BA() if builder.layout == "tokens" else None
        kind_B = step.rows_B // self.num_demands
        return builder.build(step.rows_B, kind_B, step.demand_B, step.used_BE, load_BA)


class ProphetRolloutPolicy(Policy):
    """Prophet improved by rollouts on the known simulator (this project's planning baseline).

    ``RolloutPlanner`` with Prophet as the base policy; when Prophet's own pick does not fit or
    earns nothing, Prophet's fallback. What it is for: how far below Prophet's crash events a
    policy with Prophet's knowledge, and planning, can go at Prophet's return. (A trained
    checkpoint as the base policy: ``edge-rl evaluate --act-by rollout``.)
    """

    name = "prophet-rollout"

    def __init__(
        self,
        seed: int | None = None,
        horizon: int = 40,
        samples: int = 8,
        crash_weight: float = 0.0,
        switch_z: float = 0.0,
    ) -> None:
        super().__init__(seed)
        self.planner = RolloutPlanner(self.rng, horizon, samples, crash_weight, switch_z)
        self._prophet = ProphetPolicy()  # the base policy at the real decision

    def reset(self, env: gym.Env) -> None:
        self.planner.reset(env)

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        base = self._prophet.act(obs, env)
        if not env.feasible_mask[base] or env.action_utilities[base] <= 0.0:
            return base  # Prophet's fallback
        return self.planner.plan(env, base)


#: command-line name -> policy class
AIGC_POLICIES: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (
        RandomPolicy,
        RoundRobinPolicy,
        CrashAvoidPolicy,
        ProphetPolicy,
        CheapCrashProphetPolicy,
        KeepOpenProphetPolicy,
        BestFitPolicy,
        ProphetRolloutPolicy,
    )
}

__all__ = [
    "AIGC_POLICIES",
    "BestFitPolicy",
    "CheapCrashProphetPolicy",
    "CrashAvoidPolicy",
    "KeepOpenProphetPolicy",
    "ProphetPolicy",
    "ProphetRolloutPolicy",
    "RandomPolicy",
    "RolloutObserver",
    "RolloutPlanner",
    "RolloutStep",
    "RoundRobinPolicy",
    "prophet_pick",
]
