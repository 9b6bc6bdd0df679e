"""Reliability of `edge-rl train`'s loop: a killed env runner is restarted and the run finishes;
the restart shows in metrics.csv."""

from __future__ import annotations

import csv
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from edge_rl.training.loop import run_training

pytestmark = pytest.mark.ray


def test_killed_env_runner_is_restarted_and_run_finishes(
    ray_session, tmp_path: Path, tiny_spec
) -> None:
    killed: list[int] = []
    runner_pids: list[int] = []

    def kill_after_first_iteration(algo: Any) -> None:
        if not algo.env_runner_group.num_healthy_remote_workers():
            return
        pids = algo.env_runner_group.foreach_env_runner(
            lambda runner: os.getpid(), local_env_runner=False
        )
        assert len(pids) == 1 and pids[0] != os.getpid()
        runner_pids.append(pids[0])
        if algo.iteration == 1:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    result = run_training(
        tiny_spec(timesteps=160, num_env_runners=1),
        tmp_path,
        checkpoint_every=0,
        log=lambda line: None,
        after_iteration=kill_after_first_iteration,
    )
    assert killed, "the env runner was never killed"
    assert result.env_steps >= 160 and (tmp_path / "checkpoints" / "final").is_dir()
    assert runner_pids[-1] != killed[0], "sampling went on in the killed process?"
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    restarts = [float(r["env_runners/restarts"]) for r in rows]
    healthy = [float(r["env_runners/healthy"]) for r in rows]
    assert restarts[0] == 0 and healthy[0] == 1
    assert restarts[-1] >= 1, f"no restart recorded: {restarts}"
    assert healthy[-1] == 1, f"the env runner did not come back: {healthy}"
    # iterations without a learner update (nothing sampled) leave the losses empty, not NaN
    assert all(r["losses/critic"].lower() != "nan" for r in rows)
