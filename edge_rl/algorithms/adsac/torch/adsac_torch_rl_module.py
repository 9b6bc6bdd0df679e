"""ADSAC's torch RLModule: forward passes only (losses live in the learner).

The module wraps the plain-torch networks of ``edge_rl.models``. ``model_config`` carries the
settings that ``ADSACConfig`` auto-includes (attention depth, diffusion steps, ...).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import nn

from edge_rl.algorithms.adsac.default_adsac_rl_module import DefaultADSACRLModule
from edge_rl.models import (
    CriticConfig,
    DiffusionActor,
    DiffusionConfig,
    EncodedActor,
    EncoderConfig,
    SoftmaxActor,
    TwinQCritic,
    TwinQHeads,
)
from edge_rl.models.masking import FeasibilityMask, feasibility_config
from edge_rl.models.tokenizers import default_action_head_mode

#: forward_train / forward_target output keys
ACTION_LOGITS = "action_logits"
TARGET_ACTION_LOGITS = "target_action_logits"
TARGET_Q1 = "target_q1"
TARGET_Q2 = "target_q2"
#: forward_train output keys with ``shared_encoder``: the actor's encoding of obs, with gradient
#: (the critic loss trains the encoder through them; the actor reads them detached)
ENCODED_STATE = "encoded_state"
ENCODED_ACTIONS = "encoded_actions"


def infer_layout(obs_space: gym.Space) -> str:
    """The observation layout of an AIGC env's observation space."""
    shape = tuple(obs_space.shape or ())
    if len(shape) == 2:
        return "tokens"
    if shape == (36,):
        return "paper-adsac"
    if shape == (42,):
        return "paper-agod"
    raise ValueError(
        f"cannot tell the observation layout of a space of shape {shape}; set "
        "observation_layout to 'paper-adsac', 'paper-agod' or 'tokens'"
    )


class ADSACTorchRLModule(TorchRLModule, DefaultADSACRLModule):
    """Diffusion actor, or its softmax ablation (``actor_head``), + twin critics and target
    copies on the learner."""

    framework: str = "torch"

    @override(RLModule)
    def setup(self) -> None:
        cfg = self.model_config
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise ValueError(f"ADSAC needs a Discrete action space, got {self.action_space}")
        self.layout = cfg.get("observation_layout") or infer_layout(self.observation_space)
        obs_shape = tuple(self.observation_space.shape)
        num_actions = int(self.action_space.n)
        encoder = EncoderConfig(
            width=cfg.get("attention_width", 256),
            depth=cfg.get("attention_depth", 1),
            heads=cfg.get("attention_heads", 1),
            dropout=cfg.get("attention_dropout", 0.4),
            ff_mult=cfg.get("attention_ff_mult", 2),
            # Checkpoints written before this option existed have no key: they had no raw path.
            raw_state=cfg.get("attention_raw_state", False),
        )
        diffusion = DiffusionConfig(
            steps=cfg.get("diffusion_steps", 5),
            schedule=cfg.get("beta_schedule", "vp"),
            hidden=cfg.get("denoiser_hidden", 256),
            denoiser=cfg.get("denoiser"),
            output=cfg.get("denoiser_output", "tanh"),  # older checkpoints: the reference's
        )
        mask = None
        if cfg.get("action_masking", False):  # older checkpoints have no key: unmasked
            mask = FeasibilityMask(feasibility_config(self.layout, cfg.get("feasibility")))
        self.actor: EncodedActor
        if cfg.get("actor_head", "diffusion") == "softmax":
            self.actor = SoftmaxActor(
                self.layout,
                obs_shape,
                num_actions,
                encoder,
                head=diffusion.denoiser,
                hidden=diffusion.hidden,
                mask=mask,
            )
        else:
            self.actor = DiffusionActor(
                self.layout, obs_shape, num_actions, encoder, diffusion, mask=mask
            )
        if self.inference_only:
            # Rollout actors never train: no dropout noise in the actions they take.
            self.actor.eval()
            return
        self.shared_encoder = bool(cfg.get("shared_encoder", False))
        critic_config = CriticConfig(
            hidden=cfg.get("critic_hidden", 256), head=cfg.get("critic_head")
        )
        if self.shared_encoder:
            # SAC-AE / DrQ: the critics' heads read the actor's encoder, which only their TD
            # loss trains (see ``_forward_train``).
            self.critic_per_action = (
                critic_config.head or default_action_head_mode(self.layout)
            ) == "per-action"
            if self.critic_per_action and self.actor.denoiser_mode != "per-action":
                raise ValueError(
                    "shared_encoder with critic_head='per-action' needs denoiser='per-action' "
                    "(the shared encoder yields per-action tokens only for a per-action "
                    "denoiser); set both, or critic_head='mlp'"
                )
            self.critic = TwinQHeads(
                self.actor.encoder.state_dim,
                encoder.width,
                num_actions,
                self.critic_per_action,
                critic_config,
            )
        else:
            self.critic = self._own_encoder_critic(
                cfg, obs_shape, num_actions, encoder, critic_config
            )
        # The entropy temperature lives here so that checkpoints carry it; it is trained (by
        # the learner's temperature loss) only when ``learn_alpha`` is set.
        self.log_alpha = nn.Parameter(
            torch.tensor([math.log(cfg.get("initial_alpha", 0.05))]),
            requires_grad=bool(cfg.get("learn_alpha", False)),
        )

    def _own_encoder_critic(
        self,
        cfg: dict,
        obs_shape: tuple,
        num_actions: int,
        encoder: EncoderConfig,
        critic_config: CriticConfig,
    ) -> TwinQCritic:
        """Twin critics with their own encoders (the default)."""
        critic_depth = cfg.get("critic_attention_depth")
        if critic_depth is None:
            critic_depth = encoder.depth if self.layout == "tokens" else 0
        critic_encoder = EncoderConfig(
            width=encoder.width,
            depth=critic_depth,
            heads=encoder.heads,
            # No dropout in the critics: its noise would feed the bootstrapped targets.
            dropout=0.0,
            ff_mult=encoder.ff_mult,
            raw_state=encoder.raw_state,
        )
        return TwinQCritic(self.layout, obs_shape, num_actions, critic_encoder, critic_config)

    @override(TargetNetworkAPI)
    def make_target_networks(self) -> None:
        self.target_actor = make_target_network(self.actor)
        self.target_critic = make_target_network(self.critic)

    @override(RLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """The actor's logits (x_0 of one diffusion chain); RLlib's connectors sample
        (explore) or argmax."""
        return {Columns.ACTION_DIST_INPUTS: self.actor(batch[Columns.OBS])}

    @override(RLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """The actor's logits; the learner queries critics and targets itself, in the order
        its losses need them. With ``shared_encoder`` also the encoding of obs (with gradient,
        for the critic), while the actor's chain reads it detached."""
        obs = batch[Columns.OBS]
        if not self.shared_encoder:
            return {ACTION_LOGITS: self.actor(obs)}
        state_BD, act_BAD = self.actor.encoder(obs)
        logits_BA = self.actor.decode_obs(
            obs, state_BD.detach(), None if act_BAD is None else act_BAD.detach()
        )
        out = {ACTION_LOGITS: logits_BA, ENCODED_STATE: state_BD}
        if act_BAD is not None:
            out[ENCODED_ACTIONS] = act_BAD
        return out

    def q_values(
        self, obs: torch.Tensor, fwd_out: dict[str, Any] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(q1_BA, q2_BA) of obs; with ``shared_encoder`` on the encoding in ``fwd_out`` when
        ``forward_train`` made one, else on a fresh pass of the actor's encoder."""
        if not self.shared_encoder:
            return self.critic(obs)
        if fwd_out and ENCODED_STATE in fwd_out:
            state_BD, act_BAD = fwd_out[ENCODED_STATE], fwd_out.get(ENCODED_ACTIONS)
        else:
            state_BD, act_BAD = self.actor.encoder(obs)
        return self.critic(state_BD, act_BAD if self.critic_per_action else None)

    @override(TargetNetworkAPI)
    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Target actor logits and target twin Q values of ``batch[OBS]`` (pass s' here)."""
        obs = batch[Columns.OBS]
        # Targets are evaluated without dropout: noise there would only add variance to the
        # critic's bootstrap target (``forward_train`` puts the whole module in train mode).
        self.target_actor.eval()
        self.target_critic.eval()
        if not self.shared_encoder:
            q1_BA, q2_BA = self.target_critic(obs)
            logits_BA = self.target_actor(obs)
        else:
            # One pass of the target encoder serves the target critic and the target actor.
            state_BD, act_BAD = self.target_actor.encoder(obs)
            q1_BA, q2_BA = self.target_critic(state_BD, act_BAD if self.critic_per_action else None)
            logits_BA = self.target_actor.decode_obs(obs, state_BD, act_BAD)
        return {TARGET_ACTION_LOGITS: logits_BA, TARGET_Q1: q1_BA, TARGET_Q2: q2_BA}
