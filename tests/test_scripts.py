"""Subprocess smoke tests of the scripts under scripts/ with tiny budgets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _assert_script_rejects(script: str, argv: list[str], message: str) -> None:
    """``scripts/SCRIPT argv`` exits with 2 and ``message`` on stderr, without a traceback."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *argv],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


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


def test_bench_meta_dreamer_times_each_phase_and_fewer_starts(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_meta_dreamer.py"), "--model-size", "debug",
         "--batch-size-B", "4", "--batch-length-T", "8", "--horizon", "3", "--updates", "2",
         "--starts", "0", "8", "100", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    runs = data["by_starts"]
    assert [runs[k]["imagined_starts"] for k in ("0", "8", "100")] == [32, 8, 32]
    for figures in runs.values():
        phases = sum(v for k, v in figures.items() if k.startswith("ms_") and k != "ms_per_update")
        assert figures["ms_per_update"] == pytest.approx(phases)
        assert figures["learner_env_steps_per_s"] == pytest.approx(
            4 * 8 / 32 * figures["updates_per_s"]
        )
    assert "ms_per_update" in proc.stdout and "imagine_starts=8" in proc.stdout
    _assert_script_rejects("bench_meta_dreamer.py", ["--starts", "-1"], "each must be >= 0")
    _assert_script_rejects("bench_meta_dreamer.py", ["--updates", "0"], "--updates 0: must be")


def test_bench_meta_dreamer_compile_times_the_compiled_update(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_meta_dreamer.py"), "--model-size", "debug",
         "--batch-size-B", "2", "--batch-length-T", "4", "--horizon", "2", "--updates", "2",
         "--starts", "4", "--compile", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(out.read_text())["by_starts"]["4"]
    assert figures["compiled_first_update_s"] > 0
    assert figures["compiled_updates_per_s"] == pytest.approx(
        1000 / figures["compiled_ms_per_update"]
    )
    assert figures["compiled_speedup"] == pytest.approx(
        figures["ms_per_update"] / figures["compiled_ms_per_update"]
    )
    assert "compiled_ms_per_update" in proc.stdout
    assert any((tmp_path / "inductor").iterdir())  # the cache went where it was told


def _fake_run(path: Path, algo: str, returns: list[float]) -> None:
    path.mkdir(parents=True)
    (path / "run.json").write_text(json.dumps({"spec": {"algo": algo}, "config": {}}))
    lines = ["env/steps,env/episode_return_mean,perf/elapsed_s"]
    lines += [f"{(i + 1) * 100},{r},{(i + 1) * 6}" for i, r in enumerate(returns)]
    (path / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_plot_learning_curves_groups_runs_by_algorithm(tmp_path: Path) -> None:
    _fake_run(tmp_path / "a0", "adsac", [1.0, 5.0, 9.0])
    _fake_run(tmp_path / "a1", "adsac", [2.0, 4.0, 7.0])
    _fake_run(tmp_path / "d0", "d2sac", [0.0, 1.0, 2.0])
    png, table = tmp_path / "c.png", tmp_path / "c.csv"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "plot_learning_curves.py"),
         *(str(tmp_path / d) for d in ("a0", "a1", "d0")), "--png", str(png), "--csv", str(table)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:4] == b"\x89PNG"
    rows = table.read_text().splitlines()
    assert rows[0].startswith("group,run,final_return") and len(rows) == 4
    finals = {r.split(",")[1].rsplit("/", 1)[-1]: float(r.split(",")[2]) for r in rows[1:]}
    assert finals == {"a0": 9.0, "a1": 7.0, "d0": 2.0}


def test_lb_heuristic_grid_covers_the_standard_heuristics(tmp_path: Path) -> None:
    from edge_rl.baselines.load_balance import (
        LeastObservedLoadPolicy,
        ShortestExpectedDelayPolicy,
        ShortestProcessingTimePolicy,
    )
    from edge_rl.evaluation.runner import make_env, run_episode

    out = tmp_path / "grid.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lb_heuristic_grid.py"), "--seeds", "3", "4",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    grid = {(r["a"], r["b"], r["p"]): r for r in json.loads(out.read_text())["grid"]}
    assert len(grid) == 91
    env = make_env("load-balance", "park")
    for point, policy in [
        ((1.0, 0.0, 0.0), LeastObservedLoadPolicy()),
        ((1.0, 1.0, 1.0), ShortestExpectedDelayPolicy()),
        ((0.0, 0.0, 1.0), ShortestProcessingTimePolicy()),
    ]:
        expected = sum(run_episode(env, policy, s)["mean_jct"] for s in (3, 4)) / 2
        assert abs(grid[point]["mean_jct"] - expected) < 1e-9, (point, policy.name)
    assert grid[(1.0, 0.0, 0.0)]["paired_vs_lol"]["mean"] == 0.0
    assert "significantly better than least-observed-load:" in proc.stdout


def test_lb_heuristic_grid_rejects_a_bad_preset() -> None:
    _assert_script_rejects(
        "lb_heuristic_grid.py", ["--preset", "nope", "--seeds", "0"], "unknown preset 'nope'"
    )


def test_lb_size_interval_reduces_to_its_inner_rule_without_a_cutoff(tmp_path: Path) -> None:
    out = tmp_path / "si.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lb_size_interval.py"), "--presets", "debug",
         "--seeds", "0", "1", "--shares", "0.3333", "--factors", "1", "1e9", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["presets"]["debug"]["size-interval"]
    assert len(rows) == 4
    by_key = {(r["cutoff_factor"], r["inner"]): r for r in rows}
    never_sed = by_key[(1e9, "shortest-expected-delay")]["vs_shortest_expected_delay"]
    never_lol = by_key[(1e9, "least-observed-load")]["vs_least_observed_load"]
    assert never_sed["mean"] == 0.0 and never_lol["mean"] == 0.0
    assert by_key[(1.0, "least-observed-load")]["vs_least_observed_load"]["mean"] != 0.0
    assert "debug: least-observed-load" in proc.stdout


def test_lb_size_interval_rejects_bad_input() -> None:
    for bad, message in [
        (["--presets", "nope"], "unknown preset(s) ['nope']"),
        (["--shares", "1.5"], "--shares [1.5]: each must be in (0, 1)"),
    ]:
        _assert_script_rejects("lb_size_interval.py", ["--seeds", "0", *bad], message)


def _evaluate_report(path: Path, preset: str, *policies: str) -> dict:
    from edge_rl.cli import main as cli_main

    argv = ["evaluate", "--env", "load-balance", "--preset", preset, "--seeds", "0", "1", "2",
            "--policy", *policies, "--json", str(path)]  # fmt: skip
    assert cli_main(argv) == 0
    return json.loads(path.read_text())


def _compare(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compare_reports.py"), *map(str, args)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_compare_reports_joins_episodes_and_checks_they_match(tmp_path: Path) -> None:
    a = _evaluate_report(tmp_path / "a.json", "debug", "least-observed-load", "random")
    _evaluate_report(tmp_path / "b.json", "debug", "least-observed-load", "size-interval")
    _evaluate_report(tmp_path / "c.json", "debug", "random", "size-interval")
    ra, rb, rc = (tmp_path / f"{x}.json" for x in "abc")
    out = tmp_path / "joined.json"
    proc = _compare(ra, rb, "--paired-against", "random", "--json", out)
    assert proc.returncode == 0, proc.stderr
    joined = json.loads(out.read_text())
    assert joined["policies"] == ["least-observed-load", "random", "size-interval"]
    assert len(joined["episodes"]) == 9  # the shared least-observed-load episodes once
    jct = {(e["policy"], e["seed"]): e["mean_jct"] for e in joined["episodes"]}
    diff = joined["paired"]["differences"]["size-interval"]["mean_jct"]["mean"]
    expected = sum(jct["size-interval", s] - jct["random", s] for s in (0, 1, 2)) / 3
    assert abs(diff - expected) < 1e-9
    assert a["summary"]["random"]["mean_jct"] == joined["summary"]["random"]["mean_jct"]
    assert "paired differences to random" in proc.stdout

    # different episodes for the same policy (other seeds' values) are refused
    c = json.loads(rc.read_text())
    for ep in c["episodes"]:
        ep["mean_jct"] += 1.0
    rc.write_text(json.dumps(c))
    _evaluate_report(tmp_path / "other.json", "park", "random")
    for bad, message in [
        ([ra, rc], "'random' scored differently on seed 0"),
        ([ra, tmp_path / "other.json"], "but"),
        ([tmp_path / "missing.json"], "no such report"),
        ([ra, "--rename", "3:random=r"], "K must be 1 to 1"),
        ([ra, "--rename", "random=r"], "expected K:OLD=NEW"),
        ([ra, "--rename", "1:dqn=r"], "has no policy 'dqn'"),
        ([ra, rb, "--average", "avg=random"], "two or more policies"),
        ([ra, rb, "--average", "avg=random,dqn"], "no policy 'dqn'"),
        ([ra, rb, "--average", "random=random,size-interval"], "'random' is already a policy"),
        (
            [ra, rb, "--average", "v=random,size-interval", "v=random,size-interval"],
            "'v' is already",
        ),
    ]:
        proc = _compare(*bad, "--paired-against", "random")
        assert proc.returncode == 2, bad
        assert message in proc.stderr and "Traceback" not in proc.stderr

    # renamed, the changed episodes are another policy, compared with the original
    proc = _compare(ra, rc, "--rename", "2:random=random-2", "--paired-against", "random",
                    "--json", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    diffs = json.loads(out.read_text())["paired"]["differences"]
    assert abs(diffs["random-2"]["mean_jct"]["mean"] - 1.0) < 1e-9

    # an averaged policy: per seed, the mean of its members
    proc = _compare(ra, rb, "--average", "avg=random,size-interval", "--paired-against", "random",
                    "--json", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    avg = {e["seed"]: e["mean_jct"] for e in json.loads(out.read_text())["episodes"]
           if e["policy"] == "avg"}  # fmt: skip
    assert avg == pytest.approx({s: (jct["random", s] + jct["size-interval", s]) / 2
                                 for s in (0, 1, 2)})  # fmt: skip

    # two averaged agents compared over their "runs": each run's mean over the shared seeds
    groups = ("x=random,size-interval", "y=least-observed-load,random")
    proc = _compare(ra, rb, "--average", *groups, "--paired-against", "random",
                    "--run-level", "x", "y", "--json", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (runs,) = json.loads(out.read_text())["run_level"]
    mean = {p: sum(jct[p, s] for s in (0, 1, 2)) / 3 for p in ("random", "size-interval")}
    mean["least-observed-load"] = sum(e["mean_jct"] for e in a["episodes"]
                                      if e["policy"] == "least-observed-load") / 3  # fmt: skip
    assert runs["runs"]["x"] == pytest.approx({p: mean[p] for p in ("random", "size-interval")})
    assert runs["episodes"] == 3 and runs["metric"] == "mean_jct"
    expected = (mean["size-interval"] - mean["least-observed-load"]) / 2
    assert runs["difference"]["mean"] == pytest.approx(expected)
    assert "run level (mean_jct, mean over 3 shared episodes)" in proc.stdout
    for bad in (["x", "z"], ["x", "x"]):
        proc = _compare(ra, rb, "--average", *groups, "--paired-against", "random",
                        "--run-level", *bad)  # fmt: skip
        assert proc.returncode == 2 and "name two different --average agents" in proc.stderr

    # several pairs in one call: one file holds every pair, in the order given, and a pair's
    # result does not depend on the other pairs given with it
    groups += ("w=size-interval,least-observed-load",)
    proc = _compare(ra, rb, "--average", *groups, "--paired-against", "random",
                    "--run-level", "x", "y", "--run-level", "w", "x", "--json", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    both = json.loads(out.read_text())["run_level"]
    assert [r["difference"]["of"] for r in both] == ["x - y", "w - x"]
    assert both[0] == runs
    expected = (mean["least-observed-load"] - mean["random"]) / 2
    assert both[1]["difference"]["mean"] == pytest.approx(expected)
    assert proc.stdout.count("run level (mean_jct") == 2
    proc = _compare(ra, rb, "--average", *groups, "--paired-against", "random",
                    "--run-level", "x", "y", "--run-level", "x", "y")  # fmt: skip
    assert proc.returncode == 2 and "this pair is given twice" in proc.stderr

    # --summary-only: the same file without the episodes, which cannot be joined again
    slim = tmp_path / "slim.json"
    proc = _compare(ra, rb, "--average", *groups, "--paired-against", "random",
                    "--run-level", "x", "y", "--run-level", "w", "x", "--json", slim,
                    "--summary-only")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    full, summary = json.loads(out.read_text()), json.loads(slim.read_text())
    assert "episodes" not in summary and summary.pop("summary_only") is True
    del full["episodes"]
    assert summary == full
    proc = _compare(slim, ra, "--paired-against", "random")
    assert proc.returncode == 2 and "written with --summary-only" in proc.stderr
    assert "joined_from" in proc.stderr
    proc = _compare(ra, "--paired-against", "random", "--summary-only")
    assert proc.returncode == 2 and "give --json PATH" in proc.stderr


def test_meta_rl_study_compares_agents_over_training_runs(tmp_path: Path) -> None:
    """`scripts/meta_rl_study.sh compare` finds each agent's runs of TRAIN_SEEDS and compares
    them over runs; the policies in standard.json are named as `edge-rl evaluate` names them."""
    runs, out = tmp_path / "runs", tmp_path / "out"
    for run in ("meta-dreamer", "meta-dreamer-s3", "a2c", "a2c-s3", "rl2-ppo"):
        (runs / run).mkdir(parents=True)
    out.mkdir()
    # heuristics stand in for the runs' checkpoints (real, differing episodes)
    stand_in = {
        "random": "meta-dreamer:meta-dreamer",
        "size-interval": "meta-dreamer:meta-dreamer-s3",
        "shortest-expected-delay": "a2c:a2c",
        "power-of-two-choices": "a2c:a2c-s3",
        "round-robin": "rl2-ppo:rl2-ppo",
        "shortest-processing-time": "rl2-ppo:rl2-ppo-s3",
    }
    report = _evaluate_report(out / "h.json", "debug", "least-observed-load", *stand_in)
    for ep in report["episodes"]:
        ep["policy"] = stand_in.get(ep["policy"], ep["policy"])
    (out / "standard.json").write_text(json.dumps(report))
    env = {**os.environ, "RUNS": str(runs), "OUT": str(out), "TRAIN_SEEDS": "0 3",
           "ALGOS": "meta-dreamer rl2-ppo a2c",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    script = str(ROOT / "scripts" / "meta_rl_study.sh")
    proc = subprocess.run(["bash", script, "compare"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "runs.json").read_text())
    (level,) = result["run_level"]
    assert set(level["runs"]) == {"meta-dreamer-runs", "a2c-runs"}  # rl2-ppo has one run
    assert set(level["runs"]["a2c-runs"]) == {"a2c:a2c", "a2c:a2c-s3"}
    jct = {
        p: [e["mean_jct"] for e in report["episodes"] if e["policy"] == p]
        for p in stand_in.values()
    }
    mean = {p: sum(v) / len(v) for p, v in jct.items()}
    expected = (mean["meta-dreamer:meta-dreamer"] + mean["meta-dreamer:meta-dreamer-s3"]
                - mean["a2c:a2c"] - mean["a2c:a2c-s3"]) / 2  # fmt: skip
    assert level["difference"]["mean"] == pytest.approx(expected)
    assert "run level (mean_jct" in proc.stdout

    # with a second rl2-ppo run, meta-dreamer meets each other agent: one entry per pair
    (runs / "rl2-ppo-s3").mkdir()
    proc = subprocess.run(["bash", script, "compare"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    levels = json.loads((out / "runs.json").read_text())["run_level"]
    assert [r["difference"]["of"] for r in levels] == [
        "meta-dreamer-runs - rl2-ppo-runs",
        "meta-dreamer-runs - a2c-runs",
    ]
    assert levels[1] == level

    proc = subprocess.run(["bash", script, "nope"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2 and "unknown stage 'nope'" in proc.stderr


STAND_IN_TRAINER = """#!/usr/bin/env bash
# stands in for edge-rl: logs when each training starts and ends, fails for a2c seed 3
out=""; prev=""
for a in "$@"; do [[ $prev == --output ]] && out=$a; prev=$a; done
echo "start $(date +%s.%N) $out $OMP_NUM_THREADS" >> "$STAND_IN_LOG"
sleep 0.5
echo "end $(date +%s.%N) $out" >> "$STAND_IN_LOG"
[[ $out == *a2c-s3 ]] && exit 3
mkdir -p "$out" && echo {} > "$out/run.json"
"""


def test_meta_rl_study_trains_jobs_runs_at_once_seed_by_seed(tmp_path: Path) -> None:
    """JOBS=2: never more than two trainings at once, the agents of a seed side by side, one
    thread each, and a failed run named in the error and the exit status."""
    trainer, log, runs = tmp_path / "edge-rl", tmp_path / "trainings.log", tmp_path / "runs"
    trainer.write_text(STAND_IN_TRAINER)
    trainer.chmod(0o755)
    env = {**os.environ, "EDGE_RL": str(trainer), "STAND_IN_LOG": str(log), "RUNS": str(runs),
           "OUT": str(tmp_path / "out"), "TRAIN_SEEDS": "0 3 4", "ALGOS": "meta-dreamer a2c",
           "JOBS": "2"}  # fmt: skip
    env.pop("OMP_NUM_THREADS", None)
    script = str(ROOT / "scripts" / "meta_rl_study.sh")
    proc = subprocess.run(["bash", script, "train"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert f"training failed: a2c seed 3 ({runs / 'a2c-s3'}.log)" in proc.stderr
    events = [line.split() for line in log.read_text().splitlines()]
    starts = [(float(e[1]), Path(e[2]).name) for e in events if e[0] == "start"]
    ends = {Path(e[2]).name: float(e[1]) for e in events if e[0] == "end"}
    names = [name for _, name in sorted(starts)]
    assert {tuple(sorted(names[i : i + 2])) for i in (0, 2, 4)} == {
        ("a2c", "meta-dreamer"), ("a2c-s3", "meta-dreamer-s3"), ("a2c-s4", "meta-dreamer-s4")
    }  # fmt: skip
    assert all(e[3] == "1" for e in events if e[0] == "start")  # OMP_NUM_THREADS=1
    at_once = [sum(s <= t < ends[n] for s, n in starts) for t, _ in starts]
    assert max(at_once) == 2
    assert sorted(p.name for p in runs.iterdir() if p.is_dir()) == [
        "a2c", "a2c-s4", "meta-dreamer", "meta-dreamer-s3", "meta-dreamer-s4"
    ]  # fmt: skip

    proc = subprocess.run(["bash", script, "train"], env={**env, "JOBS": "0"},
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2 and "JOBS=0: give a whole number" in proc.stderr


def test_meta_rl_study_steps_gives_every_agent_the_same_samples(tmp_path: Path) -> None:
    """STEPS=N trains each run to N env steps with no clock; unset, MINUTES is the budget."""
    trainer, log = tmp_path / "edge-rl", tmp_path / "args.log"
    trainer.write_text('#!/usr/bin/env bash\necho "$@" >> "$STAND_IN_LOG"\n'
                       'out=""; prev=""\n'
                       'for a in "$@"; do [[ $prev == --output ]] && out=$a; prev=$a; done\n'
                       'mkdir -p "$out" && echo {} > "$out/run.json"\n')  # fmt: skip
    trainer.chmod(0o755)
    script = str(ROOT / "scripts" / "meta_rl_study.sh")

    def train(runs: str, **knobs: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "EDGE_RL": str(trainer), "STAND_IN_LOG": str(log),
               "RUNS": str(tmp_path / runs), "OUT": str(tmp_path / "out"),
               "ALGOS": "meta-dreamer a2c", **knobs}  # fmt: skip
        return subprocess.run(["bash", script, "train"], env=env, capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip

    assert train("equal", STEPS="54000", CHECKPOINT_EVERY="2").returncode == 0
    calls = log.read_text().splitlines()
    assert len(calls) == 2
    for call in calls:
        assert "--timesteps 54000 " in call and "--max-minutes" not in call
        assert "--checkpoint-every 2 " in call
    log.unlink()
    assert train("clock", MINUTES="7").returncode == 0
    for call in log.read_text().splitlines():
        assert "--max-minutes 7 --timesteps 100000000 " in call
        assert "--checkpoint-every 20 " in call
    # meta-dreamer gets the README recipe's rates: held, then decayed by env steps
    (md_call,) = [c for c in log.read_text().splitlines() if "--algo meta-dreamer " in c]
    assert "--set world_model_lr=[[0,6e-4],[40000,6e-4],[52000,2.5e-4],[64000,1e-4]] " in md_call
    assert "--set critic_lr=[[0,3e-4],[40000,3e-4],[52000,1e-4],[64000,3e-5]] " in md_call
    bad = (({"STEPS": "54k"}, "STEPS=54k: give a whole number"),
           ({"CHECKPOINT_EVERY": "0"}, "CHECKPOINT_EVERY=0: give a whole"))  # fmt: skip
    for knobs, message in bad:
        proc = train("bad", **knobs)
        assert proc.returncode == 2 and message in proc.stderr


def _eval_checkpoints_module():
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "scripts" / "eval_checkpoints.py"
    spec = importlib.util.spec_from_file_location("eval_checkpoints", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eval_checkpoints_places_final_at_the_iteration_it_was_saved(tmp_path: Path) -> None:
    checkpoints_of = _eval_checkpoints_module().checkpoints_of
    run = tmp_path / "run"
    for name in ("iter_000010", "iter_000020", "iter_000030", "final"):
        (run / "checkpoints" / name).mkdir(parents=True)
    rows = "train/iteration,env/steps\n" + "".join(f"{i},{i * 256}\n" for i in range(1, 34))
    (run / "metrics.csv").write_text(rows)
    # a stale final/ (the run was resumed and is still training, or was killed): iteration 15
    (run / "checkpoints" / "final" / "progress.json").write_text('{"iteration": 15}\n')
    got = [(i, p.name) for i, p in checkpoints_of(run)]
    assert got == [(10, "iter_000010"), (15, "final"), (20, "iter_000020"), (30, "iter_000030")]
    # final/ saved with the last periodic checkpoint comes after it
    (run / "checkpoints" / "final" / "progress.json").write_text('{"iteration": 30}\n')
    assert [p.name for _, p in checkpoints_of(run)][-2:] == ["iter_000030", "final"]
    # a final/ without a progress file (older versions): the last iteration in metrics.csv
    (run / "checkpoints" / "final" / "progress.json").unlink()
    assert checkpoints_of(run)[-1] == (33, run / "checkpoints" / "final")

    # a sample budget below the first checkpoint (iteration 10, 2,560 env steps) leaves nothing
    (run / "run.json").write_text(json.dumps({"spec": {"env": "load-balance-trials"}}))
    with pytest.raises(ValueError, match="and at 2,000 env steps or fewer"):
        _eval_checkpoints_module().evaluate_run(run, [0], "mean_jct", max_env_steps=2000)


def _curve(algo: str, run: str, act_by: str, returns: list[float]) -> dict:
    points = [
        {"checkpoint": f"iter_{i:06d}", "iteration": i, "env_steps": 256 * i, "minutes": i / 10,
         "return": {"mean": r, "low": r - 5, "high": r + 5}}
        for i, r in enumerate(returns, start=1)
    ]  # fmt: skip
    return {"algo": algo, "run": run, "act_by": act_by, "points": points, "best": "iter_000001"}


def test_eval_checkpoints_joins_curve_files_and_plots_them(tmp_path: Path) -> None:
    module = _eval_checkpoints_module()
    first = tmp_path / "a.json"
    first.write_text(json.dumps({"seeds": [0, 1], "curves": [
        _curve("adsac", "runs/adsac-s0", "mean-probs:32", [1800.0, 1900.0]),
        _curve("adsac", "runs/adsac-s1", "mean-probs:32", [1810.0, 1890.0])]}))  # fmt: skip
    second = tmp_path / "b.json"
    second.write_text(json.dumps({"seeds": [0, 1], "curves": [
        _curve("ppo", "runs/ppo-s0", "argmax", [1950.0])]}))  # fmt: skip
    joined, png = tmp_path / "joined.json", tmp_path / "joined.png"
    rc = module.main(["--from-json", str(first), str(second), "--json", str(joined), "--png",
                      str(png), "--x", "env_steps", "--reference", "prophet=1980"])  # fmt: skip
    assert rc == 0 and png.stat().st_size > 0
    data = json.loads(joined.read_text())
    assert data["seeds"] == [0, 1]
    assert [c["run"] for c in data["curves"]] == ["runs/adsac-s0", "runs/adsac-s1", "runs/ppo-s0"]

    other = tmp_path / "c.json"
    dqn = _curve("dqn", "runs/dqn-s0", "argmax", [1.0])
    other.write_text(json.dumps({"seeds": [0, 1, 2], "curves": [dqn]}))
    with pytest.raises(ValueError, match="curves on different seeds are not comparable"):
        module.join_curve_files([first, other])
    with pytest.raises(ValueError, match="no such file"):
        module.join_curve_files([first, tmp_path / "missing.json"])
    assert module.main(["--from-json", str(first), str(other)]) == 2
    with pytest.raises(SystemExit):
        module.main(["--from-json", str(first), "--reference", "prophet"])


def test_eval_checkpoints_picks_the_best_within_a_sample_budget(tmp_path: Path) -> None:
    module = _eval_checkpoints_module()
    curve = _curve("a2c", "runs/a2c-s0", "argmax", [100.0, 300.0, 200.0, 900.0])
    cut = module.cut_at_budget(curve, 3 * 256, "return")  # the first three points
    assert [p["iteration"] for p in cut["points"]] == [1, 2, 3]
    assert cut["best"] == "iter_000002" and cut["max_env_steps"] == 768
    assert module.cut_at_budget(curve, 1e9, "return")["best"] == "iter_000004"
    jct = {**curve, "points": [{**p, "mean_jct": p["return"]} for p in curve["points"]]}
    assert module.cut_at_budget(jct, 3 * 256, "mean_jct")["best"] == "iter_000001"
    with pytest.raises(ValueError, match="no checkpoint at 100 env steps or fewer"):
        module.cut_at_budget(curve, 100, "return")

    stored, cut_json = tmp_path / "a.json", tmp_path / "cut.json"
    stored.write_text(json.dumps({"seeds": [0], "curves": [curve]}))
    png = tmp_path / "cut.png"
    argv = ["--from-json", str(stored), "--max-env-steps", "600", "--json", str(cut_json),
            "--png", str(png), "--x", "env_steps", "--log-x", "--legend-by-algo"]  # fmt: skip
    assert module.main(argv) == 0 and png.stat().st_size > 0
    written = json.loads(cut_json.read_text())["curves"][0]
    assert written["best"] == "iter_000002" and len(written["points"]) == 2
    assert module.main(["--from-json", str(stored), "--max-env-steps", "10"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--from-json", str(stored), "--max-env-steps", "0"])
    assert exit_info.value.code == 2


def test_eval_checkpoints_every_kth_checkpoint_keeps_final(tmp_path: Path) -> None:
    thin = _eval_checkpoints_module().thin_checkpoints
    found = [(i * 10, tmp_path / f"iter_{i * 10:06d}") for i in range(1, 8)]
    found.append((75, tmp_path / "final"))
    names = [p.name for _, p in thin(found, 3)]
    assert names == ["iter_000010", "iter_000040", "iter_000070", "final"]
    assert thin(found, 1) == found
    with pytest.raises(SystemExit) as exit_info:
        _eval_checkpoints_module().main([str(tmp_path), "--every", "0"])
    assert exit_info.value.code == 2


def test_aigc_crash_anatomy_files_every_crash_under_its_cause(tmp_path: Path) -> None:
    from edge_rl.baselines.aigc import AIGC_POLICIES
    from edge_rl.evaluation.runner import make_env, run_episode

    out = tmp_path / "anatomy.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "aigc_crash_anatomy.py"), "--policy", "prophet",
         "crash-avoid", "random", "--seeds", "0", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    env = make_env("aigc", "adsac-paper", 0)
    for name in ("prophet", "crash-avoid", "random"):
        for row in report["episodes"][name]:  # the same episodes as `edge-rl evaluate` plays
            summary = run_episode(env, AIGC_POLICIES[name](seed=row["seed"]), row["seed"])
            assert row["return"] == summary["return"]
            assert row["crash_events"] == summary["crash_events"]
            assert row["avoidable"] + row["fragmented"] + row["overloaded"] == row["crash_events"]
            assert row["utility"] == summary["utility"]
            assert row["crash_penalty"] == pytest.approx(summary["utility"] - summary["return"])
            assert (row["crash_penalty"] > 0) == (row["crash_events"] > 0)
    # Prophet and Crash-Avoid only crash when no server has room; random picks crash needlessly
    assert all(r["avoidable"] == 0 for n in ("prophet", "crash-avoid")
               for r in report["episodes"][n])  # fmt: skip
    assert all(r["avoidable"] > 0 for r in report["episodes"]["random"])
    assert report["paired_against"] == "prophet"
    avoid, prophet = report["episodes"]["crash-avoid"], report["episodes"]["prophet"]
    diffs = [a["crash_events"] - b["crash_events"] for a, b in zip(avoid, prophet, strict=True)]
    paired = report["summary"]["crash-avoid"]["crash_events_vs_prophet"]
    assert paired["mean"] == pytest.approx(sum(diffs) / 2)
    assert "paired against prophet over 2 seeds" in proc.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--policy", "nope"], "unknown policy 'nope' for --env aigc; choose one of:"),
        (["--policy", "prophet-keep-open:reserve=-1"], "reserve=-1: must be >= 0"),
        (["--checkpoint", "/nonexistent/run"], "is not an edge-rl checkpoint"),
        (["--policy", "prophet", "--paired-against", "random"], "--paired-against random"),
        (["--policy", "prophet", "--seeds", "-1"], "bad seed(s) [-1]"),
        (["--policy", "prophet", "--set", "nope=1"], "unknown AIGC env setting(s) ['nope']"),
        (["--policy", "prophet", "--set", "crash_penalty"], "expected key=value"),
    ],
)
def test_aigc_crash_anatomy_rejects_bad_input(argv: list[str], message: str) -> None:
    _assert_script_rejects("aigc_crash_anatomy.py", argv, message)


def test_aigc_crash_anatomy_set_changes_the_env(tmp_path: Path) -> None:
    """--set reaches the simulator: a costlier crash leaves utility and crashes as they were."""
    reports = {}
    for coef in (2, 6):
        out = tmp_path / f"c{coef}.json"
        proc = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "aigc_crash_anatomy.py"), "--policy",
             "prophet", "--seeds", "0", "--set", f"crash_penalty={coef}", "--json", str(out)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        reports[coef] = json.loads(out.read_text())
        assert reports[coef]["overrides"] == {"crash_penalty": coef}
    cheap, dear = (reports[c]["episodes"]["prophet"][0] for c in (2, 6))
    assert cheap["utility"] == dear["utility"] and cheap["crash_events"] == dear["crash_events"] > 0
    assert dear["crash_penalty"] == pytest.approx(3 * cheap["crash_penalty"])


def test_lb_imitation_probe_copies_least_observed_load(tmp_path: Path) -> None:
    # least-observed-load is an argmin of one observed feature, so the server-scoring net can
    # copy it: a fit that cannot learn (or a student played wrongly) fails these bounds
    out = tmp_path / "probe.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lb_imitation_probe.py"),
         "--teacher", "least-observed-load", "--baselines", "random",
         "--train-seeds", *map(str, range(1000, 1010)), "--holdout-seeds", "2",
         "--epochs", "8", "--batch", "256", "--lr", "3e-3", "--seeds", "20", "21", "22",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    fit = report["imitation"]
    assert fit["decisions"] == 10_000 and fit["agreement_held_out_big_jobs"] is None
    assert fit["agreement_held_out"] > 0.9, fit
    jct = {name: report["summary"][name]["mean_jct"]["mean"] for name in report["policies"]}
    assert set(jct) == {"random", "least-observed-load", "imitation:least-observed-load"}
    assert abs(jct["imitation:least-observed-load"] / jct["least-observed-load"] - 1) < 0.1, jct
    assert jct["random"] > 5 * jct["least-observed-load"]
    assert report["paired"]["baseline"] == "random"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--teacher", "nope"], "unknown policy 'nope'"),
        (["--seeds", "1000"], "train and test seeds overlap"),
        (["--holdout-seeds", "0"], "--holdout-seeds 0: must be between 1 and"),
        (["--big-job-weight", "0"], "--big-job-weight 0.0: must be > 0"),
        (["--train-preset", "mars"], "--train-preset 'mars': unknown preset 'mars'"),
    ],
)
def test_lb_imitation_probe_rejects_bad_input(argv: list[str], message: str) -> None:
    _assert_script_rejects("lb_imitation_probe.py", argv, message)


def test_device_checks_runs_every_step_and_refuses_a_missing_gpu(tmp_path: Path) -> None:
    """`scripts/device_checks.sh` (the GPU figures in one call) as a CPU smoke run: every figure
    file is written; asked for a GPU that is not there, or given a stray argument, it says why."""
    script = str(ROOT / "scripts" / "device_checks.sh")
    env = {**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "QUICK": "1",
           "OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1"}  # fmt: skip
    proc = subprocess.run(["bash", script], env=env, capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    learner = json.loads((tmp_path / "out" / "bench_policy_learner.json").read_text())
    assert set(learner["learner_updates_per_s"]) == {
        "paper-adsac depth0 (D2SAC)", "paper-adsac depth1 width64", "paper-adsac depth1 width256"
    }  # fmt: skip
    for size in ("small", "default"):
        bench = json.loads((tmp_path / "out" / f"bench_meta_dreamer_{size}.json").read_text())
        assert bench["setup"]["model_size"] == size and bench["setup"]["device"] == "cpu"
        assert bench["by_starts"]["256"]["updates_per_s"] > 0
    assert "torch" in (tmp_path / "out" / "env.txt").read_text()

    import torch

    if not torch.cuda.is_available():
        proc = subprocess.run(["bash", script], env={**env, "DEVICE": "cuda"},
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert proc.returncode == 2 and "torch sees no GPU" in proc.stderr
    proc = subprocess.run(["bash", script, "--wheels"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2 and "usage:" in proc.stderr


def test_lb_job_size_anatomy_splits_each_policy_s_jct(tmp_path: Path) -> None:
    out = tmp_path / "anatomy.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lb_job_size_anatomy.py"), "--seeds", "20",
         "--policy", "least-observed-load", "size-interval", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["cutoff"] == pytest.approx(900.0) and report["fastest"] == 2
    sita = report["summary"]["size-interval"]
    assert sita["large_on_fastest"]["mean"] == 1.0
    (episode,) = report["episodes"]["least-observed-load"]
    assert episode["seed"] == 20
    assert episode["large_part"] + episode["small_part"] == pytest.approx(episode["mean_jct"])
    assert "large = size > 900" in proc.stdout and "size-interval" in proc.stdout
    assert re.search(r"small: wait +small: wait behind large", proc.stdout)  # both columns


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--policy", "nope"], "unknown policy 'nope' for --env load-balance"),
        (["--checkpoint", "/nonexistent/run"], "is not an edge-rl checkpoint"),
        (["--cutoff", "-5"], "--cutoff -5.0: must be a job size >= 0"),
        (["--seeds", "-1"], "bad seed(s) [-1]"),
    ],
)
def test_lb_job_size_anatomy_rejects_bad_input(argv: list[str], message: str) -> None:
    _assert_script_rejects("lb_job_size_anatomy.py", argv, message)
