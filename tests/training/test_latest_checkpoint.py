"""Which checkpoint a resume (or ``evaluate --checkpoint RUN``) picks, without Ray."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from edge_rl.training.loop import PROGRESS_FILE, GracefulStop, latest_checkpoint


def _ckpt(root: Path, name: str, iteration: int | None, mtime: float) -> Path:
    path = root / "checkpoints" / name
    path.mkdir(parents=True)
    marker = path / "rllib_checkpoint.json"
    marker.write_text("{}")
    if iteration is not None:
        (path / PROGRESS_FILE).write_text(json.dumps({"iteration": iteration, "env_steps": 1}))
    os.utime(marker, (mtime, mtime))
    return path


def test_newest_iteration_wins_over_a_stale_final(tmp_path: Path) -> None:
    # a finished run (final at 725) resumed and killed after two periodic checkpoints
    _ckpt(tmp_path, "final", 725, mtime=100)
    _ckpt(tmp_path, "iter_000780", 780, mtime=200)
    newest = _ckpt(tmp_path, "iter_000840", 840, mtime=300)
    assert latest_checkpoint(tmp_path) == newest


def test_final_wins_a_tie_and_when_it_is_newer(tmp_path: Path) -> None:
    _ckpt(tmp_path, "iter_000060", 60, mtime=100)
    final = _ckpt(tmp_path, "final", 60, mtime=50)
    assert latest_checkpoint(tmp_path) == final
    _ckpt(tmp_path, "iter_000120", 120, mtime=200)
    (final / PROGRESS_FILE).write_text(json.dumps({"iteration": 130, "env_steps": 1}))
    assert latest_checkpoint(tmp_path) == final


def test_older_checkpoints_without_progress_files_go_by_write_time(tmp_path: Path) -> None:
    final = _ckpt(tmp_path, "final", None, mtime=100)
    newer = _ckpt(tmp_path, "iter_000960", None, mtime=200)
    assert latest_checkpoint(tmp_path) == newer
    os.utime(final / "rllib_checkpoint.json", (300, 300))
    assert latest_checkpoint(tmp_path) == final


def test_no_checkpoints(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path) is None
    (tmp_path / "checkpoints").mkdir()
    assert latest_checkpoint(tmp_path) is None


def test_graceful_stop_asks_once_then_interrupts_and_restores_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    lines: list[str] = []
    stop = GracefulStop(lines.append)
    stop.install()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested == "SIGTERM"
        assert "final checkpoint" in lines[0]
        with pytest.raises(KeyboardInterrupt, match="second SIGINT"):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        stop.restore()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
