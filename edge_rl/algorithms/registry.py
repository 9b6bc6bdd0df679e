"""Ray-side registration of edge_rl's simulators, so every env runner can build them.

RLlib env runners look envs up in Ray's registry (shipped to every worker), then call the creator
with the env config, plus ``num_envs`` when they want a vector env: edge_rl's envs have batched
numpy vector versions, so an env runner steps all its envs without a Python loop over lanes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ray.tune.registry import register_env

from edge_rl.envs import AIGC_ENV_ID, LOAD_BALANCE_ENV_ID, LOAD_BALANCE_TRIALS_ENV_ID


def _creator(family: str) -> Callable[[dict[str, Any]], Any]:
    def create(env_config: dict[str, Any]) -> Any:
        cfg = dict(env_config)
        num_envs = cfg.pop("num_envs", None)
        if family == "load-balance-trials":
            import gymnasium as gym

            from edge_rl.envs.load_balance.trial import MetaTrialEnv

            if num_envs is None:
                return MetaTrialEnv(**cfg)
            # Trials have no batched numpy version: step the lanes in turn.
            return gym.vector.SyncVectorEnv([lambda: MetaTrialEnv(**cfg)] * num_envs)
        if family == "aigc":
            from edge_rl.envs.aigc.env import AIGCEdgeEnv as Scalar
            from edge_rl.envs.aigc.vector import AIGCEdgeVectorEnv as Vector
        else:
            from edge_rl.envs.load_balance.env import LoadBalanceEnv as Scalar
            from edge_rl.envs.load_balance.vector import LoadBalanceVectorEnv as Vector
        if num_envs is None:
            return Scalar(**cfg)
        return Vector(num_envs=num_envs, **cfg)

    return create


#: env family (command line) -> the name RLlib configs use
RLLIB_ENV_NAMES: dict[str, str] = {
    "aigc": AIGC_ENV_ID,
    "load-balance": LOAD_BALANCE_ENV_ID,
    "load-balance-trials": LOAD_BALANCE_TRIALS_ENV_ID,
}


def register_rllib_envs() -> None:
    """Register both simulators with Ray's registry under their gymnasium ids."""
    for family, name in RLLIB_ENV_NAMES.items():
        register_env(name, _creator(family))
