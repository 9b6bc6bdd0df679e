"""`edge-rl train --wandb`: offline wandb under the run directory with project, group and tags
from the command line; metrics.csv, TensorBoard and wandb use the same slash names; a (fake)
API key lands in no file of the run."""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import pytest

from edge_rl.cli import main

pytestmark = pytest.mark.ray


def _tb_tags(folder: Path) -> set[str]:
    from tensorboardX.proto import event_pb2

    tags: set[str] = set()
    for path in folder.rglob("events.out.tfevents.*"):
        data, i = path.read_bytes(), 0
        while i < len(data):
            (length,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + length])
            tags.update(v.tag for v in event.summary.value)
            i += 12 + length + 4
    return tags


def test_train_logs_the_same_names_to_csv_tensorboard_and_wandb_without_the_key(
    ray_session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_settings: dict
) -> None:
    fake_key = "edge0rl0train0fake0key" + "e" * 18
    monkeypatch.setenv("WANDB_API_KEY", fake_key)
    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "run"
    code = main(
        ["train", "--algo", "adsac", "--timesteps", "96", "--envs-per-runner", "2",
         "--output", str(out), "--wandb", "--wandb-project", "edge_rl_test",
         "--wandb-group", "tracking-group", "--wandb-tags", "ci", "smoke",
         "--set", "env.horizon=20000", *[f"--set={k}={v}" for k, v in tiny_settings.items()]]
    )  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    logged = {k for row in rows for k, v in row.items() if v not in ("", "nan")}
    assert {"env/steps", "losses/critic", "env/episode_return_last100", "lr/actor"} <= logged
    assert _tb_tags(out / "tensorboard") == logged
    runs = list(out.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    record = runs[0].read_bytes()
    for needle in (b"env/steps", b"losses/critic", b"tracking-group", b"edge_rl_test", b"smoke"):
        assert needle in record, needle
    leaked = [p for p in out.rglob("*") if p.is_file() and fake_key.encode() in p.read_bytes()]
    assert not leaked, leaked
