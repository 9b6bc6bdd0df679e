"""State encoder: self-attention over the tokens of ONE state (the ADSAC part of the model).

Model composition::

    obs -> Tokenizer -> tokens_BTD -> depth x pre-norm transformer layer -> LayerNorm
        -> state_BD  (pooled: all tokens flattened -> Linear for the fixed-size paper layouts,
                      [task token, mean of the others] -> Linear for "tokens")
        -> act_BAD   (the token each action belongs to, plus its model-id embedding)

Attention runs over the token axis of each sample (q, k, v are (B, heads, T, D/heads)), never
across the minibatch: the public ADSAC code applied its attention to a (batch, 256) tensor, which
made samples attend to each other. ``tests/models/test_state_encoder.py`` checks that changing one
sample leaves the others' outputs unchanged.

Depth 0 on a paper layout without per-action embeddings is D2SAC: no tokens at all, the state
feature is the flat observation unchanged (``state_dim == obs_dim``), exactly what the reference
epsilon network and critics receive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edge_rl.models.tokenizers import make_tokenizer


@dataclass(frozen=True)
class EncoderConfig:
    """Settings of a ``StateEncoder``. Defaults are the ADSAC reference (1 layer, 1 head, 256
    wide, dropout 0.4).

    Attributes:
        width: model width D of tokens and embeddings (64..256 is sensible; cost grows ~D^2).
        depth: number of transformer layers; 0 = no attention (D2SAC). 1..3 is sensible.
        heads: attention heads; must divide ``width``.
        dropout: dropout inside the transformer layers (0..0.5); only active in train mode.
        ff_mult: hidden size of each layer's feed-forward block, as a multiple of ``width``;
            0 drops the block (attention + residual only, like the reference's layer).
        raw_state: on the flat paper layouts, append the raw observation to the pooled
            attention embedding (state_dim = width + obs_dim). The reference ADSAC epsilon
            network has this path too (its ``ex_layer`` sees the raw state next to the attention
            branch); without it the actor must learn everything through freshly initialised
            attention, and measured runs got worse than random (ADSACConfig's
            ``attention_raw_state``).
    """

    width: int = 256
    depth: int = 1
    heads: int = 1
    dropout: float = 0.4
    ff_mult: int = 2
    raw_state: bool = True

    def validate(self) -> None:
        """Raise ValueError naming the bad field and the valid range."""
        if self.width < 1:
            raise ValueError(f"width={self.width}: must be >= 1")
        if self.depth < 0:
            raise ValueError(f"depth={self.depth}: must be >= 0 (0 = no attention, D2SAC)")
        if self.heads < 1 or self.width % self.heads != 0:
            raise ValueError(f"heads={self.heads}: must be >= 1 and divide width={self.width}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout}: must be in [0, 1)")
        if self.ff_mult < 0:
            raise ValueError(f"ff_mult={self.ff_mult}: must be >= 0 (0 = no feed-forward block)")


class PreNormAttentionBlock(nn.Module):
    """One pre-norm transformer layer over the tokens of each state.

    h = h + Dropout(Proj(MHA(LN(h))));  h = h + Dropout(FF(LN(h)))  (FF only when ff_mult > 0).
    Attention is computed per sample and head over the token axis: q, k, v are (B, H, T, D/H),
    so nothing flows between the samples of a batch.

    Args:
        width: model width D.
        heads: attention heads (divides D).
        ff_mult: feed-forward hidden size as a multiple of D; 0 drops the block (the reference's
            attention layer has none).
        dropout: dropout on the attention weights and on both residual branches.
    """

    def __init__(self, width: int, heads: int, ff_mult: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.norm_attn = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)
        if ff_mult > 0:
            self.norm_ff: nn.LayerNorm | None = nn.LayerNorm(width)
            self.ff: nn.Sequential | None = nn.Sequential(
                nn.Linear(width, ff_mult * width), nn.GELU(), nn.Linear(ff_mult * width, width)
            )
        else:
            self.norm_ff = None
            self.ff = None

    def forward(self, h_BTD: torch.Tensor) -> torch.Tensor:
        b, t, d = h_BTD.shape
        qkv_3BHTd = (
            self.qkv(self.norm_attn(h_BTD))
            .view(b, t, 3, self.heads, d // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        q, k, v = qkv_3BHTd.unbind(0)
        # Dropout modules are skipped outright when inactive: this runs once per decision.
        drop = self.training and self.dropout > 0.0
        attn_BHTd = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if drop else 0.0)
        out_BTD = self.proj(attn_BHTd.transpose(1, 2).reshape(b, t, d))
        h_BTD = h_BTD + (self.drop(out_BTD) if drop else out_BTD)
        if self.ff is not None:
            out_BTD = self.ff(self.norm_ff(h_BTD))
            h_BTD = h_BTD + (self.drop(out_BTD) if drop else out_BTD)
        return h_BTD


class StateEncoder(nn.Module):
    """obs -> (state_BD, act_BAD | None): pooled state embedding and per-action embeddings.

    Pooling: layouts with a fixed token count (the paper layouts) flatten all tokens into one
    Linear, which keeps which server is which (the reference networks see the whole flat
    observation); the "tokens" layout, whose token count varies with E, pools
    [task token, mean of the other tokens] so the same weights serve any E.

    Args:
        layout: observation layout, "paper-adsac", "paper-agod" or "tokens".
        obs_shape: observation shape without the batch dimension.
        num_actions: size of the Discrete action space the model is built for.
        config: width, depth, heads, dropout, feed-forward size.
        action_embeddings: also return act_BAD (needed by the per-action denoiser and the
            per-action critic head). Without it ``forward`` returns None in its place and skips
            the gather.
        num_servers: E of a "paper-adsac" observation when K != 4 (see
            ``tokenizers.paper_layout``); None otherwise.

    Attributes:
        state_dim: size of state_BD (``obs_dim`` on the flat D2SAC path, ``config.width`` plus
            ``obs_dim`` with ``raw_state`` on a paper layout, else ``config.width``).
        flat: True on the D2SAC path (depth 0, paper layout, no action embeddings).
    """

    def __init__(
        self,
        layout: str,
        obs_shape: Sequence[int],
        num_actions: int,
        config: EncoderConfig,
        action_embeddings: bool = False,
        num_servers: int | None = None,
    ) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.layout = layout
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.action_embeddings = action_embeddings
        self.tokenizer = make_tokenizer(
            layout, obs_shape, num_actions, config.width, action_embeddings, num_servers
        )
        flat_dim = self.tokenizer.flat_dim
        self.flat = config.depth == 0 and flat_dim is not None and not action_embeddings
        if self.flat:
            # D2SAC: the networks see the observation itself; the tokeniser stays unused.
            del self.tokenizer
            self.state_dim = int(flat_dim)
            return
        self.raw_state = bool(config.raw_state and flat_dim is not None)
        self.state_dim = config.width + (int(flat_dim) if self.raw_state else 0)
        self.layers = nn.ModuleList(
            PreNormAttentionBlock(config.width, config.heads, config.ff_mult, config.dropout)
            for _ in range(config.depth)
        )
        self.final_norm = nn.LayerNorm(config.width)
        self.num_tokens = self.tokenizer.num_tokens
        pooled = config.width * (self.num_tokens if self.num_tokens is not None else 2)
        self.pool = nn.Linear(pooled, config.width)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encode a batch of observations (obs_BO or obs_BTF).

        Returns:
            state_BD: (B, state_dim) state embedding.
            act_BAD: (B, A, width) per-action embeddings, or None without ``action_embeddings``.
        """
        assert tuple(obs.shape[1:]) == self.obs_shape or self.layout == "tokens", (
            f"expected obs of shape (B, {', '.join(map(str, self.obs_shape))}), "
            f"got {tuple(obs.shape)}"
        )
        if self.flat:
            return obs.reshape(obs.shape[0], -1), None
        h_BTD = self.tokenizer(obs)
        for layer in self.layers:
            h_BTD = layer(h_BTD)
        h_BTD = self.final_norm(h_BTD)
        if self.num_tokens is not None:
            state_BD = self.pool(h_BTD.flatten(1))
        else:
            state_BD = self.pool(torch.cat([h_BTD[:, 0], h_BTD[:, 1:].mean(dim=1)], dim=-1))
        if self.raw_state:
            state_BD = torch.cat([state_BD, obs.reshape(obs.shape[0], -1)], dim=-1)
        if not self.action_embeddings:
            return state_BD, None
        act_BAD = h_BTD[:, self.tokenizer.action_token_index(h_BTD.shape[1])]
        offsets_AD = self.tokenizer.action_offsets(act_BAD.shape[1])
        if offsets_AD is not None:
            act_BAD = act_BAD + offsets_AD
        return state_BD, act_BAD
