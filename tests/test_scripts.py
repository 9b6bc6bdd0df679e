"""Subprocess smoke tests of the scripts under scripts/ with tiny budgets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_envs_prints_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_envs.py"), "--seconds", "0.1",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["aigc"]["vector_steps_per_s"] > data["aigc"]["scalar_steps_per_s"] > 0
    assert data["load_balance"]["vector_steps_per_s"] > 0
    assert "aigc/scalar_steps_per_s" in proc.stdout
