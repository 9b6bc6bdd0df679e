"""The scalar load-balancing env: an exact, faster port of Park's ``load_balance``."""

from __future__ import annotations

import heapq
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from edge_rl.envs.load_balance.config import LoadBalanceConfig, make_load_balance_config
from edge_rl.envs.load_balance.observation import encode_observation, observation_space
from edge_rl.envs.load_balance.schedule import ScheduleCursor, TaskAssignment, WorkloadSchedule
from edge_rl.envs.load_balance.workload import draw_job_stream, legacy_seeded, skip_jobs

#: Seeds the task generator of sampled schedule segments apart from the job stream.
TASK_STREAM_KEY = 0x7A5C


class LoadBalanceEnv(gym.Env[np.ndarray, np.int64]):
    """Place each arriving job on one of N heterogeneous FIFO servers; minimise completion times.

    ## Description
    Park's ``load_balance`` environment (Mao et al., NeurIPS 2019; ICLR 2019), reproduced exactly:
    same random stream, same event order, same numbers. Jobs arrive one at a time (exponential
    gaps truncated to integers; Pareto sizes by default). Each server runs one job at a time, FIFO,
    and a job of size z takes ``int(z / rate)`` time units on a server of rate ``rate``. The agent
    sees the servers' loads and the incoming job's size and picks a server. Times are integers
    (Park keeps them in floats that always hold integers), so every reward is exact.

    ## Action Space
    ``Discrete(num_servers)``: the server that gets the incoming job.

    ## Observation Space
    ``Box(0, high, (num_servers + 1,), float32)``; layout ``"park"`` (``high = obs_clip``):

    | Index          | Observation                                                          |
    |----------------|----------------------------------------------------------------------|
    | 0 .. N-1       | load of server i: queued work (size units) + remaining service time  |
    | N              | size of the incoming job (0 after the last job)                      |

    Every entry is clipped at ``obs_clip`` (5e5). Layout ``"scaled"`` holds ``log1p`` of the same
    values (``high = log1p(obs_clip)``).

    ## Rewards
    Minus the time that all jobs in the system spend between two decisions: with ``n(t)`` jobs
    waiting or in service, the reward of a step from time ``t0`` to the next arrival ``t1`` is
    ``-integral(n(t), t0, t1)``. Worked example: at t0 = 0 four jobs are in the system; job 1
    finishes at t = 1, job 2 at t = 2.4, jobs 3 and 4 are still running when the next job
    arrives at t = 5; the reward is ``-(1 * 1 + 1 * 2.4 + 2 * 5) = -13.4``. The last step drains
    the whole system (its reward can be very large), so the episode return is minus the sum of
    job completion times; the metric to report is ``mean_jct = -return / jobs_per_episode``.
    With ``reward_mode="jct"`` the reward of a step is instead minus the completion time of the
    job just dispatched (its finish time is fixed at dispatch: FIFO servers, deterministic
    service times); the episode return, and so ``mean_jct``, are the same.

    ## Starting State
    Empty servers; the clock jumps to the first arrival. ``reset(seed=s)`` equals Park's
    ``env.seed(s); env.reset()``: one legacy ``RandomState(s)`` draws each job's size, then its
    gap. Unseeded resets continue the stream (an abandoned episode is fast-forwarded to where
    Park's lazy draws would have stopped).

    ## Episode End
    Terminates after ``jobs_per_episode`` decisions (always exactly that many), when every job
    has finished; ``info["summary"]`` then holds ``return``, ``length``, ``mean_jct`` and
    ``jobs``. No truncation.

    ## Arguments
    ``LoadBalanceEnv(preset="park", config=None, schedule=None, render_mode=None, **overrides)``

    - ``preset``: a name from ``PRESETS`` ("park", "pareto-45", ..., "uniform-55", "debug").
    - ``config``: a ``LoadBalanceConfig`` (instead of ``preset``).
    - ``schedule``: a ``WorkloadSchedule`` (or its text form, or ``(task, episodes)`` pairs) that
      switches the workload between episodes; ``info["task"]`` names the current task.
    - ``overrides``: config fields (e.g. ``obs_layout="scaled"``), applied to every task.

    Heuristics read the state through ``queued_work()``, ``remaining_service_time()``,
    ``server_loads()``, ``service_rates`` and ``incoming_job_size``.

    ## Version History
    - v0: Park's ``load_balance`` (commit 08f8f7f), gymnasium API, task presets and schedules.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        preset: str = "park",
        config: LoadBalanceConfig | None = None,
        schedule: WorkloadSchedule | str | list[tuple[Any, int]] | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        self._cursor = make_cursor(preset, config, schedule, overrides)
        space_config = self._cursor.space_config
        self.observation_space = observation_space(space_config)
        self.action_space = spaces.Discrete(space_config.num_servers)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r}: must be None or 'ansi'")
        self.render_mode = render_mode
        self._rs: np.random.RandomState | None = None
        self._task: TaskAssignment | None = None
        self._set_config(space_config)
        self._clear_state()

    # -- gymnasium API ----------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start the next episode (next task of the schedule); ``seed`` restarts both streams."""
        seeded = legacy_seeded(seed) if seed is not None else None  # checks the seed first
        super().reset(seed=seed)
        if seeded is not None or self._rs is None:
            stream_seed = seed if seed is not None else int(self.np_random.integers(2**32))
            self._rs = seeded if seeded is not None else legacy_seeded(stream_seed)
            self._cursor.restart(np.random.default_rng([int(stream_seed), TASK_STREAM_KEY]))
        elif self._running:
            # Park draws lazily: rewind and replay only the draws it would have made.
            self._rs.set_state(self._stream_state)
            skip_jobs(self._rs, self._jobs_drawn)
        self._task = self._cursor.next_episode()
        self._set_config(self._task.config)
        self._start_episode()
        info = {
            "task": self._config.name,
            "trial": self._task.trial,
            "episode_in_task": self._task.episode_in_task,
            "held_out": self._task.held_out,
            "time": self._now,
            "jobs_done": 0,
        }
        return self._observe(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Give the incoming job to server ``action``; run the system until the next arrival."""
        if type(action) is not int:
            action = self._coerce_action(action)
        if not 0 <= action < self._num_servers:
            raise ValueError(
                f"action={action!r}: must be an integer in [0, {self._num_servers - 1}]"
            )
        if not self._running:
            raise RuntimeError(
                "step() called "
                + ("after the episode ended" if self._ended else "before reset()")
                + "; call reset() first"
            )
        queues, curr, cfin, qwork = self._queues, self._curr, self._cfin, self._qwork
        sizes, heap = self._sizes, self._heap
        k, now, counter = self._k, self._now, self._counter
        # Park's Server.schedule + process: start at once if idle (or its job ends right now).
        queues[action].append(k)
        qwork[action] += sizes[k]
        if self._jct_reward:
            # FIFO with deterministic service: job k finishes when the server's backlog ends
            # plus its own service time; the "jct" reward charges that at dispatch.
            tail = self._tail
            done_k = max(now, tail[action]) + int(sizes[k] / self._rates[action])
            tail[action] = done_k
        self._server_of[k] = action
        in_system = self._in_system + 1
        if curr[action] < 0 or cfin[action] <= now:
            self._start_next(action, now, counter)
            counter += 1
        nxt = k + 1
        last = nxt >= self._num_jobs
        if not last:  # Park generates the next arrival before it runs the clock.
            heapq.heappush(heap, (self._arrivals[nxt], counter, -1))
            counter += 1
        # Pop events in (time, insertion) order until the next arrival; a completion may start
        # the next queued job on its server. Park counts jobs per event; the integral is the same.
        lost = 0
        finish = self._finish
        while heap:
            t, _, job = heapq.heappop(heap)
            lost += (t - now) * in_system
            now = t
            if job < 0:
                break
            finish[job] = t
            in_system -= 1
            server = self._server_of[job]
            if curr[server] == job:
                curr[server] = -1
            if queues[server] and (curr[server] < 0 or cfin[server] <= t):
                self._start_next(server, t, counter)
                counter += 1
        self._k, self._now, self._counter, self._in_system = nxt, now, counter, in_system
        self._jobs_done = nxt - in_system
        self._jobs_drawn = min(nxt + 1, self._num_jobs)
        reward = float(self._arrivals[k] - done_k) if self._jct_reward else float(-lost)
        self._return += reward
        info = {"time": now, "jobs_done": self._jobs_done, "task": self._config.name}
        if last:
            self._running, self._ended = False, True
            info["summary"] = self.episode_summary()
        return self._observe(), reward, last, False, info

    def render(self) -> str | None:
        """``"ansi"``: one line with the clock, the loads and the incoming job's size."""
        if self.render_mode != "ansi":
            return None
        loads = " ".join(f"{x:.0f}" for x in self.server_loads())
        return f"t={self._now} loads=[{loads}] incoming={self.incoming_job_size}"

    # -- read-only accessors (heuristics, tests) -----------------------------------------------
    @property
    def config(self) -> LoadBalanceConfig:
        """The current task's config."""
        return self._config

    @property
    def num_servers(self) -> int:
        """Number of servers (= actions)."""
        return self._num_servers

    @property
    def service_rates(self) -> np.ndarray:
        """Each server's service rate (after the task's permutation), float64."""
        return np.array(self._rates, dtype=np.float64)

    @property
    def current_time(self) -> int:
        """The clock: the incoming job's arrival time (the last completion after the end)."""
        return self._now

    @property
    def incoming_job_size(self) -> int:
        """Size of the job to place (0 once the episode has ended)."""
        return self._sizes[self._k] if self._running else 0

    def queued_work(self) -> np.ndarray:
        """Per server: total size of the jobs waiting (not in service), int64."""
        return np.array(self._qwork, dtype=np.int64)

    def remaining_service_time(self) -> np.ndarray:
        """Per server: time until the job in service finishes (0 if idle), int64."""
        now = self._now
        return np.array([max(f - now, 0) for f in self._cfin], dtype=np.int64)

    def server_loads(self) -> np.ndarray:
        """Per server: the observed load of the "park" layout (clipped), float64."""
        return self._raw_observation()[:-1]

    def queue_lengths(self) -> np.ndarray:
        """Per server: jobs waiting (not in service), int64."""
        return np.array([len(q) for q in self._queues], dtype=np.int64)

    def jobs_in_service(self) -> np.ndarray:
        """Per server: 1 if a job is in service (Park's ``curr_job is not None``), else 0."""
        return np.array([c >= 0 for c in self._curr], dtype=np.int64)

    @property
    def jobs_assigned(self) -> int:
        """Jobs placed on servers so far this episode (= steps taken)."""
        return self._k if self._running else self._num_jobs

    @property
    def jobs_done(self) -> int:
        """Jobs finished so far this episode."""
        return self._jobs_done

    def job_records(self) -> dict[str, np.ndarray]:
        """This episode's dispatched jobs in arrival order, int64 arrays: ``arrival``, ``size``,
        ``server`` and ``finish`` (-1 while unfinished). Read after an episode by analyses such
        as edge_rl/evaluation/job_size_anatomy.py."""
        k = self.jobs_assigned
        return {
            "arrival": np.array(self._arrivals[:k], dtype=np.int64),
            "size": np.array(self._sizes[:k], dtype=np.int64),
            "server": np.array(self._server_of[:k], dtype=np.int64),
            "finish": np.array(self._finish[:k], dtype=np.int64),
        }

    def episode_summary(self) -> dict[str, float]:
        """``return``, ``length`` and ``mean_jct`` / ``jobs`` over the jobs finished so far.

        ``mean_jct`` is computed from finish minus arrival times (nan before any job finished);
        at the end of an episode it equals ``-return / jobs``.
        """
        done = [(f, a) for f, a in zip(self._finish, self._arrivals, strict=True) if f >= 0]
        total = sum(f - a for f, a in done)
        length = self._k if self._running else self._num_jobs
        return {
            "return": self._return,
            "length": float(length),
            "mean_jct": total / len(done) if done else float("nan"),
            "jobs": float(len(done)),
        }

    # -- internals --------------------------------------------------------------------------------
    def _set_config(self, config: LoadBalanceConfig) -> None:
        self._config = config
        self._num_servers = config.num_servers
        self._rates = list(config.effective_rates)
        self._clip = config.obs_clip
        self._num_jobs = config.jobs_per_episode
        self._jct_reward = config.reward_mode == "jct"

    def _start_episode(self) -> None:
        assert self._rs is not None
        self._stream_state = self._rs.get_state()
        arrivals, sizes = draw_job_stream(self._rs, self._config)
        self._clear_state()
        self._arrivals, self._sizes = arrivals.tolist(), sizes.tolist()
        self._now = self._arrivals[0]
        self._running = True

    def _clear_state(self) -> None:
        n, s = self._num_jobs, self._num_servers
        self._arrivals, self._sizes = [0] * n, [0] * n
        self._finish = [-1] * n
        self._server_of = [-1] * n
        self._queues: list[deque[int]] = [deque() for _ in range(s)]
        self._curr = [-1] * s  # job in service (Park's curr_job), -1 if none
        self._cfin = [0] * s  # its finish time; <= now once idle, so max(cfin - now, 0) works
        self._qwork = [0] * s
        self._tail = [0] * s  # when each server's last assigned job finishes
        self._heap: list[tuple[int, int, int]] = []
        self._counter = 1  # Park's counter 0 went to job 0's arrival, already popped
        self._k, self._now = 0, 0
        self._in_system = self._jobs_done = 0
        self._jobs_drawn = 1
        self._return = 0.0
        self._running, self._ended = False, False

    def _start_next(self, server: int, now: int, counter: int) -> None:
        job = self._queues[server].popleft()
        size = self._sizes[job]
        self._qwork[server] -= size
        done_at = now + int(size / self._rates[server])
        self._curr[server] = job
        self._cfin[server] = done_at
        heapq.heappush(self._heap, (done_at, counter, job))

    def _raw_values(self) -> list[float]:
        now = self._now
        # cfin <= now once a server idles, so only busy servers add remaining time.
        raw = [q + f - now if f > now else q for q, f in zip(self._qwork, self._cfin, strict=True)]
        raw.append(self._sizes[self._k] if self._running else 0)
        clip = self._clip
        if max(raw) > clip:  # rare outside overload: clip only when needed
            raw = [v if v < clip else clip for v in raw]
        return raw

    def _raw_observation(self) -> np.ndarray:
        return np.array(self._raw_values(), dtype=np.float64)

    def _observe(self) -> np.ndarray:
        if self._config.obs_layout == "park":
            return np.array(self._raw_values(), dtype=np.float32)
        return encode_observation(self._raw_observation(), self._config)

    def _coerce_action(self, action: Any) -> int:
        if isinstance(action, np.ndarray) and action.shape == ():
            action = action[()]
        if isinstance(action, np.integer | int) and not isinstance(action, bool | np.bool_):
            return int(action)
        raise ValueError(
            f"action={action!r} ({type(action).__name__}): must be an integer in "
            f"[0, {self._num_servers - 1}]"
        )


def make_cursor(
    preset: str,
    config: LoadBalanceConfig | None,
    schedule: WorkloadSchedule | str | list[tuple[Any, int]] | None,
    overrides: dict[str, Any],
) -> ScheduleCursor:
    """Resolve the constructor arguments of both envs into a schedule cursor."""
    if schedule is not None:
        if config is not None or preset != "park":
            raise ValueError(
                "pass either schedule= or preset=/config=, not both (a schedule names its tasks)"
            )
        return ScheduleCursor(WorkloadSchedule.coerce(schedule), overrides)
    if config is None:
        config = make_load_balance_config(preset)
    elif not isinstance(config, LoadBalanceConfig):
        raise ValueError(f"config={config!r}: must be a LoadBalanceConfig")
    return ScheduleCursor(WorkloadSchedule.single(config), overrides)
