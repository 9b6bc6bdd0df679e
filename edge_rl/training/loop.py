"""The training loop behind ``edge-rl train``: progress, metrics files, checkpoints, resume.

A run directory holds::

    run.json          the RunSpec and the resolved config (what `--resume` and `evaluate` read)
    metrics.csv       one row per iteration, slash-named columns (see METRIC_COLUMNS)
    metrics.jsonl     one object per iteration with every numeric metric, slash-named
    checkpoints/      iter_000010/ ... (the newest ``keep`` are kept) and final/
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge_rl.training.algos import RunSpec, build_config, config_summary

#: curated columns of metrics.csv: (slash name, path in RLlib's result dict)
METRIC_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("train/iteration", ("training_iteration",)),
    ("env/steps", ("env_runners", "num_env_steps_sampled_lifetime")),
    ("env/episodes", ("env_runners", "num_episodes_lifetime")),
    ("env/episode_return_mean", ("env_runners", "episode_return_mean")),
    ("env/episode_len_mean", ("env_runners", "episode_len_mean")),
    ("env/crash_events_mean", ("env_runners", "episode_crash_events")),
    ("env/tasks_killed_mean", ("env_runners", "episode_tasks_killed")),
    ("env/crash_rate_mean", ("env_runners", "episode_crash_rate")),
    ("env/utility_mean", ("env_runners", "episode_utility")),
    ("env/mean_jct", ("env_runners", "episode_mean_jct")),
    ("losses/critic", ("learners", "default_policy", "critic_loss")),
    ("losses/actor", ("learners", "default_policy", "actor_loss")),
    ("losses/policy_entropy", ("learners", "default_policy", "policy_entropy")),
    ("losses/alpha", ("learners", "default_policy", "alpha")),
    ("losses/q_mean", ("learners", "default_policy", "q_mean")),
    ("perf/env_steps_per_s", ()),
    ("perf/iteration_s", ()),
    ("perf/elapsed_s", ()),
    ("train/gradient_updates", ("num_gradient_updates_lifetime",)),
    ("env_runners/healthy", ("num_healthy_workers",)),
    ("env_runners/restarts", ("num_remote_worker_restarts",)),
)


class DivergenceError(RuntimeError):
    """A loss became NaN or inf; the message names the loss and the last good checkpoint."""


def _dig(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = result
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def flatten_metrics(result: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Every numeric leaf of RLlib's result dict, as ``a/b/c`` -> float."""
    out: dict[str, float] = {}
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_metrics(value, name + "/"))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float):
            out[name] = float(value)
        elif hasattr(value, "item") and getattr(value, "size", 1) == 1:
            out[name] = float(value.item())
    return out


@dataclass
class TrainResult:
    """Where a run's outputs are, and its last figures."""

    output: Path
    checkpoint: Path
    metrics_csv: Path
    iterations: int
    env_steps: int
    episode_return_mean: float | None


def latest_checkpoint(output: Path) -> Path | None:
    """The newest checkpoint of a run directory (final/ first, else the highest iter_*)."""
    root = Path(output) / "checkpoints"
    if (root / "final").is_dir():
        return root / "final"
    iters = sorted(root.glob("iter_*")) if root.is_dir() else []
    return iters[-1] if iters else None


def save_run_spec(output: Path, spec: RunSpec, config_dict: dict[str, Any]) -> None:
    output.mkdir(parents=True, exist_ok=True)
    (output / "run.json").write_text(
        json.dumps({"spec": asdict(spec), "config": config_dict}, indent=2, default=str) + "\n"
    )


def load_run_spec(output: Path) -> RunSpec:
    path = Path(output) / "run.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{output} is not an edge-rl run directory (no run.json); pass the --output DIR "
            "of an earlier `edge-rl train`"
        )
    return RunSpec(**json.loads(path.read_text())["spec"])


class MetricsWriter:
    """Appends to metrics.csv (curated columns) and metrics.jsonl (everything)."""

    def __init__(self, output: Path) -> None:
        self.csv_path = output / "metrics.csv"
        self.jsonl_path = output / "metrics.jsonl"
        self._header = [name for name, _ in METRIC_COLUMNS]
        if not self.csv_path.exists():
            with self.csv_path.open("w", newline="") as f:
                csv.writer(f).writerow(self._header)

    def write(self, row: dict[str, float | None], everything: dict[str, float]) -> None:
        with self.csv_path.open("a", newline="") as f:
            csv.writer(f).writerow(["" if row.get(k) is None else row[k] for k in self._header])
        with self.jsonl_path.open("a") as f:
            f.write(json.dumps({**everything, **row}) + "\n")


def _check_finite(row: dict[str, float | None], last_ckpt: Path | None) -> None:
    for name, value in row.items():
        if name.startswith("losses/") and value is not None and not math.isfinite(value):
            where = str(last_ckpt) if last_ckpt else "none saved yet"
            raise DivergenceError(
                f"{name} became {value}: training diverged. Last good checkpoint: {where}. "
                "Lower the learning rates (actor_lr, critic_lr) or resume from it."
            )


def run_training(
    spec: RunSpec,
    output: Path,
    resume: bool = False,
    checkpoint_every: int = 10,
    keep: int = 3,
    log: Callable[[str], None] = print,
    on_result: Callable[[dict[str, float | None]], None] | None = None,
) -> TrainResult:
    """Train until ``spec.timesteps`` env steps, writing metrics and checkpoints under ``output``.

    Needs a running Ray (``ray.init``); the caller owns the Ray session.
    """
    from ray.rllib.algorithms.algorithm import Algorithm

    from edge_rl.algorithms.registry import register_rllib_envs

    register_rllib_envs()
    output = Path(output)
    if resume:
        ckpt = latest_checkpoint(output)
        if ckpt is None:
            raise FileNotFoundError(f"nothing to resume in {output}: no checkpoints/ found")
        algo = Algorithm.from_checkpoint(str(ckpt))
        log(f"resumed from {ckpt} at iteration {algo.iteration}")
    else:
        config = build_config(spec)
        save_run_spec(output, spec, config_summary(config))
        algo = config.build_algo()
    writer = MetricsWriter(output)
    ckpt_root = output / "checkpoints"
    last_ckpt = latest_checkpoint(output) if resume else None
    start = time.perf_counter()
    steps = 0
    result_row: dict[str, float | None] = {}
    try:
        while True:
            t0 = time.perf_counter()
            prev_steps = steps
            result = algo.train()
            dt = time.perf_counter() - t0
            row = {name: _dig(result, path) if path else None for name, path in METRIC_COLUMNS}
            steps = int(row["env/steps"] or 0)
            elapsed = time.perf_counter() - start
            row["perf/iteration_s"] = dt
            row["perf/elapsed_s"] = elapsed
            row["perf/env_steps_per_s"] = (steps - prev_steps) / dt if prev_steps else None
            row = {k: (float(v) if v is not None else None) for k, v in row.items()}
            _check_finite(row, last_ckpt)
            writer.write(row, flatten_metrics(result))
            if on_result is not None:
                on_result(row)
            result_row = row
            done = steps >= spec.timesteps
            it = algo.iteration
            if checkpoint_every and it % checkpoint_every == 0 and not done:
                last_ckpt = Path(algo.save_to_path(str(ckpt_root / f"iter_{it:06d}")))
                for old in sorted(ckpt_root.glob("iter_*"))[:-keep]:
                    shutil.rmtree(old, ignore_errors=True)
            log(_progress_line(it, steps, spec.timesteps, row, elapsed))
            if done:
                break
        final = Path(algo.save_to_path(str(ckpt_root / "final")))
    finally:
        algo.stop()
    log(f"checkpoint: {final}")
    log(f"metrics: {writer.csv_path}")
    ret = result_row.get("env/episode_return_mean")
    return TrainResult(output, final, writer.csv_path, it, steps, ret)


def _progress_line(
    it: int, steps: int, target: int, row: dict[str, float | None], elapsed: float
) -> str:
    rate = steps / elapsed if elapsed > 0 else 0.0
    left = (target - steps) / rate if rate > 0 and steps < target else 0.0
    ret = row.get("env/episode_return_mean")
    crash = row.get("env/crash_events_mean")
    parts = [
        f"iter {it:5d}",
        f"steps {steps:>9,d}/{target:,d}",
        f"return {ret:9.2f}" if ret is not None else "return       n/a",
    ]
    if crash is not None:
        parts.append(f"crashes {crash:5.1f}")
    parts += [f"{rate:7.1f} steps/s", f"left {_hms(left)}"]
    return "  ".join(parts)


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
