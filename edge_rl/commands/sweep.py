"""``edge-rl sweep FILE``: run (or list) a hyperparameter sweep with Ray Tune."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge_rl.commands.common import UsageError, parse_overrides
from edge_rl.commands.train import add_wandb_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run a hyperparameter sweep (Ray Tune) from a tuning/*.py file",
        description=(
            "Run the sweep that FILE defines (SWEEP, or VARIANTS[--variant]) with Ray Tune: every "
            "trial is an RLlib algorithm; ASHA stops weak trials; at the end a results table "
            "(CSV and printed), a heatmap and the best checkpoint. --dry-run lists the trials and "
            "their resources without starting Ray."
        ),
    )
    p.add_argument("file", type=Path, help="sweep file, e.g. tuning/adsac_steps_x_depth.py")
    p.add_argument("--variant", default=None, help="a named variant of the file, e.g. debug")
    p.add_argument("--dry-run", action="store_true", help="list trials and resources; no Ray")
    p.add_argument(
        "--num-samples",
        type=int,
        default=None,
        metavar="N",
        help="seeds per grid point (seeds 0..N-1; default: the file's seeds)",
    )
    p.add_argument("--timesteps", type=int, default=None, help="env-step budget per trial")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a base setting for every trial, or env.KEY=VALUE for an env knob",
    )
    p.add_argument("--address", default=None, help="Ray cluster address (default: local Ray)")
    p.add_argument("--output", type=Path, default=None, help="results folder (default runs/NAME)")
    p.add_argument(
        "--storage-path",
        default=None,
        metavar="URI",
        help="where trials and checkpoints go (default --output; on a multi-node cluster use "
        "shared storage, e.g. s3://bucket/sweeps or an NFS path)",
    )
    add_wandb_arguments(p)
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> Any:
    from edge_rl.training.sweeps import load_sweep

    try:
        sweep = load_sweep(args.file, args.variant)
        overrides = parse_overrides(args.set)
        env = {k[4:]: v for k, v in overrides.items() if k.startswith("env.")}
        settings = {k: v for k, v in overrides.items() if not k.startswith("env.")}
        return sweep.with_overrides(args.num_samples, args.timesteps, settings, env)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None


def _validate(sweep: Any) -> Any:
    from edge_rl.training.sweeps import validate_trials

    try:
        return validate_trials(sweep)
    except (ValueError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        raise UsageError(f"sweep {sweep.name}: {first}") from None


def dry_run(sweep: Any, base_config: Any, address: str | None) -> None:
    """Print one line per trial (its varied values and resources) and whether it fits."""
    from edge_rl.training.resources import (
        ResourceError,
        check_plan,
        local_resources,
        plan_from_config,
    )

    plan = plan_from_config(base_config)
    need = plan.describe()
    trials = sweep.trials()
    print(f"sweep {sweep.name}: {len(trials)} trials, {sweep.run.timesteps:,d} env steps each, "
          f"metric {sweep.metric} ({sweep.mode})")  # fmt: skip
    for i, values in enumerate(trials):
        varied = " ".join(f"{k}={v}" for k, v in values.items())
        print(f"trial {i:03d}  {varied}  needs {need}")
    if sweep.scheduler is not None:
        s = sweep.scheduler
        print(f"scheduler: ASHA on env/steps, grace {s.grace_steps:,d} steps, "
              f"reduction factor {s.reduction_factor:g}")  # fmt: skip
    if address:
        print(f"cluster {address}: its resources are checked when the sweep starts")
    else:
        here = local_resources()
        try:
            fit = check_plan(plan, here, where="this machine")
            print(f"this machine ({_fmt(here)}) runs {fit.concurrent} trial(s) at once")
        except ResourceError as err:
            print(f"does not fit this machine: {err}")
    if sweep.launch:
        print(f"launch: {sweep.launch}")


def _fmt(resources: dict[str, float]) -> str:
    return ", ".join(f"{v:g} {k}" for k, v in resources.items())


def run(args: argparse.Namespace) -> int:
    sweep = _load(args)
    base = _validate(sweep)
    if args.dry_run:
        dry_run(sweep, base, args.address)
        return 0
    output = args.output or Path("runs") / sweep.name
    from edge_rl.training.resources import (
        ResourceError,
        check_plan,
        cluster_resources,
        init_ray,
        plan_from_config,
    )
    from edge_rl.training.sweeps import WandbSettings, run_sweep

    init_ray(args.address)
    plan = plan_from_config(base)
    totals, nodes = cluster_resources()
    try:
        fit = check_plan(plan, totals, nodes)
    except ResourceError as err:
        raise UsageError(f"sweep {sweep.name}: {err}") from None
    trials = len(sweep.trials())
    print(f"sweep {sweep.name}: {trials} trials, each {plan.describe()}; "
          f"{min(fit.concurrent, trials)} at once -> {Path(output).resolve()}")  # fmt: skip
    wandb = None
    if args.wandb:
        wandb = WandbSettings(args.wandb_project, args.wandb_group, tuple(args.wandb_tags or ()))
    result = run_sweep(sweep, output, storage_path=args.storage_path, wandb=wandb)
    summary = {
        "sweep": sweep.name,
        "results_csv": str(result.table_csv),
        "heatmap_png": str(result.heatmap_png) if result.heatmap_png else None,
        "best_checkpoint": result.best_checkpoint,
        "best": result.best_row,
        "errors": result.errors,
    }
    (Path(output) / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"results: {result.table_csv}")
    if result.heatmap_png:
        print(f"heatmap: {result.heatmap_png}")
    print(f"best checkpoint: {result.best_checkpoint or 'none (no trial reported the metric)'}")
    if wandb is not None and result.rows:
        _print_wandb_location(Path(result.rows[0]["path"]).parent)
    if result.errors:
        print(f"{len(result.errors)} trial(s) failed: " + "; ".join(result.errors))
        return 1
    return 0


def _print_wandb_location(experiment: Path) -> None:
    from edge_rl.tracking import wandb_mode

    line = f"wandb: one run per trial under {experiment}/*/wandb"
    if wandb_mode() == "offline":
        line += f"; upload with `wandb sync {experiment}/*/wandb/offline-run-*`"
    print(line)
