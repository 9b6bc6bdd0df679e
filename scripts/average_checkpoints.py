#!/usr/bin/env python
"""Average the weights of a run's late checkpoints into one checkpoint (SWA-style).

    python scripts/average_checkpoints.py runs/md-s0 --from-iteration 260 --to-iteration 340
    edge-rl evaluate --checkpoint runs/md-s0/checkpoints/avg_000260_000340 ...

Every periodic checkpoint ``iter_N`` of the run with FROM <= N <= TO is averaged (keep them with
``edge-rl train --keep-checkpoints 0``); the new checkpoint is written next to them (or to
``--output``) and loads wherever a checkpoint does. See ``edge_rl/training/averaging.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_rl.training.averaging import average_checkpoints, periodic_checkpoints


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="run directory (--output of edge-rl train)")
    parser.add_argument("--from-iteration", type=int, required=True, metavar="N")
    parser.add_argument("--to-iteration", type=int, default=None, metavar="M")
    parser.add_argument(
        "--output", type=Path, default=None, help="default RUN/checkpoints/avg_FROM_TO"
    )
    args = parser.parse_args(argv)
    try:
        chosen = periodic_checkpoints(args.run, args.from_iteration, args.to_iteration)
        first, last = (int(p.name.split("_")[1]) for p in (chosen[0], chosen[-1]))
        output = args.output or args.run / "checkpoints" / f"avg_{first:06d}_{last:06d}"
        written = average_checkpoints(chosen, output)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    print(f"averaged {len(chosen)} checkpoints ({', '.join(p.name for p in chosen)})")
    print(f"checkpoint: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
