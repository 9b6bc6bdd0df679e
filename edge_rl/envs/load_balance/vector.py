"""The load-balancing simulator batched over lanes in numpy; lane i equals a scalar env exactly.

State lives in flat arrays: per (lane, server) the FIFO's head / first-waiting / tail job, the job
in service and its finish time, the queued work; per (lane, job) its arrival, size, finish time,
the FIFO link to the next job on the same server, and the *push key* of its completion event.

Park orders events by (time, insertion counter). Only one ordering is observable: a completion
at exactly the next arrival's time is processed before that arrival iff it was pushed before the
arrival was. Within step k, the arrival is pushed after the scheduled job's start (key 2k) and
before any start triggered while the clock runs (key 2k + 1), so "pushed before" is
``key <= 2k``. Each step pops, in vectorised rounds over all (lane, server) pairs at once,
every head completion that Park would pop before the next arrival; a round is one more
completion per server, so rounds are few (the final, draining step needs one per queued job).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from edge_rl.envs.load_balance.config import LoadBalanceConfig
from edge_rl.envs.load_balance.env import TASK_STREAM_KEY, make_cursor
from edge_rl.envs.load_balance.observation import encode_observation, observation_space
from edge_rl.envs.load_balance.schedule import WorkloadSchedule
from edge_rl.envs.load_balance.workload import draw_job_stream, legacy_seeded, skip_jobs

_NEVER = np.int64(2**62)  # "next arrival" time of a lane's last step: drain everything


class LoadBalanceVectorEnv(VectorEnv):
    """``num_envs`` load-balancing lanes stepped together (gymnasium ``VectorEnv``).

    Lane i behaves exactly like ``LoadBalanceEnv`` reset with seed ``seed + i`` (same
    observations, rewards, terminations and summaries), with NEXT_STEP autoreset: the step
    after a lane terminates resets it (its action is ignored, reward 0). Arguments as for
    ``LoadBalanceEnv`` plus ``num_envs``; with a schedule, every lane walks its own copy of it.

    Infos follow gymnasium's vector convention (``info[key]`` array + ``info["_" + key]`` mask):
    ``time``, ``jobs_done``, ``task`` every step; ``trial``, ``episode_in_task``, ``held_out``
    for lanes that were reset; ``summary`` (``return``, ``length``, ``mean_jct``, ``jobs``) for
    lanes that terminated.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 1,
        preset: str = "park",
        config: LoadBalanceConfig | None = None,
        schedule: WorkloadSchedule | str | list[tuple[Any, int]] | None = None,
        **overrides: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r}: must be an integer >= 1")
        self.num_envs = n = int(num_envs)
        self._cursors = [make_cursor(preset, config, schedule, overrides) for _ in range(n)]
        space_config = self._cursors[0].space_config
        if space_config.reward_mode != "park":
            raise ValueError(
                f"reward_mode={space_config.reward_mode!r}: the batched load-balancing env "
                "computes Park's reward only; use LoadBalanceEnv or the trials env "
                "(edge_rl/LoadBalanceTrials-v0) for other reward modes"
            )
        self._space_config = space_config
        self.single_observation_space = observation_space(space_config)
        self.single_action_space = spaces.Discrete(space_config.num_servers)
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = batch_space(self.single_action_space, n)
        self.render_mode = None
        self._servers = s = space_config.num_servers
        self._clip = float(space_config.obs_clip)
        self._lanes = np.arange(n)
        self._server_ids = np.arange(s)
        self._rs: list[np.random.RandomState | None] = [None] * n
        self._stream_states: list[Any] = [None] * n
        self._task_names = np.full(n, space_config.name, dtype=object)
        self._trial = np.zeros(n, dtype=np.int64)
        self._episode_in_task = np.zeros(n, dtype=np.int64)
        self._held_out = np.zeros(n, dtype=bool)
        # Per lane: next job index, clock, episode length, jobs in system / done, return.
        self._k = np.zeros(n, dtype=np.int64)
        self._now = np.zeros(n, dtype=np.int64)
        self._jobs = np.ones(n, dtype=np.int64)
        self._in_system = np.zeros(n, dtype=np.int64)
        self._done = np.zeros(n, dtype=np.int64)
        self._return = np.zeros(n, dtype=np.float64)
        self._running = np.zeros(n, dtype=bool)
        self._autoreset = np.zeros(n, dtype=bool)
        # Per (lane, server), flat index lane * S + server.
        self._curr = np.full(n * s, -1, dtype=np.int64)  # job in service (Park's curr_job)
        self._head = np.full(n * s, -1, dtype=np.int64)  # oldest job whose completion is unpopped
        self._next_q = np.full(n * s, -1, dtype=np.int64)  # first waiting job
        self._tail = np.full(n * s, -1, dtype=np.int64)  # last job placed
        self._cfin = np.zeros(n * s, dtype=np.int64)  # finish time of the job in service
        self._qwork = np.zeros(n * s, dtype=np.int64)
        self._hfin = np.full(n * s, _NEVER, dtype=np.int64)  # head job's finish time (cache)
        self._hkey = np.zeros(n * s, dtype=np.int64)  # head job's completion push key (cache)
        self._rates = np.tile(np.array(space_config.effective_rates, dtype=np.float64), n)
        self._alloc_jobs(space_config.jobs_per_episode)

    # -- gymnasium API ----------------------------------------------------------------------------
    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every lane; an int ``seed`` seeds lane i with ``seed + i``, a list lane by lane."""
        if seed is None or isinstance(seed, int | np.integer):
            if seed is not None:
                legacy_seeded(seed)
                legacy_seeded(int(seed) + self.num_envs - 1)  # every lane's seed must be valid
            super().reset(seed=None if seed is None else int(seed))
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            for lane_seed in seeds:
                if lane_seed is not None:
                    legacy_seeded(lane_seed)  # raises a clear error for a bad seed
            if len(seeds) != self.num_envs:
                raise ValueError(f"seed list of length {len(seeds)}: need num_envs={self.num_envs}")
        self._reset_lanes(self._lanes, seeds)
        self._autoreset[:] = False
        infos = self._step_infos()
        infos.update(self._reset_infos(np.ones(self.num_envs, dtype=bool)))
        return self._observe(), infos

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advance every running lane by one decision; reset lanes that ended last step."""
        n = self.num_envs
        resetting = self._autoreset
        stepping = np.flatnonzero(~resetting) if resetting.any() else self._lanes
        actions = self._check_actions(actions, stepping)
        if not self._running[stepping].all():
            raise RuntimeError("step() called before reset(); call reset() first")
        if resetting.any():  # NEXT_STEP autoreset: these lanes ignore their actions
            lanes = np.flatnonzero(resetting)
            self._reset_lanes(lanes, [None] * len(lanes))
        rewards = np.zeros(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=bool)
        if len(stepping):
            rewards[stepping], terminated[stepping] = self._advance(stepping, actions)
        infos = self._step_infos()
        if resetting.any():
            infos.update(self._reset_infos(resetting))
        if terminated.any():
            infos.update(self._summary_infos(terminated))
        self._autoreset = terminated.copy()
        return self._observe(), rewards, terminated, np.zeros(n, dtype=bool), infos

    # -- simulation -------------------------------------------------------------------------------
    def _advance(self, ln: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One decision on lanes ``ln``; returns their rewards and terminations."""
        s, jm = self._servers, self._jm
        k, now = self._k[ln], self._now[ln]
        srv = ln * s + actions
        job = ln * jm + k
        # Park's Server.schedule: append to the server's FIFO (linked list over job slots).
        tail = self._tail[srv]
        linked = tail >= 0
        self._link[(ln * jm + tail)[linked]] = k[linked]
        self._tail[srv] = k
        head = self._head[srv]
        self._head[srv] = np.where(head < 0, k, head)
        first = self._next_q[srv]
        first = np.where(first < 0, k, first)
        self._next_q[srv] = first
        self._qwork[srv] += self._size[job]
        self._in_system[ln] += 1
        # Server.process: start the first waiting job if the server is idle or finishing now.
        start = (self._curr[srv] < 0) | (self._cfin[srv] <= now)
        if start.any():
            self._start(srv[start], ln[start], first[start], now[start], 2 * k[start])
            self._refresh_head(srv[start], ln[start])
        # The next arrival (Park pushes it before running the clock).
        nxt = k + 1
        last = nxt >= self._jobs[ln]
        t_next = np.where(
            last, _NEVER, self._arrival[ln * jm + np.minimum(nxt, self._jobs[ln] - 1)]
        )
        lost, popped = self._pop_completions(ln, k, now, t_next)
        self._in_system[ln] -= popped
        self._done[ln] += popped
        gap = np.where(last, 0, t_next - now)
        rewards = 0.0 - (lost + self._in_system[ln] * gap)
        self._k[ln] = nxt
        self._now[ln] = t_next
        if last.any():  # the clock ends at the last completion, as Park's
            ended = ln[last]
            self._now[ended] = self._cfin.reshape(-1, s)[ended].max(axis=1)
        self._return[ln] += rewards
        self._running[ln[last]] = False
        return rewards, last

    def _pop_completions(
        self, ln: np.ndarray, k: np.ndarray, now: np.ndarray, t_next: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pop the completions Park pops before the next arrival; returns, per lane of ``ln``,
        the summed (finish - now) of the popped jobs and how many were popped."""
        s, m = self._servers, len(ln)
        # First round over every server of the stepping lanes, as (lanes, servers) arrays.
        pos, server = np.nonzero(
            self._due(
                self._curr.reshape(-1, s)[ln],
                self._hfin.reshape(-1, s)[ln],
                self._hkey.reshape(-1, s)[ln],
                t_next[:, None],
                2 * k[:, None],
            )
        )
        srv = ln[pos] * s + server
        lost = np.zeros(m, dtype=np.float64)
        popped = np.zeros(m, dtype=np.int64)
        while len(srv):
            lanes = ln[pos]
            head, fin = self._head[srv], self._hfin[srv]
            slot = lanes * self._jm + head
            lost += np.bincount(pos, weights=fin - now[pos], minlength=m)
            popped += np.bincount(pos, minlength=m)
            was_current = self._curr[srv] == head
            self._curr[srv[was_current]] = -1
            self._head[srv] = self._link[slot]
            first = self._next_q[srv]
            start = (first >= 0) & ((self._curr[srv] < 0) | (self._cfin[srv] <= fin))
            if start.any():
                self._start(
                    srv[start], lanes[start], first[start], fin[start], 2 * k[pos[start]] + 1
                )
            self._refresh_head(srv, lanes)
            # Later rounds: only the servers that just popped can pop again.
            pop = self._due(
                self._curr[srv], self._hfin[srv], self._hkey[srv], t_next[pos], 2 * k[pos]
            )
            srv, pos = srv[pop], pos[pop]
        return lost, popped

    @staticmethod
    def _due(
        curr: np.ndarray,
        hfin: np.ndarray,
        hkey: np.ndarray,
        t_next: np.ndarray,
        key_arrival: np.ndarray,
    ) -> np.ndarray:
        # A head completion pops before the arrival if earlier, or equally early and pushed
        # before the arrival was (key <= 2k).
        return (curr >= 0) & ((hfin < t_next) | ((hfin == t_next) & (hkey <= key_arrival)))

    def _refresh_head(self, srv: np.ndarray, ln: np.ndarray) -> None:
        """Cache the head job's finish time and push key per server (no head: never)."""
        head = self._head[srv]
        slot = ln * self._jm + head
        self._hfin[srv] = np.where(head >= 0, self._finish[slot], _NEVER)
        self._hkey[srv] = self._key[slot]

    def _start(
        self, srv: np.ndarray, ln: np.ndarray, job: np.ndarray, t: np.ndarray, key: np.ndarray
    ) -> None:
        """Start ``job`` at time ``t`` on servers ``srv``; its completion gets push key ``key``."""
        slot = ln * self._jm + job
        size = self._size[slot]
        finish = t + (size / self._rates[srv]).astype(np.int64)  # Park: int(size / rate)
        self._finish[slot] = finish
        self._key[slot] = key
        self._cfin[srv] = finish
        self._curr[srv] = job
        self._qwork[srv] -= size
        self._next_q[srv] = self._link[slot]

    # -- resets -----------------------------------------------------------------------------------
    def _reset_lanes(self, lanes: np.ndarray, seeds: list[int | None]) -> None:
        # Per-lane work happens here only, once per episode: each lane owns a legacy RandomState
        # (to equal the scalar env seeded the same way) and its own schedule cursor.
        s = self._servers
        for lane, seed in zip(lanes.tolist(), seeds, strict=True):
            rs = self._rs[lane]
            if seed is not None or rs is None:
                stream_seed = seed if seed is not None else int(self.np_random.integers(2**32))
                rs = self._rs[lane] = legacy_seeded(stream_seed)
                task_rng = np.random.default_rng([stream_seed, TASK_STREAM_KEY])
                self._cursors[lane].restart(task_rng)
            elif self._running[lane]:  # abandoned mid-episode: replay Park's lazy draw count
                rs.set_state(self._stream_states[lane])
                skip_jobs(rs, min(int(self._k[lane]) + 1, int(self._jobs[lane])))
            task = self._cursors[lane].next_episode()
            config = task.config
            self._stream_states[lane] = rs.get_state()
            arrivals, sizes = draw_job_stream(rs, config)
            jobs = config.jobs_per_episode
            if jobs > self._jm:
                self._alloc_jobs(jobs, keep=True)
            row = lane * self._jm
            self._arrival[row : row + jobs] = arrivals
            self._size[row : row + jobs] = sizes
            self._rates[lane * s : (lane + 1) * s] = config.effective_rates
            self._jobs[lane] = jobs
            self._task_names[lane] = config.name
            self._trial[lane] = task.trial
            self._episode_in_task[lane] = task.episode_in_task
            self._held_out[lane] = task.held_out
        srv = (lanes[:, None] * s + self._server_ids).ravel()
        for arr, value in (
            (self._curr, -1),
            (self._head, -1),
            (self._next_q, -1),
            (self._tail, -1),
        ):
            arr[srv] = value
        self._cfin[srv] = 0
        self._qwork[srv] = 0
        self._hfin[srv] = _NEVER
        self._hkey[srv] = 0
        self._link.reshape(-1, self._jm)[lanes] = -1
        self._finish.reshape(-1, self._jm)[lanes] = -1
        self._k[lanes] = 0
        self._now[lanes] = self._arrival[lanes * self._jm]
        self._in_system[lanes] = 0
        self._done[lanes] = 0
        self._return[lanes] = 0.0
        self._running[lanes] = True

    def _alloc_jobs(self, jobs: int, keep: bool = False) -> None:
        old = getattr(self, "_jm", 0)
        n = self.num_envs
        for name, fill in (
            ("_arrival", 0),
            ("_size", 0),
            ("_finish", -1),
            ("_key", 0),
            ("_link", -1),
        ):
            arr = np.full((n, jobs), fill, dtype=np.int64)
            if keep:
                arr[:, :old] = getattr(self, name).reshape(n, old)
            setattr(self, name, arr.ravel())
        self._jm = jobs

    # -- observations and infos -------------------------------------------------------------------
    def _observe(self) -> np.ndarray:
        n, s, jm = self.num_envs, self._servers, self._jm
        raw = np.empty((n, s + 1), dtype=np.float64)
        remaining = np.maximum(self._cfin.reshape(n, s) - self._now[:, None], 0)
        np.minimum(self._qwork.reshape(n, s) + remaining, self._clip, out=raw[:, :s])
        slot = self._lanes * jm + np.minimum(self._k, self._jobs - 1)
        incoming = np.where(self._running, self._size[slot], 0)
        np.minimum(incoming, self._clip, out=raw[:, s])
        return encode_observation(raw, self._space_config)

    def _step_infos(self) -> dict[str, Any]:
        every = np.ones(self.num_envs, dtype=bool)
        return {
            "time": self._now.copy(),
            "_time": every,
            "jobs_done": self._done.copy(),
            "_jobs_done": every.copy(),
            "task": self._task_names.copy(),
            "_task": every.copy(),
        }

    def _reset_infos(self, mask: np.ndarray) -> dict[str, Any]:
        return {
            "trial": np.where(mask, self._trial, 0),
            "_trial": mask.copy(),
            "episode_in_task": np.where(mask, self._episode_in_task, 0),
            "_episode_in_task": mask.copy(),
            "held_out": self._held_out & mask,
            "_held_out": mask.copy(),
        }

    def _summary_infos(self, mask: np.ndarray) -> dict[str, Any]:
        lanes = np.flatnonzero(mask)
        jm = self._jm
        finish = self._finish.reshape(-1, jm)[lanes]
        arrival = self._arrival.reshape(-1, jm)[lanes]
        done = finish >= 0
        jct = np.where(done, finish - arrival, 0).sum(axis=1)
        count = done.sum(axis=1)
        summary: dict[str, Any] = {}
        for key, values in (
            ("return", self._return[lanes]),
            ("length", self._jobs[lanes].astype(np.float64)),
            ("mean_jct", jct / count),
            ("jobs", count.astype(np.float64)),
        ):
            full = np.zeros(self.num_envs, dtype=np.float64)
            full[lanes] = values
            summary[key], summary["_" + key] = full, mask.copy()
        return {"summary": summary, "_summary": mask.copy()}

    def _check_actions(self, actions: Any, stepping: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu":
            raise ValueError(
                f"actions of shape {actions.shape} and dtype {actions.dtype}: need "
                f"{self.num_envs} integers in [0, {self._servers - 1}]"
            )
        chosen = actions[stepping].astype(np.int64)
        bad = (chosen < 0) | (chosen >= self._servers)
        if bad.any():
            lane = int(stepping[np.argmax(bad)])
            raise ValueError(
                f"actions[{lane}]={int(actions[lane])}: must be an integer in "
                f"[0, {self._servers - 1}]"
            )
        return chosen
