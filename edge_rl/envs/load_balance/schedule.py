"""Workload schedules: which task each episode of an env runs (trials for meta-RL / adaptation).

A ``WorkloadSchedule`` is a sequence of segments ``(task, episodes)``. A task is a config, a preset
name, or ``"sample-<split>"`` (a fresh task drawn with ``sample_task`` from the env's seeded task
generator each time the segment starts). One run of consecutive episodes on one task is a *trial*:
an RL^2 agent keeps its memory within a trial; ``info["trial"]`` and ``info["episode_in_task"]``
(at reset) mark the boundaries.

After the last segment the schedule either **holds** the last task forever (``at_end="hold"``,
the default: the tail of an adaptation run) or **cycles** back to the first segment
(``at_end="cycle"``: a training stream; sampled segments draw new tasks on every pass). Holding
a sampled last segment keeps its last drawn task.

A seeded ``reset(seed=s)`` restarts the schedule at its first episode and seeds the task generator
with ``default_rng([s, 0x7A5C])`` (apart from the job stream), so a seed fixes the whole run;
unseeded resets move on to the next episode. An env's config overrides (e.g.
``obs_layout="scaled"``) apply to every task of its schedule, sampled ones included.

Text form (e.g. for ``gym.make(..., schedule=...)`` or RLlib's ``env_config``)::

    "pareto-55:3,uniform-100:5"          # 3 episodes of pareto-55, then uniform-100 (held)
    "sample-train:4,cycle"               # a new training task every 4 episodes, forever
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_rl.envs.load_balance.config import (
    PRESETS,
    LoadBalanceConfig,
    make_load_balance_config,
    with_overrides,
)
from edge_rl.envs.load_balance.observation import space_key
from edge_rl.envs.load_balance.tasks import (
    SPLITS,
    TASK_FAMILY,
    TaskFamily,
    is_held_out,
    sample_task,
)

AT_END: tuple[str, ...] = ("hold", "cycle")
SAMPLE_PREFIX = "sample-"

TaskSpec = LoadBalanceConfig | str


@dataclass(frozen=True)
class ScheduleSegment:
    """``episodes`` consecutive episodes of ``task`` (a config, or ``"sample-<split>"``)."""

    task: TaskSpec
    episodes: int

    @property
    def sampled_split(self) -> str | None:
        """The split a sampled segment draws from; None for a fixed config."""
        return self.task.removeprefix(SAMPLE_PREFIX) if isinstance(self.task, str) else None


@dataclass(frozen=True)
class WorkloadSchedule:
    """Tasks per episode; see the module docstring for the semantics.

    Attributes:
        segments: the ``(task, episodes)`` segments in order (at least one).
        at_end: ``"hold"`` (repeat the last task forever) or ``"cycle"`` (start over).
        family: the task family that ``"sample-<split>"`` segments draw from.
    """

    segments: tuple[ScheduleSegment, ...]
    at_end: str = "hold"
    family: TaskFamily = TASK_FAMILY

    def __post_init__(self) -> None:
        segments = tuple(_segment(s) for s in self.segments)
        object.__setattr__(self, "segments", segments)
        if not segments:
            raise ValueError("a WorkloadSchedule needs at least one (task, episodes) segment")
        if self.at_end not in AT_END:
            raise ValueError(f"at_end={self.at_end!r}: must be one of {list(AT_END)}")

    # -- constructors ---------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, at_end: str | None = None) -> WorkloadSchedule:
        """Parse ``"task:episodes,task:episodes[,hold|cycle]"`` (see the module docstring)."""
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if parts and parts[-1] in AT_END:
            trailing = parts.pop()
            at_end = at_end or trailing
        pairs = []
        for part in parts:
            task, sep, count = part.rpartition(":")
            if not sep or not count.strip().isdigit():
                raise ValueError(
                    f"schedule entry {part!r}: must be '<preset or sample-split>:<episodes>', "
                    "e.g. 'pareto-55:3'"
                )
            pairs.append((task.strip(), int(count)))
        return cls.from_pairs(pairs, at_end=at_end or "hold")

    @classmethod
    def from_pairs(
        cls, pairs: Iterable[tuple[TaskSpec, int]], at_end: str = "hold"
    ) -> WorkloadSchedule:
        """Build from ``(preset name | config | "sample-<split>", episodes)`` pairs."""
        return cls(tuple(ScheduleSegment(task, episodes) for task, episodes in pairs), at_end)

    @classmethod
    def coerce(
        cls, value: WorkloadSchedule | str | Sequence[tuple[TaskSpec, int]]
    ) -> WorkloadSchedule:
        """Accept a schedule, its text form, or a list of pairs."""
        if isinstance(value, WorkloadSchedule):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        return cls.from_pairs(value)

    @classmethod
    def single(cls, config: LoadBalanceConfig) -> WorkloadSchedule:
        """One task forever (an env without a schedule)."""
        return cls((ScheduleSegment(config, 1),), at_end="hold")

    # -- queries --------------------------------------------------------------------------------
    @property
    def total_episodes(self) -> int:
        """Episodes in one pass over the segments."""
        return sum(s.episodes for s in self.segments)

    def position(self, episode: int) -> tuple[int, int]:
        """``(pass, segment index)`` of the 0-based ``episode``; a new pair starts a new trial."""
        total = self.total_episodes
        if episode >= total:
            if self.at_end == "hold":
                return 0, len(self.segments) - 1
            cycle, episode = divmod(episode, total)
        else:
            cycle = 0
        for index, segment in enumerate(self.segments):
            if episode < segment.episodes:
                return cycle, index
            episode -= segment.episodes
        raise AssertionError("unreachable: episode within one pass")

    def space_config(self, overrides: dict[str, Any]) -> LoadBalanceConfig:
        """A config that fixes the env's spaces; raises if the tasks disagree on them."""
        configs = [
            with_overrides(s.task, **overrides) for s in self.segments if s.sampled_split is None
        ]
        if any(s.sampled_split is not None for s in self.segments):
            configs.append(with_overrides(self.family.base, **overrides))
        keys = {space_key(c) for c in configs}
        if len(keys) > 1:
            raise ValueError(
                f"schedule tasks disagree on (num_servers, obs_layout, obs_clip): {sorted(keys)}; "
                "an env's spaces cannot change between episodes"
            )
        return configs[0]


@dataclass(frozen=True)
class TaskAssignment:
    """The task of one episode: its config and where it sits in the schedule."""

    config: LoadBalanceConfig
    trial: int
    episode_in_task: int
    held_out: bool


class ScheduleCursor:
    """Walks a schedule one episode per ``next_episode()``; draws sampled tasks from ``rng``."""

    def __init__(self, schedule: WorkloadSchedule, overrides: dict[str, Any]) -> None:
        self.schedule = schedule
        self.overrides = dict(overrides)
        self.space_config = schedule.space_config(self.overrides)
        self.restart(None)

    def restart(self, rng: np.random.Generator | None) -> None:
        """Go back to the first episode; ``rng`` draws the sampled tasks from now on."""
        self._rng = rng
        self._episode = 0
        self._position: tuple[int, int] | None = None
        self._current: TaskAssignment | None = None
        self._trial = -1

    def next_episode(self) -> TaskAssignment:
        """The task of the next episode (a new trial when the schedule position changes)."""
        position = self.schedule.position(self._episode)
        self._episode += 1
        if position == self._position and self._current is not None:
            cur = self._current
            self._current = dataclasses.replace(cur, episode_in_task=cur.episode_in_task + 1)
            return self._current
        self._position = position
        self._trial += 1
        segment = self.schedule.segments[position[1]]
        split = segment.sampled_split
        if split is None:
            config = with_overrides(segment.task, **self.overrides)
        else:
            if self._rng is None:
                raise RuntimeError("a sampled schedule segment needs a task generator: reset first")
            drawn = sample_task(self._rng, split, self.schedule.family)
            config = with_overrides(drawn, **self.overrides)
        held = is_held_out(config, self.schedule.family)
        self._current = TaskAssignment(config, self._trial, 0, held)
        return self._current


def _segment(value: ScheduleSegment | tuple[TaskSpec, int]) -> ScheduleSegment:
    task, episodes = (value.task, value.episodes) if isinstance(value, ScheduleSegment) else value
    if isinstance(episodes, bool) or not isinstance(episodes, int | np.integer) or episodes < 1:
        raise ValueError(
            f"schedule segment ({task!r}, {episodes!r}): episodes must be an integer >= 1"
        )
    if isinstance(task, str):
        if task.startswith(SAMPLE_PREFIX):
            split = task.removeprefix(SAMPLE_PREFIX)
            if split not in SPLITS:
                raise ValueError(
                    f"schedule task {task!r}: sampled tasks are "
                    f"{', '.join(SAMPLE_PREFIX + s for s in SPLITS)}"
                )
        elif task in PRESETS:
            task = make_load_balance_config(task)
        else:
            raise ValueError(
                f"schedule task {task!r}: must be a preset ({', '.join(PRESETS)}), "
                f"{', '.join(SAMPLE_PREFIX + s for s in SPLITS)}, or a LoadBalanceConfig"
            )
    elif not isinstance(task, LoadBalanceConfig):
        raise ValueError(f"schedule task {task!r}: must be a preset name or a LoadBalanceConfig")
    return ScheduleSegment(task, int(episodes))
