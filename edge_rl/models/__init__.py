"""Neural networks and loss math of D2SAC/ADSAC in plain torch (no Ray).

Model composition::

    obs -> Tokenizer -> StateEncoder (attention over the tokens of one state; depth 0 = D2SAC)
        -> state_BD (+ act_BAD) -> DiffusionActor (DDPM over action logits) -> logits_BA
                                   or SoftmaxActor (an MLP: the chain's ablation)
                                -> TwinQCritic (own encoders) -> (q1_BA, q2_BA)
                                   or TwinQHeads (on the actor's state_BD: shared encoder)

Losses are pure functions in ``edge_rl.models.losses``; an RLlib RLModule/Learner wraps these.
"""

from edge_rl.models.attention import EncoderConfig, StateEncoder
from edge_rl.models.categorical import ACTOR_HEADS, SoftmaxActor
from edge_rl.models.critics import CriticConfig, QNetwork, TwinQCritic, TwinQHeads
from edge_rl.models.diffusion import (
    DiffusionActor,
    DiffusionConfig,
    EncodedActor,
    greedy_actions,
    mean_probs_action,
    sample_actions,
)
from edge_rl.models.inference import CompiledActor
from edge_rl.models.losses import (
    actor_loss,
    categorical_entropy,
    critic_loss,
    n_step_targets,
    polyak_update,
    soft_state_value,
    target_entropy,
    temperature_loss,
)
from edge_rl.models.schedules import (
    BETA_SCHEDULES,
    cosine_beta_schedule,
    linear_beta_schedule,
    reverse_step_coefficients,
    vp_beta_schedule,
)
from edge_rl.models.tokenizers import LAYOUTS, Tokenizer, make_tokenizer

__all__ = [
    "ACTOR_HEADS",
    "BETA_SCHEDULES",
    "LAYOUTS",
    "CompiledActor",
    "CriticConfig",
    "DiffusionActor",
    "DiffusionConfig",
    "EncodedActor",
    "EncoderConfig",
    "QNetwork",
    "SoftmaxActor",
    "StateEncoder",
    "Tokenizer",
    "TwinQCritic",
    "TwinQHeads",
    "actor_loss",
    "categorical_entropy",
    "cosine_beta_schedule",
    "critic_loss",
    "greedy_actions",
    "mean_probs_action",
    "linear_beta_schedule",
    "make_tokenizer",
    "n_step_targets",
    "polyak_update",
    "reverse_step_coefficients",
    "sample_actions",
    "soft_state_value",
    "target_entropy",
    "temperature_loss",
    "vp_beta_schedule",
]
