"""A DreamerV3-style world model with categorical latents, plus an RL^2 recurrent actor-critic.

Composition (one env step; B = batch, S x C = categorical latents, A = actions)::

    obs_BO -> symlog -> encoder -> embed_BE
    h_t  = GRU(h_{t-1}, [z_{t-1}, onehot(a_{t-1})])                  deterministic state
    z_t  ~ posterior(h_t, embed_t)   (real steps)                    S x C one-hot, 1% unimix
         ~ prior(h_t)                (imagined steps)
    feat = [h_t, z_t] -> decoder (symlog obs), reward (two-hot), continue (Bernoulli)
    m_t  = GRU_pi(m_{t-1}, [feat_t, onehot(a_{t-1})])                the policy's own memory
    pi(a_t | m_t, feat_t), v(feat_t, m_t) (two-hot)

The policy is recurrent in its own right (RL^2, Duan et al. 2016): its memory m and the world
model's h are carried across the inner episodes of a trial and reset only when a trial starts,
and it sees the previous action explicitly and the previous reward and the new-episode flag
through the observation (``MetaTrialEnv`` puts both there) and the reward head. Sizes follow
DreamerV3 (32 x 32 latents); ``WORLD_MODEL_PRESETS["debug"]`` shrinks everything for tests.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from edge_rl.models.server_scoring import ServerScoringHead, trial_obs_size
from edge_rl.models.world_model.functions import (
    straight_through_sample,
    symexp,
    symlog,
    symlog_bins,
    unimix_logits,
)

#: actor heads of the recurrent policy
ACTOR_HEADS: tuple[str, ...] = ("mlp", "servers")
#: what the reward head reads
REWARD_INPUTS: tuple[str, ...] = ("feat", "deter")


@dataclass(frozen=True)
class WorldModelConfig:
    """Sizes of the world model and the policy.

    Attributes:
        deter: GRU state size h of the world model (DreamerV3 S: 512; 256 is CPU-sized).
        stoch: number of categorical latent variables (32).
        classes: classes per latent variable (32).
        hidden: width of every MLP layer.
        layers: hidden layers per MLP (encoder, heads, actor, critic).
        memory: GRU state size m of the recurrent (RL^2) policy.
        unimix: uniform mix of latent and action distributions (0.01).
        num_bins: two-hot bins of the reward and critic heads (255 in [-20, 20] symlog).
        actor_head: "mlp" (logits from an MLP over features and memory) or "servers" (the
            shared per-server scorer of ``edge_rl.models.server_scoring`` over the decoded
            observation, with features and memory as its context; trial observations only).
        reward_input: "feat" (DreamerV3: r_t from [h_{t+1}, z_{t+1}]) or "deter" (from h_{t+1}
            = GRU(h_t, [z_t, a_t]) alone, which has to predict each reward from the state and
            the action, never from a posterior latent that saw the observation). Both learn
            action-dependent rewards on the load-balancing trials once the world model's
            learning rate suits the update budget (scripts/probe_world_model.py measures it).
        input_baseline: 0 (DreamerV3: the actor's advantage is the lambda-return minus the
            critic's value) or K > 0: an input-dependent baseline (Mao et al., "Variance
            Reduction for RL in Input-Driven Environments", ICLR 2019) for the advantage, a
            second critic that also reads the sizes of the next K jobs of the same imagined
            rollout. Job arrivals do not depend on the actions, so a baseline that knows them
            leaves the policy gradient unbiased and takes out the variance they cause
            (heavy-tailed sizes here). Trial observations only (the size is read from the
            decoded observation); the lambda-returns still bootstrap from the plain critic.
    """

    deter: int = 256
    stoch: int = 32
    classes: int = 32
    hidden: int = 256
    layers: int = 2
    memory: int = 128
    unimix: float = 0.01
    num_bins: int = 255
    actor_head: str = "mlp"
    reward_input: str = "feat"
    input_baseline: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "actor_head":
                if value not in ACTOR_HEADS:
                    raise ValueError(f"actor_head={value!r}: must be one of {list(ACTOR_HEADS)}")
            elif f.name == "reward_input":
                if value not in REWARD_INPUTS:
                    raise ValueError(
                        f"reward_input={value!r}: must be one of {list(REWARD_INPUTS)}"
                    )
            elif f.name == "input_baseline":
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ValueError(
                        f"input_baseline={value!r}: must be an integer >= 0 (0 = off; K = "
                        "the number of future job sizes the advantage baseline reads)"
                    )
            elif f.name == "unimix":
                if not 0.0 <= value < 1.0:
                    raise ValueError(f"unimix={value}: must be in [0, 1)")
            elif not isinstance(value, int) or value < (2 if f.name == "num_bins" else 1):
                raise ValueError(f"{f.name}={value!r}: must be a positive integer")

    @property
    def latent(self) -> int:
        return self.stoch * self.classes

    @property
    def feat(self) -> int:
        return self.deter + self.latent


#: named sizes: "default" (32 x 32 latents), "small" (CPU runs), "debug" (tests)
WORLD_MODEL_PRESETS: dict[str, WorldModelConfig] = {
    "default": WorldModelConfig(),
    "small": WorldModelConfig(deter=128, stoch=16, classes=16, hidden=128, memory=64),
    "debug": WorldModelConfig(
        deter=16, stoch=4, classes=4, hidden=16, layers=1, memory=8, num_bins=31
    ),
}


def mlp(inp: int, hidden: int, layers: int, out: int, zero_out: bool = False) -> nn.Sequential:
    """``layers`` x (Linear, LayerNorm, SiLU) then a Linear to ``out`` (zeroed if asked, as
    DreamerV3 does for the reward and critic outputs so that early predictions are 0)."""
    mods: list[nn.Module] = []
    width = inp
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.SiLU()]
        width = hidden
    last = nn.Linear(width, out)
    if zero_out:
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    mods.append(last)
    return nn.Sequential(*mods)


class RecurrentState(dict):
    """The carried state: ``h`` (B, deter), ``z`` (B, S*C), ``m`` (B, memory), ``a`` (B, A).

    A plain dict subclass, so RLlib can nest, batch and store it as STATE_IN / STATE_OUT.
    """


class WorldModel(nn.Module):
    """Encoder, RSSM (GRU + categorical prior/posterior) and the decoder/reward/continue heads."""

    def __init__(self, obs_dim: int, num_actions: int, cfg: WorldModelConfig) -> None:
        super().__init__()
        self.cfg, self.obs_dim, self.num_actions = cfg, obs_dim, num_actions
        self.encoder = mlp(obs_dim, cfg.hidden, cfg.layers, cfg.hidden)
        self.img_in = nn.Sequential(
            nn.Linear(cfg.latent + num_actions, cfg.hidden), nn.LayerNorm(cfg.hidden), nn.SiLU()
        )
        self.gru = nn.GRUCell(cfg.hidden, cfg.deter)
        self.prior_head = mlp(cfg.deter, cfg.hidden, 1, cfg.latent)
        self.post_head = mlp(cfg.deter + cfg.hidden, cfg.hidden, 1, cfg.latent)
        self.decoder = mlp(cfg.feat, cfg.hidden, cfg.layers, obs_dim)
        reward_in = cfg.deter if cfg.reward_input == "deter" else cfg.feat
        self.reward_head = mlp(reward_in, cfg.hidden, cfg.layers, cfg.num_bins, zero_out=True)
        self.continue_head = mlp(cfg.feat, cfg.hidden, cfg.layers, 1)
        self.register_buffer("bins", symlog_bins(cfg.num_bins), persistent=False)

    def decode_obs(self, feat_BF: torch.Tensor) -> torch.Tensor:
        """The decoder's observation (symexp of its symlog prediction)."""
        return symexp(self.decoder(feat_BF))

    def reward_logits(self, feat_BF: torch.Tensor) -> torch.Tensor:
        """Two-hot logits of the reward received on entering the state ``feat`` = [h, z]."""
        if self.cfg.reward_input == "deter":
            feat_BF = feat_BF[..., : self.cfg.deter]
        return self.reward_head(feat_BF)

    def embed(self, obs_BO: torch.Tensor) -> torch.Tensor:
        assert obs_BO.shape[-1] == self.obs_dim, (obs_BO.shape, self.obs_dim)
        return self.encoder(symlog(obs_BO))

    def _logits(self, head: nn.Module, x: torch.Tensor) -> torch.Tensor:
        logits = head(x).reshape(*x.shape[:-1], self.cfg.stoch, self.cfg.classes)
        return unimix_logits(logits, self.cfg.unimix)

    def img_step(
        self, h_BD: torch.Tensor, z_BL: torch.Tensor, a_onehot_BA: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(h_t, prior logits (B, S, C)) from h_{t-1}, z_{t-1} and a_{t-1}."""
        h_BD = self.gru(self.img_in(torch.cat([z_BL, a_onehot_BA], dim=-1)), h_BD)
        return h_BD, self._logits(self.prior_head, h_BD)

    def posterior(self, h_BD: torch.Tensor, embed_BE: torch.Tensor) -> torch.Tensor:
        return self._logits(self.post_head, torch.cat([h_BD, embed_BE], dim=-1))

    def sample(self, logits_BSC: torch.Tensor, greedy: bool = False) -> torch.Tensor:
        """Flat one-hot latents (B, S*C) with straight-through gradients."""
        return straight_through_sample(logits_BSC, greedy).flatten(-2)


class RecurrentActorCritic(nn.Module):
    """The RL^2 policy: a GRU memory over (features, previous action), a categorical actor
    head and a two-hot critic on (features, memory)."""

    def __init__(self, num_actions: int, cfg: WorldModelConfig, obs_dim: int | None = None) -> None:
        super().__init__()
        self.cfg, self.num_actions = cfg, num_actions
        self.memory = nn.GRUCell(cfg.feat + num_actions, cfg.memory)
        self.actor: nn.Module
        if cfg.actor_head == "servers":
            if obs_dim != trial_obs_size(num_actions):
                raise ValueError(
                    "actor_head='servers' scores one action per server of a trial observation "
                    f"(3 N + 3 floats, N actions); got obs_dim={obs_dim}, {num_actions} actions"
                )
            self.actor = ServerScoringHead(num_actions, cfg.feat + cfg.memory, cfg.hidden)
        else:
            self.actor = mlp(cfg.feat + cfg.memory, cfg.hidden, cfg.layers, num_actions)
        self.critic = mlp(cfg.feat + cfg.memory, cfg.hidden, cfg.layers, cfg.num_bins, True)
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.input_critic: nn.Module | None = None
        if cfg.input_baseline > 0:
            if obs_dim != trial_obs_size(num_actions):
                raise ValueError(
                    "input_baseline reads the incoming job size of a trial observation "
                    f"(3 N + 3 floats, N actions); got obs_dim={obs_dim}, {num_actions} "
                    "actions: use --env load-balance-trials or input_baseline=0"
                )
            width = cfg.feat + cfg.memory + 2 * cfg.input_baseline
            self.input_critic = mlp(width, cfg.hidden, cfg.layers, cfg.num_bins, True)
        # EMA of the imagined returns' P95 - P5; advantages are divided by max(1, it).
        self.register_buffer("return_scale", torch.zeros(()))

    def remember(
        self, m_BM: torch.Tensor, feat_BF: torch.Tensor, prev_a_onehot_BA: torch.Tensor
    ) -> torch.Tensor:
        return self.memory(torch.cat([feat_BF, prev_a_onehot_BA], dim=-1), m_BM)

    @property
    def needs_obs(self) -> bool:
        """Whether ``logits`` reads an observation (the "servers" head)."""
        return self.cfg.actor_head == "servers"

    def logits(
        self, feat_BF: torch.Tensor, m_BM: torch.Tensor, obs_BO: torch.Tensor | None = None
    ) -> torch.Tensor:
        context_BE = torch.cat([feat_BF, m_BM], dim=-1)
        if self.needs_obs:
            assert obs_BO is not None, "the servers head needs the (decoded) observation"
            logits_BA = self.actor(obs_BO, context_BE)
        else:
            logits_BA = self.actor(context_BE)
        if self.cfg.unimix > 0:
            probs = (1 - self.cfg.unimix) * torch.softmax(logits_BA, -1) + self.cfg.unimix / (
                self.num_actions
            )
            logits_BA = probs.log()
        return logits_BA

    def value_logits(self, feat_BF: torch.Tensor, m_BM: torch.Tensor, slow: bool = False):
        net = self.slow_critic if slow else self.critic
        return net(torch.cat([feat_BF, m_BM], dim=-1))

    @property
    def size_index(self) -> int:
        """Where a trial observation holds the incoming job size (log1p): after N loads."""
        return self.num_actions

    def input_value_logits(
        self, feat_BF: torch.Tensor, m_BM: torch.Tensor, future_BK2: torch.Tensor
    ) -> torch.Tensor:
        """Two-hot logits of the input-dependent baseline: the critic's inputs plus the next
        K job sizes and their mask (``training.future_inputs``)."""
        assert self.input_critic is not None, "input_baseline is 0: there is no input critic"
        assert future_BK2.shape[-1] == 2 * self.cfg.input_baseline, future_BK2.shape
        return self.input_critic(torch.cat([feat_BF, m_BM, future_BK2], dim=-1))


class MetaDreamerNets(nn.Module):
    """World model + recurrent actor-critic, with the one-step inference the env runners use."""

    def __init__(self, obs_dim: int, num_actions: int, cfg: WorldModelConfig) -> None:
        super().__init__()
        self.cfg, self.obs_dim, self.num_actions = cfg, obs_dim, num_actions
        self.world_model = WorldModel(obs_dim, num_actions, cfg)
        self.agent = RecurrentActorCritic(num_actions, cfg, obs_dim)

    def initial_state(self, batch: int = 1) -> RecurrentState:
        """Zeros: the state at the start of a trial."""
        c = self.cfg
        dev = next(self.parameters()).device
        return RecurrentState(
            h=torch.zeros(batch, c.deter, device=dev),
            z=torch.zeros(batch, c.latent, device=dev),
            m=torch.zeros(batch, c.memory, device=dev),
            a=torch.zeros(batch, self.num_actions, device=dev),
        )

    def act(
        self, state: dict[str, torch.Tensor], obs_BO: torch.Tensor, greedy: bool
    ) -> tuple[torch.Tensor, torch.Tensor, RecurrentState]:
        """One real step: (actions_B, logits_BA, next state) from the state before ``obs``."""
        wm, ag = self.world_model, self.agent
        h, _ = wm.img_step(state["h"], state["z"], state["a"])
        z = wm.sample(wm.posterior(h, wm.embed(obs_BO)), greedy=greedy)
        feat = torch.cat([h, z], dim=-1)
        m = ag.remember(state["m"], feat, state["a"])
        logits = ag.logits(feat, m, wm.decode_obs(feat) if ag.needs_obs else None)
        if greedy:
            actions = logits.argmax(dim=-1)
        else:
            actions = torch.distributions.Categorical(logits=logits).sample()
        a = F.one_hot(actions, self.num_actions).to(h.dtype)
        return actions, logits, RecurrentState(h=h, z=z, m=m, a=a)
