"""``edge-rl train``: train an RLlib algorithm on an edge simulator (local Ray or a cluster)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge_rl.commands.common import UsageError, parse_overrides

ALGO_NAMES = ("adsac", "d2sac", "sac", "ppo", "dqn", "a2c", "meta-dreamer", "rl2-ppo")
ENV_NAMES = ("aigc", "load-balance", "load-balance-trials")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a policy with RLlib",
        description=(
            "Train --algo on --env/--preset until --timesteps env steps; write checkpoints and "
            "metrics under --output. Runs on a local Ray by default, on a cluster with --address."
        ),
    )
    p.add_argument(
        "--algo",
        default=None,
        help=f"one of: {', '.join(ALGO_NAMES)} (with --resume: the run's own, may be left out)",
    )
    p.add_argument("--env", default="aigc", help=f"env family: {', '.join(ENV_NAMES)}")
    p.add_argument("--preset", default=None, help="simulator preset (default: the env's first)")
    p.add_argument("--world-seed", type=int, default=None, help="AIGC: world seed (default 0)")
    p.add_argument("--timesteps", type=int, default=None, help="env steps to train for")
    p.add_argument("--num-env-runners", type=int, default=None, metavar="K")
    p.add_argument("--envs-per-runner", type=int, default=None, metavar="M")
    p.add_argument("--num-learners", type=int, default=None, metavar="L")
    p.add_argument(
        "--gpus-per-learner",
        type=float,
        default=None,
        metavar="G",
        help="GPUs per learner (default: 1 if this machine has a GPU, else 0)",
    )
    p.add_argument(
        "--cpus-per-env-runner",
        type=float,
        default=None,
        metavar="C",
        help="CPUs reserved per env runner (default 1; 0.5 packs two per core)",
    )
    p.add_argument(
        "--cpus-per-learner",
        type=float,
        default=None,
        metavar="C",
        help="CPUs reserved per learner (default: 1 without a GPU, 0 with one)",
    )
    p.add_argument(
        "--cpus-for-main",
        type=float,
        default=None,
        metavar="C",
        help="CPUs of the Algorithm's own actor under Tune (default 1)",
    )
    p.add_argument(
        "--env-runner-resource",
        action="append",
        metavar="NAME=AMOUNT",
        help="custom Ray resource per env runner, e.g. rollout=1 (pins env runners to CPU nodes)",
    )
    p.add_argument(
        "--learner-resource",
        action="append",
        metavar="NAME=AMOUNT",
        help="custom Ray resource per learner, e.g. learner=1 (pins learners to GPU nodes)",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--config", type=Path, default=None, help="JSON or YAML file of settings")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="an algorithm setting (e.g. diffusion_steps=3), or env.KEY=VALUE for an env knob",
    )
    p.add_argument("--output", type=Path, default=None, help="run directory (required)")
    p.add_argument("--resume", type=Path, default=None, metavar="DIR", help="continue a run")
    p.add_argument("--address", default=None, help="Ray cluster address (default: local Ray)")
    p.add_argument(
        "--init-from",
        type=Path,
        default=None,
        metavar="CHECKPOINT",
        help="start from the policy weights of a checkpoint or run dir of the same algorithm "
        "(e.g. train on task B after A, for forgetting studies)",
    )
    p.add_argument(
        "--init-replay",
        action="store_true",
        help="with --init-from: also start from the checkpoint's replay buffer, so training on "
        "a new task keeps replaying the old one's experience (replay-based algorithms)",
    )
    p.add_argument(
        "--init-optimizer",
        action="store_true",
        help="with --init-from: also start from the checkpoint's optimizer states (Adam "
        "moments) instead of fresh optimizers, at this run's learning rates",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="ITERS",
        help="iterations between periodic checkpoints (default 10; 0: the final one only; "
        "with --resume: the run's own)",
    )
    p.add_argument(
        "--keep-checkpoints",
        type=int,
        default=None,
        metavar="N",
        help="periodic checkpoints to keep (default 3; 0 keeps all, e.g. for learning curves; "
        "with --resume: the run's own)",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        metavar="M",
        help="also stop after M minutes of training (wall clock), with a final checkpoint",
    )
    add_wandb_arguments(p)
    p.add_argument("--show-config", action="store_true", help="print the config and exit")
    p.set_defaults(func=run)


def add_wandb_arguments(p: argparse.ArgumentParser) -> None:
    """``--wandb`` and its project, group and tags (shared by train and sweep)."""
    p.add_argument(
        "--wandb",
        action="store_true",
        help="log to Weights & Biases: offline (files under --output, `wandb sync` later) "
        "unless WANDB_API_KEY is set",
    )
    p.add_argument("--wandb-project", default="edge_rl", metavar="NAME")
    p.add_argument(
        "--wandb-group",
        default=None,
        metavar="NAME",
        help="default: ALGO-PRESET (train), the sweep's name (sweep)",
    )
    p.add_argument(
        "--wandb-tags",
        nargs="+",
        default=None,
        metavar="TAG",
        help="default: the algo, env and preset (train); the algo, preset and sweep name (sweep)",
    )


def _load_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"--config {path}: no such file")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise UsageError(f"--config {path}: expected a mapping of settings")
    return data


def build_spec(args: argparse.Namespace) -> Any:
    """RunSpec from (in increasing precedence) defaults, --config FILE, flags, --set."""
    from edge_rl.evaluation.runner import family_presets
    from edge_rl.training.algos import ALGO_ENVS, DEFAULT_PRESETS, RunSpec

    if args.algo is None:
        raise UsageError(f"--algo is required to start a run; one of: {', '.join(ALGO_NAMES)}")
    if args.algo not in ALGO_NAMES:
        raise UsageError(f"unknown --algo {args.algo!r}; choose one of: {', '.join(ALGO_NAMES)}")
    if args.env not in ENV_NAMES:
        raise UsageError(f"unknown --env {args.env!r}; choose one of: {', '.join(ENV_NAMES)}")
    if args.env not in ALGO_ENVS[args.algo]:
        raise UsageError(
            f"--algo {args.algo} does not run on --env {args.env}; "
            f"it runs on: {', '.join(ALGO_ENVS[args.algo])}"
        )
    data = _load_file(args.config) if args.config else {}
    fields = set(RunSpec.__dataclass_fields__)
    unknown = set(data) - fields
    if unknown:
        raise UsageError(
            f"--config: unknown key(s) {sorted(unknown)}; valid: {', '.join(sorted(fields))}"
        )
    data = {**data, "algo": args.algo, "env": args.env}
    data.setdefault("preset", DEFAULT_PRESETS[args.env])
    if args.env != "aigc":
        data["world_seed"] = None
    flags = {
        "preset": args.preset,
        "world_seed": args.world_seed,
        "timesteps": args.timesteps,
        "num_env_runners": args.num_env_runners,
        "envs_per_runner": args.envs_per_runner,
        "num_learners": args.num_learners,
        "gpus_per_learner": args.gpus_per_learner,
        "seed": args.seed,
        "cpus_per_env_runner": args.cpus_per_env_runner,
        "cpus_per_learner": args.cpus_per_learner,
        "cpus_for_main_process": args.cpus_for_main,
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    from edge_rl.training.resources import parse_resources

    try:
        for key, items, flag in (
            ("env_runner_resources", args.env_runner_resource, "--env-runner-resource"),
            ("learner_resources", args.learner_resource, "--learner-resource"),
        ):
            data[key] = {**dict(data.get(key) or {}), **parse_resources(items, flag)}
    except ValueError as err:
        raise UsageError(str(err)) from None
    settings = dict(data.get("settings") or {})
    env_overrides = dict(data.get("env_overrides") or {})
    for key, value in parse_overrides(args.set).items():
        if key.startswith("env."):
            env_overrides[key[4:]] = value
        else:
            settings[key] = value
    data["settings"], data["env_overrides"] = settings, env_overrides
    spec = RunSpec(**data)
    presets = family_presets(args.env)
    if spec.preset not in presets:
        raise UsageError(
            f"unknown --preset {spec.preset!r} for --env {args.env}; "
            f"choose one of: {', '.join(presets)}"
        )
    for name, low in (
        ("timesteps", 1),
        ("envs_per_runner", 1),
        ("num_env_runners", 0),
        ("num_learners", 0),
    ):
        if getattr(spec, name) < low:
            raise UsageError(f"--{name.replace('_', '-')} {getattr(spec, name)}: must be >= {low}")
    for name in ("gpus_per_learner", "cpus_per_learner", "cpus_per_env_runner"):
        value = getattr(spec, name)
        if value is not None and value < 0:
            raise UsageError(f"--{name.replace('_', '-')} {value}: must be >= 0")
    if spec.cpus_for_main_process < 0:
        raise UsageError(f"--cpus-for-main {spec.cpus_for_main_process}: must be >= 0")
    return spec


def _check_config(spec: Any) -> Any:
    """Build and validate the AlgorithmConfig; turn its errors into one-line usage errors."""
    from edge_rl.training.algos import build_config

    try:
        config = build_config(spec)
        config.validate()
        # Catch bad env knobs here, not inside an env runner.
        from edge_rl.evaluation.runner import make_env

        make_env(spec.env, spec.preset, spec.world_seed, **spec.env_overrides).close()
    except (ValueError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        raise UsageError(first) from None
    return config


def _wandb_logger(args: argparse.Namespace, spec: Any, output: Path, config: dict) -> Any:
    from edge_rl.tracking import start_wandb_run

    return start_wandb_run(
        project=args.wandb_project,
        name=output.name,
        group=args.wandb_group or f"{spec.algo}-{spec.preset}",
        tags=args.wandb_tags or [spec.algo, spec.env, spec.preset],
        config=config,
        directory=output,
    )


def check_resources(config: Any, with_main: bool = False) -> None:
    """Check the run's resource plan against the running Ray cluster (UsageError if it can't
    be placed), before any actor starts."""
    from edge_rl.training.resources import (
        ResourceError,
        check_plan,
        cluster_resources,
        plan_from_config,
    )

    plan = plan_from_config(config)
    totals, nodes = cluster_resources()
    try:
        check_plan(plan, totals, nodes, with_main=with_main)
    except ResourceError as err:
        raise UsageError(str(err)) from None
    print(f"resources: {plan.describe(with_main)}")


def _checkpoint_schedule(args: argparse.Namespace, resume: bool) -> tuple[int, int]:
    """(--checkpoint-every, --keep-checkpoints): as given; else, when resuming, the run's own
    (so a run that keeps every checkpoint for its learning curve goes on keeping them); else
    the defaults."""
    from edge_rl.training.loop import (
        DEFAULT_CHECKPOINT_EVERY,
        DEFAULT_KEEP_CHECKPOINTS,
        run_checkpointing,
    )

    if args.keep_checkpoints is not None and args.keep_checkpoints < 0:
        raise UsageError(f"--keep-checkpoints {args.keep_checkpoints}: must be >= 0 (0 keeps all)")
    if args.checkpoint_every is not None and args.checkpoint_every < 0:
        raise UsageError(
            f"--checkpoint-every {args.checkpoint_every}: must be >= 0 (0: final only)"
        )
    every, keep = DEFAULT_CHECKPOINT_EVERY, DEFAULT_KEEP_CHECKPOINTS
    if resume:
        every, keep = run_checkpointing(args.resume)
    if args.checkpoint_every is not None:
        every = args.checkpoint_every
    if args.keep_checkpoints is not None:
        keep = args.keep_checkpoints
    if resume:
        kept = "all" if keep == 0 else f"the newest {keep}"
        interval = f"every {every} iterations" if every else "the final one only"
        print(f"checkpoints: {interval}, keeping {kept}")
    return every, keep


def run(args: argparse.Namespace) -> int:
    from edge_rl.training.loop import InitFromError, load_run_spec, run_training

    resume = args.resume is not None
    if resume:
        try:
            spec = load_run_spec(args.resume)
        except FileNotFoundError as err:
            raise UsageError(str(err)) from None
        if args.algo is not None and args.algo != spec.algo:
            raise UsageError(
                f"--algo {args.algo}: {args.resume} holds a run of {spec.algo}; leave --algo "
                "out to resume it, or start a new run with --output"
            )
        if args.timesteps is not None:
            spec.timesteps = args.timesteps
        output = args.resume
    else:
        if args.output is None:
            raise UsageError("--output DIR is required (where checkpoints and metrics go)")
        spec = build_spec(args)
        output = args.output
    config = _check_config(spec)
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise UsageError(f"--max-minutes {args.max_minutes}: must be > 0")
    init_from = None
    init_replay = None
    init_optimizer = None
    for flag, wanted in (
        ("--init-replay", args.init_replay),
        ("--init-optimizer", args.init_optimizer),
    ):
        if wanted and args.init_from is None:
            raise UsageError(f"{flag} goes with --init-from CHECKPOINT (whose state to load)")
    if args.init_from is not None:
        from edge_rl.algorithms.checkpoint_policy import resolve_checkpoint

        if resume:
            raise UsageError("--init-from starts a new run; it does not go with --resume")
        try:
            init_from, init_spec = resolve_checkpoint(args.init_from)
        except FileNotFoundError as err:
            raise UsageError(f"--init-from: {err}") from None
        if init_spec and init_spec.get("algo") != spec.algo:
            raise UsageError(
                f"--init-from {args.init_from} holds a {init_spec.get('algo')} policy; "
                f"--algo is {spec.algo}: use a checkpoint of the same algorithm"
            )
        if args.init_replay:
            from edge_rl.algorithms.replay_algorithm import read_replay_state

            try:
                init_replay = read_replay_state(init_from, config.algo_class)
            except ValueError as err:
                raise UsageError(f"--init-replay: {err}") from None
        if args.init_optimizer:
            from edge_rl.training.loop import read_optimizer_state

            try:
                init_optimizer = read_optimizer_state(init_from)
            except ValueError as err:
                raise UsageError(f"--init-optimizer: {err}") from None
    checkpoint_every, keep_checkpoints = _checkpoint_schedule(args, resume)
    if args.show_config:
        from edge_rl.training.algos import config_summary

        print(json.dumps(config_summary(config), indent=2, default=str))
        return 0
    if not resume and (output / "run.json").exists():
        raise UsageError(
            f"--output {output} already holds a run; use --resume {output} to continue it, "
            "or pick a new directory"
        )

    from edge_rl.training.resources import init_ray

    init_ray(args.address)
    check_resources(config)
    tracker = None
    if args.wandb:
        from edge_rl.training.algos import config_summary

        tracker = _wandb_logger(args, spec, output, config_summary(config))
    try:
        print(
            f"training {spec.algo} on {spec.env}/{spec.preset} for {spec.timesteps:,d} env steps "
            f"({spec.num_env_runners} env runner(s) x {spec.envs_per_runner} envs) -> {output}"
        )
        try:
            result = run_training(
                spec,
                output,
                resume=resume,
                checkpoint_every=checkpoint_every,
                keep=keep_checkpoints,
                on_result=tracker.log if tracker else None,
                max_minutes=args.max_minutes,
                init_from=init_from,
                init_replay=init_replay,
                init_optimizer=init_optimizer,
            )
        except InitFromError as err:
            raise UsageError(f"--init-from {args.init_from}: {err}") from None
    finally:
        if tracker is not None:
            tracker.finish()
    print(
        f"done: {result.iterations} iterations, {result.env_steps:,d} env steps; "
        f"evaluate with: edge-rl evaluate --checkpoint {result.checkpoint} --seeds 0"
    )
    return 0
