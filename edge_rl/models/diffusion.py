"""Diffusion actor of D2SAC/ADSAC: a DDPM over the action-logit vector.

Model composition::

    obs -> StateEncoder -> state_BD (+ act_BAD) -> N reverse DDPM steps from x_N ~ N(0, I)
        -> logits_BA = x_0 -> pi = softmax(x_0)

Each reverse step i = N-1, ..., 0 predicts the noise eps(x_i, i, state) and takes the standard DDPM
posterior mean of x_{i-1} given x_i and the implied x_0; gaussian noise with the posterior standard
deviation is added on every step but the last; nothing is clipped; gradients flow through the
whole chain. Because that mean is linear in x_i and eps, each step is
``x_{i-1} = x_coef[i] * x_i - eps_coef[i] * eps + noise_std[i] * z`` with constants computed once
from the beta schedule (``edge_rl.models.schedules``).

Two epsilon networks (``DiffusionConfig.denoiser``):

- "mlp" (reference): eps over the whole |A| vector from [x features (64), time embedding (16),
  state features (128)] -> 256 -> 256 -> |A|, Mish, Tanh output. Needs a fixed |A|.
- "per-action" (permutation-equivariant): eps for each action's logit from [x_i[a],
  log_softmax(x_i)[a], time embedding, act_BAD[a], state_BD] -> 256 -> 256 -> 1, Mish, Tanh.
  The same weights work for any |A| (the default for the "tokens" layout).

The Tanh output (the reference's, ``DiffusionConfig.output="tanh"``) bounds |eps| by 1, so a
step can cancel only so much of the noise it is given: with the vp schedule for 5 steps, x_N
reaches x_0 multiplied by 12.5 unless eps cancels it, and the last step alone needs
|eps| = 2.26 |x_1| to do that. The per-chain policy softmax(x_0) can then not be made
independent of the noise. ``output="linear"`` drops the Tanh (an unbounded eps) to test that.

Speed: everything that does not depend on x_i (the state and action parts of the first layer,
the time embeddings of all N steps, all noise) is computed once per call, not once per step, and
the per-step code calls ``torch.nn.functional`` directly; this is exact algebra, not an
approximation, and the same code runs in training and in inference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edge_rl.models.activations import Mish, mish
from edge_rl.models.attention import EncoderConfig, StateEncoder
from edge_rl.models.masking import FeasibilityMask
from edge_rl.models.schedules import BETA_SCHEDULES, reverse_step_coefficients
from edge_rl.models.tokenizers import ACTION_HEAD_MODES, default_action_head_mode

# --------------------------------------------------------------------------- epsilon networks


def sinusoidal_embedding(t_N: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style sinusoidal embedding of (N,) step indices -> (N, dim) [sin | cos]."""
    half = dim // 2
    freqs = torch.exp(
        torch.arange(half, device=t_N.device, dtype=torch.float32)
        * (-math.log(10000.0) / (half - 1))
    )
    angles_NH = t_N.to(torch.float32)[:, None] * freqs[None, :]
    return torch.cat([angles_NH.sin(), angles_NH.cos()], dim=-1)


class _TimeMlp(nn.Module):
    """Sinusoidal step features (N, T) -> Linear(2T) -> Mish -> Linear(T), as in D2SAC."""

    def __init__(self, time_dim: int) -> None:
        super().__init__()
        if time_dim < 4 or time_dim % 2:
            raise ValueError(f"time_dim={time_dim}: must be an even number >= 4")
        self.time_dim = time_dim
        self.net = nn.Sequential(
            nn.Linear(time_dim, 2 * time_dim), Mish(), nn.Linear(2 * time_dim, time_dim)
        )

    def forward(self, features_NT: torch.Tensor) -> torch.Tensor:
        return self.net(features_NT)


#: the epsilon networks' output: "tanh" (the reference: |eps| <= 1) or "linear" (unbounded)
DENOISER_OUTPUTS = ("tanh", "linear")


class _Denoiser(nn.Module):
    """Shared call path of the epsilon networks: ``prepare`` once per chain, ``step`` per step;
    ``forward`` is the one-off form (tests, the textbook baseline)."""

    time_mlp: _TimeMlp
    out: nn.Linear
    tanh_output: bool = True

    def _eps_out(self, h: torch.Tensor) -> torch.Tensor:
        """The output layer: tanh(W h + b) (the reference) or W h + b."""
        eps = F.linear(h, self.out.weight, self.out.bias)
        return torch.tanh(eps) if self.tanh_output else eps

    def forward(
        self,
        x_BA: torch.Tensor,
        i: int,
        state_BD: torch.Tensor,
        act_BAD: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """eps(x_i, i, state[, actions]) -> eps_BA."""
        features = sinusoidal_embedding(
            torch.arange(i + 1, device=x_BA.device), self.time_mlp.time_dim
        )
        return self.step(x_BA, i, self.prepare(state_BD, act_BAD, features))


class MlpDenoiser(_Denoiser):
    """Reference epsilon network: eps over the whole logit vector.

    eps = tanh(W3 mish(W2 mish(W1 [mish(Wx x), time(i), mish(Ws s)]))).

    The epsilon networks are used through ``prepare`` (once per chain: everything that does not
    depend on x_i, one first-layer bias per step) and ``step`` (once per step). ``forward`` is a
    convenience for a single call.

    Args:
        num_actions: |A|, fixed.
        state_dim: size of state_BD.
        hidden: width of the two hidden layers (reference 256).
        time_dim: size of the step embedding (reference 16).
        x_dim: size of the x feature (reference 64).
        s_dim: size of the state feature (reference 128).
    """

    def __init__(
        self,
        num_actions: int,
        state_dim: int,
        hidden: int = 256,
        time_dim: int = 16,
        x_dim: int = 64,
        s_dim: int = 128,
    ) -> None:
        super().__init__()
        self.num_actions = num_actions
        self.time_mlp = _TimeMlp(time_dim)
        self.x_in = nn.Linear(num_actions, x_dim)
        self.s_in = nn.Linear(state_dim, s_dim)
        # One layer over the concatenation [x, t, s]; prepare() splits its weight by columns.
        self.hidden1 = nn.Linear(x_dim + time_dim + s_dim, hidden)
        self.hidden2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, num_actions)
        self._split = [x_dim, time_dim, s_dim]

    def prepare(
        self, state_BD: torch.Tensor, act_BAD: torch.Tensor | None, time_features_NT: torch.Tensor
    ) -> tuple:
        """First-layer pre-activation without the x part, per step: (N x (B, H), Wx^T)."""
        wx, wt, ws = self.hidden1.weight.split(self._split, dim=1)
        base_BH = F.linear(mish(self.s_in(state_BD)), ws, self.hidden1.bias)
        time_NH = F.linear(self.time_mlp(time_features_NT), wt)
        return (base_BH.unsqueeze(0) + time_NH.unsqueeze(1)).unbind(0), wx.t()

    def step(self, x_BA: torch.Tensor, i: int, ctx: tuple) -> torch.Tensor:
        """eps_BA for step i, given prepare()'s context (functional calls: no module overhead)."""
        base_NBH, wx_t = ctx
        h = mish(F.linear(x_BA, self.x_in.weight, self.x_in.bias))
        h = mish(torch.addmm(base_NBH[i], h, wx_t))
        h = mish(F.linear(h, self.hidden2.weight, self.hidden2.bias))
        return self._eps_out(h)


class PerActionDenoiser(_Denoiser):
    """Permutation-equivariant epsilon network: one shared MLP per action logit.

    eps[a] = tanh(W3 mish(W2 mish(W1 [x[a], log_softmax(x)[a], time(i), act[a], s]))).
    log_softmax(x)[a] tells each action where its logit stands among the others, which x[a] alone
    cannot; it is equivariant, so the network still works for any |A|.

    Args:
        action_dim: size of each act_BAD[a] (the encoder width).
        state_dim: size of state_BD.
        hidden: width of the two hidden layers.
        time_dim: size of the step embedding.
    """

    _X_FEATURES = 2

    def __init__(
        self, action_dim: int, state_dim: int, hidden: int = 256, time_dim: int = 16
    ) -> None:
        super().__init__()
        self.time_mlp = _TimeMlp(time_dim)
        self.hidden1 = nn.Linear(self._X_FEATURES + time_dim + action_dim + state_dim, hidden)
        self.hidden2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)
        self._split = [self._X_FEATURES, time_dim, action_dim, state_dim]

    def prepare(
        self, state_BD: torch.Tensor, act_BAD: torch.Tensor | None, time_features_NT: torch.Tensor
    ) -> tuple:
        """First-layer pre-activation without the x part, per step: (N x (B, A, H), Wx)."""
        assert act_BAD is not None, "the per-action denoiser needs act_BAD from the encoder"
        wx, wt, wa, ws = self.hidden1.weight.split(self._split, dim=1)
        base_BAH = F.linear(act_BAD, wa) + F.linear(state_BD, ws, self.hidden1.bias).unsqueeze(1)
        time_NH = F.linear(self.time_mlp(time_features_NT), wt)
        return (base_BAH.unsqueeze(0) + time_NH[:, None, None, :]).unbind(0), wx

    def step(self, x_BA: torch.Tensor, i: int, ctx: tuple) -> torch.Tensor:
        """eps_BA for step i, given prepare()'s context."""
        base_NBAH, wx = ctx
        feats_BA2 = torch.stack([x_BA, torch.log_softmax(x_BA, dim=-1)], dim=-1)
        h = mish(F.linear(feats_BA2, wx) + base_NBAH[i])
        h = mish(F.linear(h, self.hidden2.weight, self.hidden2.bias))
        return self._eps_out(h).squeeze(-1)


# --------------------------------------------------------------------------- the actor

DENOISERS = ACTION_HEAD_MODES


@dataclass(frozen=True)
class DiffusionConfig:
    """Settings of the diffusion chain and its epsilon network (defaults: the reference).

    Attributes:
        steps: number of denoising steps N (reference 5; 1..20 is sensible, cost is linear in N).
        schedule: beta schedule, "vp" (reference), "linear" or "cosine".
        denoiser: "mlp", "per-action", or None for the layout's default
            (``default_action_head_mode``).
        hidden: width of the epsilon network's two hidden layers (reference 256).
        time_dim: size of the step embedding (reference 16).
        x_dim: "mlp" only: size of the feature of the whole x vector (reference 64).
        s_dim: "mlp" only: size of the state feature (reference 128).
        output: the epsilon network's output, "tanh" (reference) or "linear" (module docstring).
    """

    steps: int = 5
    schedule: str = "vp"
    denoiser: str | None = None
    hidden: int = 256
    time_dim: int = 16
    x_dim: int = 64
    s_dim: int = 128
    output: str = "tanh"

    def validate(self) -> None:
        """Raise ValueError naming the bad field and the valid values."""
        if self.steps < 1:
            raise ValueError(f"steps={self.steps}: must be >= 1")
        if self.schedule not in BETA_SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r}: use one of {list(BETA_SCHEDULES)}")
        if self.denoiser is not None and self.denoiser not in DENOISERS:
            raise ValueError(f"denoiser={self.denoiser!r}: use one of {list(DENOISERS)} or None")
        if self.output not in DENOISER_OUTPUTS:
            raise ValueError(f"output={self.output!r}: use one of {list(DENOISER_OUTPUTS)}")
        for name in ("hidden", "x_dim", "s_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 1")


class EncodedActor(nn.Module):
    """What every actor on a ``StateEncoder`` shares: obs -> encoder -> logits_BA -> mask.

    Subclasses set ``encoder``, ``num_actions``, ``denoiser_mode`` ("mlp" or "per-action", the
    form of the head on the encoding) and ``mask``, and implement ``draw_noise`` (all the noise
    one pass uses) and ``denoise`` (encoding + that noise -> logits_BA), so that callers which
    hold the noise (``CompiledActor``, the mean-of-K-chains evaluation) work with any actor.
    """

    def __init__(
        self,
        layout: str,
        obs_shape: Sequence[int],
        num_actions: int,
        encoder: EncoderConfig,
        head: str | None,
        num_servers: int | None,
        mask: FeasibilityMask | None,
    ) -> None:
        """The encoder for ``head`` ("mlp", "per-action", or None: the layout's default)."""
        super().__init__()
        if head is not None and head not in DENOISERS:
            raise ValueError(f"head={head!r}: use one of {list(DENOISERS)} or None")
        self.mask = mask
        self.num_actions = num_actions
        self.denoiser_mode = head or default_action_head_mode(layout)
        self.encoder = StateEncoder(
            layout,
            obs_shape,
            num_actions,
            encoder,
            self.denoiser_mode == "per-action",
            num_servers,
        )

    def num_actions_of(self, obs: torch.Tensor) -> int:
        """|A| offered by the observation batch: rows - 1 for "tokens" with the per-action
        denoiser (any E), else the |A| the actor was built for."""
        if obs.dim() != 3:
            return self.num_actions
        if self.denoiser_mode == "per-action":
            return obs.shape[1] - 1
        assert obs.shape[1] == 1 + self.num_actions, (
            f"the mlp denoiser was built for {self.num_actions} actions, got obs with "
            f"{obs.shape[1] - 1} server-model rows; use denoiser='per-action'"
        )
        return self.num_actions

    def forward(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """obs_BO (paper layouts) or obs_BTF (tokens) -> logits_BA (x_0 of a diffusion chain).

        ``generator`` seeds the noise (on the actor's device); None uses torch's global
        RNG.
        """
        return self.decode_obs(obs, *self.encoder(obs), generator=generator)

    def decode_obs(
        self,
        obs: torch.Tensor,
        state_BD: torch.Tensor,
        act_BAD: torch.Tensor | None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``forward`` given the encoding of ``obs`` (for callers that hold it): the logits of
        the actions ``obs`` offers, then the feasibility mask."""
        logits_BA = self.decode(state_BD, act_BAD, self.num_actions_of(obs), generator)
        return self.mask_logits(obs, logits_BA)

    def mask_logits(self, obs: torch.Tensor, logits_BA: torch.Tensor) -> torch.Tensor:
        """``logits_BA`` of ``obs`` with the feasibility mask applied (unchanged without one)."""
        return logits_BA if self.mask is None else self.mask(obs, logits_BA)

    def decode(
        self,
        state_BD: torch.Tensor,
        act_BAD: torch.Tensor | None,
        num_actions: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Logits_BA of already encoded states, from fresh noise (``forward`` without the
        encoder; learners that hold the encoding use it directly)."""
        noise_NBA = self.draw_noise(state_BD.shape[0], num_actions, generator)
        logits_BA = self.denoise(state_BD, act_BAD, noise_NBA)
        assert logits_BA.shape == (state_BD.shape[0], num_actions), logits_BA.shape
        return logits_BA

    @torch.inference_mode()
    def act(
        self, obs: torch.Tensor, explore: bool = True, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Actions_B without autograd: sampled from pi when ``explore``, else argmax."""
        logits_BA = self.forward(obs, generator)
        return sample_actions(logits_BA, generator) if explore else greedy_actions(logits_BA)

    def draw_noise(
        self, batch: int, num_actions: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """All the noise one pass for ``batch`` states uses, (N, B, A)."""
        raise NotImplementedError

    def denoise(
        self, state_BD: torch.Tensor, act_BAD: torch.Tensor | None, noise_NBA: torch.Tensor
    ) -> torch.Tensor:
        """Encoded states and ``draw_noise``'s noise -> logits_BA (before the mask)."""
        raise NotImplementedError


class DiffusionActor(EncodedActor):
    """obs -> logits_BA = x_0 of a DDPM conditioned on the encoded state; pi = softmax(logits).

    Args:
        layout: observation layout ("paper-adsac", "paper-agod", "tokens").
        obs_shape: observation shape without the batch dimension.
        num_actions: size of the Discrete action space the actor is built for. With the
            "per-action" denoiser on the "tokens" layout, ``forward`` accepts observations with
            any number of server-model rows.
        encoder: the state encoder's settings (depth 0 = D2SAC).
        diffusion: the chain's settings.
        num_servers: E of a "paper-adsac" observation with K != 4 task types; else None.
        mask: a feasibility mask (``edge_rl.models.masking``): ``forward`` then gives
            infeasible actions probability 0; None (the reference) leaves logits as they are.
    """

    def __init__(
        self,
        layout: str,
        obs_shape: Sequence[int],
        num_actions: int,
        encoder: EncoderConfig | None = None,
        diffusion: DiffusionConfig | None = None,
        num_servers: int | None = None,
        mask: FeasibilityMask | None = None,
    ) -> None:
        encoder = encoder or EncoderConfig()
        diffusion = diffusion or DiffusionConfig()
        diffusion.validate()
        super().__init__(
            layout, obs_shape, num_actions, encoder, diffusion.denoiser, num_servers, mask
        )
        self.diffusion_config = diffusion
        if self.denoiser_mode == "per-action":
            self.denoiser: MlpDenoiser | PerActionDenoiser = PerActionDenoiser(
                encoder.width, self.encoder.state_dim, diffusion.hidden, diffusion.time_dim
            )
        else:
            self.denoiser = MlpDenoiser(
                num_actions,
                self.encoder.state_dim,
                diffusion.hidden,
                diffusion.time_dim,
                diffusion.x_dim,
                diffusion.s_dim,
            )
        self.denoiser.tanh_output = diffusion.output == "tanh"
        self.num_steps = diffusion.steps
        betas = BETA_SCHEDULES[diffusion.schedule](diffusion.steps)
        coefs = reverse_step_coefficients(betas)
        self.register_buffer("betas", betas.float())
        # The sinusoidal features of steps 0..N-1 are constants; the time MLP on top is learned.
        self.register_buffer(
            "time_features_NT",
            sinusoidal_embedding(torch.arange(diffusion.steps), diffusion.time_dim),
            persistent=False,
        )
        # Noise std of the steps that add noise, in the order they run: i = N-1, ..., 1.
        self.register_buffer(
            "noise_std_desc",
            coefs.noise_std.flip(0)[:-1].float().reshape(-1, 1, 1),
            persistent=False,
        )
        # Python floats: multiplying by a float avoids one tensor op per step.
        self._x_coef = coefs.x_coef.tolist()
        self._eps_coef = coefs.eps_coef.tolist()

    def draw_noise(
        self, batch: int, num_actions: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """All noise one chain uses, (N, B, A): [0] is x_N, [k] (k >= 1) is added at step N-k.

        ``generator`` must live on the actor's device; None draws from torch's global RNG.
        """
        ref = self.time_features_NT
        return torch.randn(
            (self.num_steps, batch, num_actions),
            generator=generator,
            device=ref.device,
            dtype=ref.dtype,
        )

    def denoise(
        self, state_BD: torch.Tensor, act_BAD: torch.Tensor | None, noise_NBA: torch.Tensor
    ) -> torch.Tensor:
        """Run the reverse chain from given noise (see ``draw_noise``) -> logits_BA = x_0."""
        ctx = self.denoiser.prepare(state_BD, act_BAD, self.time_features_NT)
        x_BA = noise_NBA[0]
        added_NBA = (noise_NBA[1:] * self.noise_std_desc).unbind(0)
        for k in range(self.num_steps):
            i = self.num_steps - 1 - k
            eps_BA = self.denoiser.step(x_BA, i, ctx)
            # x_{i-1} = x_coef x_i - eps_coef eps (+ std z): two fused ops instead of four.
            x_BA = (
                torch.add(added_NBA[k], x_BA, alpha=self._x_coef[i])
                if i > 0
                else x_BA * self._x_coef[i]
            )
            x_BA = torch.add(x_BA, eps_BA, alpha=-self._eps_coef[i])
        return x_BA


def sample_actions(
    logits_BA: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw actions_B ~ softmax(logits_BA) (exploration)."""
    return torch.multinomial(torch.softmax(logits_BA, dim=-1), 1, generator=generator).squeeze(-1)


def greedy_actions(logits_BA: torch.Tensor) -> torch.Tensor:
    """actions_B = argmax_a logits_BA (evaluation)."""
    return logits_BA.argmax(dim=-1)


def mean_probs_action(logits_KA: torch.Tensor) -> int:
    """The argmax of softmax(logits) averaged over K passes for one state (K diffusion chains
    from independent noise): the mode of the marginal policy E_noise[softmax(x_0)]."""
    return int(torch.softmax(logits_KA, dim=-1).mean(0).argmax())
