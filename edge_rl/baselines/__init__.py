"""Heuristic baselines, by env family and command-line name.

On the command line a heuristic is ``NAME`` or ``NAME:KEY=VALUE[,KEY=VALUE...]``, the second
setting its constructor's parameters (``prophet-keep-open:reserve=300,slack=0.1``,
``size-interval:reserved_share=0.25``); reports name the policy as written.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from typing import Any

from edge_rl.baselines.aigc import AIGC_POLICIES
from edge_rl.baselines.base import Policy
from edge_rl.baselines.load_balance import LOAD_BALANCE_POLICIES

#: env family (as on the command line) -> policy name -> policy class
POLICIES: dict[str, dict[str, type[Policy]]] = {
    "aigc": AIGC_POLICIES,
    "load-balance": LOAD_BALANCE_POLICIES,
    "load-balance-trials": LOAD_BALANCE_POLICIES,
}


def policy_parameters(cls: type[Policy]) -> dict[str, tuple[Any, Any]]:
    """A heuristic's settable parameters: name -> (type annotation, default); not ``seed``."""
    hints = typing.get_type_hints(cls.__init__)
    return {
        name: (hints.get(name, type(p.default)), p.default)
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name not in ("self", "seed") and p.kind is p.POSITIONAL_OR_KEYWORD
    }


_KINDS = {int: "an integer", float: "a number", str: "text", bool: "true or false"}
_KINDS[type(None)] = "none"


def _convert(text: str, hint: Any) -> Any:
    """``text`` as a value of the annotated type (``int``, ``float``, ``str``, ``bool``, or a
    union of them with None); ValueError if it is none of them."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if type(None) in options and text.lower() == "none":
        return None
    for option in options:
        if option is bool and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if option is int:
            try:
                return int(text)
            except ValueError:
                continue
        if option is float:
            try:
                value = float(text)
            except ValueError:
                continue
            if not math.isnan(value):
                return value
        if option is str:
            return text
    raise ValueError(f"{text!r}: expected {' or '.join(_KINDS.get(o, str(o)) for o in options)}")


def parse_policy_spec(env_family: str, spec: str) -> tuple[type[Policy], dict[str, Any]]:
    """``NAME`` or ``NAME:KEY=VALUE,...`` -> (policy class, constructor keywords); every error
    names what to fix (the valid names, the valid keys, the expected type, the constructor's
    range checks)."""
    cls, kwargs = _split_spec(env_family, spec)
    try:
        cls(**kwargs)  # the constructor's own checks (ranges) fail here, before any episode
    except ValueError as err:
        raise ValueError(f"policy {spec!r}: {err}") from None
    return cls, kwargs


def _split_spec(env_family: str, spec: str) -> tuple[type[Policy], dict[str, Any]]:
    """``parse_policy_spec`` without building the policy."""
    if env_family not in POLICIES:
        raise ValueError(
            f"unknown env family {env_family!r}; choose one of: {', '.join(sorted(POLICIES))}"
        )
    table = POLICIES[env_family]
    name, colon, settings = spec.partition(":")
    if name not in table:
        raise ValueError(
            f"unknown policy {name!r} for --env {env_family}; choose one of: "
            f"{', '.join(sorted(table))}"
        )
    cls = table[name]
    params = policy_parameters(cls)
    kwargs: dict[str, Any] = {}
    for item in filter(None, settings.split(",")):
        key, eq, text = item.partition("=")
        if not eq or not key:
            raise ValueError(f"policy {spec!r}: write its settings as {name}:KEY=VALUE,KEY=VALUE")
        if key not in params:
            valid = ", ".join(f"{k} (default {d!r})" for k, (_, d) in params.items())
            raise ValueError(
                f"policy {spec!r}: {name} has no setting {key!r}; "
                + (f"its settings: {valid}" if params else "it takes no settings")
            )
        try:
            kwargs[key] = _convert(text, params[key][0])
        except ValueError as err:
            raise ValueError(f"policy {spec!r}: {key}={err}") from None
    if colon and not kwargs:
        raise ValueError(f"policy {spec!r}: nothing after ':'; write {name}:KEY=VALUE or {name}")
    return cls, kwargs


def make_policy(env_family: str, name: str, seed: int | None = None) -> Policy:
    """Build the heuristic ``name`` (``NAME`` or ``NAME:KEY=VALUE,...``) for ``env_family``;
    a policy with settings carries the spec as its name, so reports tell variants apart."""
    cls, kwargs = _split_spec(env_family, name)
    try:
        policy = cls(seed=seed, **kwargs)
    except ValueError as err:
        raise ValueError(f"policy {name!r}: {err}") from None
    if kwargs:
        policy.name = name
    return policy


__all__ = ["POLICIES", "Policy", "make_policy", "parse_policy_spec", "policy_parameters"]
