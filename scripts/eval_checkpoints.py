#!/usr/bin/env python
"""Greedy learning curves: evaluate every checkpoint of one or more `edge-rl train` runs.

    python scripts/eval_checkpoints.py runs/adsac-s0 runs/d2sac-s0 --seeds 0 1 2 3 4 \
        --json results/greedy_curves.json --png results/greedy_curves.png

Each periodic checkpoint (``checkpoints/iter_*``, keep them with ``--keep-checkpoints 0``) and
the final one is evaluated with its greedy policy on the run's own env, preset and knobs (one
episode per seed, as ``edge-rl evaluate --checkpoint``). Its x position is the run's env-step
count and wall-clock minutes at that iteration (from metrics.csv). The figure (``--metric``:
``return`` on AIGC, ``mean_jct`` on load balancing) is plotted as mean with 95% CI per run.

``--preset NAME`` and ``--env-set KEY=VALUE`` evaluate on another task than the run's own (e.g.
a run trained on task-family trials, evaluated on ``--preset park --env-set
episodes_per_trial=1``). Each run's ``best`` checkpoint is named in the JSON: pick it on
validation seeds (say 100-119), then report it on the test seeds with ``edge-rl evaluate``, so
the test seeds never choose the checkpoint. ``--from-iteration N`` skips the checkpoints before
iteration N (a resumed run's new checkpoints only), ``--every K`` evaluates every K-th periodic
checkpoint and final/ only; ``best`` is then among those evaluated.
``--max-env-steps N`` keeps only the checkpoints saved at N env steps or fewer, so ``best`` is
the pick a run would have made at that sample budget (equal-sample comparisons of agents with
very different throughput); with ``--from-json`` it cuts curves evaluated earlier the same way.
``--log-x`` draws the x axis on a log scale (curves over 10k to 10M env steps), and
``--legend-by-algo`` names each algorithm once instead of every run (plots of many runs).
``--act-by MODE`` picks the greedy action as ``edge-rl evaluate --act-by`` does (``critic``: the
twin critics' argmax, so one run gives the curve of its critic beside that of its actor).

``--from-json A.json [B.json ...]`` re-plots curves written earlier, without evaluating: several
files are joined into one figure (and, with ``--json``, one file), so runs evaluated with
different ``--act-by`` modes or in different sessions share one plot. The files must have been
evaluated on the same seeds. Runs of one algorithm share a colour.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge_rl.algorithms.checkpoint_policy import CheckpointPolicy, parse_act_by
from edge_rl.evaluation import evaluate, mean_ci
from edge_rl.training.averaging import iteration_checkpoints
from edge_rl.training.loop import checkpoint_iteration


def _iteration_rows(run: Path) -> dict[int, dict[str, str]]:
    with (run / "metrics.csv").open() as f:
        return {int(float(r["train/iteration"])): r for r in csv.DictReader(f)}


def checkpoints_of(run: Path) -> list[tuple[int, Path]]:
    """(iteration, path) of every checkpoint of a run in training order (final/ after an
    iter_N of the same iteration). final/ is placed at the iteration it was saved at (its
    progress file): a run resumed and still training, or killed, has a final/ older than its
    newest periodic checkpoints. A final/ of older versions (no progress file) is taken as the
    run's last iteration in metrics.csv."""
    found = iteration_checkpoints(run)
    final = run / "checkpoints" / "final"
    if final.is_dir():
        iteration = checkpoint_iteration(final)
        if iteration is None:
            rows = _iteration_rows(run)
            iteration = max(rows) if rows else 0
        found.append((iteration, final))
    return sorted(found, key=lambda item: (item[0], item[1].name == "final"))


def thin_checkpoints(found: list[tuple[int, Path]], every: int) -> list[tuple[int, Path]]:
    """Every ``every``-th periodic checkpoint (the first one kept) and always final/."""
    periodic = [item for item in found if item[1].name != "final"]
    kept = {path for _, path in periodic[::every]}
    return [(it, path) for it, path in found if path.name == "final" or path in kept]


def best_checkpoint(points: list[dict[str, Any]], metric: str) -> str:
    """Name of the point with the best mean ``metric`` (lowest JCT, highest return)."""
    pick = min if metric == "mean_jct" else max
    return pick(points, key=lambda p: p[metric]["mean"])["checkpoint"]


def _steps_of(row: dict[str, str]) -> float:
    return float(row.get("env/steps") or "nan")


def cut_at_budget(curve: dict[str, Any], max_env_steps: float, metric: str) -> dict[str, Any]:
    """``curve`` with only its points at ``max_env_steps`` env steps or fewer, and its best
    checkpoint picked among them."""
    points = [p for p in curve["points"] if p["env_steps"] <= max_env_steps]
    if not points:
        raise ValueError(
            f"{curve['run']}: no checkpoint at {max_env_steps:,.0f} env steps or fewer (its "
            f"first is at {curve['points'][0]['env_steps']:,.0f}); raise --max-env-steps"
        )
    return {**curve, "points": points, "best": best_checkpoint(points, metric),
            "max_env_steps": max_env_steps}  # fmt: skip


def evaluate_run(
    run: Path,
    seeds: list[int],
    metric: str,
    preset: str | None = None,
    env_set: dict[str, Any] | None = None,
    from_iteration: int = 0,
    act_by: str = "argmax",
    every: int = 1,
    max_env_steps: float = float("inf"),
) -> dict[str, Any]:
    spec = json.loads((run / "run.json").read_text())["spec"]
    overrides = {**(spec.get("env_overrides") or {}), **(env_set or {})}
    rows = _iteration_rows(run)
    points = []
    todo = thin_checkpoints(
        [
            (it, path)
            for it, path in checkpoints_of(run)
            if it >= from_iteration and not _steps_of(rows.get(it, {})) > max_env_steps
        ],
        every,
    )
    if not todo:
        budget = f" and at {max_env_steps:,.0f} env steps or fewer"
        raise ValueError(
            f"{run} has no checkpoint at or after iteration {from_iteration}"
            + (budget if max_env_steps < float("inf") else "")
        )
    for iteration, path in todo:
        row = rows.get(iteration, {})
        records = evaluate(
            spec["env"],
            preset or spec["preset"],
            lambda seed, path=path: CheckpointPolicy(path, seed=seed, act_by=act_by),
            seeds,
            world_seed=spec.get("world_seed"),
            **overrides,
        )
        values = [r.metrics[metric] for r in records]
        crashes = [r.metrics.get("crash_events") for r in records]
        point = {
            "checkpoint": path.name,
            "iteration": iteration,
            "env_steps": _steps_of(row),
            "minutes": float(row.get("perf/elapsed_s") or "nan") / 60.0,
            metric: mean_ci(values).to_dict(),
        }
        if all(c is not None for c in crashes):
            point["crash_events"] = float(np.mean(crashes))
        points.append(point)
        print(
            f"{run.name:<24} {path.name:<12} steps {point['env_steps']:>9,.0f}  "
            f"{point['minutes']:6.1f} min  {metric} {point[metric]['mean']:9.1f} "
            f"± {point[metric]['ci95']:.1f}"
            + (f"  crashes {point['crash_events']:.1f}" if "crash_events" in point else "")
        )
    curve = {
        "run": str(run),
        "algo": spec["algo"],
        "preset": preset or spec["preset"],
        "env_overrides": overrides,
        "act_by": act_by,
        "best": best_checkpoint(points, metric),
        "points": points,
    }
    if max_env_steps < float("inf"):
        curve["max_env_steps"] = max_env_steps
    return curve


def _env_setting(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--env-set {text!r}: use KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _reference(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = None
    if not name or number is None:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give NAME=VALUE, e.g. prophet=1980 (a heuristic's score on these seeds)"
        )
    return name, number


def _act_by(text: str) -> str:
    try:
        parse_act_by(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def join_curve_files(paths: list[Path]) -> tuple[list[int], list[dict[str, Any]]]:
    """The curves of several JSONs written by this script, checked to share their seeds."""
    seeds: list[int] | None = None
    curves: list[dict[str, Any]] = []
    for path in paths:
        if not path.is_file():
            raise ValueError(f"{path}: no such file (give JSONs written with --json)")
        data = json.loads(path.read_text())
        if "curves" not in data or "seeds" not in data:
            raise ValueError(f"{path}: not a curves JSON of this script (no 'curves'/'seeds')")
        if seeds is None:
            seeds = list(data["seeds"])
        elif list(data["seeds"]) != seeds:
            raise ValueError(
                f"{path}: evaluated on seeds {data['seeds']}, the first file on {seeds}; "
                "curves on different seeds are not comparable, evaluate them on the same seeds"
            )
        curves.extend(data["curves"])
    assert seeds is not None
    return seeds, curves


def write_curves(path: Path, seeds: list[int], curves: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"seeds": seeds, "curves": curves}, indent=2) + "\n")
    print(f"json: {path}")


def plot(
    curves: list[dict[str, Any]],
    metric: str,
    x: str,
    path: Path,
    title: str,
    references: list[tuple[str, float]] = (),
    log_x: bool = False,
    legend_by_algo: bool = False,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    colours: dict[tuple[str, str], Any] = {}
    markers = "osD^v<>P*X"
    for index, curve in enumerate(curves):
        pts = curve["points"]
        xs = np.array([p[x] for p in pts])
        mean = np.array([p[metric]["mean"] for p in pts])
        mode = curve.get("act_by", "argmax")
        suffix = f" [{mode}]" if mode != "argmax" else ""
        key = (curve["algo"], mode)
        if legend_by_algo:  # one entry per algorithm (and act-by mode), thin lines, no bands
            label = None if key in colours else f"{curve['algo']}{suffix}"
        else:
            label = f"{curve['algo']} ({Path(curve['run']).name}){suffix}"
        colour = colours.setdefault(key, f"C{len(colours) % 10}")
        if legend_by_algo:
            ax.plot(xs, mean, color=colour, label=label, linewidth=0.8)
            continue
        ax.plot(xs, mean, marker=markers[index % len(markers)], color=colour, label=label)
        ax.fill_between(
            xs,
            [p[metric]["low"] for p in pts],
            [p[metric]["high"] for p in pts],
            color=colour,
            alpha=0.12,
        )
    styles = ("--", ":", "-.", (0, (5, 1, 1, 1)))
    for index, (name, value) in enumerate(references):
        style = styles[index % len(styles)]
        ax.axhline(value, color="black", linestyle=style, linewidth=1, label=f"{name} ({value:g})")
    ax.set_xlabel("env steps" if x == "env_steps" else "minutes of training")
    spread = "" if legend_by_algo else ", 95% CI"
    ax.set_ylabel(f"greedy {metric} (mean over seeds{spread})")
    if log_x:
        ax.set_xscale("log")
    if metric == "mean_jct":
        ax.set_yscale("log")  # collapsed policies sit orders of magnitude above good ones
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate_runs(args: argparse.Namespace) -> tuple[list[dict[str, Any]], str]:
    """Each run directory's curve (printing its best checkpoint) and the metric evaluated."""
    curves = []
    for run in args.runs:
        if not (run / "run.json").is_file():
            raise ValueError(f"{run} is not a run directory of `edge-rl train`")
        env = json.loads((run / "run.json").read_text())["spec"]["env"]
        metric = args.metric or ("return" if env == "aigc" else "mean_jct")
        curves.append(
            evaluate_run(
                run,
                args.seeds,
                metric,
                args.preset,
                dict(args.env_set),
                args.from_iteration,
                args.act_by,
                args.every,
                args.max_env_steps,
            )
        )
        print(f"{run.name}: best checkpoint {curves[-1]['best']}")
    return curves, metric


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path)
    parser.add_argument(
        "--from-json", type=Path, nargs="+", default=None, metavar="JSON",
        help="re-plot JSONs written earlier (several are joined), no evaluation",
    )  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--metric", default=None, help="return (AIGC) or mean_jct (default)")
    parser.add_argument("--x", choices=("env_steps", "minutes"), default="minutes")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--png", type=Path, default=None)
    parser.add_argument("--title", default="greedy evaluation of checkpoints")
    parser.add_argument(
        "--reference", type=_reference, action="append", default=[], metavar="NAME=VALUE",
        help="a horizontal line in the plot, e.g. a heuristic's score on the same seeds",
    )  # fmt: skip
    parser.add_argument("--preset", default=None, help="evaluate on this preset, not the run's")
    parser.add_argument(
        "--from-iteration", type=int, default=0, metavar="N",
        help="only the checkpoints at iteration N or later (e.g. those of a resumed run)",
    )  # fmt: skip
    parser.add_argument(
        "--env-set", type=_env_setting, action="append", default=[], metavar="KEY=VALUE",
        help="env knob for the evaluation (overrides the run's), e.g. episodes_per_trial=1",
    )  # fmt: skip
    parser.add_argument(
        "--every", type=int, default=1, metavar="K",
        help="evaluate every K-th periodic checkpoint only (and final/): cheaper long curves",
    )  # fmt: skip
    parser.add_argument(
        "--act-by", type=_act_by, default="argmax", metavar="MODE",
        help="greedy action of each checkpoint: argmax (default), mean-probs:K or critic",
    )  # fmt: skip
    parser.add_argument(
        "--max-env-steps", type=float, default=float("inf"), metavar="N",
        help="only checkpoints saved at N env steps or fewer (best at a sample budget)",
    )  # fmt: skip
    parser.add_argument("--log-x", action="store_true", help="log-scaled x axis in the plot")
    parser.add_argument(
        "--legend-by-algo", action="store_true",
        help="one legend entry per algorithm, not per run (plots of many runs)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not args.max_env_steps > 0:
        parser.error(f"--max-env-steps {args.max_env_steps:g}: must be a positive step count")
    if args.from_json is not None and args.runs:
        parser.error("give run directories or --from-json, not both")
    if args.from_json is None and not args.runs:
        parser.error("give run directories, or --from-json PATH")
    if args.runs and args.every < 1:
        parser.error(f"--every {args.every}: must be 1 or more (1 = every checkpoint)")
    try:
        if args.from_json is not None:
            seeds, curves = join_curve_files(args.from_json)
            in_file = "return" if "return" in curves[0]["points"][0] else "mean_jct"
            metric = args.metric or in_file
            if args.max_env_steps < float("inf"):
                curves = [cut_at_budget(c, args.max_env_steps, metric) for c in curves]
                for curve in curves:
                    print(f"{Path(curve['run']).name}: best checkpoint {curve['best']}")
        else:
            seeds = args.seeds
            curves, metric = evaluate_runs(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        write_curves(args.json, seeds, curves)
    if args.png:
        plot(curves, metric, args.x, args.png, args.title, args.reference, args.log_x,
             args.legend_by_algo)  # fmt: skip
        print(f"plot: {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
