"""Feasibility masking of a policy's logits: no probability on a (server, model) that would crash.

A pick crashes its server when the task's demand t exceeds the server's free capacity
(aigc-edge-env.md). Every observation layout of the AIGC env carries both numbers, so whether an
action is feasible is a function of the observation alone: masking adds no information the
policy does not already see; it only spares the policy from learning the rule by crashing
(invalid action masking, Huang & Ontanon, "A Closer Look at Invalid Action Masking in Policy
Gradient Algorithms", FLAIRS 2022). The reference ADSAC does not mask; ``action_masking`` is an
option of this project, off by default.

Where to read feasibility:

- ``tokens``: the last column of every server-model row is 1.0 when t <= free_e.
- ``paper-adsac`` / ``paper-agod``: t / t_max in the task block, and per server
  capacity / cap_max and free / capacity; feasible when t <= free (both are integers in the
  simulator, so half a unit of tolerance absorbs float32 rounding).

When no action is feasible at all the logits are left as they are (a crash cannot be avoided;
the policy keeps its own preference), so the softmax is always well defined.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edge_rl.models.tokenizers import LAYOUTS, paper_layout

#: the logit given to infeasible actions: softmax gives them probability 0 (exp underflows),
#: while p log p and every gradient stay finite (unlike -inf)
MASKED_LOGIT = -1e9


@dataclass(frozen=True)
class FeasibilityConfig:
    """How to read feasibility from one env's observations.

    Attributes:
        layout: the observation layout ("paper-adsac", "paper-agod", "tokens").
        t_max: the largest demand (the normaliser of t in the paper layouts).
        cap_max: the largest capacity (the normaliser of capacity in the paper layouts).
        num_servers: E of a "paper-adsac" observation whose task-type count is not 4; else None.
    """

    layout: str
    t_max: float | None = None
    cap_max: float | None = None
    num_servers: int | None = None

    def validate(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout={self.layout!r}: use one of {list(LAYOUTS)}")
        if self.layout == "tokens":
            return
        for name in ("t_max", "cap_max"):
            value = getattr(self, name)
            if value is None or not value > 0:
                raise ValueError(
                    f"{name}={value!r}: the {self.layout} layout needs the env's largest "
                    "demand (t_max) and capacity (cap_max), both > 0"
                )


def feasible_actions(
    obs: torch.Tensor, num_actions: int, config: FeasibilityConfig
) -> torch.Tensor:
    """Bool (B, A): True where action a would not crash its server, read from ``obs``.

    Args:
        obs: obs_BO (paper layouts) or obs_BTF (tokens, T = 1 + A).
        num_actions: A.
        config: where the numbers sit (see ``FeasibilityConfig``).
    """
    if config.layout == "tokens":
        assert obs.dim() == 3 and obs.shape[1] == 1 + num_actions, (obs.shape, num_actions)
        return obs[:, 1:, -1] > 0.5
    assert obs.dim() == 2, obs.shape
    geo = paper_layout(config.layout, obs.shape[1:], num_actions, config.num_servers)
    t_col = geo.task_start + geo.task_features - 2  # t / t_max; runtime(t) follows it
    demand_B1 = obs[:, t_col : t_col + 1]
    stop = geo.server_start + geo.num_servers * geo.server_features
    cap_BE = obs[:, geo.server_start : stop : geo.server_features]
    free_frac_BE = obs[:, geo.server_start + 1 : stop : geo.server_features]
    # float32 is exact enough: t <= 250 and free <= 1500 come back within ~1e-4 of integers
    ok_BE = demand_B1 * config.t_max <= cap_BE * config.cap_max * free_frac_BE + 0.5
    return ok_BE.repeat_interleave(geo.models_per_server, dim=1)


def kept_actions(feasible_BA: torch.Tensor) -> torch.Tensor:
    """The actions a masked policy may take: the feasible ones, or every action in a row
    where none is feasible (a crash cannot be avoided then)."""
    return feasible_BA | ~feasible_BA.any(dim=-1, keepdim=True)


def mask_logits(logits_BA: torch.Tensor, feasible_BA: torch.Tensor) -> torch.Tensor:
    """``logits_BA`` with infeasible actions at ``MASKED_LOGIT``; rows without any feasible
    action are returned unchanged."""
    assert logits_BA.shape == feasible_BA.shape, (logits_BA.shape, feasible_BA.shape)
    return logits_BA.masked_fill(~kept_actions(feasible_BA), MASKED_LOGIT)


class FeasibilityMask:
    """obs, logits -> masked logits, for one env's layout (see ``feasible_actions``)."""

    def __init__(self, config: FeasibilityConfig) -> None:
        config.validate()
        self.config = config

    def feasible(self, obs: torch.Tensor, num_actions: int) -> torch.Tensor:
        return feasible_actions(obs, num_actions, self.config)

    def __call__(self, obs: torch.Tensor, logits_BA: torch.Tensor) -> torch.Tensor:
        return mask_logits(logits_BA, self.feasible(obs, logits_BA.shape[-1]))


def feasibility_config(layout: str, settings: dict | None) -> FeasibilityConfig:
    """A ``FeasibilityConfig`` from a model config's ``feasibility`` dict (t_max, cap_max,
    num_servers); the tokens layout needs none of them."""
    settings = dict(settings or {})
    unknown = set(settings) - {"t_max", "cap_max", "num_servers"}
    if unknown:
        raise ValueError(f"feasibility settings {sorted(unknown)}: use t_max, cap_max, num_servers")
    return FeasibilityConfig(layout=layout, **settings)


__all__ = [
    "MASKED_LOGIT",
    "FeasibilityConfig",
    "FeasibilityMask",
    "feasibility_config",
    "feasible_actions",
    "kept_actions",
    "mask_logits",
]
