"""Heuristic baselines, by env family and command-line name."""

from __future__ import annotations

from edge_rl.baselines.aigc import AIGC_POLICIES
from edge_rl.baselines.base import Policy
from edge_rl.baselines.load_balance import LOAD_BALANCE_POLICIES

#: env family (as on the command line) -> policy name -> policy class
POLICIES: dict[str, dict[str, type[Policy]]] = {
    "aigc": AIGC_POLICIES,
    "load-balance": LOAD_BALANCE_POLICIES,
    "load-balance-trials": LOAD_BALANCE_POLICIES,
}


def make_policy(env_family: str, name: str, seed: int | None = None) -> Policy:
    """Build the heuristic ``name`` for ``env_family``; unknown names list the valid ones."""
    if env_family not in POLICIES:
        raise ValueError(
            f"unknown env family {env_family!r}; choose one of: {', '.join(sorted(POLICIES))}"
        )
    table = POLICIES[env_family]
    if name not in table:
        raise ValueError(
            f"unknown policy {name!r} for --env {env_family}; choose one of: "
            f"{', '.join(sorted(table))}"
        )
    return table[name](seed=seed)


__all__ = ["POLICIES", "Policy", "make_policy"]
