"""Evaluation on a workload schedule: one trial per seed, JCT per episode, memory kept.

The adaptation protocol of the meta-RL issue: a schedule such as ``"pareto-55:3,uniform-100:5"``
switches the workload task between episodes; each policy plays the whole schedule as ONE trial
per seed (``MetaTrialEnv(schedule=...)``: a recurrent policy keeps its memory across the switch,
and nothing is trained). The per-episode mean JCTs give the adaptation curve; the episodes right
after a switch show how fast a policy adapts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_rl.baselines.base import Policy
from edge_rl.envs.load_balance.schedule import WorkloadSchedule
from edge_rl.envs.load_balance.trial import MetaTrialEnv
from edge_rl.evaluation.runner import EpisodeRecord, check_seeds, run_episode
from edge_rl.evaluation.stats import mean_ci


def schedule_tasks(schedule: WorkloadSchedule) -> list[str]:
    """The task name of each episode of one pass (sampled segments show as 'sample-<split>')."""
    names = []
    for segment in schedule.segments:
        task = segment.task
        name = task if isinstance(task, str) else task.name
        names += [name] * segment.episodes
    return names


def evaluate_schedule(
    schedule: WorkloadSchedule | str,
    make_policy: Callable[[int], Policy],
    seeds: Sequence[int],
    policy_name: str | None = None,
    reward_scale: float = 1000.0,
    **overrides: Any,
) -> list[EpisodeRecord]:
    """One trial over ``schedule`` per seed; one record per inner episode (``mean_jct``)."""
    seeds = check_seeds(seeds)
    schedule = WorkloadSchedule.coerce(schedule)
    env = MetaTrialEnv(schedule=schedule, reward_scale=reward_scale, **overrides)
    records = []
    for seed in seeds:
        policy = make_policy(seed)
        name = policy_name or policy.name
        summary = run_episode(env, policy, seed)  # checks the trial's summed rewards
        per_episode = env.trial_summary()["mean_jct_per_episode"]
        for index, jct in enumerate(per_episode):
            records.append(EpisodeRecord(name, seed, index, {"mean_jct": float(jct)}))
        assert len(per_episode) == schedule.total_episodes, (summary, schedule)
    env.close()
    return records


def adaptation_summary(
    records: Sequence[EpisodeRecord], schedule: WorkloadSchedule
) -> dict[str, list[dict[str, Any]]]:
    """policy -> per episode index: {episode, task, mean, ci95, low, high, n} of mean JCT."""
    tasks = schedule_tasks(schedule)
    out: dict[str, list[dict[str, Any]]] = {}
    for name in dict.fromkeys(r.policy for r in records):
        rows = []
        for index, task in enumerate(tasks):
            values = [
                r.metrics["mean_jct"] for r in records if r.policy == name and r.episode == index
            ]
            rows.append({"episode": index, "task": task, **mean_ci(values).to_dict()})
        out[name] = rows
    return out


def switch_points(schedule: WorkloadSchedule) -> list[int]:
    """Episode indices where a new segment (task) starts, after the first."""
    points, at = [], 0
    for segment in schedule.segments[:-1]:
        at += segment.episodes
        points.append(at)
    return points


def format_adaptation_table(summary: dict[str, list[dict[str, Any]]]) -> str:
    """Mean JCT per episode (rows) and policy (columns)."""
    names = list(summary)
    width = max(12, *(len(n) + 2 for n in names))
    header = f"{'episode':>7}  {'task':<14}" + "".join(f"{n:>{width}}" for n in names)
    lines = [header, "-" * len(header)]
    for index, row in enumerate(summary[names[0]]):
        cells = "".join(f"{summary[n][index]['mean']:>{width}.1f}" for n in names)
        lines.append(f"{index:>7}  {row['task']:<14}" + cells)
    return "\n".join(lines)


def plot_adaptation(
    summary: dict[str, list[dict[str, Any]]],
    schedule: WorkloadSchedule,
    path: str | Path,
    title: str = "",
) -> Path:
    """Mean JCT per episode with 95% CI bands, one line per policy; dashed lines at switches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for name, rows in summary.items():
        x = np.arange(len(rows))
        mean = np.array([r["mean"] for r in rows])
        ax.plot(x, mean, marker="o", label=name)
        ax.fill_between(x, [r["low"] for r in rows], [r["high"] for r in rows], alpha=0.15)
    for point in switch_points(schedule):
        ax.axvline(point - 0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("episode of the trial (memory kept, no gradient steps)")
    ax.set_ylabel("mean job completion time (lower is better)")
    ax.set_yscale("log")
    ax.set_title(title or "adaptation to workload switches")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
