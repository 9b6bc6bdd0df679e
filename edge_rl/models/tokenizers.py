"""Tokenisers: an AIGC edge observation -> one token per entity, projected to the model width D.

Model composition (stated once, see also ``attention.py``)::

    obs -> Tokenizer -> tokens_BTD -> StateEncoder (pre-norm transformer) -> state_BD, act_BAD

Every tokeniser puts the task token first (row 0) and one token per server (paper layouts) or per
server-model pair ("tokens" layout) after it. For each action it also says which token the action
belongs to (``action_token_index``) and, where several actions share one token (the paper-adsac
layout: 4 models per server token), a learned model-id embedding that tells them apart
(``action_offsets``).

Layouts (from the spec shared/specs/aigc-edge-env.md):

=============  ============  ==================================================  =============
layout         obs shape     contents                                            actions
=============  ============  ==================================================  =============
paper-adsac    (36,)         [one_hot(k) (4), t/240, rt(t)/rt(240)] then per ES  Discrete(40),
               (K + 2 + 3E)  (10) [capacity/1400, free/capacity, 4.0]            a = e*4 + m
paper-agod     (42,)         per provider (20) [capacity/900, free/capacity]     Discrete(20)
               (2E + 2)      then [t/250, rt(t)/rt(250)]
tokens         (1+E*M, F)    row 0 task token (cols [0:K+2]); row 1+e*M+m        Discrete(E*M),
               F = K + 12    server-model token (cols [K+2:K+12])                a <-> row 1+a
=============  ============  ==================================================  =============

Sizes are those of the paper presets; other server/model/type counts of the same layouts work
too (``paper_layout``). The paper layouts give servers no distinguishing features, so their
server tokens get a learned identity embedding. The "tokens" layout has real per-token features
and no per-position parameter, so the same weights serve any number of servers E.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

LAYOUTS: tuple[str, ...] = ("paper-adsac", "paper-agod", "tokens")

# "tokens" layout: the task token uses K + 2 columns, every server-model token the 10 after them.
TOKENS_SERVER_FEATURES = 10
TOKENS_EXTRA_COLUMNS = 2 + TOKENS_SERVER_FEATURES  # F = K + 12
_ID_STD = 0.5


@dataclass(frozen=True)
class PaperLayout:
    """Where the task and server features sit in a flat paper observation.

    Attributes:
        task_start: first column of the task features.
        task_features: number of task features.
        server_start: first column of the per-server block.
        num_servers: number of servers (providers).
        server_features: features per server, contiguous per server.
        models_per_server: actions per server token (a = e * models_per_server + m).
    """

    task_start: int
    task_features: int
    server_start: int
    num_servers: int
    server_features: int
    models_per_server: int

    @property
    def obs_dim(self) -> int:
        return self.task_features + self.num_servers * self.server_features

    @property
    def num_actions(self) -> int:
        return self.num_servers * self.models_per_server


PAPER_LAYOUT_NAMES: tuple[str, ...] = ("paper-adsac", "paper-agod")
# The paper's task-type count: the paper-adsac shape (K + 2 + 3E,) alone does not fix E and K.
PAPER_NUM_TASK_TYPES = 4


def paper_layout(
    layout: str, obs_shape: Sequence[int], num_actions: int, num_servers: int | None = None
) -> PaperLayout:
    """Work out the geometry of a flat paper observation and check it is consistent.

    paper-adsac: (K + 2 + 3E,) with A = E * M; paper-agod: (2E + 2,) with A = E (M = 1). The env
    lets E, M and K vary, so this accepts any consistent sizes: paper-agod is fixed by its shape;
    for paper-adsac, pass ``num_servers`` unless K is the paper's 4 (E = (O - 6) / 3).
    """
    obs_shape = tuple(int(d) for d in obs_shape)
    if len(obs_shape) != 1:
        raise ValueError(f"obs_shape={obs_shape}: layout {layout!r} is flat, (O,)")
    obs_dim = obs_shape[0]
    if layout == "paper-agod":
        e = (obs_dim - 2) // 2
        if obs_dim < 4 or obs_dim % 2 or num_actions != e or num_servers not in (None, e):
            raise ValueError(
                f"obs_shape={obs_shape}, num_actions={num_actions}, num_servers={num_servers}: "
                "paper-agod needs obs (2E + 2,) and E actions (e.g. (42,) and 20)"
            )
        return PaperLayout(2 * e, 2, 0, e, 2, 1)
    if layout == "paper-adsac":
        e = num_servers if num_servers is not None else (obs_dim - 2 - PAPER_NUM_TASK_TYPES) // 3
        k = obs_dim - 2 - 3 * e
        if e < 1 or k < 1 or num_actions % e:
            raise ValueError(
                f"obs_shape={obs_shape}, num_actions={num_actions}, num_servers={num_servers}: "
                "paper-adsac needs obs (K + 2 + 3E,) and E * M actions (e.g. (36,) and 40); "
                "pass num_servers=E when K != 4"
            )
        return PaperLayout(0, k + 2, k + 2, e, 3, num_actions // e)
    raise ValueError(
        f"layout={layout!r}: not a paper layout; use one of {list(PAPER_LAYOUT_NAMES)}"
    )


class Tokenizer(nn.Module):
    """Base class: maps a batch of observations to tokens of width ``width``.

    Subclasses implement ``forward(obs) -> tokens_BTD``, ``action_token_index`` and
    ``action_offsets``. ``flat_dim`` is the size of the flat observation where the layout has a
    fixed one (the D2SAC path feeds it to the networks unchanged), else None; ``num_tokens`` is
    T where the layout fixes it, else None.
    """

    layout: str
    width: int
    flat_dim: int | None
    num_tokens: int | None

    def action_token_index(self, num_tokens: int) -> torch.Tensor:
        """LongTensor (A,): the token row each action belongs to, for ``num_tokens`` tokens."""
        raise NotImplementedError

    def action_offsets(self, num_actions: int) -> torch.Tensor | None:
        """(A, D) learned embedding added to each action's token, or None where not needed."""
        return None


class PaperTokenizer(Tokenizer):
    """Tokeniser for the flat paper layouts ("paper-adsac", "paper-agod").

    Tokens: [task, server_0, ..., server_{E-1}] (T = 1 + E). The task features and the server
    features get their own linear projections (so the two token kinds are distinguishable
    without a type embedding); each server token adds a learned identity embedding because the
    layout gives servers no distinguishing features. With several models per server, each action
    adds a learned model-id embedding to its server's token.

    Args:
        layout: "paper-adsac" or "paper-agod".
        spec: the observation's geometry (``paper_layout``).
        width: model width D of the tokens.
        model_embedding: learn the model-id embedding (only used by per-action heads; without
            them it would be a parameter that never gets a gradient).
    """

    def __init__(
        self, layout: str, spec: PaperLayout, width: int, model_embedding: bool = True
    ) -> None:
        super().__init__()
        self.layout = layout
        self.spec = spec
        self.width = width
        self.flat_dim = spec.obs_dim
        self.num_tokens = 1 + spec.num_servers
        self.task_proj = nn.Linear(spec.task_features, width)
        self.server_proj = nn.Linear(spec.server_features, width)
        # Identity embeddings on the scale of the projected features (~0.5), so that servers
        # with equal features are told apart from the first update on.
        self.server_id = nn.Parameter(torch.empty(spec.num_servers, width))
        nn.init.normal_(self.server_id, std=_ID_STD)
        actions = torch.arange(spec.num_actions)
        self.register_buffer(
            "_token_index_A", 1 + actions // spec.models_per_server, persistent=False
        )
        self.register_buffer("_model_index_A", actions % spec.models_per_server, persistent=False)
        if spec.models_per_server > 1 and model_embedding:
            self.model_id: nn.Parameter | None = nn.Parameter(
                torch.empty(spec.models_per_server, width)
            )
            nn.init.normal_(self.model_id, std=_ID_STD)
        else:
            self.model_id = None

    def forward(self, obs_BO: torch.Tensor) -> torch.Tensor:
        """(B, O) flat observation -> tokens_BTD with T = 1 + num_servers."""
        s = self.spec
        assert obs_BO.dim() == 2 and obs_BO.shape[1] == s.obs_dim, (
            f"{self.layout} expects obs_BO of shape (B, {s.obs_dim}), got {tuple(obs_BO.shape)}"
        )
        task_B1D = self.task_proj(obs_BO[:, s.task_start : s.task_start + s.task_features])
        end = s.server_start + s.num_servers * s.server_features
        servers_BEF = obs_BO[:, s.server_start : end].reshape(-1, s.num_servers, s.server_features)
        servers_BED = self.server_proj(servers_BEF) + self.server_id
        return torch.cat([task_B1D.unsqueeze(1), servers_BED], dim=1)

    def action_token_index(self, num_tokens: int) -> torch.Tensor:
        assert num_tokens == 1 + self.spec.num_servers, (
            f"{self.layout} has {1 + self.spec.num_servers} tokens, got num_tokens={num_tokens}"
        )
        return self._token_index_A

    def action_offsets(self, num_actions: int) -> torch.Tensor | None:
        assert num_actions == self.spec.num_actions, (
            f"{self.layout} has {self.spec.num_actions} actions, got num_actions={num_actions}"
        )
        if self.model_id is None:
            assert self.spec.models_per_server == 1, "built with model_embedding=False"
            return None
        return self.model_id[self._model_index_A]


class ServerModelTokenizer(Tokenizer):
    """Tokeniser for the "tokens" layout: obs_BTF with T = 1 + E*M, F = K + 12.

    Row 0 (task token, columns [0:K+2]) and rows 1.. (server-model tokens, columns [K+2:K+12])
    get separate linear projections. No per-position parameter: the same weights work for any
    number of servers and models, and action a belongs to token row 1 + a.

    Args:
        num_features: F, the token feature count (K + 12 for K task types).
        width: model width D of the tokens.
    """

    def __init__(self, num_features: int, width: int) -> None:
        super().__init__()
        num_types = num_features - TOKENS_EXTRA_COLUMNS
        if num_types < 1:
            raise ValueError(
                f"num_features={num_features}: the tokens layout needs F = K + "
                f"{TOKENS_EXTRA_COLUMNS} with K >= 1 task types"
            )
        self.layout = "tokens"
        self.width = width
        self.flat_dim = None
        self.num_tokens = None
        self.num_features = num_features
        self.task_columns = num_types + 2
        self.task_proj = nn.Linear(self.task_columns, width)
        self.server_proj = nn.Linear(TOKENS_SERVER_FEATURES, width)

    def forward(self, obs_BTF: torch.Tensor) -> torch.Tensor:
        """(B, 1 + E*M, F) token observation -> tokens_BTD."""
        assert obs_BTF.dim() == 3 and obs_BTF.shape[2] == self.num_features, (
            f"tokens layout expects obs_BTF of shape (B, 1 + E*M, {self.num_features}), "
            f"got {tuple(obs_BTF.shape)}"
        )
        assert obs_BTF.shape[1] >= 2, (
            f"tokens layout needs >= 1 server-model row, got {obs_BTF.shape}"
        )
        task_B1D = self.task_proj(obs_BTF[:, :1, : self.task_columns])
        servers_BSD = self.server_proj(obs_BTF[:, 1:, self.task_columns :])
        return torch.cat([task_B1D, servers_BSD], dim=1)

    def action_token_index(self, num_tokens: int) -> torch.Tensor:
        return torch.arange(1, num_tokens, device=self.task_proj.weight.device)


def make_tokenizer(
    layout: str,
    obs_shape: Sequence[int],
    num_actions: int,
    width: int,
    action_embeddings: bool = True,
    num_servers: int | None = None,
) -> Tokenizer:
    """Build the tokeniser for an observation layout and check that the shapes fit it.

    Args:
        layout: "paper-adsac", "paper-agod" or "tokens".
        obs_shape: the observation space's shape without the batch dimension, e.g. (36,) or
            (1 + E*M, F). For "tokens", 1 + E*M is only checked against ``num_actions``: the
            tokeniser itself accepts any number of rows.
        num_actions: size of the Discrete action space the model is built for.
        width: model width D (>= 1).
        action_embeddings: the caller will use ``action_offsets`` (per-action heads); False
            skips learned parameters that only those need.
        num_servers: E for "paper-adsac" when the env has K != 4 task types (see
            ``paper_layout``); ignored by "tokens", checked by "paper-agod".
    """
    obs_shape = tuple(int(d) for d in obs_shape)
    if width < 1:
        raise ValueError(f"width={width}: must be >= 1")
    if layout in PAPER_LAYOUT_NAMES:
        spec = paper_layout(layout, obs_shape, num_actions, num_servers)
        return PaperTokenizer(layout, spec, width, model_embedding=action_embeddings)
    if layout == "tokens":
        if len(obs_shape) != 2:
            raise ValueError(f"obs_shape={obs_shape}: the tokens layout needs (1 + E*M, F)")
        if obs_shape[0] != 1 + num_actions:
            raise ValueError(
                f"obs_shape={obs_shape}, num_actions={num_actions}: the tokens layout needs "
                "obs_shape[0] == 1 + num_actions (one row per server-model pair plus the task row)"
            )
        return ServerModelTokenizer(obs_shape[1], width)
    raise ValueError(f"layout={layout!r}: unknown; use one of {list(LAYOUTS)}")


#: How a network maps features to per-action outputs: "mlp" (one head over the whole |A| vector,
#: the reference) or "per-action" (one shared head per action token, so any |A| works).
ACTION_HEAD_MODES: tuple[str, ...] = ("mlp", "per-action")


def default_action_head_mode(layout: str) -> str:
    """ "per-action" for the "tokens" layout (any number of servers), else "mlp" (reference)."""
    return "per-action" if layout == "tokens" else "mlp"
