"""edge_rl: deep RL for edge-computing workloads at cluster scale on Ray RLlib.

Importing the package registers the gymnasium environments ``edge_rl/AIGCEdge-v0`` and
``edge_rl/LoadBalance-v0``. Nothing here imports Ray.
"""

from edge_rl.envs import register_envs

__version__ = "0.1.0"

register_envs()

__all__ = ["__version__", "register_envs"]
