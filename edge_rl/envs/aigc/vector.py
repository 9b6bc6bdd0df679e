"""The AIGC edge simulator as a batched numpy ``gymnasium.vector.VectorEnv``.

Every lane is the scalar ``AIGCEdgeEnv`` (same seed, same numbers: see the alignment tests),
stepped for all lanes at once with array operations: no Python loop over lanes per step, only
one per lane that autoresets (to draw its next task stream). Autoreset follows gymnasium 1.x
``NEXT_STEP`` semantics; infos follow gymnasium's vector convention (arrays plus ``_key``
masks), exactly as ``SyncVectorEnv`` over scalar envs would build them.

State per lane b, padded to L task slots (grown when an episode is longer):

- the episode's tasks: arrival, demand, runtime, type/demand code, and the tasks sorted by the
  decision at which they finish (``_fin_task``, with ``_fin_end[b, i]`` the number finishing by
  decision i; consumed from ``_fin_ptr``);
- ``_where[b, j]``: the action of task j while it runs, else -1;
- ``_used`` (B, E) and ``_load`` (B, A): demand running per server and per (server, model).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from edge_rl.envs.aigc.config import AIGCConfig
from edge_rl.envs.aigc.env import SEED_LIMIT, resolve_config
from edge_rl.envs.aigc.observation import ObservationBuilder
from edge_rl.envs.aigc.world import (
    TaskStream,
    World,
    draw_stream,
    draw_stream_legacy,
    draw_world,
    draw_world_legacy,
    runtime,
)

_SUMMARY_TYPES = {
    "return": np.float64,
    "length": np.int64,
    "utility": np.float64,
    "crash_events": np.int64,
    "tasks_killed": np.int64,
    "crash_rate": np.float64,
    "tasks_dropped": np.int64,
}


class AIGCEdgeVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` lanes of ``AIGCEdgeEnv`` in one batched numpy simulator.

    Args:
        num_envs: number of lanes B.
        preset: config preset name (see ``edge_rl.envs.aigc.config.PRESETS``).
        world_seed: seed of the fixed world shared by all lanes (reference presets).
        config: a full config instead of ``preset``.
        render_mode: must be None.
        **overrides: ``AIGCConfig`` fields to change.

    ``reset(seed=s)`` seeds lane i with ``s + i`` (a list seeds lanes one by one), so lane i
    reproduces ``AIGCEdgeEnv.reset(seed=s + i)``; its later episodes continue its own generator,
    as the scalar env's ``reset()`` does.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 1,
        preset: str = "adsac-paper",
        world_seed: int = 0,
        config: AIGCConfig | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        if not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r}: must be an integer >= 1")
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}: this env has no rendering; use None")
        if not isinstance(world_seed, int | np.integer) or world_seed < 0:
            raise ValueError(f"world_seed={world_seed!r}: must be an integer >= 0")
        self.config = cfg = resolve_config(preset, config, overrides)
        self.num_envs = n = int(num_envs)
        self.world_seed = int(world_seed)
        self.render_mode = None
        self._m, self._e, self._a = cfg.models_per_server, cfg.num_servers, cfg.num_actions
        self._num_t = len(cfg.choices("demand_range"))
        self._rt_max = float(runtime(cfg.choices("demand_range")[-1]))
        self._obs = ObservationBuilder(cfg, num_envs=n)
        self.single_observation_space = self._obs.space
        self.single_action_space = gym.spaces.Discrete(self._a)
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = batch_space(self.single_action_space, n)
        self._lanes = np.arange(n)
        self._lane_e = self._lanes * self._e  # flat offsets into (B, E) and (B, A) arrays
        self._lane_a = self._lanes * self._a
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._legacy = np.random.RandomState(0)  # reseeded per episode (reference presets)
        self._capacity = np.zeros((n, self._e), dtype=np.int64)
        table = self._a * len(cfg.choices("demand_range")) * cfg.num_task_types
        if cfg.world_per_episode:  # one utility table per lane; a shared one otherwise
            self._util = np.zeros((n, table))
            self._util_stride = table
        else:
            world = draw_world_legacy(cfg, self.world_seed)
            self._util = world.utility_table(cfg).reshape(1, -1)
            self._util_stride = 0
            for b in range(n):
                self._set_lane_world(b, world)
        expected = cfg.max_arrival_rate * cfg.horizon
        self._alloc(int(expected + 8 * np.sqrt(expected) + 64))
        self._used = np.zeros((n, self._e), dtype=np.int64)
        self._load = np.zeros((n, self._a), dtype=np.int64)
        self._ptr = np.zeros(n, dtype=np.int64)
        self._fin_ptr = np.zeros(n, dtype=np.int64)
        self._num_dec = np.zeros(n, dtype=np.int64)
        self._return = np.zeros(n)
        self._utility_sum = np.zeros(n)
        self._crashes = np.zeros(n, dtype=np.int64)
        self._killed = np.zeros(n, dtype=np.int64)
        self._autoreset = np.zeros(n, dtype=bool)
        self._started = False

    # -- buffers ---------------------------------------------------------------------------------
    _PADS = {
        "_arrival": 0,
        "_demand": 0,
        "_runtime": 1.0,
        "_code": 0,
        "_ttype": 0,
        "_lo": 0,
        "_fin_end": 0,
        "_fin_task": 0,
        "_where": -1,
    }

    def _alloc(self, slots: int) -> None:
        """(Re)allocate the per-task lane buffers with ``slots`` slots, keeping the data that
        fits (growing keeps all of it)."""
        self._slots = slots
        for name, fill in self._PADS.items():
            dtype = np.float64 if name in ("_arrival", "_runtime") else np.int64
            new = np.full((self.num_envs, slots), fill, dtype=dtype)
            old = getattr(self, name, None)
            if old is not None:
                keep = min(old.shape[1], slots)
                new[:, :keep] = old[:, :keep]
            setattr(self, name, new)
        self._row = self._lanes * slots  # flat offset of each lane's row

    def _set_lane_world(self, b: int, world: World) -> None:
        self._capacity[b] = world.capacity
        self._obs.set_world(b, world)
        if self._util_stride:
            self._util[b] = world.utility_table(self.config).reshape(-1)

    def _reset_lane(self, b: int, seed: int | None) -> None:
        cfg = self.config
        if seed is not None:
            self._rngs[b] = seeding.np_random(seed)[0]
        elif self._rngs[b] is None:
            self._rngs[b] = seeding.np_random()[0]
        rng = self._rngs[b]
        if cfg.world_per_episode:
            world = draw_world(cfg, rng)
            self._set_lane_world(b, world)
            stream = draw_stream(cfg, rng, world.arrival_rate)
        else:
            episode_seed = seed if seed is not None else rng.integers(SEED_LIMIT)
            stream = draw_stream_legacy(cfg, int(episode_seed), cfg.arrival_rate, self._legacy)
        self._load_stream(b, stream)

    def _load_stream(self, b: int, stream: TaskStream) -> None:
        count = len(stream.arrival)  # N + 1 tasks
        if count > self._slots:
            self._alloc(max(count, int(self._slots * 1.25)))
        arrival = stream.arrival.astype(np.float64)
        self._arrival[b, :count] = arrival
        self._demand[b, :count] = stream.demand
        self._runtime[b, :count] = stream.runtime
        self._ttype[b, :count] = stream.task_type
        self._code[b, :count] = stream.task_type * self._num_t + stream.demand_index
        # A task running at decision i arrived after arrival[i] - the longest runtime.
        self._lo[b, :count] = np.searchsorted(arrival, arrival - self._rt_max, side="right")
        self._fin_task[b, :count] = np.argsort(stream.finish_index, kind="stable")
        # _fin_end[b, i]: how many tasks finish at decisions <= i (CSR ends into _fin_task).
        finishing = np.bincount(stream.finish_index, minlength=count + 1)
        self._fin_end[b, :count] = np.cumsum(finishing)[:count]
        self._where[b] = -1
        self._used[b] = 0
        self._load[b] = 0
        self._ptr[b] = self._fin_ptr[b] = 0
        self._num_dec[b] = stream.num_decisions
        self._return[b] = self._utility_sum[b] = 0.0
        self._crashes[b] = self._killed[b] = 0

    # -- gymnasium API ---------------------------------------------------------------------------
    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every lane; ``seed``: None, an int (lane i gets seed + i) or one per lane."""
        if options:
            raise ValueError(f"options={options!r}: this env takes no reset options")
        if seed is None or isinstance(seed, int | np.integer):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"{len(seeds)} seeds for {self.num_envs} lanes: give one per lane")
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        for b, lane_seed in enumerate(seeds):
            self._reset_lane(b, lane_seed)
        self._autoreset[:] = False
        self._started = True
        info = {"time": np.zeros(self.num_envs, dtype=np.int64)}
        info["_time"] = np.ones(self.num_envs, dtype=bool)
        return self._observe(), info

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every lane; lanes that terminated on the previous step reset instead."""
        if not self._started:
            raise RuntimeError("step() before reset(): call env.reset(seed=...) first")
        act = self._check_actions(actions)
        resetting = np.flatnonzero(self._autoreset)
        for b in resetting:
            self._reset_lane(int(b), None)
        go = ~self._autoreset
        ptr = self._ptr
        at = self._row + ptr
        demand = self._demand.ravel()[at]
        server = act // self._m
        at_server = self._lane_e + server
        used, load = self._used.ravel(), self._load.ravel()
        free = self._capacity.ravel()[at_server] - used[at_server]
        crash = (demand > free) & go
        placed = go & ~crash
        add = demand * placed
        used[at_server] += add  # one (lane, server) pair per lane: no repeated index
        load[self._lane_a + act] += add
        self._where.ravel()[at] = np.where(placed, act, -1)
        code = self._code.ravel()[at]
        util_at = self._lanes * self._util_stride + code * self._a + act
        utility = np.where(placed, self._util.ravel()[util_at], 0.0)
        reward = utility.copy()
        killed = np.zeros(self.num_envs, dtype=np.int64)
        crashed = np.flatnonzero(crash)
        if crashed.size:
            penalty, killed[crashed] = self._crash(crashed, server[crashed])
            reward[crashed] = -penalty
        ptr += go
        self._finish()
        self._return += reward
        self._utility_sum += utility
        terminated = go & (ptr == self._num_dec)
        self._autoreset = terminated.copy()  # the caller may write into what we return
        info = self._step_info(go, utility, crash, killed, terminated)
        truncated = np.zeros(self.num_envs, dtype=bool)
        return self._observe(), reward, terminated, truncated, info

    def _crash(self, lanes: np.ndarray, server: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Crash ``server[c]`` of each lane ``lanes[c]``: kill its tasks; return the penalties
        and the numbers killed. The penalty is summed in the reference's order, as the scalar
        env does (``np.add.at`` adds in index order), so the floats agree exactly."""
        m, coef = self._m, self.config.crash_penalty
        ptr, row = self._ptr[lanes], self._row[lanes]
        lo = self._lo.ravel()[row + ptr]
        width = max(int((ptr - lo).max()), 1)
        # Candidate running tasks lo..ptr-1; slots past them are clipped to the current task,
        # whose _where is -1 (it was not placed), so they never match a server.
        flat = row[:, None] + np.minimum(lo[:, None] + np.arange(width), ptr[:, None])
        action = self._where.ravel()[flat]
        first = server[:, None] * m
        rr, cc = np.nonzero((action >= first) & (action < first + m))
        task = flat[rr, cc]
        now = self._arrival.ravel()[row + ptr]
        term = (1 - (now[rr] - self._arrival.ravel()[task]) / self._runtime.ravel()[task]) * coef
        penalty = np.full(len(lanes), coef)
        if self.config.reference == "agod":  # c + t1 + t2 + ... in arrival order
            np.add.at(penalty, rr, term)
        else:  # c + (model 0's tasks, summed in arrival order) + (model 1's) + ...
            partial = np.zeros(len(lanes) * m)
            np.add.at(partial, rr * m + action[rr, cc] % m, term)
            for model in range(m):
                penalty = penalty + partial[model::m]
        self._where.ravel()[task] = -1
        self._used.ravel()[lanes * self._e + server] = 0
        load_at = (lanes * self._a + server * m)[:, None] + np.arange(m)
        self._load.ravel()[load_at] = 0
        killed = np.bincount(rr, minlength=len(lanes))
        self._crashes[lanes] += 1
        self._killed[lanes] += killed
        return penalty, killed

    def _finish(self) -> None:
        """Free the capacity of every running task whose run ends by its lane's current time.

        The tasks finishing at decision i of lane b are ``_fin_task[b, _fin_ptr[b]:end]`` with
        end = ``_fin_end[b, i]``; all lanes' ranges are flattened into one index array.
        """
        end = self._fin_end.ravel()[self._row + self._ptr]
        count = end - self._fin_ptr
        total = int(count.sum())
        if total:
            first = self._row + self._fin_ptr  # flat slot of each lane's first due event
            skip = np.cumsum(count) - count
            slot = np.repeat(first - skip, count) + np.arange(total)
            lane = np.repeat(self._lanes, count)
            at = self._row[lane] + self._fin_task.ravel()[slot]
            where = self._where.ravel()
            action = where[at]
            run = action >= 0
            lane, at, action = lane[run], at[run], action[run]
            demand = self._demand.ravel()[at]
            np.subtract.at(self._used.ravel(), lane * self._e + action // self._m, demand)
            np.subtract.at(self._load.ravel(), lane * self._a + action, demand)
            where[at] = -1
        self._fin_ptr = end

    def _step_info(
        self,
        go: np.ndarray,
        utility: np.ndarray,
        crash: np.ndarray,
        killed: np.ndarray,
        terminated: np.ndarray,
    ) -> dict[str, Any]:
        n = self.num_envs
        info: dict[str, Any] = {}
        if go.any():  # resetting lanes report only their reset info, as SyncVectorEnv does
            info.update(utility=utility, crashed=crash, tasks_killed=killed)
            info.update(_utility=go, _crashed=go.copy(), _tasks_killed=go.copy())
        info["time"] = self._arrival.ravel()[self._row + self._ptr].astype(np.int64)
        info["_time"] = np.ones(n, dtype=bool)
        if terminated.any():
            length = self._num_dec
            values = {
                "return": self._return,
                "length": length,
                "utility": self._utility_sum,
                "crash_events": self._crashes,
                "tasks_killed": self._killed,
                "crash_rate": self._crashes / np.maximum(length, 1),
                "tasks_dropped": self._crashes,
            }
            summary: dict[str, Any] = {}
            for key, dtype in _SUMMARY_TYPES.items():
                summary[key] = np.where(terminated, values[key], 0).astype(dtype)
                summary[f"_{key}"] = terminated.copy()
            info["summary"] = summary
            info["_summary"] = terminated.copy()
        return info

    def _check_actions(self, actions: Any) -> np.ndarray:
        act = np.asarray(actions)
        if act.shape != (self.num_envs,) or act.dtype.kind not in "iu":
            raise ValueError(
                f"actions of shape {act.shape} and dtype {act.dtype}: must be {self.num_envs} "
                f"integers in [0, {self._a}), one per lane"
            )
        bad = (act < 0) | (act >= self._a)
        if bad.any():
            lane = int(np.argmax(bad))
            raise ValueError(
                f"actions[{lane}]={act[lane]}: out of range, every action must be in [0, {self._a})"
            )
        return act.astype(np.int64)

    def _observe(self) -> np.ndarray:
        at = self._row + self._ptr
        return self._obs.build(
            self._code.ravel()[at],
            self._ttype.ravel()[at],
            self._demand.ravel()[at],
            self._used,
            self._load,
        )


__all__ = ["AIGCEdgeVectorEnv"]
