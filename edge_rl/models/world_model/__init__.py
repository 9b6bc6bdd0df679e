"""The meta-RL agent's world model (DreamerV3-style, categorical latents) and RL^2 policy.

Plain torch, no Ray: ``functions`` holds the loss math, ``networks`` the nets and one-step
inference, ``training`` the world-model and imagination actor-critic losses.
"""

from edge_rl.models.world_model.networks import (
    WORLD_MODEL_PRESETS,
    MetaDreamerNets,
    RecurrentState,
    WorldModelConfig,
)
from edge_rl.models.world_model.training import (
    DreamerLossConfig,
    actor_critic_loss,
    future_inputs,
    guide_loss,
    imagine,
    observe_sequence,
    replay_value_loss,
    update_losses,
    world_model_loss,
)

__all__ = [
    "WORLD_MODEL_PRESETS",
    "DreamerLossConfig",
    "MetaDreamerNets",
    "RecurrentState",
    "WorldModelConfig",
    "actor_critic_loss",
    "future_inputs",
    "guide_loss",
    "imagine",
    "observe_sequence",
    "replay_value_loss",
    "update_losses",
    "world_model_loss",
]
