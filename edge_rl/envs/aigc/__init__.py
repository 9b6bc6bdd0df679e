"""Edge AIGC service selection: pick a (server, model) for each generative-AI task.

Reproduces the ADSAC and D2SAC (AGOD) reference simulators (presets ``adsac-paper`` and
``agod-paper``) and extends them to per-episode edge regions (``regions``). Plain numpy.

- ``AIGCEdgeEnv``: the scalar gymnasium env (``edge_rl/AIGCEdge-v0``).
- ``AIGCEdgeVectorEnv``: the batched numpy vector env (its ``vector_entry_point``).
- ``AIGCConfig`` / ``make_aigc_config`` / ``PRESETS``: settings.
- ``token_layout``: column positions of the ``tokens`` observation, for model code.
"""

from edge_rl.envs.aigc.config import PRESETS, AIGCConfig, make_aigc_config
from edge_rl.envs.aigc.env import AIGCEdgeEnv
from edge_rl.envs.aigc.observation import TOKEN_FEATURES, TokenLayout, token_layout
from edge_rl.envs.aigc.vector import AIGCEdgeVectorEnv

__all__ = [
    "PRESETS",
    "TOKEN_FEATURES",
    "AIGCConfig",
    "AIGCEdgeEnv",
    "AIGCEdgeVectorEnv",
    "TokenLayout",
    "make_aigc_config",
    "token_layout",
]
