"""End-to-end tests of ``edge-rl evaluate`` (in process, and once as a real subprocess)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_rl.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_aigc_reference_numbers_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "r.json"
    code, out, _ = _run(
        capsys, "evaluate", "--env", "aigc", "--preset", "adsac-paper", "--world-seed", "0",
        "--policy", "crash-avoid", "prophet", "--seeds", "0", "--json", str(path),
    )  # fmt: skip
    assert code == 0
    assert "crash-avoid" in out and "prophet" in out
    report = json.loads(path.read_text())
    assert report["env"] == "aigc" and report["preset"] == "adsac-paper"
    eps = {e["policy"]: e for e in report["episodes"]}
    # The reference simulator's numbers (spec: aigc-edge-env.md).
    assert eps["crash-avoid"]["return"] == pytest.approx(1113.7, abs=0.05)
    assert eps["crash-avoid"]["crash_events"] == 9
    assert eps["crash-avoid"]["tasks_killed"] == 37
    assert eps["prophet"]["return"] == pytest.approx(1963.2, abs=0.05)
    assert eps["prophet"]["crash_events"] == 4 and eps["prophet"]["tasks_killed"] == 25
    assert eps["prophet"]["length"] == 1505 and eps["prophet"]["seed"] == 0
    # several policies: summary keyed by policy, then metric
    assert report["summary"]["prophet"]["return"]["mean"] == pytest.approx(1963.2, abs=0.05)
    assert report["summary"]["prophet"]["return"]["n"] == 1


def test_load_balance_summary_ci(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lb.json"
    code, out, _ = _run(
        capsys, "evaluate", "--env", "load-balance", "--preset", "park",
        "--policy", "least-observed-load", "--seeds", "0", "1", "2", "--json", str(path),
    )  # fmt: skip
    assert code == 0 and "least-observed-load" in out
    report = json.loads(path.read_text())
    assert report["policy"] == "least-observed-load"
    by_seed = {e["seed"]: e for e in report["episodes"]}
    assert by_seed[0]["return"] == pytest.approx(-791902)  # Park's value (spec)
    assert by_seed[0]["mean_jct"] == pytest.approx(791.902)
    jcts = [by_seed[s]["mean_jct"] for s in (0, 1, 2)]
    summary = report["summary"]["mean_jct"]
    assert summary["mean"] == pytest.approx(sum(jcts) / 3)
    assert summary["n"] == 3 and summary["low"] < summary["mean"] < summary["high"]


def test_episodes_per_seed_continue_the_seeded_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "k.json"
    code, _, _ = _run(
        capsys, "evaluate", "--env", "load-balance", "--preset", "park", "--policy",
        "shortest-expected-delay", "--seeds", "3", "--episodes-per-seed", "2", "--json", str(path),
    )  # fmt: skip
    assert code == 0
    eps = json.loads(path.read_text())["episodes"]
    assert [(e["seed"], e["episode"]) for e in eps] == [(3, 0), (3, 1)]
    assert eps[0]["return"] != eps[1]["return"]  # the second episode is a new draw


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--env", "aigc", "--preset", "nope", "--policy", "random"], "adsac-paper"),
        (["--env", "aigc", "--preset", "adsac-paper", "--policy", "nope"], "crash-avoid"),
        (["--env", "cloud", "--preset", "park", "--policy", "random"], "load-balance"),
        (["--env", "load-balance", "--preset", "park", "--policy", "prophet"], "round-robin"),
        (
            [
                "--env",
                "load-balance",
                "--preset",
                "park",
                "--policy",
                "random",
                "--world-seed",
                "1",
            ],
            "only to --env aigc",
        ),
        (
            ["--env", "aigc", "--preset", "adsac-paper", "--policy", "random", "--set", "oops"],
            "key=value",
        ),
        (
            ["--env", "aigc", "--preset", "adsac-paper", "--policy", "prophet-keep-open:nope=1"],
            "its settings: reserve (default None), slack (default inf)",
        ),
        (
            ["--env", "load-balance", "--preset", "park", "--policy", "size-interval:inner=x"],
            "inner='x': must be one of",
        ),
        (["--env", "aigc", "--preset", "adsac-paper", "--policy", "prophet", "prophet"], "twice"),
    ],
)
def test_bad_input_gives_one_line_error(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "evaluate", *argv, "--seeds", "0")
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1, err


def test_bad_seed_and_bad_knob(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(
        capsys, "evaluate", "--env", "aigc", "--preset", "adsac-paper", "--policy", "random",
        "--seeds", "-1",
    )  # fmt: skip
    assert code == 2 and "seed" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(
        capsys, "evaluate", "--env", "aigc", "--preset", "adsac-paper", "--policy", "random",
        "--seeds", "0", "--set", "num_servers=0",
    )  # fmt: skip
    assert code == 2 and "num_servers" in err and len(err.strip().splitlines()) == 1


def test_console_script_writes_plot(tmp_path: Path) -> None:
    exe = shutil.which("edge-rl") or str(Path(sys.executable).parent / "edge-rl")
    png = tmp_path / "cmp.png"
    proc = subprocess.run(
        [exe, "evaluate", "--env", "load-balance", "--preset", "park", "--policy", "random",
         "least-work-left", "--seeds", "0", "1", "--plot", str(png)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "least-work-left" in proc.stdout


def test_schedule_evaluation_of_heuristics(tmp_path, capsys):
    report = tmp_path / "s.json"
    code = main(
        [
            "evaluate", "--policy", "shortest-expected-delay", "round-robin",
            "--schedule", "pareto-55:1,uniform-100:1", "--seeds", "0", "1",
            "--set", "jobs_per_episode=30", "--json", str(report),
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "mean JCT per episode" in out and "uniform-100" in out
    data = json.loads(report.read_text())
    sed = data["adaptation"]["shortest-expected-delay"]
    assert [r["episode"] for r in sed] == [0, 1] and all(r["n"] == 2 for r in sed)
    # per-episode records: 2 policies x 2 seeds x 2 episodes
    assert len(data["episodes"]) == 8


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--schedule", "pareto-55"], "pareto-55:3"),
        (["--schedule", "nope:2"], "must be a preset"),
        (["--schedule", "park:1", "--env", "aigc"], "load balancing"),
        (["--schedule", "park:1", "--episodes-per-seed", "2"], "episodes-per-seed"),
    ],
)
def test_bad_schedules_name_the_fix(argv, message, capsys):
    code, _, err = _run(capsys, "evaluate", "--policy", "random", "--seeds", "0", *argv)
    assert code == 2
    assert message in err


def test_paired_differences_by_hand() -> None:
    from edge_rl.evaluation import EpisodeRecord, paired_differences, t_critical
    from edge_rl.evaluation.report import format_paired_table

    base = [10.0, 20.0, 30.0, 40.0]
    records = [EpisodeRecord("sed", s, 0, {"mean_jct": v}) for s, v in enumerate(base)]
    # "a" is below the baseline by 1, 2, 3, 4 (spread between seeds is far larger than that)
    records += [EpisodeRecord("a", s, 0, {"mean_jct": v - s - 1}) for s, v in enumerate(base)]
    # "b" differs by -1, +1, -1, +1: no difference on average
    records += [EpisodeRecord("b", s, 0, {"mean_jct": v + (-1) ** (s + 1)}) for s, v in
                enumerate(base)]  # fmt: skip
    paired = paired_differences(records, "sed")
    a = paired["a"]["mean_jct"]
    half = t_critical(0.95, 3) * (5 / 3) ** 0.5 / 2  # std of 1..4 is sqrt(5/3)
    assert a["mean"] == pytest.approx(-2.5) and a["ci95"] == pytest.approx(half)
    assert (a["lower"], a["higher"], a["n"]) == (4, 0, 4)
    b = paired["b"]["mean_jct"]
    assert b["mean"] == pytest.approx(0.0) and (b["lower"], b["higher"]) == (2, 2)
    table = format_paired_table("load-balance", paired, "sed").splitlines()
    assert "better" in table[2] and "4/4" in table[2]  # lower JCT is better
    assert "no significant difference" in table[3] and "2/4" in table[3]
    # higher return is better on aigc: "a" is worse there
    flipped = [EpisodeRecord(r.policy, r.seed, 0, {"return": r.metrics["mean_jct"]})
               for r in records]  # fmt: skip
    table = format_paired_table("aigc", paired_differences(flipped, "sed"), "sed")
    assert "worse" in table.splitlines()[2] and "0/4" in table.splitlines()[2]
    one = [r for r in records if r.seed == 0]
    single = paired_differences(one, "sed")
    assert "no interval" in format_paired_table("load-balance", single, "sed")
    with pytest.raises(ValueError, match="choose one of"):
        paired_differences(records, "nope")


def test_paired_against_in_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "p.json"
    code, out, _ = _run(
        capsys, "evaluate", "--env", "load-balance", "--preset", "park", "--set",
        "jobs_per_episode=200", "--policy", "shortest-expected-delay", "random",
        "--seeds", "0", "1", "2", "--paired-against", "shortest-expected-delay",
        "--json", str(path),
    )  # fmt: skip
    assert code == 0 and "paired differences to shortest-expected-delay" in out
    report = json.loads(path.read_text())
    jct = {(e["policy"], e["seed"]): e["mean_jct"] for e in report["episodes"]}
    diffs = [jct["random", s] - jct["shortest-expected-delay", s] for s in (0, 1, 2)]
    got = report["paired"]["differences"]["random"]["mean_jct"]
    assert report["paired"]["baseline"] == "shortest-expected-delay"
    assert got["mean"] == pytest.approx(sum(diffs) / 3) and got["n"] == 3
    assert got["lower"] == sum(d < 0 for d in diffs)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--paired-against", "prophet"], "choose one of: random, crash-avoid"),
        (["--paired-against", "random", "--policy", "random"], "at least one other policy"),
    ],
)
def test_paired_against_names_the_fix(extra, message, capsys) -> None:
    argv = ["evaluate", "--env", "aigc", "--preset", "adsac-paper", "--policy", "random",
            "crash-avoid", "--seeds", "0", *extra]  # fmt: skip
    if "--policy" in extra:
        argv = ["evaluate", "--env", "aigc", "--preset", "adsac-paper", "--seeds", "0", *extra]
    code, _, err = _run(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_schedule_keeps_a_runs_own_knobs_but_not_its_trial_structure() -> None:
    from edge_rl.commands.evaluate import policy_knobs_of_run

    spec = {
        "env": "load-balance-trials",
        "env_overrides": {"episodes_per_trial": 2, "reward_mode": "jct", "split": "train"},
    }
    assert policy_knobs_of_run(spec) == {"reward_mode": "jct"}
    assert policy_knobs_of_run({"env": "load-balance-trials"}) == {}
    # a run of another env has no knobs that mean anything to the trial env
    assert policy_knobs_of_run({"env": "aigc", "env_overrides": {"num_servers": 5}}) == {}


def test_heuristic_settings_on_the_command_line(tmp_path: Path, capsys) -> None:
    """NAME:KEY=VALUE builds the heuristic with those settings; the report names it as written,
    so two settings of one heuristic sit side by side."""
    from edge_rl.baselines.aigc import KeepOpenProphetPolicy
    from edge_rl.evaluation.runner import make_env, run_episode

    path = tmp_path / "r.json"
    specs = ["prophet-keep-open:reserve=480,slack=0.1", "prophet-keep-open:reserve=0"]
    code, out, _ = _run(
        capsys, "evaluate", "--env", "aigc", "--preset", "adsac-paper", "--policy", "prophet",
        *specs, "--seeds", "0", "--json", str(path), "--paired-against", "prophet",
    )  # fmt: skip
    assert code == 0 and all(spec in out for spec in specs)
    eps = {e["policy"]: e for e in json.loads(path.read_text())["episodes"]}
    assert set(eps) == {"prophet", *specs}
    env = make_env("aigc", "adsac-paper", world_seed=0)
    direct = run_episode(env, KeepOpenProphetPolicy(reserve=480, slack=0.1), 0)
    assert eps[specs[0]]["return"] == pytest.approx(direct["return"])
    # reserve 0 keeps nothing open: Prophet's placements exactly
    assert eps[specs[1]]["return"] == pytest.approx(eps["prophet"]["return"])
