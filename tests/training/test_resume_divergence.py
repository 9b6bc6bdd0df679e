"""Stop-and-resume continues the iteration and step counts; a NaN loss stops the run naming the
loss and the last good checkpoint."""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

import edge_rl.algorithms.adsac.torch.adsac_torch_learner as adsac_learner
from edge_rl.training.loop import DivergenceError, run_training

pytestmark = pytest.mark.ray


class Stop(Exception):
    """Stands for a run stopped from outside (preemption, Ctrl-C) mid-way."""


def _rows(output: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((output / "metrics.csv").open()))


def test_stopped_run_resumes_at_its_checkpoint_iteration_and_steps(
    ray_session, tmp_path: Path, tiny_spec
) -> None:
    spec = tiny_spec(timesteps=160)

    def stop_at_iteration_3(algo: Any) -> None:
        if algo.iteration == 3:
            raise Stop

    with pytest.raises(Stop):
        run_training(spec, tmp_path, checkpoint_every=2, log=lambda line: None,
                     after_iteration=stop_at_iteration_3)  # fmt: skip
    before = _rows(tmp_path)
    assert [float(r["train/iteration"]) for r in before] == [1, 2, 3]
    assert (tmp_path / "checkpoints" / "iter_000002").is_dir()

    lines: list[str] = []
    result = run_training(spec, tmp_path, resume=True, checkpoint_every=2, log=lines.append)
    assert "resumed from" in lines[0] and "iteration 2" in lines[0]
    rows = _rows(tmp_path)
    iters = [float(r["train/iteration"]) for r in rows]
    steps = [float(r["env/steps"]) for r in rows]
    # iteration 3 was redone from the iteration-2 checkpoint: no duplicate, no gap
    assert iters == list(range(1, len(rows) + 1)), iters
    # the step count continues from the checkpoint's (32 per iteration: 2 envs x 16)
    assert steps == [32.0 * i for i in iters], steps
    assert steps[2] == float(before[1]["env/steps"]) + 32
    # and the clock of metrics.csv goes on from the checkpoint's row (curves over minutes)
    clock = [float(r["perf/elapsed_s"]) for r in rows]
    assert clock == sorted(clock) and clock[2] > float(before[1]["perf/elapsed_s"]), clock
    # ADSAC's update counter (and replay buffer) are checkpointed too: no restart at 0
    updates = [float(r["train/gradient_updates"]) for r in rows if r["train/gradient_updates"]]
    assert updates == sorted(updates) and updates[-1] > float(before[1]["train/gradient_updates"])
    assert result.env_steps == steps[-1] >= 160


def test_sigterm_ends_with_a_final_checkpoint_and_a_killed_resume_restarts_from_the_newest(
    ray_session, tmp_path: Path, tiny_spec
) -> None:
    spec = tiny_spec(timesteps=10_000)

    def terminate_at_iteration_2(algo: Any) -> None:
        if algo.iteration == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # what a cluster sends a job it stops

    handler = signal.getsignal(signal.SIGTERM)
    lines: list[str] = []
    result = run_training(spec, tmp_path, checkpoint_every=0, log=lines.append,
                          after_iteration=terminate_at_iteration_2)  # fmt: skip
    assert result.iterations == 2 and any("SIGTERM: stopping" in line for line in lines)
    final = tmp_path / "checkpoints" / "final"
    assert json.loads((final / "progress.json").read_text()) == {"iteration": 2, "env_steps": 64}
    assert signal.getsignal(signal.SIGTERM) == handler

    # resumed, then killed (no final checkpoint) after a periodic one at iteration 4
    def kill_at_iteration_5(algo: Any) -> None:
        if algo.iteration == 5:
            raise Stop

    with pytest.raises(Stop):
        run_training(spec, tmp_path, resume=True, checkpoint_every=2, log=lambda line: None,
                     after_iteration=kill_at_iteration_5)  # fmt: skip
    lines = []
    # one iteration (the clock is already past the limit after it)
    run_training(spec, tmp_path, resume=True, checkpoint_every=2, log=lines.append,
                 max_minutes=1e-6)  # fmt: skip
    # from iteration 4's periodic checkpoint, not the older final/ of iteration 2
    assert "iter_000004" in lines[0] and "iteration 4" in lines[0], lines[0]


def test_nan_loss_stops_the_run_naming_the_loss_and_last_checkpoint(
    ray_session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_spec
) -> None:
    poisoned = {"on": False}
    real_critic_loss = adsac_learner.critic_loss

    def critic_loss(*args: Any, **kwargs: Any) -> torch.Tensor:
        loss = real_critic_loss(*args, **kwargs)
        return loss * float("nan") if poisoned["on"] else loss

    # The learner is local (num_learners=0): it runs in this process and sees the patch.
    monkeypatch.setattr(adsac_learner, "critic_loss", critic_loss)

    def poison_after_iteration_2(algo: Any) -> None:
        poisoned["on"] = algo.iteration >= 2

    with pytest.raises(DivergenceError) as info:
        run_training(tiny_spec(timesteps=320), tmp_path, checkpoint_every=1,
                     log=lambda line: None, after_iteration=poison_after_iteration_2)  # fmt: skip
    message = str(info.value)
    assert message.startswith("losses/critic became nan")
    assert str(tmp_path / "checkpoints" / "iter_000002") in message
    assert "Lower the learning rates" in message
    # the poisoned iteration is not in metrics.csv; the good ones are
    assert [float(r["train/iteration"]) for r in _rows(tmp_path)] == [1, 2]


def test_max_minutes_stops_early_with_a_final_checkpoint(
    ray_session, tmp_path: Path, tiny_spec
) -> None:
    spec = tiny_spec(timesteps=10**9)  # unreachable: only the time limit can end this run
    result = run_training(spec, tmp_path, checkpoint_every=0, log=lambda line: None,
                          max_minutes=1e-6)  # fmt: skip
    assert result.iterations == 1 and result.env_steps == 32
    assert result.checkpoint == tmp_path / "checkpoints" / "final"
