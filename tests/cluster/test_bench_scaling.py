"""Smoke test of scripts/bench_scaling.py: a tiny run in the test session's Ray, JSON and plot."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_scaling.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("bench_scaling", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scaling"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_rates_efficiency_json_and_plot(ray_session, tmp_path: Path) -> None:
    bench = _load_script()
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    results = bench.main(["--quick", "--json", str(out), "--plot", str(png)])
    data = json.loads(out.read_text())
    assert data["sampling"].keys() == data["training"].keys() == {"1"}
    assert data["sampling"]["1"]["env_steps_per_s"] > 0
    assert data["sampling"]["1"]["learner_updates_per_s"] == 0  # learning off
    assert data["training"]["1"]["learner_updates_per_s"] > 0
    assert data["training"]["1"]["scaling_efficiency"] == 1.0  # relative to itself
    assert png.stat().st_size > 1000 and results["environment"]["cpus"] == 2


def test_efficiency_is_relative_to_the_smallest_count() -> None:
    bench = _load_script()
    eff = bench.efficiency({1: 100.0, 2: 180.0, 4: 200.0})
    assert eff == {1: 1.0, 2: 0.9, 4: 0.5}
    assert all(math.isnan(v) for v in bench.efficiency({1: 0.0, 2: 5.0}).values())
