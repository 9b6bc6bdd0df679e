"""Edge-computing simulators (plain numpy; no Ray import).

- ``edge_rl/AIGCEdge-v0``: AIGC service selection at the edge (see ``edge_rl.envs.aigc``).
- ``edge_rl/LoadBalance-v0``: Park-style load balancing (see ``edge_rl.envs.load_balance``).
- ``edge_rl/LoadBalanceTrials-v0``: RL^2 trials of load balancing (``MetaTrialEnv``): several
  episodes of one workload task (or a workload schedule) as one episode.
"""

from __future__ import annotations

import gymnasium as gym

AIGC_ENV_ID = "edge_rl/AIGCEdge-v0"
LOAD_BALANCE_ENV_ID = "edge_rl/LoadBalance-v0"
LOAD_BALANCE_TRIALS_ENV_ID = "edge_rl/LoadBalanceTrials-v0"

_SPECS = {
    AIGC_ENV_ID: (
        "edge_rl.envs.aigc.env:AIGCEdgeEnv",
        "edge_rl.envs.aigc.vector:AIGCEdgeVectorEnv",
    ),
    LOAD_BALANCE_ENV_ID: (
        "edge_rl.envs.load_balance.env:LoadBalanceEnv",
        "edge_rl.envs.load_balance.vector:LoadBalanceVectorEnv",
    ),
    # No batched version: vector envs of trials are gymnasium's SyncVectorEnv.
    LOAD_BALANCE_TRIALS_ENV_ID: ("edge_rl.envs.load_balance.trial:MetaTrialEnv", None),
}


def register_envs() -> None:
    """Register every edge_rl env with gymnasium (idempotent)."""
    for env_id, (entry_point, vector_entry_point) in _SPECS.items():
        if env_id in gym.registry:
            continue
        # No TimeLimit: both simulators end episodes themselves (no truncation in the references).
        gym.register(
            id=env_id,
            entry_point=entry_point,
            vector_entry_point=vector_entry_point,
            disable_env_checker=True,
        )


__all__ = ["AIGC_ENV_ID", "LOAD_BALANCE_ENV_ID", "LOAD_BALANCE_TRIALS_ENV_ID", "register_envs"]
