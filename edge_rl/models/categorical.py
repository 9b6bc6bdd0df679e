"""A plain softmax actor on ADSAC's state encoder: the ablation of the diffusion chain.

Model composition::

    obs -> StateEncoder -> state_BD (+ act_BAD) -> MLP -> logits_BA -> pi = softmax(logits)

This is the actor of discrete SAC (Christodoulou, "Soft Actor-Critic for Discrete Action
Settings", arXiv 1910.07207), which RLlib's SAC uses, on the same encoder, mask, critics and
losses as ADSAC's diffusion actor (``edge_rl.models.diffusion``). Swapping one for the other
(``actor_head`` in ``ADSACConfig``) isolates what the DDPM over logits adds: with the chain,
pi(a|s) = E_noise[softmax(x_0)]; here pi(a|s) = softmax(f(s)) directly.

Two heads, as for the denoiser:

- "mlp": logits over the whole |A| vector from the state, [state (128)] -> 256 -> 256 -> |A|,
  Mish; sizes as the reference's epsilon network, without its x and time inputs and its Tanh.
- "per-action": logit[a] from [act_BAD[a], state_BD] -> 256 -> 256 -> 1, one shared MLP for
  every action, so it works for any |A|.

There is no noise: ``draw_noise`` returns an empty (0, B, A) tensor, so callers written for a
diffusion actor (``CompiledActor``, the mean of K chains) work unchanged and see the same logits
on every pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from edge_rl.models.activations import Mish
from edge_rl.models.attention import EncoderConfig
from edge_rl.models.diffusion import EncodedActor
from edge_rl.models.masking import FeasibilityMask

#: what ``actor_head`` may be: the diffusion chain (the reference) or this module's softmax actor
ACTOR_HEADS = ("diffusion", "softmax")


class SoftmaxActor(EncodedActor):
    """obs -> logits_BA = MLP(encoded state); pi = softmax(logits).

    Args:
        layout: observation layout ("paper-adsac", "paper-agod", "tokens").
        obs_shape: observation shape without the batch dimension.
        num_actions: size of the Discrete action space.
        encoder: the state encoder's settings (depth 0 = no attention).
        head: "mlp", "per-action" or None (the layout's default, as for the denoiser).
        hidden: width of the two hidden layers (256).
        s_dim: "mlp" only: size of the state feature (128).
        num_servers: E of a "paper-adsac" observation with K != 4 task types; else None.
        mask: a feasibility mask (``edge_rl.models.masking``), or None.
    """

    def __init__(
        self,
        layout: str,
        obs_shape: Sequence[int],
        num_actions: int,
        encoder: EncoderConfig | None = None,
        head: str | None = None,
        hidden: int = 256,
        s_dim: int = 128,
        num_servers: int | None = None,
        mask: FeasibilityMask | None = None,
    ) -> None:
        if hidden < 1 or s_dim < 1:
            raise ValueError(f"hidden={hidden}, s_dim={s_dim}: both must be >= 1")
        encoder = encoder or EncoderConfig()
        super().__init__(layout, obs_shape, num_actions, encoder, head, num_servers, mask)
        state_dim = self.encoder.state_dim
        if self.denoiser_mode == "per-action":
            self.head = nn.Sequential(
                nn.Linear(encoder.width + state_dim, hidden),
                Mish(),
                nn.Linear(hidden, hidden),
                Mish(),
                nn.Linear(hidden, 1),
            )
        else:
            self.head = nn.Sequential(
                nn.Linear(state_dim, s_dim),
                Mish(),
                nn.Linear(s_dim, hidden),
                Mish(),
                nn.Linear(hidden, hidden),
                Mish(),
                nn.Linear(hidden, num_actions),
            )

    def draw_noise(
        self, batch: int, num_actions: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """No noise: an empty (0, B, A) tensor on the actor's device."""
        ref = next(self.head.parameters())
        return ref.new_zeros((0, batch, num_actions))

    def denoise(
        self, state_BD: torch.Tensor, act_BAD: torch.Tensor | None, noise_NBA: torch.Tensor
    ) -> torch.Tensor:
        """Encoded states -> logits_BA (``noise_NBA`` is empty and ignored)."""
        if self.denoiser_mode != "per-action":
            return self.head(state_BD)
        assert act_BAD is not None, "the per-action head needs act_BAD from the encoder"
        batch, num_actions = act_BAD.shape[:2]
        state_BAD = state_BD.unsqueeze(1).expand(batch, num_actions, state_BD.shape[-1])
        return self.head(torch.cat([act_BAD, state_BAD], dim=-1)).squeeze(-1)
