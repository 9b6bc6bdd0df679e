"""Smoke test of the load-balancing benchmark script with a tiny budget (no Park checkout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_load_balance_env.py"


def test_run_benchmark_without_reference():
    sys.path.insert(0, str(SCRIPT.parent))
    from bench_load_balance_env import run_benchmark

    results = run_benchmark(None, 0.05, num_envs=8)
    assert results["num_envs"] == 8
    assert results["scalar_steps_per_s"] > 0 and results["vector_steps_per_s"] > 0
    assert "park_steps_per_s" not in results


def test_script_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, str(SCRIPT), "--seconds", "0.05", "--num-envs", "4", "--json", str(out)]
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=120)
    assert json.loads(out.read_text())["num_envs"] == 4


def test_missing_reference_tree_is_a_clear_error(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    from bench_load_balance_env import load_park

    if "park.envs.load_balance.load_balance" in sys.modules:
        pytest.skip("Park already imported in this process")
    with pytest.raises(FileNotFoundError, match="is not a Park work tree: missing"):
        load_park(str(tmp_path))
