"""Hyperparameter sweeps with Ray Tune: sweep files, trial listing, running, results.

A sweep is a code file under ``tuning/`` that defines ``SWEEP`` (a :class:`Sweep`) and, if it
likes, ``VARIANTS`` (name -> Sweep, e.g. a ``debug`` one that shrinks everything). Each trial is
one RLlib Algorithm (the trainable is the algorithm class itself); Tune's param space is the base
run's config dict with ``tune.grid_search`` over the sweep's grid and seeds, and ASHA stops the
weak trials early. Every trial's results carry edge_rl's slash-named metrics
(``env/episode_return_mean``, ``losses/critic``, ... as in metrics.csv), under the same names in
Tune's progress.csv, TensorBoard and wandb.
"""

from __future__ import annotations

import csv
import importlib.util
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.tune.utils import flatten_dict

from edge_rl.training.algos import RunSpec
from edge_rl.training.loop import EpisodeWindow, curated_row
from edge_rl.training.trial_logging import (
    SlashNamedTBXLogger,
    WandbTrialsCallback,
    is_finite_number,
)


@dataclass(frozen=True)
class Asha:
    """ASHA early stopping, measured in env steps.

    Attributes:
        grace_steps: env steps every trial gets before it can be stopped; make it longer than a
            few episodes, so the first comparison is on real returns.
        reduction_factor: at each rung only the top 1/reduction_factor trials go on (2-4).
        brackets: ASHA brackets (1 is the usual choice).
    """

    grace_steps: int
    reduction_factor: float = 3.0
    brackets: int = 1


@dataclass(frozen=True)
class Sweep:
    """A sweep: a base run, a grid over its settings, seeds, a scheduler, a metric, a budget.

    Attributes:
        name: Tune experiment name (the folder under the storage path).
        run: the base run; ``run.timesteps`` is each trial's env-step budget.
        grid: algorithm setting -> values, searched as a full grid.
        seeds: seeds of every grid point (``--num-samples N`` replaces them with 0..N-1).
        metric: the result to compare trials on (a slash name from METRIC_COLUMNS).
        mode: "max" or "min".
        scheduler: ASHA settings, or None to run every trial to the budget.
        time_budget_s: wall-clock budget of the whole sweep (None: none).
        max_concurrent_trials: cap on trials at once (None: as many as the cluster fits).
        max_failures: times a failed trial is retried from its last checkpoint.
        heatmap: the two grid keys of the results heatmap (x, y).
        launch: the command that runs this sweep (printed by --dry-run).
    """

    name: str
    run: RunSpec
    grid: Mapping[str, Sequence[Any]]
    seeds: Sequence[int] = (0,)
    metric: str = "env/episode_return_last100"
    mode: str = "max"
    scheduler: Asha | None = None
    time_budget_s: float | None = None
    max_concurrent_trials: int | None = None
    max_failures: int = 1
    heatmap: tuple[str, str] | None = None
    launch: str = ""

    def __post_init__(self) -> None:
        if self.mode not in ("max", "min"):
            raise ValueError(f"Sweep {self.name}: mode={self.mode!r}: use 'max' or 'min'")
        if not self.seeds:
            raise ValueError(f"Sweep {self.name}: seeds is empty; give at least one seed")
        for key, values in self.grid.items():
            if not values:
                raise ValueError(f"Sweep {self.name}: grid[{key!r}] is empty; give >= 1 value")
        if self.heatmap and any(k not in self.grid for k in self.heatmap):
            raise ValueError(
                f"Sweep {self.name}: heatmap={self.heatmap} must name two grid keys "
                f"(grid has {sorted(self.grid)})"
            )

    def with_overrides(
        self,
        num_samples: int | None = None,
        timesteps: int | None = None,
        settings: Mapping[str, Any] | None = None,
        env_overrides: Mapping[str, Any] | None = None,
    ) -> Sweep:
        """A copy with N seeds (0..N-1), another step budget, or extra base settings."""
        if num_samples is not None and num_samples < 1:
            raise ValueError(f"--num-samples {num_samples}: must be >= 1")
        if timesteps is not None and timesteps < 1:
            raise ValueError(f"--timesteps {timesteps}: must be >= 1")
        clash = sorted(set(settings or {}) & set(self.grid))
        if clash:
            raise ValueError(f"--set {clash}: swept by the grid; edit the sweep file instead")
        run = replace(
            self.run,
            timesteps=timesteps or self.run.timesteps,
            settings={**self.run.settings, **(settings or {})},
            env_overrides={**self.run.env_overrides, **(env_overrides or {})},
        )
        seeds = tuple(range(num_samples)) if num_samples else tuple(self.seeds)
        return replace(self, run=run, seeds=seeds)

    def trials(self) -> list[dict[str, Any]]:
        """Every trial's varied values (grid keys, then ``seed``), in Tune's grid order."""
        keys = list(self.grid)
        combos = itertools.product(*(self.grid[k] for k in keys), self.seeds)
        return [dict(zip([*keys, "seed"], combo, strict=True)) for combo in combos]


def load_sweep(path: Path, variant: str | None = None) -> Sweep:
    """Import a sweep file and return its ``SWEEP`` (or ``VARIANTS[variant]``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file {path}: no such file (see tuning/*.py)")
    spec = importlib.util.spec_from_file_location(f"edge_rl_sweep_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sweep = getattr(module, "SWEEP", None)
    if not isinstance(sweep, Sweep):
        raise ValueError(f"sweep file {path}: defines no SWEEP = Sweep(...)")
    if variant is None:
        return sweep
    variants = getattr(module, "VARIANTS", {})
    if variant not in variants:
        raise ValueError(
            f"--variant {variant!r}: {path} has {', '.join(sorted(variants)) or 'no variants'}"
        )
    return variants[variant]


# --------------------------------------------------------------------------- metrics


class CuratedMetricsCallback(RLlibCallback):
    """Put the metrics.csv columns into every result, nested so Tune flattens them to the same
    slash names (``env/episode_return_mean``); missing values become NaN so each result carries
    the sweep's metric (Tune requires it; ASHA skips NaN when ranking)."""

    def __init__(self) -> None:
        super().__init__()
        self._window = EpisodeWindow(100)

    def on_train_result(self, *, algorithm: Any, result: dict, **kwargs: Any) -> None:
        row = curated_row(result, self._window)
        seconds = result.get("time_this_iter_s")
        sampled = (result.get("env_runners") or {}).get("num_env_steps_sampled")
        row["perf/iteration_s"] = seconds
        row["perf/elapsed_s"] = result.get("time_total_s")
        if seconds and sampled is not None:
            row["perf/env_steps_per_s"] = sampled / seconds
        for name, value in row.items():
            node = result
            *parents, leaf = name.split("/")
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = float("nan") if value is None else float(value)


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class WandbSettings:
    """wandb for a sweep: one wandb run per trial, grouped (see ``trial_logging``)."""

    project: str = "edge_rl"
    group: str | None = None
    tags: tuple[str, ...] = ()


@dataclass
class SweepResult:
    """Where a sweep's outputs are and which trial won."""

    rows: list[dict[str, Any]]
    table_csv: Path
    heatmap_png: Path | None
    best_checkpoint: str | None
    best_row: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


def param_space(sweep: Sweep) -> tuple[Any, dict[str, Any]]:
    """The base AlgorithmConfig and Tune's param space (config dict + grid searches)."""
    from ray import tune

    from edge_rl.training.algos import build_config
    from edge_rl.training.callbacks import EpisodeSummaryCallback

    config = build_config(sweep.run)
    config.callbacks([EpisodeSummaryCallback, CuratedMetricsCallback])
    unknown = [k for k in sweep.grid if not hasattr(config, k)]
    if unknown:
        raise ValueError(
            f"sweep {sweep.name}: grid key(s) {unknown} are not settings of {sweep.run.algo}; "
            f"see `edge-rl train --algo {sweep.run.algo} --show-config`"
        )
    space = config.to_dict()
    for key, values in sweep.grid.items():
        space[key] = tune.grid_search(list(values))
    space["seed"] = tune.grid_search(list(sweep.seeds))
    return config, space


def validate_trials(sweep: Sweep) -> Any:
    """Build and validate every trial's config (bad values fail here, not on the cluster);
    returns the base config."""
    from edge_rl.training.algos import build_config

    base = None
    for values in sweep.trials():
        settings = {**sweep.run.settings, **{k: v for k, v in values.items() if k != "seed"}}
        config = build_config(replace(sweep.run, settings=settings, seed=values["seed"]))
        config.validate()
        base = base or config
    return base


def run_sweep(
    sweep: Sweep,
    output: Path,
    *,
    storage_path: str | None = None,
    wandb: WandbSettings | None = None,
    log: Callable[[str], None] = print,
    verbose: int = 1,
) -> SweepResult:
    """Run the sweep with Ray Tune (needs ``ray.init``; the caller checks resources first).

    Trials, their checkpoints and wandb/TensorBoard files land under ``storage_path`` (default
    ``output``); the results table, the heatmap and summary.json under ``output``.
    """
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
    from ray.tune.schedulers import ASHAScheduler

    from edge_rl.algorithms.registry import register_rllib_envs

    register_rllib_envs()
    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    config, space = param_space(sweep)
    callbacks: list[Any] = [CSVLoggerCallback(), JsonLoggerCallback(), SlashNamedTBXLogger()]
    if wandb is not None:
        callbacks.append(
            WandbTrialsCallback(
                project=wandb.project,
                group=wandb.group or sweep.name,
                tags=list(wandb.tags) or [sweep.run.algo, sweep.run.preset, sweep.name],
            )
        )
    scheduler = None
    if sweep.scheduler is not None:
        scheduler = ASHAScheduler(
            time_attr="env/steps",
            max_t=sweep.run.timesteps,
            grace_period=sweep.scheduler.grace_steps,
            reduction_factor=sweep.scheduler.reduction_factor,
            brackets=sweep.scheduler.brackets,
        )
    tuner = tune.Tuner(
        config.algo_class,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric=sweep.metric,
            mode=sweep.mode,
            scheduler=scheduler,
            num_samples=1,  # seeds are an explicit grid axis: repeats would be identical runs
            max_concurrent_trials=sweep.max_concurrent_trials,
            time_budget_s=sweep.time_budget_s,
        ),
        run_config=tune.RunConfig(
            name=sweep.name,
            storage_path=storage_path or str(output),
            stop={"env/steps": sweep.run.timesteps},
            callbacks=callbacks,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1, checkpoint_at_end=True),
            failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
            verbose=verbose,
        ),
    )
    grid = tuner.fit()
    rows = results_table(grid, sweep)
    table = write_table(rows, output / "results.csv")
    log(format_table(rows, sweep))
    heatmap = None
    if sweep.heatmap and rows:
        heatmap = plot_heatmap(rows, sweep, output / "heatmap.png")
    best_row = _best(rows, sweep)
    best_ckpt = best_row["checkpoint"] if best_row else None
    errors = [f"{r['trial_id']}: {r['error']}" for r in rows if r.get("error")]
    return SweepResult(rows, table, heatmap, best_ckpt or None, best_row, errors)


def results_table(grid: Any, sweep: Sweep) -> list[dict[str, Any]]:
    """One row per trial: varied values, final figures, status, checkpoint."""
    rows = []
    for result in grid:
        cfg = result.config or {}
        metrics = flatten_dict(result.metrics or {}, delimiter="/")
        steps = metrics.get("env/steps")
        row: dict[str, Any] = {"trial_id": metrics.get("trial_id", "")}
        row.update({k: cfg.get(k) for k in sweep.grid})
        row["seed"] = cfg.get("seed")
        row["iterations"] = metrics.get("training_iteration")
        row["env/steps"] = steps
        row[sweep.metric] = metrics.get(sweep.metric)
        row["stopped_early"] = bool(steps is not None and steps < sweep.run.timesteps)
        row["error"] = str(result.error).splitlines()[0] if result.error else ""
        row["checkpoint"] = result.checkpoint.path if result.checkpoint else ""
        row["path"] = result.path
        rows.append(row)
    return rows


def write_table(rows: list[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


def format_table(rows: list[dict[str, Any]], sweep: Sweep) -> str:
    """The results table as aligned text, best first."""
    cols = [*sweep.grid, "seed", "env/steps", sweep.metric, "stopped_early", "error"]
    ordered = sorted(rows, key=lambda r: _sort_key(r, sweep))
    cells = [[_cell(r.get(c)) for c in cols] for r in ordered]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.2f}"
    return "" if value is None else str(value)


def _sort_key(row: dict[str, Any], sweep: Sweep) -> float:
    value = row.get(sweep.metric)
    if not is_finite_number(value):
        return math.inf
    return -value if sweep.mode == "max" else value


def _best(rows: list[dict[str, Any]], sweep: Sweep) -> dict[str, Any] | None:
    ranked = [r for r in rows if is_finite_number(r.get(sweep.metric)) and r.get("checkpoint")]
    return min(ranked, key=lambda r: _sort_key(r, sweep)) if ranked else None


def plot_heatmap(rows: list[dict[str, Any]], sweep: Sweep, path: Path) -> Path:
    """Mean final metric over seeds per (x, y) grid cell; NaN cells (no finished episode) grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    assert sweep.heatmap is not None
    xkey, ykey = sweep.heatmap
    xs, ys = list(sweep.grid[xkey]), list(sweep.grid[ykey])
    values = np.full((len(ys), len(xs)), np.nan)
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            cell = [r[sweep.metric] for r in rows if r[xkey] == x and r[ykey] == y]
            cell = [v for v in cell if is_finite_number(v)]
            if cell:
                values[j, i] = float(np.mean(cell))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(xs) + 3), max(3.5, 0.9 * len(ys) + 2)))
    cmap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")
    image = ax.imshow(np.ma.masked_invalid(values), origin="lower", cmap=cmap, aspect="auto")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_xlabel(xkey)
    ax.set_ylabel(ykey)
    for j in range(len(ys)):
        for i in range(len(xs)):
            missing = np.isnan(values[j, i])
            text = "n/a" if missing else f"{values[j, i]:.1f}"
            ax.text(i, j, text, ha="center", va="center", color="k" if missing else "w", fontsize=8)
    fig.colorbar(image, ax=ax, label=sweep.metric)
    ax.set_title(f"{sweep.name}\nfinal {sweep.metric}, mean over seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
