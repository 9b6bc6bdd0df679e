"""scripts/bench_policy.py: a smoke run of the script, and its plain-torch update."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_policy.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_policy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_policy"] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def test_latency_figure_smoke_run_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--quick",
        "--no-compile",
        "--only",
        "actor_latency_ms_batch1",
        "actor_latency_ms_mean_probs",
    ]
    done = subprocess.run(
        cmd + ["--json", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    rows = figures["actor_latency_ms_batch1"]
    assert "paper-adsac depth1 width64" in rows and "paper-adsac depth1 width256" in rows
    assert rows["paper-adsac depth1 width64 masked"]["eager"] > 0
    for row in rows.values():
        assert set(row) == {"straightforward", "eager"} and all(v > 0 for v in row.values())
    (mean_probs,) = figures["actor_latency_ms_mean_probs"].values()
    assert set(mean_probs) == {"K=1", "K=8", "K=32"} and all(v > 0 for v in mean_probs.values())
    assert "learner_updates_per_s" not in figures
    assert "actor_latency_ms_batch1" in done.stdout


def test_straightforward_chain_matches_the_actor():
    bench = _load_bench()
    from edge_rl.models import DiffusionActor, EncoderConfig

    actor = DiffusionActor("paper-adsac", (36,), 40, EncoderConfig(width=16, depth=1)).eval()
    obs = torch.rand(3, 36)
    noise = actor.draw_noise(3, 40, torch.Generator().manual_seed(0))
    with torch.no_grad():
        state, act = actor.encoder(obs)
        expected = actor.denoise(state, act, noise)
        slow = bench.straightforward_logits(actor, obs, bench.schedule_tables(actor), noise)
        torch.testing.assert_close(slow, expected)


def test_plain_torch_update_trains_and_moves_the_targets():
    bench = _load_bench()
    from edge_rl.models import EncoderConfig

    spec = ("paper-adsac", (36,), 40)
    torch.manual_seed(0)
    learner = bench.make_learner(spec, EncoderConfig(width=16, depth=1), "cpu")
    batch = bench.random_batch(spec, 32, 3, "cpu", seed=0)
    before = [p.clone() for p in learner.target_critic.parameters()]
    first = bench.plain_torch_update(learner, batch)
    for _ in range(30):
        last = bench.plain_torch_update(learner, batch)
    assert set(first) == {"losses/critic", "losses/actor"}
    assert last["losses/critic"] < first["losses/critic"]
    after = learner.target_critic.parameters()
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.slow
def test_full_quick_run_with_compile(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert all("compiled" in row for row in figures["actor_latency_ms_batch1"].values())
    assert figures["learner_updates_per_s"]
