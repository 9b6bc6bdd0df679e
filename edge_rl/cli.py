"""The ``edge-rl`` console script: ``edge-rl train ...``, ``edge-rl evaluate ...``,
``edge-rl sweep ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from edge_rl.commands import evaluate, sweep, train
from edge_rl.commands.common import UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-rl",
        description="Deep RL for edge-computing workloads: simulators, baselines, training.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train.add_parser(subparsers)
    evaluate.add_parser(subparsers)
    sweep.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        print(f"edge-rl {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
