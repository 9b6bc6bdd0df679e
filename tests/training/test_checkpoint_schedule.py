"""`edge-rl train --resume` keeps the run's own checkpoint schedule (no Ray needed here)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from edge_rl.commands.common import UsageError
from edge_rl.commands.train import _checkpoint_schedule
from edge_rl.training.loop import run_checkpointing


def _run_dir(path: Path, checkpointing: dict | None, iters: list[int]) -> Path:
    path.mkdir(parents=True)
    data: dict = {"spec": {"algo": "adsac"}, "config": {}}
    if checkpointing is not None:
        data["checkpointing"] = checkpointing
    (path / "run.json").write_text(json.dumps(data))
    for it in iters:
        (path / "checkpoints" / f"iter_{it:06d}").mkdir(parents=True)
    (path / "checkpoints" / "final").mkdir(parents=True, exist_ok=True)
    return path


def _args(resume: Path | None, every: int | None = None, keep: int | None = None):
    return argparse.Namespace(resume=resume, checkpoint_every=every, keep_checkpoints=keep)


def test_recorded_schedule_is_read_back(tmp_path: Path) -> None:
    run = _run_dir(tmp_path / "r", {"every": 120, "keep": 0}, [120])
    assert run_checkpointing(run) == (120, 0)


def test_schedule_of_older_runs_is_inferred_from_their_checkpoints(tmp_path: Path) -> None:
    # many checkpoints 120 apart: a keep-all run checkpointing every 120 iterations
    many = _run_dir(tmp_path / "many", None, [120, 240, 360, 480, 600])
    assert run_checkpointing(many) == (120, 0)
    # up to the default number on disk: the default keep; the interval from their numbers
    few = _run_dir(tmp_path / "few", None, [30, 40, 50])
    assert run_checkpointing(few) == (10, 3)
    # none at all (a run that only saved its final checkpoint): the defaults
    assert run_checkpointing(_run_dir(tmp_path / "none", None, [])) == (10, 3)


def test_resume_uses_the_runs_schedule_unless_flags_change_it(tmp_path: Path, capsys) -> None:
    run = _run_dir(tmp_path / "r", {"every": 120, "keep": 0}, [120, 240])
    assert _checkpoint_schedule(_args(run), resume=True) == (120, 0)
    assert "every 120 iterations, keeping all" in capsys.readouterr().out
    assert _checkpoint_schedule(_args(run, keep=5), resume=True) == (120, 5)
    assert _checkpoint_schedule(_args(run, every=0), resume=True) == (0, 0)
    assert "the final one only" in capsys.readouterr().out
    # a new run: the flags, else the defaults
    assert _checkpoint_schedule(_args(None), resume=False) == (10, 3)
    assert _checkpoint_schedule(_args(None, every=50, keep=0), resume=False) == (50, 0)


@pytest.mark.parametrize(
    ("every", "keep", "needle"),
    [(-1, None, "--checkpoint-every -1"), (None, -2, "--keep-checkpoints -2")],
)
def test_negative_schedule_values_are_usage_errors(every, keep, needle, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=needle):
        _checkpoint_schedule(_args(None, every=every, keep=keep), resume=False)
