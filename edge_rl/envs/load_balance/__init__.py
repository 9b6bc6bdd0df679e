"""Park-style adaptive load balancing: scalar and vector envs, task presets, schedules.

- ``LoadBalanceEnv``: exact port of Park's ``load_balance`` (gymnasium API).
- ``LoadBalanceVectorEnv``: the same simulator batched over lanes in numpy.
- ``LoadBalanceConfig`` / ``PRESETS`` / ``make_load_balance_config``: settings and named tasks.
- ``WorkloadSchedule``: which task each episode runs; ``sample_task``: the meta-RL task family.
- ``MetaTrialEnv``: RL^2 trials (several episodes of one task as one outer episode).

Plain numpy; no Ray import.
"""

from edge_rl.envs.load_balance.config import (
    PARK_SERVICE_RATES,
    PRESETS,
    LoadBalanceConfig,
    make_load_balance_config,
)
from edge_rl.envs.load_balance.env import LoadBalanceEnv
from edge_rl.envs.load_balance.schedule import ScheduleSegment, WorkloadSchedule
from edge_rl.envs.load_balance.tasks import TASK_FAMILY, TaskFamily, is_held_out, sample_task
from edge_rl.envs.load_balance.trial import MetaTrialEnv
from edge_rl.envs.load_balance.vector import LoadBalanceVectorEnv

__all__ = [
    "PARK_SERVICE_RATES",
    "PRESETS",
    "TASK_FAMILY",
    "LoadBalanceConfig",
    "LoadBalanceEnv",
    "LoadBalanceVectorEnv",
    "MetaTrialEnv",
    "ScheduleSegment",
    "TaskFamily",
    "WorkloadSchedule",
    "is_held_out",
    "make_load_balance_config",
    "sample_task",
]
