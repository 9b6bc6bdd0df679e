"""Twin Q critics over all actions: obs -> (q1_BA, q2_BA).

Model composition of each Q network::

    obs -> StateEncoder -> state_BD (+ act_BAD) -> head -> q_BA

Heads (``CriticConfig.head``):

- "mlp" (reference): state -> 256 -> 256 -> |A| with Mish. On a paper layout with encoder depth 0
  this is exactly the reference critic |S| -> 256 -> 256 -> |A| on the flat observation.
- "per-action": q[a] = MLP([act_BAD[a], state_BD]) -> 256 -> 256 -> 1; the same weights work for
  any |A| (the default for the "tokens" layout).

By default encoders are not shared: each Q network has its own encoder, and none is shared with
the actor. Sharing couples the twins (whose point is two independent estimates, min'd against
overestimation); the cost of not sharing is one more encoder pass per critic call.
``TwinQHeads`` is the other design, SAC-AE's and DrQ's: two heads over the features of ONE
encoder that lives elsewhere (ADSAC's ``shared_encoder``: the actor's, trained by the TD loss).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from edge_rl.models.activations import Mish
from edge_rl.models.attention import EncoderConfig, StateEncoder
from edge_rl.models.tokenizers import ACTION_HEAD_MODES, default_action_head_mode

HEADS = ACTION_HEAD_MODES


@dataclass(frozen=True)
class CriticConfig:
    """Settings of the critic heads.

    Attributes:
        hidden: width of the head's two hidden layers (reference 256).
        head: "mlp", "per-action", or None for the layout's default (``default_action_head_mode``).
    """

    hidden: int = 256
    head: str | None = None

    def validate(self) -> None:
        """Raise ValueError naming the bad field and the valid values."""
        if self.hidden < 1:
            raise ValueError(f"hidden={self.hidden}: must be >= 1")
        if self.head is not None and self.head not in HEADS:
            raise ValueError(f"head={self.head!r}: use one of {list(HEADS)} or None")


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden),
        Mish(),
        nn.Linear(hidden, hidden),
        Mish(),
        nn.Linear(hidden, out_dim),
    )


class QNetwork(nn.Module):
    """One Q network: obs -> q_BA, with its own encoder.

    Args:
        layout: observation layout ("paper-adsac", "paper-agod", "tokens").
        obs_shape: observation shape without the batch dimension.
        num_actions: size of the Discrete action space it is built for.
        encoder: the encoder's settings (depth 0 on a paper layout = the reference flat input).
        critic: head settings.
        num_servers: E of a "paper-adsac" observation with K != 4 task types; else None.
    """

    def __init__(
        self,
        layout: str,
        obs_shape: Sequence[int],
        num_actions: int,
        encoder: EncoderConfig,
        critic: CriticConfig,
        num_servers: int | None = None,
    ) -> None:
        super().__init__()
        critic.validate()
        self.num_actions = num_actions
        self.head_mode = critic.head or default_action_head_mode(layout)
        per_action = self.head_mode == "per-action"
        self.encoder = StateEncoder(
            layout, obs_shape, num_actions, encoder, per_action, num_servers
        )
        in_dim = self.encoder.state_dim + (encoder.width if per_action else 0)
        self.head = _mlp(in_dim, critic.hidden, 1 if per_action else num_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs_BO or obs_BTF -> q_BA."""
        return _apply_head(self.head, *self.encoder(obs), self.num_actions)


def _apply_head(
    head: nn.Module, state_BD: torch.Tensor, act_BAD: torch.Tensor | None, num_actions: int
) -> torch.Tensor:
    """q_BA from a head: over the whole vector (act_BAD None) or once per action token."""
    if act_BAD is None:
        q_BA = head(state_BD)
        assert q_BA.shape == (state_BD.shape[0], num_actions), q_BA.shape
        return q_BA
    state_BAD = state_BD.unsqueeze(1).expand(-1, act_BAD.shape[1], -1)
    return head(torch.cat([act_BAD, state_BAD], dim=-1)).squeeze(-1)


class TwinQCritic(nn.Module):
    """Two independent Q networks over all actions (clipped double Q).

    Args:
        layout: observation layout ("paper-adsac", "paper-agod", "tokens").
        obs_shape: observation shape without the batch dimension.
        num_actions: size of the Discrete action space it is built for.
        encoder: the encoders' settings; depth 0 on a paper layout is the reference critic.
            Default: ``EncoderConfig(dropout=0.0)``. The reference published no attention critic;
            dropout noise in Q(s, a) would feed straight into the bootstrapped targets, so the
            critic default keeps it off (the actor's default keeps the reference's 0.4).
        critic: head settings.
        num_servers: E of a "paper-adsac" observation with K != 4 task types; else None.
    """

    def __init__(
        self,
        layout: str,
        obs_shape: Sequence[int],
        num_actions: int,
        encoder: EncoderConfig | None = None,
        critic: CriticConfig | None = None,
        num_servers: int | None = None,
    ) -> None:
        super().__init__()
        encoder = encoder or EncoderConfig(dropout=0.0)
        critic = critic or CriticConfig()
        self.q1 = QNetwork(layout, obs_shape, num_actions, encoder, critic, num_servers)
        self.q2 = QNetwork(layout, obs_shape, num_actions, encoder, critic, num_servers)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """obs -> (q1_BA, q2_BA)."""
        return self.q1(obs), self.q2(obs)

    def q_min(self, obs: torch.Tensor) -> torch.Tensor:
        """min(Q1, Q2)_BA."""
        return torch.minimum(*self.forward(obs))


class TwinQHeads(nn.Module):
    """Two Q heads over the features of one encoder owned by someone else (no encoder here).

    ``forward(state_BD, act_BAD)`` -> (q1_BA, q2_BA). The twins still have their own heads, so
    their estimates differ; only the features are common.

    Args:
        state_dim: size of state_BD (the encoder's ``state_dim``).
        width: size of each act_BAD row (the encoder's width); used by per-action heads only.
        num_actions: size of the Discrete action space.
        per_action: one head call per action token (needs act_BAD) instead of one over all.
        critic: head settings (its ``head`` field is ignored: ``per_action`` decides).
    """

    def __init__(
        self,
        state_dim: int,
        width: int,
        num_actions: int,
        per_action: bool,
        critic: CriticConfig | None = None,
    ) -> None:
        super().__init__()
        critic = critic or CriticConfig()
        critic.validate()
        self.num_actions = num_actions
        in_dim = state_dim + (width if per_action else 0)
        out_dim = 1 if per_action else num_actions
        self.q1 = _mlp(in_dim, critic.hidden, out_dim)
        self.q2 = _mlp(in_dim, critic.hidden, out_dim)

    def forward(
        self, state_BD: torch.Tensor, act_BAD: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoded states -> (q1_BA, q2_BA)."""
        return (
            _apply_head(self.q1, state_BD, act_BAD, self.num_actions),
            _apply_head(self.q2, state_BD, act_BAD, self.num_actions),
        )
