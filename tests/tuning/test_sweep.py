"""`edge-rl sweep`: the sweep file, --dry-run without Ray, resource errors, and a real 2-trial
ASHA sweep with wandb (offline, with a fake key that must not land in any file)."""

from __future__ import annotations

import csv
import json
import os
import struct
from pathlib import Path

import pytest

from edge_rl.cli import main
from edge_rl.training.sweeps import Asha, Sweep, load_sweep

ROOT = Path(__file__).resolve().parents[2]
SWEEP_FILE = ROOT / "tuning" / "adsac_steps_x_depth.py"


def test_sweep_file_names_its_search_space_scheduler_metric_budget_and_launch() -> None:
    sweep = load_sweep(SWEEP_FILE)
    assert dict(sweep.grid) == {"diffusion_steps": [1, 3, 5, 10], "attention_depth": [0, 1, 2, 4]}
    assert len(sweep.seeds) >= 3 and isinstance(sweep.scheduler, Asha)
    assert sweep.metric == "env/episode_return_last100" and sweep.mode == "max"
    assert sweep.run.timesteps > sweep.scheduler.grace_steps > 0
    assert "edge-rl sweep tuning/adsac_steps_x_depth.py" in sweep.launch
    assert "edge-rl sweep tuning/adsac_steps_x_depth.py" in (SWEEP_FILE.read_text())
    debug = load_sweep(SWEEP_FILE, "debug")
    assert len(debug.trials()) == 2 and debug.run.timesteps < 1000


def test_dry_run_lists_every_trial_and_its_resources_without_ray(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    def no_ray(*args: object, **kwargs: object) -> None:
        raise AssertionError("--dry-run started Ray")

    monkeypatch.setattr(ray, "init", no_ray)
    assert main(["sweep", str(SWEEP_FILE), "--dry-run", "--num-samples", "2"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("trial ")]
    assert len(lines) == 16 * 2  # --num-samples 2: seeds 0 and 1 per grid point
    assert "diffusion_steps=10 attention_depth=4 seed=1" in lines[-1]
    for line in lines:
        assert "diffusion_steps=" in line and "attention_depth=" in line and "seed=" in line
        assert "needs main {CPU: 1} + 2 env runner(s) x {CPU: 0.5}" in line
        assert line.endswith("= {CPU: 2}")
    assert "ASHA" in out and "launch: edge-rl sweep" in out


@pytest.mark.parametrize("path", sorted((ROOT / "tuning").glob("*.py")), ids=lambda p: p.name)
def test_every_sweep_file_dry_runs_with_valid_settings(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each trial's settings pass the algorithm's validation and the launch line names the
    file itself, so a sweep in tuning/ cannot rot unnoticed."""
    sweep = load_sweep(path)
    assert f"edge-rl sweep tuning/{path.name}" in sweep.launch
    assert main(["sweep", str(path), "--dry-run"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("trial ")]
    assert len(lines) == len(sweep.trials()) > 1


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--variant", "huge"], "has debug"),
        (["--num-samples", "0"], "--num-samples 0"),
        (["--set", "diffusion_steps=3"], "swept by the grid"),
        (["--set", "attention_heads=3"], "attention_heads=3"),
    ],
)
def test_bad_sweep_arguments_are_one_line_errors(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", str(SWEEP_FILE), "--dry-run", *argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err


def test_sweep_file_without_sweep_is_an_error(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "nothing.py"
    empty.write_text("X = 1\n")
    assert main(["sweep", str(empty), "--dry-run"]) == 2
    assert "defines no SWEEP" in capsys.readouterr().err


def test_grid_over_an_unknown_setting_fails_before_ray() -> None:
    sweep = load_sweep(SWEEP_FILE, "debug")
    bad = Sweep(name="bad", run=sweep.run, grid={"warp_factor": [1, 2]})
    from edge_rl.training.sweeps import param_space

    with pytest.raises(ValueError, match="warp_factor"):
        param_space(bad)


@pytest.mark.ray
def test_sweep_that_cannot_fit_fails_at_once_saying_what_to_change(
    ray_session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    greedy = tmp_path / "greedy.py"
    greedy.write_text(
        "from dataclasses import replace\n"
        "from edge_rl.training.sweeps import load_sweep\n"
        f"base = load_sweep({str(SWEEP_FILE)!r}, 'debug')\n"
        "SWEEP = replace(base, run=replace(base.run, num_env_runners=3, cpus_per_env_runner=1))\n"
    )
    assert main(["sweep", str(greedy), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "CPU: needs 4, the cluster has 2" in err, err
    assert "--num-env-runners 1" in err and "--cpus-per-env-runner 0.33" in err
    assert not (tmp_path / "out").exists()


def _tb_tags(trial_dir: Path) -> set[str]:
    """Scalar tags of a trial's TensorBoard event file (TFRecord framing, Event protos)."""
    from tensorboardX.proto import event_pb2

    tags: set[str] = set()
    for path in trial_dir.glob("events.out.tfevents.*"):
        data, i = path.read_bytes(), 0
        while i < len(data):
            (length,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + length])
            tags.update(v.tag for v in event.summary.value)
            i += 12 + length + 4
    return tags


def _wandb_record(path: Path) -> bytes:
    """The run's record file as it is when the sweep returns: the driver wrote every trial's
    run and tore wandb down (wandb-core writes the runs and exits) before the sweep returned,
    so nothing may still be in flight (Ray's killed logging actors once left CI a file holding
    only its header)."""
    return path.read_bytes()


@pytest.mark.ray
def test_debug_sweep_runs_two_trials_with_asha_wandb_table_heatmap_and_best_checkpoint(
    ray_session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    fake_key = "edge0rl0fake0key0" + "f" * 23  # 40 chars, the shape of a real key
    monkeypatch.setenv("WANDB_API_KEY", fake_key)
    monkeypatch.setenv("WANDB_MODE", "offline")  # never reach the network with the fake key
    out = tmp_path / "sweep"
    code = main(
        ["sweep", str(SWEEP_FILE), "--variant", "debug", "--output", str(out), "--wandb",
         "--wandb-project", "edge_rl_test", "--wandb-group", "smoke-group", "--wandb-tags", "ci"]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 2
    assert {(r["diffusion_steps"], r["attention_depth"]) for r in rows} == {("1", "1"), ("2", "1")}
    assert all(r["error"] == "" for r in rows)
    assert "env/episode_return_last100" in printed and "best checkpoint:" in printed
    assert "wandb: one run per trial under" in printed and "wandb sync" in printed
    assert (out / "heatmap.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert Path(summary["best_checkpoint"]).is_dir()

    trial_dirs = [Path(r["path"]) for r in rows]
    for trial in trial_dirs:
        # the same slash names in Tune's CSV, TensorBoard and wandb
        header = (trial / "progress.csv").read_text().splitlines()[0].split(",")
        for name in ("env/episode_return_last100", "env/steps", "losses/critic"):
            assert name in header
        tags = _tb_tags(trial)
        assert {"env/steps", "losses/critic"} <= tags and not any(
            t.startswith("ray/") for t in tags
        )
        runs = list(trial.glob("wandb/offline-run-*/run-*.wandb"))
        assert len(runs) == 1, "wandb did not run offline under the output folder"
        record = _wandb_record(runs[0])
        for needle in (b"env/episode_return_last100", b"losses/critic", b"diffusion_steps",
                       b"smoke-group", b"edge_rl_test"):  # fmt: skip
            assert needle in record, needle
    # the key never lands in a log, config, checkpoint or wandb file, nor in Ray's own logs
    # (Ray's wandb callback would put it in a runtime env, which Ray logs in plain text)
    session = Path(ray_session._private.worker._global_node.get_session_dir_path())
    files = [p for root in (out, session / "logs") for p in root.rglob("*") if p.is_file()]
    leaked = [p for p in files if fake_key.encode() in p.read_bytes()]
    assert not leaked, leaked


class _FakeTrial:
    """What WandbTrialsCallback reads of a Tune trial."""

    def __init__(self, trial_id: str, local_path: Path, config: dict) -> None:
        self.trial_id, self.local_path, self.config = trial_id, str(local_path), config

    def __str__(self) -> str:
        return f"ADSAC_{self.trial_id}"


def test_wandb_trials_callback_writes_concurrent_trial_runs_completely_by_experiment_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver holds one wandb run per trial, two open at once; each run's file holds its
    own config and figures (not just the header) as soon as on_experiment_end returns, and the
    wandb-core service this process started is gone with its token."""
    import wandb

    from edge_rl.training.trial_logging import WandbTrialsCallback

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_SERVICE", raising=False)
    callback = WandbTrialsCallback(project="edge_rl_test", group="unit-group", tags=["unit"])
    trials = [
        _FakeTrial(f"t{i}", tmp_path / f"trial{i}", {"diffusion_steps": 3 + i, "callbacks": object})
        for i in range(2)
    ]
    for trial in trials:
        callback.on_trial_start(0, trials, trial)
    for step in (100, 200):
        for i, trial in enumerate(trials):
            result = {"env": {"steps": step, "episode_return_last100": 10.0 * i + step},
                      "losses": {"critic": float("nan")}, "done": False}  # fmt: skip
            callback.on_trial_result(0, trials, trial, result)
    callback.on_trial_complete(0, trials, trials[0])  # the other is still open at the end
    callback.on_experiment_end(trials)
    assert os.environ.get("WANDB_SERVICE") is None
    for i, trial in enumerate(trials):
        (run_file,) = Path(trial.local_path).glob("wandb/offline-run-*/run-*.wandb")
        record = run_file.read_bytes()
        for needle in (b"env/episode_return_last100", b"diffusion_steps", b"unit-group",
                       b"edge_rl_test", f"ADSAC_t{i}".encode()):  # fmt: skip
            assert needle in record, (i, needle)
        assert b"losses/critic" not in record  # NaN figures are left out, as in TensorBoard
    assert wandb.run is None


def test_trial_wandb_files_go_straight_to_local_storage_and_through_staging_otherwise(
    tmp_path: Path,
) -> None:
    """On a local (or mounted) storage the runs are written in the trial's own folder, where no
    later upload can leave them half-written; a remote storage gets them through the driver's
    staging folder, which Tune uploads."""
    from types import SimpleNamespace

    import pyarrow.fs

    from edge_rl.training.trial_logging import trial_wandb_dir

    trial = _FakeTrial("t0", tmp_path / "staging", {})
    trial.path = str(tmp_path / "storage" / "t0")
    trial.storage = SimpleNamespace(storage_filesystem=pyarrow.fs.LocalFileSystem())
    assert trial_wandb_dir(trial) == tmp_path / "storage" / "t0"
    trial.storage = SimpleNamespace(storage_filesystem=object())  # e.g. S3FileSystem
    assert trial_wandb_dir(trial) == tmp_path / "staging"


def test_wandb_trials_callback_survives_a_run_that_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tracking must not end a sweep: a trial whose run cannot start is reported and skipped."""
    from edge_rl.training import trial_logging
    from edge_rl.training.trial_logging import WandbTrialsCallback

    attempts: list[object] = []

    def broken(**kwargs: object) -> None:
        attempts.append(kwargs)
        raise RuntimeError("wandb: network unreachable")

    monkeypatch.setattr(trial_logging, "start_wandb_run", broken)
    callback = WandbTrialsCallback(project="p", group="g", tags=[])
    trial = _FakeTrial("t0", tmp_path, {})
    callback.on_trial_start(0, [trial], trial)
    callback.on_trial_result(0, [trial], trial, {"env": {"steps": 1}})
    callback.on_trial_complete(0, [trial], trial)
    callback.on_experiment_end([trial])
    assert "could not start a run for trial ADSAC_t0" in capsys.readouterr().out
    assert len(attempts) == 1  # not tried again on every result
