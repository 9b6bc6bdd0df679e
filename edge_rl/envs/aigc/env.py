"""The edge AIGC service-selection simulator (scalar gymnasium env)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from edge_rl.envs.aigc.config import AIGCConfig, make_aigc_config
from edge_rl.envs.aigc.observation import ObservationBuilder
from edge_rl.envs.aigc.world import (
    TaskStream,
    World,
    draw_stream,
    draw_stream_legacy,
    draw_world,
    draw_world_legacy,
)

SEED_LIMIT = 2**32  # episode seeds drawn for reset(seed=None) lie in [0, 2**32)


def resolve_config(preset: str, config: AIGCConfig | None, overrides: dict[str, Any]) -> AIGCConfig:
    """``config`` (with ``overrides`` applied) if given, else the preset with ``overrides``."""
    if config is None:
        return make_aigc_config(preset, **overrides)
    return config.with_overrides(**overrides)


#: keyword arguments of the envs' constructors that are not ``AIGCConfig`` fields
ENV_ARGUMENTS = ("preset", "world_seed", "config", "render_mode", "num_envs")


def config_of_env_kwargs(env_kwargs: dict[str, Any]) -> AIGCConfig:
    """The ``AIGCConfig`` an env built with ``env_kwargs`` (an RLlib ``env_config``) would
    simulate; a ValueError for an unknown preset or field, as the env itself raises."""
    overrides = {k: v for k, v in env_kwargs.items() if k not in ENV_ARGUMENTS}
    return resolve_config(
        env_kwargs.get("preset", "adsac-paper"), env_kwargs.get("config"), overrides
    )


def episode_summary_dict(
    total: float, length: int, utility: float, crashes: int, killed: int
) -> dict[str, Any]:
    """The per-episode summary both envs report (``info["summary"]`` on the last step)."""
    return {
        "return": float(total),
        "length": int(length),
        "utility": float(utility),
        "crash_events": int(crashes),
        "tasks_killed": int(killed),
        "crash_rate": float(crashes / length) if length else 0.0,
        "tasks_dropped": int(crashes),  # a crash drops the task that caused it
    }


class AIGCEdgeEnv(gym.Env[np.ndarray, np.int64]):
    """## Description

    Users send generative-AI tasks to an edge network of E servers hosting M AIGC models each.
    Tasks arrive as a Poisson process; for each one the agent picks a (server, model) pair. A
    task of type k and demand t (denoising steps) placed on model (e, m) of a server with at
    least t free capacity runs for runtime(t) = (0.001 t^2 + 2.5 t - 14) * 60 time units and
    earns utility b[e, m, k] + Q_{e,m}(t), where b is the model's capability for the type and Q
    its quality curve (0 below ax, linear from 0 at ax to by - ay at bx, flat above). If t
    exceeds the server's free capacity the server crashes: every task running on it is killed
    and the new task is dropped. Reproduces the ADSAC and D2SAC (AGOD) reference simulators
    exactly (``adsac-paper``, ``agod-paper``) and extends them to random edge regions
    (``regions``). Settings: ``edge_rl.envs.aigc.config.AIGCConfig``.

    ## Action Space

    ``Discrete(E * M)``: action a places the current task on server ``a // M``, model ``a % M``.

    ## Observation Space

    ``Box`` of float32, by ``config.observation`` (E servers, M models, K task types):

    ===============  ===================  ================================================
    layout           shape                contents
    ===============  ===================  ================================================
    ``paper-adsac``  (K + 2 + 3E,)        one_hot(k), t/t_max, rt(t)/rt(t_max); per server
                                          capacity/cap_max, free/capacity, M (constant)
    ``paper-agod``   (2E + 2,)            per server capacity/cap_max, free/capacity;
                                          t/t_max, rt(t)/rt(t_max)
    ``tokens``       (1 + E * M, K + 12)  task token, then one token per (server, model):
                                          load, capability, quality curve, feasibility
    ===============  ===================  ================================================

    Every column is in ``edge_rl.envs.aigc.observation`` (``token_layout(config)`` gives the
    token columns to model code). The paper layouts do not show model profiles; tokens do.

    ## Rewards

    An accepted task: its utility, b + Q(t) (``reward="b+q"``) or Q(t) (``reward="q"``),
    immediately. A crash: -(c + sum over the killed tasks j of c * (1 - progress_j)), with
    progress_j = (now - arrival_j) / runtime_j and c = ``crash_penalty`` (2). Worked example: a
    server of capacity 600 runs a task of t = 240 (arrived at 0, runtime(240) = 38,616) and one
    of t = 200 (arrived at 11,418, runtime(200) = 31,560). At now = 19,308 a task of t = 200
    arrives and is placed there; 200 > 600 - 440 = 160 free, so the server crashes:
    progress 0.5 and 0.25, reward = -(2 + 2 * (1 - 0.5) + 2 * (1 - 0.25)) = -4.5.

    ## Starting State

    Nothing runs; the first task arrives at time 0. The world is drawn once from
    ``RandomState(world_seed)`` (reference presets) or per episode from the env's generator
    (``world_per_episode``); the task stream from ``RandomState(seed)`` (reference presets;
    with ``seed=None`` a seed is drawn from ``self.np_random``) or from the generator.

    ## Episode End

    Terminates after N decisions, N ~ Poisson(rate * horizon) (~1505 for ``adsac-paper``,
    seed 0); the reference draws one more task, shown in the last observation, that is never
    scheduled. No truncation. Every step's info has ``utility`` (0 on a crash), ``crashed``,
    ``tasks_killed`` (by this step's crash) and ``time`` (of the next decision); the last step's
    also ``summary`` (see ``episode_summary``).

    ## Arguments

    ``AIGCEdgeEnv(preset="adsac-paper", world_seed=0, config=None, **overrides)``: ``preset``
    names a config in ``PRESETS`` (``adsac-paper``, ``agod-paper``, ``regions``); ``config``
    replaces the preset; ``overrides`` set any ``AIGCConfig`` field (e.g. ``num_servers=20``,
    ``observation="tokens"``); ``world_seed`` seeds the fixed world (ignored with
    ``world_per_episode``). ``gymnasium.make("edge_rl/AIGCEdge-v0", preset=..., world_seed=...)``.

    ## Version History

    * v0: first version (reproduces ADSAC commit ed42116 and AGOD commit 188397a).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        preset: str = "adsac-paper",
        world_seed: int = 0,
        config: AIGCConfig | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}: this env has no rendering; use None")
        self.config = cfg = resolve_config(preset, config, overrides)
        if not isinstance(world_seed, int | np.integer) or world_seed < 0:
            raise ValueError(f"world_seed={world_seed!r}: must be an integer >= 0")
        self.world_seed = int(world_seed)
        self.render_mode = None
        self._m = cfg.models_per_server
        self._num_t = len(cfg.choices("demand_range"))
        self._obs = ObservationBuilder(cfg, num_envs=1)
        self.observation_space = self._obs.space
        self.action_space = gym.spaces.Discrete(cfg.num_actions)
        self._world: World | None = None
        if not cfg.world_per_episode:
            self._set_world(draw_world_legacy(cfg, self.world_seed))
        self._stream: TaskStream | None = None
        self._terminated = False
        self._legacy = np.random.RandomState(0)  # reseeded per episode (reference presets)

    # -- episode setup ---------------------------------------------------------------------------
    def _set_world(self, world: World) -> None:
        self._world = world
        self._capacity = [int(c) for c in world.capacity]
        self._util = world.utility_table(self.config).tolist()  # [k * T + i][a]
        self._obs.set_world(0, world)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; ``seed`` seeds it (see Starting State). No options are accepted."""
        if options:
            raise ValueError(f"options={options!r}: this env takes no reset options")
        if isinstance(seed, np.integer):
            seed = int(seed)  # gymnasium's seeding takes Python ints only
        super().reset(seed=seed)
        cfg = self.config
        if cfg.world_per_episode:
            self._set_world(draw_world(cfg, self.np_random))
            stream = draw_stream(cfg, self.np_random, self._world.arrival_rate)
        else:
            episode_seed = seed if seed is not None else self.np_random.integers(SEED_LIMIT)
            stream = draw_stream_legacy(
                cfg, int(episode_seed), self._world.arrival_rate, self._legacy
            )
        self._start(stream)
        return self._observe(), {"time": 0}

    def _start(self, stream: TaskStream) -> None:
        self._stream = stream
        num = stream.num_decisions
        self._arrival = stream.arrival.tolist()
        self._demand = stream.demand.tolist()
        self._runtime = stream.runtime.tolist()
        self._code = (stream.task_type * self._num_t + stream.demand_index).tolist()
        # Tasks grouped by the decision at which they finish (CSR): decision i finishes
        # _fin_task[_fin_start[i]:_fin_start[i + 1]].
        order = np.argsort(stream.finish_index, kind="stable")
        ends = np.cumsum(np.bincount(stream.finish_index, minlength=num + 2))
        self._fin_task = order.tolist()
        self._fin_start = [0, *ends.tolist()]
        self._where = [-1] * (num + 1)  # action of each running task, -1 otherwise
        self._running: list[dict[int, int]] = [{} for _ in self._capacity]  # per server
        self._used = [0] * len(self._capacity)
        self._load = [0] * self.config.num_actions
        self._i = 0
        self._terminated = False
        self._return = self._utility_sum = 0.0
        self._crashes = self._killed = self._finished = 0

    # -- dynamics --------------------------------------------------------------------------------
    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Place the current task with ``action``; see Rewards and Episode End."""
        if self._stream is None:
            raise RuntimeError("step() before reset(): call env.reset(seed=...) first")
        if self._terminated:
            raise RuntimeError("step() after the episode terminated: call env.reset() first")
        a = self._check_action(action)
        i, m = self._i, self._m
        e = a // m
        t = self._demand[i]
        if t > self._capacity[e] - self._used[e]:
            penalty, killed = self._crash(e, self._arrival[i])
            reward, utility, crashed = -penalty, 0.0, True
        else:
            self._used[e] += t
            self._load[a] += t
            self._running[e][i] = a
            self._where[i] = a
            utility = reward = self._util[self._code[i]][a]
            crashed, killed = False, 0
        i += 1
        self._i = i
        # Tasks whose run ends by the arrival of task i free their capacity.
        for j in self._fin_task[self._fin_start[i] : self._fin_start[i + 1]]:
            aj = self._where[j]
            if aj >= 0:
                ej = aj // m
                self._used[ej] -= self._demand[j]
                self._load[aj] -= self._demand[j]
                del self._running[ej][j]
                self._where[j] = -1
                self._finished += 1
        self._return += reward
        self._utility_sum += utility
        info: dict[str, Any] = {
            "utility": utility,
            "crashed": crashed,
            "tasks_killed": killed,
            "time": self._arrival[i],
        }
        self._terminated = i == self._stream.num_decisions
        if self._terminated:
            info["summary"] = self.episode_summary()
        return self._observe(), reward, self._terminated, False, info

    def _crash(self, e: int, now: int) -> tuple[float, int]:
        """Kill every task on server e; return (penalty, tasks killed).

        The penalty's floats follow the reference's summation order exactly: ADSAC sums each
        model's tasks (in arrival order) and adds the sums to c; AGOD adds each task to c.
        """
        coef, m = self.config.crash_penalty, self._m
        running = self._running[e]
        if self.config.reference == "agod":
            penalty = coef
            for j in running:
                penalty += (1 - (now - self._arrival[j]) / self._runtime[j]) * coef
                self._where[j] = -1
        else:
            partial = [0.0] * m
            for j, aj in running.items():
                partial[aj % m] += (1 - (now - self._arrival[j]) / self._runtime[j]) * coef
                self._where[j] = -1
            penalty = coef
            for value in partial:
                penalty += value
        killed = len(running)
        self._killed += killed
        self._crashes += 1
        running.clear()
        self._used[e] = 0
        self._load[e * m : (e + 1) * m] = [0] * m
        return penalty, killed

    def _check_action(self, action: Any) -> int:
        if isinstance(action, np.ndarray):
            if action.size != 1:
                raise ValueError(f"action={action!r}: must be one integer in [0, {self._n_a()})")
            action = action.reshape(()).item()
        if isinstance(action, bool | np.bool_) or not isinstance(action, int | np.integer):
            raise ValueError(
                f"action={action!r} ({type(action).__name__}): must be an integer in "
                f"[0, {self._n_a()})"
            )
        if not 0 <= action < self._n_a():
            raise ValueError(f"action={action}: out of range, must be in [0, {self._n_a()})")
        return int(action)

    def _n_a(self) -> int:
        return self.config.num_actions

    def _observe(self) -> np.ndarray:
        i = self._i
        return self._obs.build(
            np.array([self._code[i]]),
            self._stream.task_type[i : i + 1],
            self._stream.demand[i : i + 1],
            np.array([self._used]),
            np.array([self._load]),
        )[0]

    # -- read-only accessors for heuristics ------------------------------------------------------
    def _require_episode(self) -> None:
        if self._stream is None:
            raise RuntimeError("no episode yet: call env.reset(seed=...) first")

    @property
    def world(self) -> World:
        """The current world (read-only arrays): capacities, baselines, quality curves. A fixed
        world exists from construction; a per-episode one from the first reset."""
        if self._world is None:
            raise RuntimeError("no world yet (world_per_episode): call env.reset(seed=...) first")
        return self._world

    @property
    def task_stream(self) -> TaskStream:
        """This episode's tasks (arrivals, types, demands, run times), read-only arrays."""
        self._require_episode()
        return self._stream

    @property
    def capacities(self) -> np.ndarray:
        """(E,) int64 capacity of each server."""
        self._require_episode()
        return np.array(self._capacity, dtype=np.int64)

    @property
    def free_capacity(self) -> np.ndarray:
        """(E,) int64 free capacity of each server now (capacity minus running demand)."""
        self._require_episode()
        return np.array(self._capacity, dtype=np.int64) - np.array(self._used, dtype=np.int64)

    @property
    def running_demand(self) -> np.ndarray:
        """(E * M,) int64 demand running on each (server, model), indexed by action."""
        self._require_episode()
        return np.array(self._load, dtype=np.int64)

    @property
    def current_task_type(self) -> int:
        """Type k of the task to place now."""
        self._require_episode()
        return int(self._stream.task_type[self._i])

    @property
    def current_demand(self) -> int:
        """Demand t of the task to place now."""
        self._require_episode()
        return self._demand[self._i]

    @property
    def current_time(self) -> int:
        """Arrival time of the task to place now."""
        self._require_episode()
        return self._arrival[self._i]

    @property
    def action_utilities(self) -> np.ndarray:
        """(E * M,) float64: the utility each action would earn for the current task if its
        server had room (the reward when it does not crash)."""
        self._require_episode()
        return np.array(self._util[self._code[self._i]])

    @property
    def feasible_mask(self) -> np.ndarray:
        """(E * M,) bool: actions whose server has room for the current task (no crash)."""
        return np.repeat(self.free_capacity >= self.current_demand, self._m)

    @property
    def crash_penalties(self) -> np.ndarray:
        """(E,) float64: the penalty (positive) a crash of each server would cost now."""
        self._require_episode()
        now, coef = self.current_time, self.config.crash_penalty
        out = np.full(len(self._capacity), coef)
        for e, running in enumerate(self._running):
            for j in running:
                out[e] += (1 - (now - self._arrival[j]) / self._runtime[j]) * coef
        return out

    @property
    def running_tasks(self) -> dict[str, np.ndarray]:
        """The tasks running now, one entry per task (arrival order within each server):
        ``action`` (int64, the (server, model) it runs on), ``demand`` (int64), ``arrival``
        (int64) and ``runtime`` (float64). A task frees its capacity at the first arrival at or
        after ``arrival + runtime``; a crash of its server kills it."""
        self._require_episode()
        tasks = [j for running in self._running for j in running]
        return {
            "action": np.array([self._where[j] for j in tasks], dtype=np.int64),
            "demand": np.array([self._demand[j] for j in tasks], dtype=np.int64),
            "arrival": np.array([self._arrival[j] for j in tasks], dtype=np.int64),
            "runtime": np.array([self._runtime[j] for j in tasks], dtype=np.float64),
        }

    @property
    def counts(self) -> dict[str, int]:
        """Task counts so far: decided = finished + killed + running + dropped."""
        self._require_episode()
        return {
            "decided": self._i,
            "finished": self._finished,
            "killed": self._killed,
            "running": sum(len(r) for r in self._running),
            "dropped": self._crashes,
        }

    def episode_summary(self) -> dict[str, Any]:
        """This episode so far: return, length (decisions), utility (summed), crash_events,
        tasks_killed, crash_rate (crash events per decision), tasks_dropped."""
        self._require_episode()
        return episode_summary_dict(
            self._return, self._i, self._utility_sum, self._crashes, self._killed
        )


__all__ = [
    "ENV_ARGUMENTS",
    "AIGCEdgeEnv",
    "config_of_env_kwargs",
    "episode_summary_dict",
    "resolve_config",
]
