"""Helpers shared by the sub-commands: one-line usage errors and ``--set key=value`` parsing."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any


class UsageError(Exception):
    """A bad command-line value; ``edge-rl`` prints the message on one line and exits with 2."""


def parse_value(text: str) -> Any:
    """Parse one value: "3" -> 3, "0.5" -> 0.5, "[1, 2]" -> [1, 2], "true" -> True, else text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    """Parse ``["num_servers=5", "arrival_rate=0.002"]`` into a dict; malformed items are errors."""
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected key=value, e.g. --set num_servers=5")
        out[key.strip()] = parse_value(value)
    return out
