"""``edge-rl evaluate``: run heuristic policies over seeds and report means with 95% CIs."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_rl.baselines import make_policy, parse_policy_spec
from edge_rl.commands.common import UsageError, parse_overrides
from edge_rl.evaluation import (
    ENV_FAMILIES,
    build_report,
    check_seeds,
    evaluate,
    family_presets,
    format_paired_table,
    format_table,
    paired_differences,
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
    p.add_argument("--env", default=None, help=f"env family: {', '.join(ENV_FAMILIES)}")
    p.add_argument("--preset", default=None, help="simulator preset, e.g. adsac-paper or park")
    p.add_argument(
        "--world-seed", type=int, default=None, help="AIGC only: seed of the fixed world (0)"
    )
    p.add_argument(
        "--policy",
        nargs="+",
        default=[],
        metavar="NAME",
        help="one or more heuristics: NAME, or NAME:KEY=VALUE,... to set its parameters "
        "(e.g. prophet-keep-open:reserve=300)",
    )
    p.add_argument(
        "--checkpoint",
        nargs="+",
        default=[],
        type=Path,
        metavar="DIR",
        help="trained policies (run directories or checkpoints of `edge-rl train`), greedy",
    )
    p.add_argument(
        "--sample-actions",
        action="store_true",
        help="checkpoints act by sampling their action distribution (default: greedy argmax)",
    )
    p.add_argument(
        "--act-by",
        nargs="+",
        default=["argmax"],
        metavar="MODE",
        help=(
            "how checkpoints pick their greedy action, each mode a policy of its own in the "
            "report (NAME[MODE]): argmax (one forward pass, the default), mean-probs:K (argmax "
            "of the action probabilities averaged over K diffusion chains), critic (argmax of "
            "the twin critics' min Q: adsac/d2sac), rollout[:samples=S,horizon=H,"
            "crash_weight=W,switch_z=Z] (AIGC: planning on the known simulator with the "
            "checkpoint's argmax policy as the rollouts' base policy)"
        ),
    )
    p.add_argument("--seeds", nargs="+", type=int, required=True, metavar="S")
    p.add_argument("--episodes-per-seed", type=int, default=1, metavar="K")
    p.add_argument(
        "--schedule",
        default=None,
        metavar="TASK:EPISODES,...",
        help=(
            "load balancing: play this workload schedule as one trial per seed, e.g. "
            "'pareto-55:3,uniform-100:5' (tasks: presets or sample-train/sample-held-out); "
            "memory is kept across episodes and switches, JCT is reported per episode"
        ),
    )
    p.add_argument(
        "--paired-against",
        default=None,
        metavar="NAME",
        help=(
            "also report every other policy's per-seed difference to this one (a heuristic "
            "name, or a checkpoint's name as the table prints it): mean and 95%% CI of the "
            "paired differences, on how many seeds it was better, and whether the CI "
            "excludes zero"
        ),
    )
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override an env knob")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the report")
    p.add_argument("--plot", type=Path, default=None, metavar="PATH", help="write a PNG plot")
    p.set_defaults(func=run)


def _apply_checkpoint_defaults(args: argparse.Namespace) -> list:
    """Load --checkpoint policies; --env/--preset/--world-seed (and env knobs) default to the
    first run's."""
    from edge_rl.algorithms.checkpoint_policy import resolve_checkpoint

    resolved = []
    for path in args.checkpoint:
        try:
            resolved.append(resolve_checkpoint(path))
        except FileNotFoundError as err:
            raise UsageError(f"--checkpoint: {err}") from None
    if resolved:
        spec = resolved[0][1]
        args.env = args.env or spec.get("env")
        args.preset = args.preset or spec.get("preset")
        if args.world_seed is None and args.env == "aigc":
            args.world_seed = spec.get("world_seed")
    return resolved


def _validate(args: argparse.Namespace) -> None:
    if not args.policy and not args.checkpoint:
        raise UsageError("nothing to evaluate: give --policy NAME ... and/or --checkpoint DIR")
    if args.schedule is not None:
        _validate_schedule(args)
    if args.env is None or args.preset is None:
        raise UsageError("--env and --preset are required (or a --checkpoint of a run)")
    if args.env not in ENV_FAMILIES:
        raise UsageError(f"unknown --env {args.env!r}; choose one of: {', '.join(ENV_FAMILIES)}")
    presets = family_presets(args.env)
    if args.preset not in presets:
        raise UsageError(
            f"unknown --preset {args.preset!r} for --env {args.env}; "
            f"choose one of: {', '.join(presets)}"
        )
    for name in args.policy:
        try:
            parse_policy_spec(args.env, name)
        except ValueError as err:
            raise UsageError(f"--policy: {err}") from None
    if len(set(args.policy)) != len(args.policy):
        raise UsageError(f"--policy names a heuristic twice ({' '.join(args.policy)}); once each")
    if args.episodes_per_seed < 1:
        raise UsageError(f"--episodes-per-seed {args.episodes_per_seed}: must be >= 1")
    if args.world_seed is not None and args.env != "aigc":
        raise UsageError("--world-seed applies only to --env aigc")
    try:
        check_seeds(args.seeds)
    except ValueError as err:
        raise UsageError(f"--seeds: {err}") from None


def _validate_schedule(args: argparse.Namespace) -> None:
    from edge_rl.envs.load_balance.schedule import WorkloadSchedule

    if args.env not in (None, "load-balance", "load-balance-trials"):
        raise UsageError(f"--schedule is for load balancing; got --env {args.env}")
    if args.episodes_per_seed != 1:
        raise UsageError("--schedule sets the episodes itself; drop --episodes-per-seed")
    try:
        args.schedule_obj = WorkloadSchedule.parse(args.schedule)
    except ValueError as err:
        raise UsageError(f"--schedule: {err}") from None
    args.env, args.preset = "load-balance-trials", "family"


def _checkpoint_names(args: argparse.Namespace, checkpoints: list) -> list[str]:
    """The report's name of each checkpoint (unique among the heuristics and each other)."""
    names = list(args.policy)
    for ckpt, spec in checkpoints:
        names.append(_unique(_checkpoint_name(ckpt, spec, checkpoints), set(names)))
    return names[len(args.policy) :]


def _act_by_entries(
    args: argparse.Namespace, checkpoints: list, names: list[str]
) -> tuple[list, list[str]]:
    """--act-by: each (checkpoint, spec) once per mode, named NAME[MODE] unless the mode is the
    default argmax; each checkpoint is loaded once here and checked against every mode, so that
    a mode it cannot do is a one-line error before any episode runs. Returns (entries, names);
    an entry is (ckpt, spec, act_by)."""
    from edge_rl.algorithms.checkpoint_policy import CheckpointPolicy, parse_act_by

    modes = list(dict.fromkeys(args.act_by))
    entries, entry_names = [], []
    try:
        for mode in modes:  # malformed modes fail even without a checkpoint
            parse_act_by(mode)
        for (ckpt, spec), name in zip(checkpoints, names, strict=True):
            policy = CheckpointPolicy(ckpt, sample=args.sample_actions)
            for mode in modes:
                policy.check_act_by(mode)
                entries.append((ckpt, spec, mode))
                entry_names.append(name if mode == "argmax" else f"{name}[{mode}]")
    except ValueError as err:
        raise UsageError(str(err)) from None
    return entries, entry_names


def _check_paired_against(args: argparse.Namespace, names: list[str]) -> None:
    if args.paired_against is None:
        return
    if args.paired_against not in names:
        raise UsageError(
            f"--paired-against {args.paired_against!r} is not among the evaluated policies; "
            f"choose one of: {', '.join(names)}"
        )
    if len(names) < 2:
        raise UsageError("--paired-against needs at least one other policy to compare")


def _paired(args: argparse.Namespace, env_family: str, records: list) -> tuple | None:
    """--paired-against: print the paired table; (baseline, differences) for the report."""
    if args.paired_against is None:
        return None
    print(f"paired differences to {args.paired_against} (same seeds):")
    differences = paired_differences(records, args.paired_against)
    print(format_paired_table(env_family, differences, args.paired_against))
    return args.paired_against, differences


def run(args: argparse.Namespace) -> int:
    checkpoints = _apply_checkpoint_defaults(args)
    _validate(args)
    checkpoints, names = _act_by_entries(args, checkpoints, _checkpoint_names(args, checkpoints))
    _check_paired_against(args, [*args.policy, *names])
    if args.schedule is not None:
        return _run_schedule(args, checkpoints, names)
    overrides = parse_overrides(args.set)
    if checkpoints:  # the first run's env knobs, unless --set changes them
        run_spec = checkpoints[0][1]
        if (run_spec.get("env"), run_spec.get("preset")) == (args.env, args.preset):
            overrides = {**(run_spec.get("env_overrides") or {}), **overrides}
    world_seed = (
        args.world_seed if args.world_seed is not None else (0 if args.env == "aigc" else None)
    )
    user_knobs = parse_overrides(args.set)
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
    for (ckpt, spec, act_by), name in zip(checkpoints, names, strict=True):
        from edge_rl.algorithms.checkpoint_policy import CheckpointPolicy

        if spec and (spec.get("env"), spec.get("preset")) != (args.env, args.preset):
            print(
                f"note: {ckpt} was trained on {spec.get('env')}/{spec.get('preset')}, "
                f"evaluated here on {args.env}/{args.preset}"
            )
        knobs = checkpoint_knobs(spec, args.env, overrides, user_knobs)
        records += evaluate(
            args.env,
            args.preset,
            lambda seed, ckpt=ckpt, name=name, act_by=act_by: CheckpointPolicy(
                ckpt, seed=seed, name=name, sample=args.sample_actions, act_by=act_by
            ),
            args.seeds,
            episodes_per_seed=args.episodes_per_seed,
            world_seed=world_seed,
            **knobs,
        )
    where = f"world seed {world_seed}, " if world_seed is not None else ""
    if args.env == "aigc" and _fresh_world_per_episode(args.preset, overrides):
        where = "a fresh region per episode, "  # the world seed plays no part
    print(
        f"{args.env} / {args.preset} ({where}{len(args.seeds)} seed(s) x "
        f"{args.episodes_per_seed} episode(s))"
    )
    print(format_table(args.env, records))
    paired = _paired(args, args.env, records)
    extra = {"seeds": args.seeds, "episodes_per_seed": args.episodes_per_seed}
    if overrides:
        extra["overrides"] = overrides
    if args.json is not None:
        report = build_report(args.env, args.preset, records, world_seed, extra, paired)
        print(f"report: {write_json(report, args.json)}")
    if args.plot is not None:
        print(f"plot: {plot_comparison(args.env, args.preset, records, args.plot)}")
    return 0


#: trial settings a workload schedule decides itself: a run's values for them are not carried
TRIAL_STRUCTURE_KNOBS = frozenset({"episodes_per_trial", "tasks", "preset", "split"})


def policy_knobs_of_run(spec: dict) -> dict:
    """The env knobs of a trial-env training run that its policy's inputs depend on.

    A checkpoint is evaluated on a schedule (or another trial preset) with its own run's env
    knobs (e.g. ``reward_mode=jct``, whose rewards the RL^2 policy reads back as an input),
    except those that fix the trial's tasks and length, which the schedule or preset sets.
    """
    if spec.get("env") != "load-balance-trials":
        return {}
    knobs = spec.get("env_overrides") or {}
    return {k: v for k, v in knobs.items() if k not in TRIAL_STRUCTURE_KNOBS}


def checkpoint_knobs(spec: dict, env: str, base: dict, user: dict) -> dict:
    """Env knobs for one checkpoint evaluated on ``env``: ``base`` plus its run's policy-input
    knobs when it was trained on that env, with the user's ``--set`` winning."""
    if spec.get("env") != env:
        return base
    return {**base, **policy_knobs_of_run(spec), **user}


def _run_schedule(args: argparse.Namespace, checkpoints: list, names: list[str]) -> int:
    """--schedule: one trial over the schedule per seed and policy; JCT per episode."""
    from edge_rl.algorithms.checkpoint_policy import CheckpointPolicy
    from edge_rl.evaluation.adaptation import (
        adaptation_summary,
        evaluate_schedule,
        format_adaptation_table,
        plot_adaptation,
    )

    schedule = args.schedule_obj
    overrides = parse_overrides(args.set)
    makers = [
        (name, lambda seed, name=name: make_policy("load-balance", name, seed=seed), overrides)
        for name in args.policy
    ]
    for (ckpt, spec, act_by), name in zip(checkpoints, names, strict=True):
        makers.append(
            (
                name,
                lambda seed, c=ckpt, n=name, a=act_by: CheckpointPolicy(
                    c, seed=seed, name=n, sample=args.sample_actions, act_by=a
                ),
                checkpoint_knobs(spec, "load-balance-trials", overrides, overrides),
            )
        )
    records = []
    for name, maker, env_knobs in makers:
        try:
            records += evaluate_schedule(schedule, maker, args.seeds, policy_name=name, **env_knobs)
        except (ValueError, TypeError) as err:
            raise UsageError(str(err).splitlines()[0]) from None
    print(f"schedule {args.schedule} ({len(args.seeds)} seed(s), one trial each, memory kept)")
    print(format_table("load-balance-trials", records))
    paired = _paired(args, "load-balance-trials", records)
    summary = adaptation_summary(records, schedule)
    print("mean JCT per episode:")
    print(format_adaptation_table(summary))
    if args.json is not None:
        extra = {"seeds": args.seeds, "schedule": args.schedule, "adaptation": summary}
        if overrides:
            extra["overrides"] = overrides
        report = build_report("load-balance-trials", "schedule", records, None, extra, paired)
        print(f"report: {write_json(report, args.json)}")
    if args.plot is not None:
        print(f"plot: {plot_adaptation(summary, schedule, args.plot, title=args.schedule)}")
    return 0


def _fresh_world_per_episode(preset: str, overrides: dict) -> bool:
    from edge_rl.envs.aigc.config import make_aigc_config

    return make_aigc_config(preset, **overrides).world_per_episode


def _checkpoint_name(ckpt: Path, spec: dict, checkpoints: list) -> str:
    """The run's policy name (its algorithm, ``default_policy_name``); "name:run-dir" when
    several checkpoints share it."""
    from edge_rl.algorithms.checkpoint_policy import default_policy_name

    algo = default_policy_name(spec)
    if sum(1 for _, s in checkpoints if default_policy_name(s) == algo) > 1:
        return f"{algo}:{ckpt.parent.parent.name}"
    return algo


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    k = 2
    while f"{name}-{k}" in taken:
        k += 1
    return f"{name}-{k}"
