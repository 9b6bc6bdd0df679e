"""What each sweep trial logs besides Tune's CSV/JSON: TensorBoard and wandb, under the same
slash names as a run's metrics.csv (``env/episode_return_mean``, ``losses/critic``), with env
steps as the step.

wandb: one run per Tune trial, written by the sweep's driver process. Ray's own
``WandbLoggerCallback`` writes each trial's run from a remote logging actor, asynchronously: the
actor is killed as soon as its ``run()`` returns, and Tune uploads the driver's staging folders
(where those runs are written) before the experiment's end callbacks wait for the actors; on a
loaded machine the offline run file in the sweep's output held only its header (CI saw this several
times, with and without a teardown inside the actor). Ray's callback also copies ``WANDB_API_KEY``
into the actor's runtime env, which Ray writes to its logs in plain text. Here the driver opens the
runs itself (``wandb.init(reinit="create_new")``: several open at once) in the trial's own folder of
a local storage (``trial_wandb_dir``), logs each result's finite scalars, finishes a run when its
trial ends, and tears wandb down once when the experiment ends, so every run is on disk when
``edge-rl sweep`` returns and the key stays in the driver's own environment.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.logger import TBXLoggerCallback
from ray.tune.utils import flatten_dict

from edge_rl.tracking import WandbRun, start_wandb_run
from edge_rl.training.algos import plain_config_values


def finite_scalars(result: dict[str, Any]) -> dict[str, float]:
    """A Tune result's finite numbers under their flattened slash names (config left out)."""
    flat = flatten_dict({k: v for k, v in result.items() if k != "config"}, delimiter="/")
    return {name: float(value) for name, value in flat.items() if is_finite_number(value)}


def is_finite_number(value: Any) -> bool:
    """A real, finite number (bools are not numbers here)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def result_step(scalars: dict[str, float]) -> int:
    """The step a result's scalars are logged at: its env steps, else its training iteration."""
    return int(scalars.get("env/steps", scalars.get("training_iteration", 0)))


class SlashNamedTBXLogger(TBXLoggerCallback):
    """Tune's TensorBoard logger without its ``ray/tune/`` prefix: scalars keep the result's
    slash names and use env steps as their step, like the metrics.csv, progress.csv and wandb
    views."""

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        if trial not in self._trial_writer:
            self.log_trial_start(trial)
        logged = finite_scalars(result)
        step = result_step(logged)
        for name, value in logged.items():
            self._trial_writer[trial].add_scalar(name, value, global_step=step)
        self._trial_result[trial] = logged
        self._trial_writer[trial].flush()


def trial_wandb_dir(trial: Any) -> Path:
    """Where a trial's wandb files go: its folder in the sweep's storage when that is a local
    (or mounted) filesystem, so they are written in place; else the driver's staging folder,
    which Tune uploads. Tune's last upload of the staging folders comes before the experiment's
    end callbacks, so files written there at the end could miss it."""
    import pyarrow.fs

    storage = getattr(trial, "storage", None)
    if storage is not None and isinstance(storage.storage_filesystem, pyarrow.fs.LocalFileSystem):
        return Path(trial.path)
    return Path(trial.local_path)


class WandbTrialsCallback(Callback):
    """One wandb run per trial (project, group, tags shared; the trial's resolved config as the
    run's config), opened and finished by the Tune driver. See the module docstring for why not
    Ray's logging actors."""

    def __init__(self, project: str, group: str, tags: list[str]) -> None:
        self.project = project
        self.group = group
        self.tags = list(tags)
        self._runs: dict[str, WandbRun] = {}
        self._failed: set[str] = set()  # trials whose run could not start: not tried again
        self._started_any = False

    def _run_of(self, trial: Any) -> WandbRun | None:
        key = trial.trial_id
        if key in self._failed:
            return None
        if key not in self._runs:
            try:
                self._runs[key] = start_wandb_run(
                    project=self.project,
                    name=str(trial),
                    group=self.group,
                    tags=self.tags,
                    config=plain_config_values(trial.config),
                    directory=trial_wandb_dir(trial),
                    alongside_others=True,
                    quiet=True,
                )
            except Exception as exc:  # noqa: BLE001 - tracking must not end the sweep
                print(f"wandb: could not start a run for trial {trial}: {exc!r}; not logged")
                self._failed.add(key)
                return None
            self._started_any = True
        return self._runs[key]

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._run_of(trial)

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        run = self._run_of(trial)
        if run is not None:
            run.log(finite_scalars(result))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial.trial_id)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """Finish what is still open (a sweep stopped by its time budget), then wait for
        wandb-core to write every run and exit."""
        import wandb

        for key in list(self._runs):
            self._finish(key)
        if self._started_any:
            wandb.teardown()

    def _finish(self, key: str) -> None:
        run = self._runs.pop(key, None)
        if run is not None:
            run.finish(teardown=False)
