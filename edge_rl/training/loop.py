"""The training loop behind ``edge-rl train``: progress, metrics files, checkpoints, resume.

A run directory holds::

    run.json          the RunSpec and the resolved config (what `--resume` and `evaluate` read)
    metrics.csv       one row per iteration, slash-named columns (see METRIC_COLUMNS)
    metrics.jsonl     one object per iteration with every numeric metric, slash-named
    tensorboard/      the metrics.csv columns as TensorBoard scalars, under the same names
    checkpoints/      iter_000010/ ... (the newest ``keep`` are kept) and final/, each with
                      progress.json (iteration, env steps) beside RLlib's own files

SIGINT (Ctrl-C) or SIGTERM (a cluster stopping the job) ends training after the current
iteration with a final checkpoint; a second signal stops at once. A run that was killed
without that resumes from its newest checkpoint, periodic or final.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import signal
import threading
import time
from collections import deque
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
    # RLlib's episode means cover this iteration's episodes only (NaN when none finished):
    # this one spans iterations (see EpisodeWindow), the figure sweeps rank trials on.
    ("env/episode_return_last100", ()),
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
    # meta-dreamer: world model and imagination
    ("losses/world_model", ("learners", "default_policy", "world_model_loss")),
    ("losses/wm_decoder", ("learners", "default_policy", "wm_decoder")),
    ("losses/wm_reward", ("learners", "default_policy", "wm_reward")),
    ("losses/wm_kl_dyn", ("learners", "default_policy", "wm_kl_dyn")),
    ("losses/imagined_return", ("learners", "default_policy", "imagined_return")),
    ("losses/return_scale", ("learners", "default_policy", "return_scale")),
    # RLlib's built-ins: PPO/A2C (policy, value, entropy), DQN (q), SAC (policy, q)
    ("losses/policy", ("learners", "default_policy", "policy_loss")),
    ("losses/value", ("learners", "default_policy", "vf_loss")),
    ("losses/q", ("learners", "default_policy", "qf_loss")),
    ("losses/entropy", ("learners", "default_policy", "entropy")),
    # current learning rates (RLlib logs one per optimizer; they move under a schedule)
    ("lr/actor", ("learners", "default_policy", "actor_learning_rate")),
    ("lr/critic", ("learners", "default_policy", "critic_learning_rate")),
    ("lr/encoder", ("learners", "default_policy", "encoder_learning_rate")),
    ("lr/alpha", ("learners", "default_policy", "alpha_learning_rate")),
    ("lr/world_model", ("learners", "default_policy", "world_model_learning_rate")),
    # RLlib's built-ins: PPO/A2C/DQN have one optimizer, SAC a policy and a Q optimizer
    ("lr/default", ("learners", "default_policy", "default_optimizer_learning_rate")),
    ("lr/policy", ("learners", "default_policy", "policy_learning_rate")),
    ("lr/qf", ("learners", "default_policy", "qf_learning_rate")),
    ("perf/env_steps_per_s", ()),
    ("perf/iteration_s", ()),
    ("perf/elapsed_s", ()),
    # where an iteration's time goes (adsac, d2sac, meta-dreamer): seconds spent sampling (with
    # async_sampling: waiting for the runners) and in learner updates, this iteration's own
    ("perf/sample_s", ("iteration_sample_s",)),
    ("perf/learn_s", ("iteration_learn_s",)),
    ("train/gradient_updates", ("num_gradient_updates_lifetime",)),
    (
        "train/module_steps_trained",
        ("learners", "__all_modules__", "num_module_steps_trained_lifetime"),
    ),
    # RLlib 2.60 reports env-runner fault tolerance under result["fault_tolerance"].
    ("env_runners/healthy", ("fault_tolerance", "num_healthy_workers")),
    ("env_runners/restarts", ("fault_tolerance", "num_remote_worker_restarts")),
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


#: the file each checkpoint of this loop carries beside RLlib's: {"iteration", "env_steps"}
PROGRESS_FILE = "progress.json"


def save_checkpoint(algo: Any, path: Path, env_steps: int) -> Path:
    """``algo.save_to_path(path)``, then its progress file (written last, so a checkpoint that
    has one was saved whole)."""
    saved = Path(algo.save_to_path(str(path)))
    progress = {"iteration": int(algo.iteration), "env_steps": int(env_steps)}
    (saved / PROGRESS_FILE).write_text(json.dumps(progress) + "\n")
    return saved


def checkpoint_iteration(ckpt: Path) -> int | None:
    """The training iteration a checkpoint was saved at: from its progress file, else from an
    ``iter_N`` name; None for a final/ written before progress files existed."""
    try:
        return int(json.loads((ckpt / PROGRESS_FILE).read_text())["iteration"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if ckpt.name.startswith("iter_") and ckpt.name[5:].isdigit():
        return int(ckpt.name[5:])
    return None


def _written_at(ckpt: Path) -> float:
    marker = ckpt / "rllib_checkpoint.json"
    return (marker if marker.exists() else ckpt).stat().st_mtime


def latest_checkpoint(output: Path) -> Path | None:
    """The newest checkpoint of a run directory: the highest training iteration among final/
    and iter_*/ (final/ on a tie). final/ is not always the newest: a resumed run that was
    killed leaves the final/ of the invocation before and newer periodic checkpoints. Where an
    iteration cannot be told (a final/ of older versions), the newest by write time."""
    root = Path(output) / "checkpoints"
    if not root.is_dir():
        return None
    candidates = sorted(root.glob("iter_*"))
    if (root / "final").is_dir():
        candidates.append(root / "final")
    if not candidates:
        return None
    iterations = [checkpoint_iteration(c) for c in candidates]
    if None in iterations:
        return max(candidates, key=lambda c: (_written_at(c), c.name == "final"))
    return max(
        zip(iterations, candidates, strict=True), key=lambda p: (p[0], p[1].name == "final")
    )[1]


class GracefulStop:
    """Between ``install()`` and ``restore()`` (main thread only; elsewhere nothing changes):
    the first SIGINT or SIGTERM asks the loop to stop after its current iteration
    (``requested`` names the signal); a second one raises KeyboardInterrupt at once.
    ``restore()`` puts the previous handlers back (Ray's driver has its own for SIGTERM)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, log: Callable[[str], None] = print) -> None:
        self.requested: str | None = None
        self._log = log
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None:
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: stopping now")
        self.requested = signal.Signals(signum).name
        self._log(
            f"{self.requested}: stopping after this iteration with a final checkpoint "
            "(send it again to stop at once, without one)"
        )

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


DEFAULT_CHECKPOINT_EVERY = 10  # iterations between periodic checkpoints (0: final only)
DEFAULT_KEEP_CHECKPOINTS = 3  # periodic checkpoints kept (0: all of them)


def save_run_spec(
    output: Path,
    spec: RunSpec,
    config_dict: dict[str, Any],
    checkpointing: tuple[int, int] = (DEFAULT_CHECKPOINT_EVERY, DEFAULT_KEEP_CHECKPOINTS),
) -> None:
    output.mkdir(parents=True, exist_ok=True)
    every, keep = checkpointing
    schedule = {"every": every, "keep": keep}
    _write_run_json(
        output, {"spec": asdict(spec), "config": config_dict, "checkpointing": schedule}
    )


def _write_run_json(output: Path, data: dict[str, Any]) -> None:
    (Path(output) / "run.json").write_text(json.dumps(data, indent=2, default=str) + "\n")


def _record_checkpointing(output: Path, every: int, keep: int) -> None:
    """Update run.json's checkpoint schedule (a resumed run that was given new values)."""
    data = json.loads((Path(output) / "run.json").read_text())
    if data.get("checkpointing") != {"every": every, "keep": keep}:
        _write_run_json(output, {**data, "checkpointing": {"every": every, "keep": keep}})


def run_checkpointing(output: Path) -> tuple[int, int]:
    """(every, keep) of an existing run: its periodic-checkpoint interval in iterations and how
    many periodic checkpoints it keeps, so that ``--resume`` goes on as the run was started
    (resuming a keep-all run with the default keep=3 would delete its learning-curve
    checkpoints). Runs written before run.json recorded it: the interval is the greatest common
    divisor of the saved iteration numbers, and more than the default number of checkpoints
    on disk means the run kept them all."""
    data = json.loads((Path(output) / "run.json").read_text())
    recorded = data.get("checkpointing")
    if recorded is not None:
        return int(recorded["every"]), int(recorded["keep"])
    root = Path(output) / "checkpoints"
    iters = [int(p.name[5:]) for p in root.glob("iter_*") if p.name[5:].isdigit()]
    every = math.gcd(*iters) if iters else DEFAULT_CHECKPOINT_EVERY
    keep = 0 if len(iters) > DEFAULT_KEEP_CHECKPOINTS else DEFAULT_KEEP_CHECKPOINTS
    return every, keep


def load_run_spec(output: Path) -> RunSpec:
    path = Path(output) / "run.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{output} is not an edge-rl run directory (no run.json); pass the --output DIR "
            "of an earlier `edge-rl train`"
        )
    return RunSpec(**json.loads(path.read_text())["spec"])


class EpisodeWindow:
    """Mean return of the last ``size`` finished episodes, from RLlib's per-iteration means.

    Each iteration adds (mean return, episodes finished); the oldest iteration's weight is cut
    so that exactly ``size`` episodes count once enough have finished.
    """

    def __init__(self, size: int = 100) -> None:
        if size < 1:
            raise ValueError(f"EpisodeWindow size={size}: must be >= 1")
        self.size = size
        self._items: deque[tuple[float, int]] = deque()

    def add(self, mean: float | None, count: float | None) -> float | None:
        """Add one iteration's episodes; return the window's mean (None before any episode)."""
        if mean is not None and count and math.isfinite(mean):
            self._items.append((float(mean), int(count)))
            while sum(c for _, c in self._items) - self._items[0][1] >= self.size:
                self._items.popleft()
        return self.value()

    def value(self) -> float | None:
        total = sum(c for _, c in self._items)
        if not total:
            return None
        excess = max(0, total - self.size)
        weighted = sum(m * c for m, c in self._items) - self._items[0][0] * excess
        return weighted / (total - excess)


def curated_row(
    result: dict[str, Any], window: EpisodeWindow | None = None
) -> dict[str, float | None]:
    """The METRIC_COLUMNS of one RLlib result (``perf/*`` left None: callers time themselves).

    ``window`` (kept by the caller across iterations) fills ``env/episode_return_last100``.
    """
    row = {name: _dig(result, path) if path else None for name, path in METRIC_COLUMNS}
    if window is not None:
        finished = _dig(result, ("env_runners", "num_episodes"))
        row["env/episode_return_last100"] = window.add(row["env/episode_return_mean"], finished)
    out = {k: (float(v) if v is not None else None) for k, v in row.items()}
    # RLlib reports NaN episode stats for iterations in which no episode ended: "no value", not
    # a value (CSV cells stay empty, curves skip them). NaN losses stay: the divergence guard
    # must see them.
    return {
        k: (None if k.startswith("env/") and v is not None and math.isnan(v) else v)
        for k, v in out.items()
    }


class MetricsWriter:
    """Appends to metrics.csv (curated columns), metrics.jsonl (everything) and TensorBoard.

    TensorBoard scalars carry the metrics.csv names unchanged (``env/episode_return_mean``), with
    the env step count as their step, so the three views (and wandb) line up.
    """

    def __init__(self, output: Path) -> None:
        self.csv_path = output / "metrics.csv"
        self.jsonl_path = output / "metrics.jsonl"
        self._header = [name for name, _ in METRIC_COLUMNS]
        if self.csv_path.exists():  # resuming: keep the file's own columns, whatever version
            with self.csv_path.open(newline="") as f:
                self._header = next(csv.reader(f), self._header)
        else:
            with self.csv_path.open("w", newline="") as f:
                csv.writer(f).writerow(self._header)
        self._tb: Any = None
        try:
            from tensorboardX import SummaryWriter  # installed with ray[tune]

            self._tb = SummaryWriter(str(output / "tensorboard"), flush_secs=30)
        except ImportError:  # pragma: no cover - optional view
            pass

    def write(self, row: dict[str, float | None], everything: dict[str, float]) -> None:
        with self.csv_path.open("a", newline="") as f:
            csv.writer(f).writerow(["" if row.get(k) is None else row[k] for k in self._header])
        with self.jsonl_path.open("a") as f:
            f.write(json.dumps({**everything, **row}) + "\n")
        if self._tb is not None:
            step = int(row.get("env/steps") or 0)
            for name, value in row.items():
                if value is not None and math.isfinite(value):
                    self._tb.add_scalar(name, value, global_step=step)

    def last_row(self) -> dict[str, float]:
        """The last row of metrics.csv, its non-empty values as floats ({} without rows)."""
        with self.csv_path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        return {k: float(v) for k, v in rows[-1].items() if v} if rows else {}

    def drop_rows_after(self, iteration: int) -> int:
        """Forget rows of iterations after ``iteration`` (a resumed run redoes them from its
        checkpoint, so they must not appear twice); returns how many rows were dropped."""
        dropped = 0
        with self.csv_path.open(newline="") as f:
            rows = list(csv.reader(f))
        col = rows[0].index("train/iteration") if rows and "train/iteration" in rows[0] else None
        if col is not None:
            kept = [rows[0]] + [r for r in rows[1:] if r[col] and float(r[col]) <= iteration]
            dropped = len(rows) - len(kept)
            with self.csv_path.open("w", newline="") as f:
                csv.writer(f).writerows(kept)
        if self.jsonl_path.exists():
            lines = self.jsonl_path.read_text().splitlines()
            kept_lines = [
                line
                for line in lines
                if (json.loads(line).get("train/iteration") or 0) <= iteration
            ]
            self.jsonl_path.write_text("".join(line + "\n" for line in kept_lines))
        return dropped

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _check_finite(row: dict[str, float | None], last_ckpt: Path | None) -> None:
    for name, value in row.items():
        if name.startswith("losses/") and value is not None and not math.isfinite(value):
            where = str(last_ckpt) if last_ckpt else "none saved yet"
            raise DivergenceError(
                f"{name} became {value}: training diverged. Last good checkpoint: {where}. "
                "Lower the learning rates (actor_lr, critic_lr; lr for RLlib's built-ins) or "
                "resume from it."
            )


def init_weights(algo: Any, checkpoint: Path) -> None:
    """Load the RLModule weights of ``checkpoint`` into a fresh run (continual learning:
    train on task A, then on B from A's weights) and send them to the env runners. Counters,
    optimizer state and replay start afresh."""
    from edge_rl.algorithms.checkpoint_policy import MODULE_SUBPATH

    component = str(MODULE_SUBPATH)
    path = Path(checkpoint).resolve() / MODULE_SUBPATH
    algo.restore_from_path(str(path), component=component)
    algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group)


class InitFromError(ValueError):
    """A checkpoint's state does not fit the new run (``--init-from`` and its companions)."""


def read_optimizer_state(checkpoint: Path) -> dict[str, Any]:
    """The learner's optimizer states (Adam moments, step counts) saved in ``checkpoint``, for a
    new run that continues optimising where the old one stopped (``--init-optimizer``; on
    meta-dreamer's forgetting study it made fine-tuning worse, see docs/history/load-balance.md).

    Raises ValueError when the checkpoint holds no learner state.
    """
    import pickle

    path = Path(checkpoint) / "learner_group" / "learner" / "state.pkl"
    if not path.is_file():
        raise ValueError(f"{checkpoint} has no learner_group/learner/state.pkl: no optimizer state")
    with path.open("rb") as f:
        state = pickle.load(f)
    if not state.get("optimizer"):
        raise ValueError(f"{path} holds no optimizer state")
    return state["optimizer"]


def init_optimizers(algo: Any, optimizer_state: dict[str, Any]) -> None:
    """Load ``read_optimizer_state``'s output into every learner, keeping this run's learning
    rates (the saved state carries the old run's). The optimizers must match by name (same
    algorithm and networks)."""

    def load(learner: Any) -> None:
        named = learner._named_optimizers
        missing = sorted(set(optimizer_state) ^ set(named))
        if missing:
            raise InitFromError(
                f"the checkpoint's optimizers do not match this run's (differ in {missing}); "
                "--init-optimizer needs the same algorithm and network settings"
            )
        rates = {name: learner._get_optimizer_lr(opt) for name, opt in named.items()}
        learner.set_state({"optimizer": optimizer_state})
        for name, opt in named.items():
            learner._set_optimizer_lr(opt, lr=rates[name])

    algo.learner_group.foreach_learner(load)


def run_training(
    spec: RunSpec,
    output: Path,
    resume: bool = False,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    keep: int = DEFAULT_KEEP_CHECKPOINTS,
    log: Callable[[str], None] = print,
    on_result: Callable[[dict[str, float | None]], None] | None = None,
    after_iteration: Callable[[Any], None] | None = None,
    max_minutes: float | None = None,
    init_from: Path | None = None,
    init_replay: dict[str, Any] | None = None,
    init_optimizer: dict[str, Any] | None = None,
) -> TrainResult:
    """Train until ``spec.timesteps`` env steps (or ``max_minutes`` of wall-clock time, when
    given), writing metrics and checkpoints under ``output``.

    Needs a running Ray (``ray.init``); the caller owns the Ray session. ``on_result`` gets each
    metrics row; ``after_iteration`` gets the Algorithm after each iteration (tooling and tests:
    fault injection, extra logging). ``init_from`` starts a new run from a checkpoint's
    weights; ``init_replay`` (``read_replay_state``'s output) fills its replay buffer too, and
    ``init_optimizer`` (``read_optimizer_state``'s) its optimizers' states.
    """
    from ray.rllib.algorithms.algorithm import Algorithm

    from edge_rl.algorithms.registry import register_rllib_envs
    from edge_rl.algorithms.replay_checkpointing import replay_steps

    register_rllib_envs()
    # Absolute: RLlib hands checkpoint paths to pyarrow, which takes a relative one for a URI.
    output = Path(output).resolve()
    last_ckpt: Path | None = None  # the checkpoint a divergence error points back to
    if resume:
        ckpt = last_ckpt = latest_checkpoint(output)
        if ckpt is None:
            raise FileNotFoundError(f"nothing to resume in {output}: no checkpoints/ found")
        algo = Algorithm.from_checkpoint(str(ckpt))
        log(f"resumed from {ckpt} at iteration {algo.iteration}")
        if (held := replay_steps(algo)) is not None:
            log(
                f"replay buffer restored with {held:,d} env steps"
                if held
                else "note: this checkpoint holds no replay buffer (its run had "
                "checkpoint_replay_buffer=false, the default for sac and dqn, or an older "
                "edge_rl); the run refills it from empty and trains on the new steps at once"
            )
        _record_checkpointing(output, checkpoint_every, keep)
    else:
        config = build_config(spec)
        save_run_spec(output, spec, config_summary(config), (checkpoint_every, keep))
        algo = config.build_algo()
        if init_from is not None:
            init_weights(algo, init_from)
            log(f"weights initialised from {init_from}")
        if init_replay is not None:
            algo.replay.set_state(init_replay)
            log(f"replay buffer initialised with {len(algo.replay):,d} records")
        if init_optimizer is not None:
            init_optimizers(algo, init_optimizer)
            log(f"optimizer states initialised ({', '.join(sorted(init_optimizer))})")
    writer = MetricsWriter(output)
    if resume and writer.drop_rows_after(algo.iteration):
        log(f"metrics rows after iteration {algo.iteration} dropped: they are redone from there")
    # A resumed run continues the clock of metrics.csv (perf/elapsed_s is the run's training time
    # so far, for curves over minutes); --max-minutes and the rate count this invocation only.
    last = writer.last_row() if resume else {}
    clock_offset = last.get("perf/elapsed_s", 0.0)
    start_steps = int(last.get("env/steps", 0))
    ckpt_root = output / "checkpoints"
    start = time.perf_counter()
    steps = 0
    window = EpisodeWindow(100)
    prev_updates: float | None = None
    last_known: dict[str, float | None] = {}
    stop = GracefulStop(log)
    stop.install()
    try:
        while True:
            t0 = time.perf_counter()
            prev_steps = steps
            result = algo.train()
            dt = time.perf_counter() - t0
            row = curated_row(result, window)
            steps = int(row["env/steps"] or 0)
            elapsed = time.perf_counter() - start
            row["perf/iteration_s"] = dt
            row["perf/elapsed_s"] = clock_offset + elapsed
            row["perf/env_steps_per_s"] = (steps - prev_steps) / dt if prev_steps else None
            # learner progress: edge_rl's algorithms count gradient updates, RLlib's built-ins
            # the module steps trained
            updates = row["train/gradient_updates"]
            if updates is None:
                updates = row["train/module_steps_trained"]
            if updates is None or not math.isfinite(updates) or updates == prev_updates:
                # No learner update this iteration (learning not started yet, or the env runners
                # were lost and sampled nothing): RLlib then reports the update count and the
                # losses as NaN. That is no value, not a divergence.
                row.update({k: None for k in row if k.startswith("losses/")})
                updates = prev_updates
                if row["train/gradient_updates"] is not None:
                    row["train/gradient_updates"] = prev_updates
            prev_updates = updates
            _check_finite(row, last_ckpt)
            writer.write(row, flatten_metrics(result))
            if on_result is not None:
                on_result(row)
            if after_iteration is not None:
                after_iteration(algo)
            done = (
                steps >= spec.timesteps
                or (max_minutes is not None and elapsed >= 60.0 * max_minutes)
                or stop.requested is not None
            )
            it = algo.iteration
            if checkpoint_every and it % checkpoint_every == 0 and not done:
                last_ckpt = save_checkpoint(algo, ckpt_root / f"iter_{it:06d}", steps)
                if keep > 0:  # keep=0: keep every periodic checkpoint (learning curves)
                    for old in sorted(ckpt_root.glob("iter_*"))[:-keep]:
                        shutil.rmtree(old, ignore_errors=True)
            last_known.update({k: v for k, v in row.items() if v is not None})
            log(
                _progress_line(
                    it, steps, spec.timesteps, last_known, elapsed, max_minutes, start_steps
                )
            )
            if done:
                break
        final = save_checkpoint(algo, ckpt_root / "final", steps)
    finally:
        stop.restore()
        writer.close()
        algo.stop()
    log(f"checkpoint: {final}")
    log(f"metrics: {writer.csv_path}")
    ret = last_known.get("env/episode_return_mean")
    return TrainResult(output, final, writer.csv_path, it, steps, ret)


def _progress_line(
    it: int,
    steps: int,
    target: int,
    row: dict[str, float | None],
    elapsed: float,
    max_minutes: float | None = None,
    start_steps: int = 0,
) -> str:
    """One progress line; ``elapsed`` and ``start_steps`` (the env steps a resumed run started
    from) are this invocation's, so the rate and the time left are too."""
    rate = (steps - start_steps) / elapsed if elapsed > 0 else 0.0
    left = (target - steps) / rate if rate > 0 and steps < target else 0.0
    if max_minutes is not None:  # whichever budget runs out first
        left = min(left, max(0.0, 60.0 * max_minutes - elapsed))
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
