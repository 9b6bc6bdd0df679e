"""Park's own numbers: every heuristic, seeds 0-4, on several workloads, reproduced exactly.

The expected returns were measured by running Park's ``load_balance`` env (park-project/park at
commit 08f8f7f0dea14e011af2d5ce2a72410084eb8713) from a temporary copy with import shims, each
heuristic of ``edge_rl.baselines.load_balance`` reading Park's state through ``ParkView``:

    python scripts/bench_load_balance_env.py --reference <park work tree> --returns [--preset P]
        [--set KEY=VALUE ...]

which prints Park's and edge_rl's returns side by side. Policies are seeded with the env seed.
With ``EDGE_RL_PARK_REFERENCE=<park work tree>`` set, ``test_step_by_step_against_park`` also
compares observations and rewards with a live Park env, step by step.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_rl.baselines.load_balance import LOAD_BALANCE_POLICIES
from edge_rl.envs.load_balance import LoadBalanceEnv, make_load_balance_config

SEEDS = (0, 1, 2, 3, 4)

#: (preset, overrides) -> policy -> Park's episode return for seeds 0-4.
PARK_RETURNS: dict[tuple[str, tuple], dict[str, tuple[int, ...]]] = {
    ("park", ()): {
        "random": (-12462029, -12577431, -10755408, -12869500, -9015876),
        "round-robin": (-12706012, -12734453, -9878025, -11110420, -11209516),
        "least-work-left": (-1477348, -1006015, -1215442, -1129381, -960041),
        "shortest-processing-time": (-1368627, -980107, -1129953, -1084342, -930168),
        "least-observed-load": (-791902, -557396, -866535, -705913, -535123),
        "shortest-expected-delay": (-977544, -515955, -856123, -684495, -483895),
        "power-of-two-choices": (-1467087, -913287, -1361194, -1229305, -798038),
    },
    ("pareto-45", ()): {
        "random": (-14579268, -14580474, -13138568, -15408469, -10838922),
        "round-robin": (-15200985, -14648398, -12206574, -13531654, -13472031),
        "least-work-left": (-3052639, -1586814, -2501815, -2310251, -1536396),
        "shortest-processing-time": (-2658803, -1410999, -2728151, -2198369, -1504481),
        "least-observed-load": (-2458080, -1094641, -2662722, -2094140, -1059641),
        "shortest-expected-delay": (-2353964, -1084746, -2410778, -1994838, -1066777),
        "power-of-two-choices": (-2822964, -1602562, -2714549, -2926335, -1555796),
    },
    # Zero-length services and simultaneous arrivals: Park's event-order corner cases.
    (
        "debug",
        (
            ("jobs_per_episode", 300),
            ("mean_interval", 0.5),
            ("num_servers", 3),
            ("pareto_scale", 3.0),
            ("service_rates", (50.0, 0.5, 1.0)),
        ),
    ): {
        "random": (-119926, -100305, -121278, -96650, -132641),
        "round-robin": (-108888, -105516, -108892, -100253, -115447),
        "least-work-left": (-536, -1119, -1635, -40, -504),
        "shortest-processing-time": (-135, -146, -241, -40, -131),
        "least-observed-load": (-539, -1325, -961, -32, -380),
        "shortest-expected-delay": (-39, -73, -72, -11, -18),
        "power-of-two-choices": (-32704, -18531, -23692, -22400, -24915),
    },
    (
        "debug",
        (
            ("jobs_per_episode", 300),
            ("mean_interval", 3.0),
            ("num_servers", 4),
            ("pareto_scale", 3.0),
            ("service_rates", (2.0, 3.0, 0.5, 7.0)),
        ),
    ): {
        "random": (-24718, -11194, -21459, -26441, -23419),
        "round-robin": (-24910, -7786, -11013, -29122, -16408),
        "least-work-left": (-1830, -1752, -1596, -1653, -1745),
        "shortest-processing-time": (-1818, -1676, -1594, -1558, -1745),
        "least-observed-load": (-1190, -987, -1395, -1144, -1099),
        "shortest-expected-delay": (-344, -295, -291, -247, -276),
        "power-of-two-choices": (-817, -717, -558, -536, -656),
    },
}


def run(env: LoadBalanceEnv, policy_name: str, seed: int) -> dict[str, float]:
    policy = LOAD_BALANCE_POLICIES[policy_name](seed=seed)
    obs, _ = env.reset(seed=seed)
    policy.reset(env)
    done, total = False, 0.0
    while not done:
        obs, reward, done, _, info = env.step(policy.act(obs, env))
        total += reward
    assert info["summary"]["return"] == total
    return info["summary"]


def test_the_specs_reference_number():
    summary = run(LoadBalanceEnv(), "least-observed-load", 0)
    assert summary["return"] == -791902.0
    assert summary["mean_jct"] == pytest.approx(791.902, abs=1e-9)
    mean = np.mean(PARK_RETURNS[("park", ())]["least-observed-load"]) / -1000
    assert mean == pytest.approx(691.4, abs=0.1)  # the spec: "about 691"


#: heuristics added after the table was measured; the simulator they run on is the one the
#: recorded heuristics pin down, and their rules are tested in test_load_balance_baselines.py
NOT_RECORDED = {"size-interval"}


def test_the_table_covers_every_heuristic_but_the_later_ones():
    for returns in PARK_RETURNS.values():
        assert set(returns) == set(LOAD_BALANCE_POLICIES) - NOT_RECORDED


@pytest.mark.parametrize("case", list(PARK_RETURNS), ids=["park", "pareto-45", "edge-a", "edge-b"])
@pytest.mark.parametrize("policy_name", sorted(set(LOAD_BALANCE_POLICIES) - NOT_RECORDED))
def test_every_heuristic_matches_park_per_seed(case, policy_name):
    preset, overrides = case
    env = LoadBalanceEnv(preset=preset, **dict(overrides))
    returns = tuple(int(run(env, policy_name, seed)["return"]) for seed in SEEDS)
    assert returns == PARK_RETURNS[case][policy_name]


def test_the_heuristics_rank_as_expected_on_parks_workload():
    """Sanity of the table itself: queue-aware heuristics beat blind ones by an order of
    magnitude (random ~12k mean JCT, least-observed-load ~700, as the spec reports)."""
    table = {k: -np.mean(v) / 1000 for k, v in PARK_RETURNS[("park", ())].items()}
    assert 10_000 < table["random"] < 14_000
    assert max(table["least-observed-load"], table["shortest-expected-delay"]) < 800
    assert table["least-work-left"] > table["shortest-processing-time"]


@pytest.mark.skipif(
    not os.environ.get("EDGE_RL_PARK_REFERENCE"),
    reason="set EDGE_RL_PARK_REFERENCE to a Park work tree to compare with Park live",
)
@pytest.mark.parametrize("case", list(PARK_RETURNS), ids=["park", "pareto-45", "edge-a", "edge-b"])
def test_step_by_step_against_park(case):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from bench_load_balance_env import ParkView, _quiet_park, configure_park, load_park

    preset, overrides = case
    config = make_load_balance_config(preset, **dict(overrides))
    park = load_park(os.environ["EDGE_RL_PARK_REFERENCE"])
    configure_park(park, config)
    theirs, ours = park.env_cls(), LoadBalanceEnv(config=config)
    view = ParkView(theirs)
    with _quiet_park():
        for seed in (0, 1):
            rng = np.random.default_rng(seed)
            theirs.seed(seed)
            obs_theirs, (obs_ours, _) = theirs.reset(), ours.reset(seed=seed)
            done = False
            while not done:
                assert np.array_equal(obs_theirs.astype(np.float32), obs_ours)
                assert np.array_equal(view.queued_work(), ours.queued_work())
                assert np.array_equal(view.remaining_service_time(), ours.remaining_service_time())
                action = int(rng.integers(config.num_servers))
                obs_theirs, r_theirs, done, info = theirs.step(action)
                obs_ours, r_ours, done_ours, _, info_ours = ours.step(action)
                assert (r_theirs, done, info["curr_time"]) == (r_ours, done_ours, info_ours["time"])
