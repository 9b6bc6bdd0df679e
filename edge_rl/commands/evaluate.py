"""``edge-rl evaluate``: run heuristic policies over seeds and report means with 95% CIs."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_rl.baselines import POLICIES, make_policy
from edge_rl.commands.common import UsageError, parse_overrides
from edge_rl.evaluation import (
    ENV_FAMILIES,
    build_report,
    check_seeds,
    evaluate,
    family_presets,
    format_table,
    plot_comparison,
    write_json,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate policies on a simulator over several seeds",
        description=(
            "Run each policy for one episode per seed (env.reset(seed=S)), or K episodes per "
            "seed, print a table of means with 95%% confidence intervals, and optionally write "
            "the JSON report and a comparison plot."
        ),
    )
    p.add_argument("--env", required=True, help=f"env family: {', '.join(ENV_FAMILIES)}")
    p.add_argument("--preset", required=True, help="simulator preset, e.g. adsac-paper or park")
    p.add_argument(
        "--world-seed", type=int, default=None, help="AIGC only: seed of the fixed world (0)"
    )
    p.add_argument(
        "--policy", nargs="+", required=True, metavar="NAME", help="one or more policy names"
    )
    p.add_argument("--seeds", nargs="+", type=int, required=True, metavar="S")
    p.add_argument("--episodes-per-seed", type=int, default=1, metavar="K")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override an env knob")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the report")
    p.add_argument("--plot", type=Path, default=None, metavar="PATH", help="write a PNG plot")
    p.set_defaults(func=run)


def _validate(args: argparse.Namespace) -> None:
    if args.env not in ENV_FAMILIES:
        raise UsageError(f"unknown --env {args.env!r}; choose one of: {', '.join(ENV_FAMILIES)}")
    presets = family_presets(args.env)
    if args.preset not in presets:
        raise UsageError(
            f"unknown --preset {args.preset!r} for --env {args.env}; "
            f"choose one of: {', '.join(presets)}"
        )
    valid = POLICIES[args.env]
    for name in args.policy:
        if name not in valid:
            raise UsageError(
                f"unknown --policy {name!r} for --env {args.env}; "
                f"choose one of: {', '.join(sorted(valid))}"
            )
    if args.episodes_per_seed < 1:
        raise UsageError(f"--episodes-per-seed {args.episodes_per_seed}: must be >= 1")
    if args.world_seed is not None and args.env != "aigc":
        raise UsageError("--world-seed applies only to --env aigc")
    try:
        check_seeds(args.seeds)
    except ValueError as err:
        raise UsageError(f"--seeds: {err}") from None


def run(args: argparse.Namespace) -> int:
    _validate(args)
    overrides = parse_overrides(args.set)
    world_seed = args.world_seed if args.world_seed is not None else (
        0 if args.env == "aigc" else None
    )
    records = []
    for name in args.policy:
        try:
            records += evaluate(
                args.env,
                args.preset,
                lambda seed, name=name: make_policy(args.env, name, seed=seed),
                args.seeds,
                episodes_per_seed=args.episodes_per_seed,
                world_seed=world_seed,
                **overrides,
            )
        except (ValueError, TypeError) as err:  # bad --set values surface here
            raise UsageError(str(err).splitlines()[0]) from None
    where = f"world seed {world_seed}, " if world_seed is not None else ""
    print(
        f"{args.env} / {args.preset} ({where}{len(args.seeds)} seed(s) x "
        f"{args.episodes_per_seed} episode(s))"
    )
    print(format_table(args.env, records))
    extra = {"seeds": args.seeds, "episodes_per_seed": args.episodes_per_seed}
    if overrides:
        extra["overrides"] = overrides
    if args.json is not None:
        report = build_report(args.env, args.preset, records, world_seed, extra)
        print(f"report: {write_json(report, args.json)}")
    if args.plot is not None:
        print(f"plot: {plot_comparison(args.env, args.preset, records, args.plot)}")
    return 0
