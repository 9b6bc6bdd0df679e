"""RL^2 trials for meta-RL: several episodes of one workload task as ONE outer episode.

A recurrent policy keeps its memory across the episodes of a trial (Duan et al., "RL^2",
arXiv 1611.02779) only if the learner sees the trial as one sequence, so this env makes a trial
the unit RLlib calls an episode, and tells the policy what it needs to adapt: its previous
action, the previous reward and whether the inner episode just ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from edge_rl.envs.load_balance.config import (
    PRESETS,
    LoadBalanceConfig,
    make_load_balance_config,
    with_overrides,
)
from edge_rl.envs.load_balance.env import LoadBalanceEnv
from edge_rl.envs.load_balance.schedule import WorkloadSchedule
from edge_rl.envs.load_balance.tasks import SPLITS, sample_task

#: ``preset`` value that draws each trial's task from the task family
FAMILY_PRESET = "family"
#: inner-env accessors the heuristics read, forwarded by the trial env
FORWARDED = frozenset(
    {
        "config",
        "num_servers",
        "service_rates",
        "queued_work",
        "remaining_service_time",
        "server_loads",
        "incoming_job_size",
    }
)


def symlog(x: np.ndarray | float) -> np.ndarray:
    """sign(x) log(1 + |x|): compresses heavy-tailed values (DreamerV3), keeps 0 and the sign."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.log1p(np.abs(x))


#: the ``info`` key of the guide heuristic's decision (``guide_policy``)
GUIDE_INFO_KEY = "guide_action"


def guide_labels(infos: Sequence[dict[str, Any]]) -> np.ndarray:
    """The guide heuristic's decision in each of ``infos`` (-1 where an info has none)."""
    return np.asarray([int(info.get(GUIDE_INFO_KEY, -1)) for info in infos], np.int64)


class MetaTrialEnv(gym.Env[np.ndarray, np.int64]):
    """A trial = ``episodes_per_trial`` load-balancing episodes of one task.

    ## Description
    At ``reset`` the trial draws a task: uniformly from ``tasks`` (preset names or configs) when
    given, else from the meta-RL task family (``sample_task`` with ``split``). It then runs that
    many inner episodes of ``LoadBalanceEnv`` back to back; the outer episode terminates after
    the last inner one. Job streams of the inner episodes continue one seeded stream.

    ## Action Space
    ``Discrete(num_servers)``, as the inner env.

    ## Observation Space
    ``Box(low, high, (3 N + 3,), float32)`` with N servers:

    | Index        | Observation                                                               |
    |--------------|---------------------------------------------------------------------------|
    | 0 .. N       | the inner observation in the ``"scaled"`` layout (log1p of loads, size)   |
    | N+1 .. 2N    | one-hot of the previous action (zeros at the start of a trial)            |
    | 2N+1         | symlog of the previous raw reward (0 at the start of a trial)             |
    | 2N+2         | 1.0 on the first step of each inner episode after the first, else 0.0    |
    | 2N+3 .. 3N+2 | the servers' service rates (the workload's hardware; 0 if ``hide_rates``) |

    ## Rewards
    The inner reward divided by ``reward_scale`` (a linear scale keeps the objective: the trial
    return is minus the sum of all job completion times over ``reward_scale``).

    ## Episode End
    Terminates after ``episodes_per_trial`` inner episodes. ``info["summary"]`` then holds
    ``return`` (scaled, what the agent got), ``length``, ``mean_jct`` (over every job of the
    trial), ``mean_jct_per_episode`` (a list) and ``task``.

    ## Arguments
    ``MetaTrialEnv(episodes_per_trial=3, tasks=None, split="train", reward_scale=1000.0,
    hide_rates=False, preset=None, schedule=None, guide_policy=None, **overrides)``;
    ``overrides`` go to every task's config (e.g. ``jobs_per_episode=200``). ``preset``:
    "family" (tasks drawn from ``split``, the default) or a load-balancing preset name (every
    trial runs that task).
    ``schedule``: a ``WorkloadSchedule`` or its text ("pareto-55:3,uniform-100:5"); then a trial
    is one pass over it (``episodes_per_trial`` = its episode count), tasks switching between
    inner episodes while the policy's memory is kept: the adaptation protocol.

    ``guide_policy``: a load-balancing heuristic's spec (e.g. "size-interval"); then every
    ``info`` (of ``reset`` and ``step``) holds ``guide_action``, the heuristic's decision for
    the observation returned with it (the labels of Meta-Dreamer's ``guide_weight``: the agent
    acts itself, the heuristic only labels the states it visits, as in DAgger).

    ``reset(seed=s)`` seeds the first inner episode's job stream with ``s`` itself, so a
    one-episode trial of a task replays the plain env's episode ``reset(seed=s)`` exactly.
    Heuristics read the current inner env through the accessors this env forwards
    (``queued_work()``, ``service_rates``, ...).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        episodes_per_trial: int = 3,
        tasks: Sequence[str | LoadBalanceConfig] | None = None,
        split: str = "train",
        reward_scale: float = 1000.0,
        hide_rates: bool = False,
        preset: str | None = None,
        schedule: WorkloadSchedule | str | None = None,
        guide_policy: str | None = None,
        **overrides: Any,
    ) -> None:
        if preset is not None and preset != FAMILY_PRESET:
            if tasks:
                raise ValueError("give either preset or tasks, not both")
            if preset not in PRESETS:
                raise ValueError(
                    f"unknown preset {preset!r} for trials; choose {FAMILY_PRESET!r} (tasks drawn "
                    f"from the task family) or one of: {', '.join(sorted(PRESETS))}"
                )
            tasks = [preset]
        self._schedule = None if schedule is None else WorkloadSchedule.coerce(schedule)
        if self._schedule is not None:
            if tasks:
                raise ValueError("give either schedule or tasks/preset, not both")
            episodes_per_trial = self._schedule.total_episodes
        if episodes_per_trial < 1:
            raise ValueError(f"episodes_per_trial={episodes_per_trial}: must be >= 1")
        if split not in SPLITS:
            raise ValueError(f"split={split!r}: must be one of {list(SPLITS)}")
        if not reward_scale > 0:
            raise ValueError(f"reward_scale={reward_scale}: must be > 0")
        overrides = {**overrides, "obs_layout": "scaled"}
        self._tasks = [
            make_load_balance_config(t, **overrides)
            if isinstance(t, str)
            else with_overrides(t, **overrides)
            for t in (tasks or [])
        ]
        self._overrides = overrides
        self.episodes_per_trial = int(episodes_per_trial)
        self.split = split
        self.reward_scale = float(reward_scale)
        self.hide_rates = bool(hide_rates)
        if self._schedule is not None:
            first = self._schedule.space_config(overrides)
        elif self._tasks:
            first = self._tasks[0]
        else:
            first = make_load_balance_config("park", **overrides)
        self._n = first.num_servers
        if any(t.num_servers != self._n for t in self._tasks):
            raise ValueError("all tasks of a trial env must have the same num_servers")
        n, clip = self._n, float(np.log1p(first.obs_clip))
        low = np.zeros(3 * n + 3, np.float32)
        high = np.ones(3 * n + 3, np.float32)
        high[: n + 1] = clip
        low[2 * n + 1], high[2 * n + 1] = -710.0, 0.0  # symlog of a float64 reward <= 0
        high[2 * n + 3 :] = np.inf  # service rates have no upper bound
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Discrete(self._n)
        self._inner: LoadBalanceEnv | None = None
        self._episode = 0
        self.guide_policy = guide_policy
        self._guide = None
        if guide_policy is not None:
            from edge_rl.baselines import make_policy  # the baselines import the env package

            if not isinstance(guide_policy, str):
                raise ValueError(
                    f"guide_policy={guide_policy!r}: must be a load-balancing heuristic's name, "
                    "e.g. 'size-interval'"
                )
            try:
                self._guide = make_policy("load-balance", guide_policy)
            except ValueError as err:
                raise ValueError(f"guide_policy: {err}") from None

    def _label(self, obs: np.ndarray, info: dict[str, Any], last: bool) -> None:
        """Put the guide heuristic's decision for ``obs`` in ``info`` (-1 on a trial's last
        observation, where no decision is taken)."""
        info[GUIDE_INFO_KEY] = -1 if last else int(self._guide.act(obs, self))

    def _draw_task(self) -> LoadBalanceConfig:
        if self._tasks:
            return self._tasks[int(self.np_random.integers(len(self._tasks)))]
        return with_overrides(sample_task(self.np_random, split=self.split), **self._overrides)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if self._schedule is not None:
            self._inner = LoadBalanceEnv(schedule=self._schedule, **self._overrides)
        else:
            self._inner = LoadBalanceEnv(config=self._draw_task())
        draw = int(self.np_random.integers(2**31))  # drawn always: same stream either way
        self._inner_seed = int(seed) if seed is not None else draw
        obs, info = self._inner.reset(seed=self._inner_seed)
        self._episode, self._length, self._return = 0, 0, 0.0
        self._jcts: list[float] = []
        self._jobs: list[int] = []
        self._rates = np.zeros(self._n) if self.hide_rates else self._inner.service_rates
        out = self._observe(obs, None, 0.0, False)
        info = {**info, "trial_episode": 0}
        if self._guide is not None:
            self._guide.reset(self)
            self._label(out, info, last=False)
        return out, info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._inner is None:
            raise RuntimeError("step() called before reset(); call reset() first")
        obs, raw, inner_done, _, info = self._inner.step(action)
        self._length += 1
        reward = raw / self.reward_scale
        self._return += reward
        started_new = False
        terminated = False
        if inner_done:
            summary = info["summary"]
            self._jcts.append(float(summary["mean_jct"]))
            self._jobs.append(int(summary["jobs"]))
            self._episode += 1
            if self._episode >= self.episodes_per_trial:
                terminated = True
                info = {**info, "summary": self.trial_summary(), "inner_summary": summary}
            else:
                info = {**info, "inner_summary": summary}
                del info["summary"]
                # The stream continues: a new episode, same task (or the schedule's next one).
                obs, _ = self._inner.reset()
                if not self.hide_rates:
                    self._rates = self._inner.service_rates
                started_new = True
        info["trial_episode"] = self._episode
        out = self._observe(obs, int(action), raw, started_new)
        if self._guide is not None:
            if started_new:
                self._guide.reset(self)
            self._label(out, info, last=terminated)
        return out, reward, terminated, False, info

    def trial_summary(self) -> dict[str, Any]:
        """The trial's figures so far (complete once the trial terminated)."""
        jobs = np.asarray(self._jobs, dtype=np.float64)
        jct = np.asarray(self._jcts)
        return {
            "return": self._return,
            "length": self._length,
            "mean_jct": float((jct * jobs).sum() / jobs.sum()) if len(jobs) else float("nan"),
            "mean_jct_per_episode": list(self._jcts),
            "task": self._inner.config.name if self._inner else None,
        }

    def episode_summary(self) -> dict[str, Any]:
        return self.trial_summary()

    def __getattr__(self, name: str) -> Any:
        # Only the read-only accessors heuristics use are forwarded to the inner env.
        if name in FORWARDED:
            return getattr(self.inner, name)
        raise AttributeError(name)

    @property
    def inner(self) -> LoadBalanceEnv:
        """The current inner env (heuristics read their state through it)."""
        if self._inner is None:
            raise RuntimeError("no trial yet; call reset() first")
        return self._inner

    def _observe(
        self, inner_obs: np.ndarray, prev_action: int | None, prev_raw: float, new_episode: bool
    ) -> np.ndarray:
        n = self._n
        out = np.zeros(3 * n + 3, np.float32)
        out[: n + 1] = inner_obs
        if prev_action is not None:
            out[n + 1 + prev_action] = 1.0
        out[2 * n + 1] = symlog(prev_raw)
        out[2 * n + 2] = float(new_episode)
        out[2 * n + 3 :] = self._rates
        return out
