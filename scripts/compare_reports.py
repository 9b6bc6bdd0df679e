#!/usr/bin/env python
"""Join the episodes of several `edge-rl evaluate` JSON reports and compare them paired.

    python scripts/compare_reports.py REPORT [REPORT ...] --paired-against NAME
                                      [--rename K:OLD=NEW ...] [--average NEW=P1,P2,...]
                                      [--run-level A B [--run-level C D ...]] [--json PATH]
                                      [--summary-only]

For comparing a policy evaluated today with the stored report of one whose checkpoint is gone:
the reports must come from the same env family, preset and schedule; a policy that appears in
more than one report must have scored exactly the same on every (seed, episode) they share (a
check that the episodes really are the same ones; evaluate a deterministic heuristic such as
least-observed-load in both to have that check). Prints the summary table and every policy's
paired difference to NAME, as `edge-rl evaluate --paired-against` does, and optionally writes
the joined report. ``--rename 2:a2c=a2c-retrained`` renames policy ``a2c`` of the second
report (for two different policies that the reports name alike). ``--average
a2c-runs=a2c,a2c-retrained`` adds a policy whose every metric on a (seed, episode) is the mean of
the listed policies' (for comparing agents averaged over their training runs; its interval then
covers the episodes, not the spread between the runs). ``--run-level A B`` (two ``--average``
names) compares those two agents at the level of their training runs: each run's mean headline
metric over the episodes every run of both agents played, then the difference of the agents'
means with Welch's interval and a permutation test over the runs (exact up to a million
splits, sampled beyond), and rank statistics that one collapsed run cannot swing (medians, the
share of run pairs in which A's run scores lower, the rank-sum test). ``--run-level`` may be
given several times; every pair is compared over the same joined report, and the JSON's
``run_level`` lists the pairs' results in the order given (reports written before session 31
hold one pair's result as a dict there). ``--summary-only`` writes the JSON without its
per-episode records (summaries, paired differences and run-level results only; the reports
named in ``joined_from`` hold the episodes), for a comparison whose inputs are stored anyway.
Such a file cannot be joined again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge_rl.evaluation.report import (
    HEADLINE,
    build_report,
    format_paired_table,
    format_table,
    paired_differences,
    write_json,
)
from edge_rl.evaluation.runner import EpisodeRecord
from edge_rl.evaluation.stats import mean_ci, run_level_difference

KEYS = ("policy", "seed", "episode")


def parse_renames(specs: list[str], n_reports: int) -> dict[tuple[int, str], str]:
    """``K:OLD=NEW`` strings -> {(report index from 0, OLD): NEW}; ValueError on a bad one."""
    out: dict[tuple[int, str], str] = {}
    for spec in specs:
        pos, sep, rest = spec.partition(":")
        old, eq, new = rest.partition("=")
        if not (sep and eq and pos.isdigit() and old and new):
            raise ValueError(f"--rename {spec!r}: expected K:OLD=NEW, e.g. 2:a2c=a2c-retrained")
        if not 1 <= int(pos) <= n_reports:
            raise ValueError(f"--rename {spec!r}: K must be 1 to {n_reports} (a report's position)")
        out[int(pos) - 1, old] = new
    return out


def load_records(
    paths: list[Path], renames: dict[tuple[int, str], str] | None = None
) -> tuple[dict[str, Any], list[EpisodeRecord]]:
    """(the first report's header, every distinct episode of all reports, policies renamed by
    ``renames``); ValueError when the reports do not describe the same evaluation."""
    renames = renames or {}
    header: dict[str, Any] | None = None
    seen: dict[tuple[str, int, int], tuple[dict[str, float], Path]] = {}
    records: list[EpisodeRecord] = []
    for index, path in enumerate(paths):
        try:
            report = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"{path}: no such report") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not a JSON report ({err})") from None
        if isinstance(report, dict) and report.get("summary_only"):
            raise ValueError(
                f"{path}: written with --summary-only, so it holds no episodes to join; join "
                f"the reports it names in 'joined_from' instead"
            )
        if not isinstance(report, dict) or "episodes" not in report:
            raise ValueError(f"{path}: not an `edge-rl evaluate` report (no 'episodes')")
        this = {k: report.get(k) for k in ("env", "preset", "world_seed", "schedule")}
        if header is None:
            header = this
        elif this != header:
            raise ValueError(f"{path}: evaluated {this}, but {paths[0]} evaluated {header}")
        names = {ep["policy"] for ep in report["episodes"]}
        for i, old in renames:
            if i == index and old not in names:
                raise ValueError(f"--rename: {path} has no policy {old!r}; it has {sorted(names)}")
        for ep in report["episodes"]:
            policy = renames.get((index, ep["policy"]), ep["policy"])
            key = (policy, int(ep["seed"]), int(ep["episode"]))
            metrics = {k: v for k, v in ep.items() if k not in KEYS}
            if key in seen:
                if seen[key][0] != metrics:
                    raise ValueError(
                        f"{key[0]!r} scored differently on seed {key[1]} episode {key[2]} in "
                        f"{seen[key][1]} and {path}: not the same episodes"
                    )
                continue
            seen[key] = (metrics, path)
            records.append(EpisodeRecord(key[0], key[1], key[2], metrics))
    assert header is not None
    return header, records


def parse_average(spec: str) -> tuple[str, list[str]]:
    """``NEW=P1,P2,...`` -> (NEW, [P1, P2, ...]); ValueError unless it names two or more."""
    name, eq, members = spec.partition("=")
    policies = [m for m in members.split(",") if m]
    if not (eq and name and len(policies) >= 2):
        raise ValueError(f"--average {spec!r}: expected NEW=P1,P2,... with two or more policies")
    return name, policies


def averaged(records: list[EpisodeRecord], spec: str) -> list[EpisodeRecord]:
    """``NEW=P1,P2,...`` -> NEW's records: the mean of P1, P2, ... on every (seed, episode) that
    all of them played; ValueError for a bad spec or an unknown policy."""
    name, policies = parse_average(spec)
    known = list(dict.fromkeys(r.policy for r in records))
    if name in known:
        raise ValueError(f"--average {spec!r}: {name!r} is already a policy; choose another name")
    by_key: dict[tuple[int, int], dict[str, dict[str, float]]] = {}
    for r in records:
        by_key.setdefault((r.seed, r.episode), {})[r.policy] = r.metrics
    for policy in policies:
        if policy not in known:
            raise ValueError(f"--average {spec!r}: no policy {policy!r}; the reports have {known}")
    out = []
    for (seed, episode), row in by_key.items():
        if all(p in row for p in policies):
            metrics = [k for k in row[policies[0]] if all(k in row[p] for p in policies)]
            mean = {k: sum(row[p][k] for p in policies) / len(policies) for k in metrics}
            out.append(EpisodeRecord(name, seed, episode, mean))
    if not out:
        raise ValueError(f"--average {spec!r}: the policies share no (seed, episode)")
    return out


def run_level_groups(
    pairs: list[list[str]], average_specs: list[str]
) -> list[dict[str, list[str]]]:
    """Each ``--run-level A B`` pair -> {A: A's runs, B: B's runs} from the ``--average`` specs;
    ValueError for a name that is not an ``--average`` agent, a pair of one name twice, or a pair
    given twice."""
    groups = dict(parse_average(spec) for spec in average_specs)
    out, seen = [], set()
    for a, b in pairs:
        if a not in groups or b not in groups or a == b:
            raise ValueError(
                f"--run-level {a} {b}: name two different --average agents "
                f"(given: {', '.join(groups) or 'none'})"
            )
        if (a, b) in seen:
            raise ValueError(f"--run-level {a} {b}: this pair is given twice")
        seen.add((a, b))
        out.append({a: groups[a], b: groups[b]})
    return out


def run_level(
    records: list[EpisodeRecord], groups: dict[str, list[str]], metric: str
) -> dict[str, Any]:
    """Each run's (member policy's) mean ``metric`` over the (seed, episode)s that every member
    of every group played, each group's mean over its runs, and ``run_level_difference`` of the
    first group minus the second."""
    keys = None
    for policy in (p for members in groups.values() for p in members):
        mine = {(r.seed, r.episode) for r in records if r.policy == policy}
        keys = mine if keys is None else keys & mine
    if not keys:
        raise ValueError("--run-level: the runs share no (seed, episode)")
    score = {(r.policy, r.seed, r.episode): r.metrics[metric] for r in records}
    runs = {
        name: {p: sum(score[p, *k] for k in keys) / len(keys) for p in members}
        for name, members in groups.items()
    }
    (a, runs_a), (b, runs_b) = runs.items()
    return {
        "metric": metric,
        "episodes": len(keys),
        "runs": runs,
        "agents": {name: mean_ci(list(r.values())).to_dict() for name, r in runs.items()},
        "difference": {"of": f"{a} - {b}", **run_level_difference(
            list(runs_a.values()), list(runs_b.values())
        )},
    }  # fmt: skip


def format_run_level(result: dict[str, Any]) -> str:
    lines = [f"run level ({result['metric']}, mean over {result['episodes']} shared episodes):"]
    for name, runs in result["runs"].items():
        agent = result["agents"][name]
        each = ", ".join(f"{p} {v:.1f}" for p, v in runs.items())
        lines.append(f"  {name}: {agent['mean']:.1f} ± {agent['ci95']:.1f} over runs ({each})")
    d = result["difference"]
    lines.append(
        f"  {d['of']}: {d['mean']:+.1f} ± {d['ci95']:.1f} (Welch, df {d['df']:.1f}), "
        f"permutation p = {d['p_permutation']:.3f} ({d['n_a']} vs {d['n_b']} runs, "
        f"{d['permutations']} splits)"
    )
    a, b = result["runs"]
    lines.append(
        f"  medians {a} {d['median_a']:.1f}, {b} {d['median_b']:.1f}; a run of {a} scores lower "
        f"than a run of {b} in {100 * d['share_a_lower']:.0f}% of pairs (rank-sum p = "
        f"{d['p_rank']:.3f})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("reports", type=Path, nargs="+", help="JSON reports of `edge-rl evaluate`")
    p.add_argument("--paired-against", required=True, metavar="NAME", help="baseline policy")
    p.add_argument("--rename", nargs="+", default=[], metavar="K:OLD=NEW",
                   help="rename policy OLD of the K-th report (from 1) to NEW")  # fmt: skip
    p.add_argument("--average", nargs="+", default=[], metavar="NEW=P1,P2,...",
                   help="add policy NEW: the mean of P1, P2, ... per (seed, episode)")  # fmt: skip
    p.add_argument("--run-level", nargs=2, action="append", default=[], metavar=("A", "B"),
                   help="compare --average agents A and B over their training runs "
                        "(may be given several times)")  # fmt: skip
    p.add_argument("--json", type=Path, default=None, help="write the joined report here")
    p.add_argument("--summary-only", action="store_true",
                   help="with --json: no per-episode records (the inputs hold them)")  # fmt: skip
    args = p.parse_args(argv)
    if args.summary_only and args.json is None:
        print("error: --summary-only says what --json writes; give --json PATH", file=sys.stderr)
        return 2
    try:
        renames = parse_renames(args.rename, len(args.reports))
        header, records = load_records(args.reports, renames)
        for spec in args.average:
            records += averaged(records, spec)
        paired = paired_differences(records, args.paired_against)
        runs = [
            run_level(records, groups, HEADLINE[header["env"]][0])
            for groups in run_level_groups(args.run_level, args.average)
        ]
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    env = header["env"]
    print(format_table(env, records))
    print(f"paired differences to {args.paired_against} (same seeds):")
    print(format_paired_table(env, paired, args.paired_against))
    for result in runs:
        print(format_run_level(result))
    if args.json is not None:
        extra = {
            "schedule": header["schedule"],
            "joined_from": [str(p) for p in args.reports],
            "renamed": args.rename,
            "averaged": args.average,
        }
        if runs:
            extra["run_level"] = runs
        report = build_report(
            env, header["preset"], records, header["world_seed"], extra,
            (args.paired_against, paired),
        )  # fmt: skip
        if args.summary_only:
            del report["episodes"]
            report["summary_only"] = True
        print(f"wrote {write_json(report, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
