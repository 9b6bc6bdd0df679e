"""Smoke tests of the AIGC benchmark script with tiny budgets (no reference checkout needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_aigc_env.py"


def _import_script():
    sys.path.insert(0, str(SCRIPT.parent))
    import bench_aigc_env

    return bench_aigc_env


def test_run_benchmark_without_reference():
    results = _import_script().run_benchmark(None, 0.2, num_envs=8, rounds=1)
    assert results["num_envs"] == 8
    for key in ("scalar", "vector", "scalar_regions", "vector_regions"):
        assert results[f"{key}_steps_per_s"] > 0
    assert "reference_steps_per_s" not in results and "scalar_goal_met" not in results


def test_returns_mode_without_reference_lists_edge_rl_figures():
    rows = _import_script().compare_returns(None, None, [(0, 0)], ("crash-avoid",))
    assert [r["preset"] for r in rows] == ["adsac-paper", "agod-paper"]
    assert round(rows[0]["edge_rl"]["return"], 1) == 1113.7 and "reference" not in rows[0]


def test_script_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, str(SCRIPT), "--seconds", "0.1", "--rounds", "1", "--num-envs", "4"]
    subprocess.run(
        [*cmd, "--json", str(out)], check=True, env=env, capture_output=True, timeout=120
    )
    assert json.loads(out.read_text())["num_envs"] == 4


def test_missing_reference_tree_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not an ADSAC/AGOD work tree: missing"):
        _import_script().load_reference(str(tmp_path), name="missing")
