"""A permutation-equivariant policy for load balancing: one shared scorer applied to every server.

Heuristics that balance load well (least-observed-load, shortest-expected-delay) all have the same
shape: compute one number per server from that server's own state and the incoming job, then
take the best. A flat MLP over the concatenated observation has to learn that comparison once per
server slot, from returns whose variance is dominated by the job arrival process (Mao et al.,
"Variance Reduction for RL in Input-Driven Environments", ICLR 2019). Scoring every server with
the same small network, as scheduling policies over variable sets of resources do (Mao et al.,
"Learning Scheduling Algorithms for Data Processing Clusters" (Decima), SIGCOMM 2019), makes the
heuristics' shape a few shared weights away and lets every decision train the scorer of every
server.

The net reads the trial observation of ``MetaTrialEnv`` (``edge_rl/envs/load_balance/trial.py``):
N log1p loads, the log1p incoming size, the one-hot previous action, the symlog previous reward,
the new-episode flag and the N service rates. Per server it builds a token (its load, its rate,
whether it got the previous job) with the shared context (incoming size, previous reward, flag);
an optional GRU memory (RL^2, Duan et al., arXiv 1611.02779) summarises the trial so far and
joins every token. Outputs: one logit per server and a state value from pooled tokens.

No Ray here: the RLlib module in ``edge_rl/algorithms/server_scoring_module.py`` wraps it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: log1p loads and sizes reach log1p(5e5) = 13.1 and symlog rewards about 21: divide them by
#: this so the first layer sees values of order one
LOG_SCALE = 10.0
#: per-server token features: load, rate, log rate, got-the-previous-job
SERVER_FEATURES = 4
#: shared context features: incoming size, previous reward, new-episode flag
CONTEXT_FEATURES = 3
#: inputs of the per-server token encoders: a server's features with the context appended
TOKEN_INPUTS = SERVER_FEATURES + CONTEXT_FEATURES


def trial_obs_size(num_servers: int) -> int:
    """Length of ``MetaTrialEnv``'s observation for ``num_servers`` servers (3 N + 3)."""
    return 3 * num_servers + 3


def num_servers_of(obs_size: int) -> int:
    """Invert ``trial_obs_size``; a clear error for any other observation layout."""
    if obs_size < 6 or (obs_size - 3) % 3:
        raise ValueError(
            f"the server-scoring policy reads MetaTrialEnv observations (3 N + 3 floats for N "
            f"servers); got {obs_size} floats. Use it with --env load-balance-trials"
        )
    return (obs_size - 3) // 3


@dataclass(frozen=True)
class ServerScoringConfig:
    """Sizes of ``ServerScoringNet``: token width, scorer width, GRU memory (0 = none).

    ``separate_value``: the value head gets its own token encoder (and memory input without
    gradient), so value regression on heavy-tailed returns cannot disturb the scorer's features;
    False (the first version) shares them.
    """

    hidden: int = 64
    memory: int = 0
    separate_value: bool = False

    def __post_init__(self) -> None:
        if self.hidden < 1:
            raise ValueError(f"hidden={self.hidden}: must be >= 1")
        if self.memory < 0:
            raise ValueError(f"memory={self.memory}: must be >= 0 (0 = no recurrent memory)")


def split_trial_obs(obs_BO: torch.Tensor, num_servers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Trial observations -> (server tokens ``[B, N, SERVER_FEATURES]``, context ``[B, 3]``)."""
    n = num_servers
    assert obs_BO.shape[-1] == trial_obs_size(n), (obs_BO.shape, n)
    loads_BN = obs_BO[:, :n] / LOG_SCALE
    size_B1 = obs_BO[:, n : n + 1] / LOG_SCALE
    prev_action_BN = obs_BO[:, n + 1 : 2 * n + 1]
    prev_reward_B1 = obs_BO[:, 2 * n + 1 : 2 * n + 2] / LOG_SCALE
    flag_B1 = obs_BO[:, 2 * n + 2 : 2 * n + 3]
    rates_BN = obs_BO[:, 2 * n + 3 :]
    log_rates_BN = torch.log(rates_BN.clamp_min(1e-3))
    tokens_BNF = torch.stack([loads_BN, rates_BN, log_rates_BN, prev_action_BN], dim=-1)
    context_BC = torch.cat([size_B1, prev_reward_B1, flag_B1], dim=-1)
    return tokens_BNF, context_BC


def server_inputs(obs_BO: torch.Tensor, num_servers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each server's token with the shared context appended (``[B, N, TOKEN_INPUTS]``), and
    the context itself (``[B, CONTEXT_FEATURES]``)."""
    tokens_BNF, context_BC = split_trial_obs(obs_BO, num_servers)
    context_BNC = context_BC.unsqueeze(1).expand(-1, num_servers, CONTEXT_FEATURES)
    return torch.cat([tokens_BNF, context_BNC], dim=-1), context_BC


def token_mlp(width: int, layers: int) -> nn.Sequential:
    """``layers`` x (Linear, SiLU) from ``TOKEN_INPUTS`` features, applied to every server."""
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(TOKEN_INPUTS if i == 0 else width, width), nn.SiLU()]
    return nn.Sequential(*mods)


def scorer_mlp(inputs: int, width: int) -> nn.Sequential:
    """Per-server score; the output layer starts at zero, so the first policy is uniform."""
    scorer = nn.Sequential(nn.Linear(inputs, width), nn.SiLU(), nn.Linear(width, 1))
    nn.init.zeros_(scorer[-1].weight)
    nn.init.zeros_(scorer[-1].bias)
    return scorer


def pool(embed_BNH: torch.Tensor) -> torch.Tensor:
    """Mean and max over the servers: ``[B, N, H]`` -> ``[B, 2 H]``."""
    return torch.cat([embed_BNH.mean(dim=1), embed_BNH.amax(dim=1)], dim=-1)


class ServerScoringNet(nn.Module):
    """Shared per-server scorer + pooled value head, with optional RL^2 GRU memory.

    ``forward(obs_BO, memory_BM)`` -> ``(logits_BN, value_B, memory_BM)``; with ``memory=0`` the
    memory tensors are ``[B, 0]`` and pass through unchanged. ``with_value=False`` skips the
    value head (acting needs only the logits) and returns ``None`` in its place.
    """

    def __init__(self, num_servers: int, config: ServerScoringConfig | None = None) -> None:
        super().__init__()
        self.num_servers = num_servers
        self.config = config or ServerScoringConfig()
        h, m = self.config.hidden, self.config.memory
        self.token_encoder = token_mlp(h, layers=2)
        self.value_encoder = token_mlp(h, layers=2) if self.config.separate_value else None
        self.memory_cell = nn.GRUCell(2 * h + CONTEXT_FEATURES, m) if m else None
        self.scorer = scorer_mlp(h + m, h)
        self.value_head = nn.Sequential(
            nn.Linear(2 * h + CONTEXT_FEATURES + m, h), nn.SiLU(), nn.Linear(h, 1)
        )

    @property
    def memory_size(self) -> int:
        return self.config.memory

    def initial_memory(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        return torch.zeros(batch, self.config.memory, device=device)

    def forward(
        self, obs_BO: torch.Tensor, memory_BM: torch.Tensor | None = None, with_value: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        assert obs_BO.dim() == 2, obs_BO.shape
        batch, n = obs_BO.shape[0], self.num_servers
        if memory_BM is None:
            memory_BM = self.initial_memory(batch, obs_BO.device)
        assert memory_BM.shape == (batch, self.config.memory), memory_BM.shape
        inputs_BNI, context_BC = server_inputs(obs_BO, n)
        embed_BNH = self.token_encoder(inputs_BNI)
        pooled_BH2 = pool(embed_BNH)
        if self.memory_cell is not None:
            memory_BM = self.memory_cell(torch.cat([pooled_BH2, context_BC], dim=-1), memory_BM)
        memory_BNM = memory_BM.unsqueeze(1).expand(batch, n, self.config.memory)
        logits_BN = self.scorer(torch.cat([embed_BNH, memory_BNM], dim=-1)).squeeze(-1)
        assert logits_BN.shape == (batch, n), logits_BN.shape
        if not with_value:
            return logits_BN, None, memory_BM
        value_in_BH2, value_memory_BM = pooled_BH2, memory_BM
        if self.value_encoder is not None:
            value_in_BH2 = pool(self.value_encoder(inputs_BNI))
            value_memory_BM = memory_BM.detach()
        value_B = self.value_head(torch.cat([value_in_BH2, context_BC, value_memory_BM], dim=-1))
        return logits_BN, value_B.squeeze(-1), memory_BM

    def unroll(
        self, obs_BTO: torch.Tensor, memory_BM: torch.Tensor | None = None, with_value: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """``forward`` over a time axis: ``[B, T, O]`` -> ``[B, T, N]``, ``[B, T]``, last memory."""
        assert obs_BTO.dim() == 3, obs_BTO.shape
        batch, steps = obs_BTO.shape[:2]
        if self.memory_cell is None:
            flat_BO = obs_BTO.reshape(batch * steps, -1)
            logits, values, _ = self.forward(flat_BO, None, with_value)
            last = self.initial_memory(batch, obs_BTO.device)
            values_BT = None if values is None else values.reshape(batch, steps)
            return logits.reshape(batch, steps, -1), values_BT, last
        if memory_BM is None:
            memory_BM = self.initial_memory(batch, obs_BTO.device)
        all_logits, all_values = [], []
        for t in range(steps):
            logits_BN, value_B, memory_BM = self.forward(obs_BTO[:, t], memory_BM, with_value)
            all_logits.append(logits_BN)
            all_values.append(value_B)
        values_BT = torch.stack(all_values, 1) if with_value else None
        return torch.stack(all_logits, 1), values_BT, memory_BM


class ServerScoringHead(nn.Module):
    """The shared per-server scorer as an actor head over an outside context vector.

    For agents whose state is a learned latent (Meta-Dreamer: world-model features and policy
    memory): ``forward(obs_BO, context_BE)`` scores every server from its own token of
    ``obs_BO`` (a real or decoded trial observation) and the context, ``-> logits_BN``.
    """

    def __init__(self, num_servers: int, context_dim: int, hidden: int = 64) -> None:
        super().__init__()
        self.num_servers = num_servers
        self.context = nn.Sequential(nn.Linear(context_dim, hidden), nn.LayerNorm(hidden))
        self.token_encoder = token_mlp(hidden, layers=1)
        self.scorer = scorer_mlp(2 * hidden, hidden)

    def forward(self, obs_BO: torch.Tensor, context_BE: torch.Tensor) -> torch.Tensor:
        embed_BNH = self.token_encoder(server_inputs(obs_BO, self.num_servers)[0])
        context_BH = self.context(context_BE)
        # The scorer's first layer on [embed, context]: its context half is the same for every
        # server, so it runs once per row and is broadcast over the N servers (the same function
        # as the layer on the concatenation, N times fewer multiply-adds for that half).
        first, rest = self.scorer[0], self.scorer[1:]
        hidden = embed_BNH.shape[-1]
        pre_BNH = F.linear(embed_BNH, first.weight[:, :hidden]) + F.linear(
            context_BH, first.weight[:, hidden:], first.bias
        ).unsqueeze(1)
        logits_BN = rest(pre_BNH).squeeze(-1)
        assert logits_BN.shape == (obs_BO.shape[0], self.num_servers), logits_BN.shape
        return logits_BN
