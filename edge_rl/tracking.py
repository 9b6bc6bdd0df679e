"""Weights & Biases tracking: offline unless an API key is set; the key never gets logged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class WandbRun:
    """A thin handle on a wandb run that logs edge_rl's slash-named metric rows."""

    def __init__(self, run: Any) -> None:
        self._run = run

    def log(self, row: dict[str, float | None]) -> None:
        values = {k: v for k, v in row.items() if v is not None}
        step = values.get("env/steps")
        self._run.log(values, step=int(step) if step is not None else None)

    def finish(self, teardown: bool = True) -> None:
        """Finish the run and, with ``teardown``, wait until it is on disk: ``run.finish()`` can
        return before the wandb-core service process has written the run's records (an offline
        run file was seen holding only its header on a loaded CI machine); ``wandb.teardown()``
        waits for the service to write everything and exit. A process with several runs open
        (a sweep's driver) finishes each without teardown and tears down once at the end."""
        import wandb

        self._run.finish()
        if teardown:
            wandb.teardown()

    @property
    def directory(self) -> str:
        return str(self._run.dir)


def wandb_mode() -> str:
    """ "online" when WANDB_API_KEY is set (and WANDB_MODE does not say otherwise), else offline."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        return mode
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def start_wandb_run(
    project: str,
    name: str,
    group: str | None,
    tags: list[str],
    config: dict[str, Any],
    directory: Path,
    *,
    alongside_others: bool = False,
    quiet: bool = False,
) -> WandbRun:
    """Start a run whose files land under ``directory/wandb`` (sync later with ``wandb sync``).

    ``alongside_others`` keeps this process's other open runs going (one run per sweep trial,
    all in the sweep's driver); otherwise an open run is finished first. ``quiet`` keeps wandb's
    run summary out of the console (a sweep's trials would interleave theirs with Tune's table).
    """
    import wandb

    clean = {k: v for k, v in config.items() if "api_key" not in k.lower()}
    directory.mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=project,
        name=name,
        group=group,
        tags=tags,
        config=clean,
        dir=str(directory),
        mode=wandb_mode(),
        reinit="create_new" if alongside_others else "finish_previous",
        settings=wandb.Settings(quiet=True) if quiet else None,
    )
    return WandbRun(run)
