"""The load-balancing heuristics: names, decision rules on a known state, ties, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from edge_rl.baselines import make_policy
from edge_rl.baselines.load_balance import (
    LOAD_BALANCE_POLICIES,
    SizeIntervalPolicy,
    expected_delays,
    reserved_servers,
    work_share_threshold,
)
from edge_rl.envs.load_balance.config import make_load_balance_config
from edge_rl.envs.load_balance.trial import MetaTrialEnv
from edge_rl.evaluation.runner import make_env, run_episode


class FakeEnv:
    """A hand-made state: the accessors the heuristics read, nothing else."""

    def __init__(self, queued, remaining, rates, incoming, loads=None, config=None):
        self.config = config
        self.num_servers = len(rates)
        self.service_rates = np.array(rates, dtype=np.float64)
        self.incoming_job_size = incoming
        self._queued = np.array(queued, dtype=np.int64)
        self._remaining = np.array(remaining, dtype=np.int64)
        self._loads = np.array(
            loads if loads is not None else np.add(queued, remaining), dtype=np.float64
        )

    def queued_work(self):
        return self._queued.copy()

    def remaining_service_time(self):
        return self._remaining.copy()

    def server_loads(self):
        return self._loads.copy()


# queued work 400/100/300, remaining 0/900/0, rates 1/2/4, incoming 200:
#   least-work-left: argmin(400, 100, 300) = 1
#   shortest-processing-time: argmin(400, 50, 75) = 1
#   least-observed-load: argmin(400, 1000, 300) = 2
#   shortest-expected-delay: argmin(0 + 600/1, 900 + 300/2, 0 + 500/4) = argmin(600, 1050, 125) = 2
STATE = dict(queued=[400, 100, 300], remaining=[0, 900, 0], rates=[1.0, 2.0, 4.0], incoming=200)


def test_registry_has_every_heuristic_under_its_name():
    assert set(LOAD_BALANCE_POLICIES) == {
        "random",
        "round-robin",
        "least-work-left",
        "shortest-processing-time",
        "least-observed-load",
        "shortest-expected-delay",
        "power-of-two-choices",
        "size-interval",
    }
    for name, cls in LOAD_BALANCE_POLICIES.items():
        assert cls.name == name and isinstance(make_policy("load-balance", name, 0), cls)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("least-work-left", 1),
        ("shortest-processing-time", 1),
        ("least-observed-load", 2),
        ("shortest-expected-delay", 2),
    ],
)
def test_decision_rules_on_a_known_state(name, expected):
    env = FakeEnv(**STATE)
    assert LOAD_BALANCE_POLICIES[name](seed=0).act(np.zeros(4), env) == expected


def test_expected_delays_by_hand():
    assert expected_delays(FakeEnv(**STATE)).tolist() == [600.0, 1050.0, 125.0]


@pytest.mark.parametrize(
    "name",
    [
        "least-work-left",
        "shortest-processing-time",
        "least-observed-load",
        "shortest-expected-delay",
    ],
)
def test_ties_go_to_the_lowest_index(name):
    env = FakeEnv(queued=[5, 0, 0, 0], remaining=[0, 0, 0, 0], rates=[1.0] * 4, incoming=10)
    assert LOAD_BALANCE_POLICIES[name]().act(np.zeros(5), env) == 1


def test_round_robin_cycles_and_restarts_each_episode():
    env = FakeEnv(**STATE)
    policy = LOAD_BALANCE_POLICIES["round-robin"]()
    assert [policy.act(None, env) for _ in range(5)] == [0, 1, 2, 0, 1]
    policy.reset(env)
    assert policy.act(None, env) == 0


def test_power_of_two_picks_the_better_of_two_distinct_servers():
    env = FakeEnv(**STATE)  # delays 600, 1050, 125
    best_of = {(0, 1): 0, (0, 2): 2, (1, 2): 2}
    policy = LOAD_BALANCE_POLICIES["power-of-two-choices"](seed=3)
    twin = np.random.default_rng(3)
    for _ in range(50):
        pair = tuple(sorted(twin.choice(3, size=2, replace=False).tolist()))
        assert policy.act(None, env) == best_of[pair]


@pytest.mark.parametrize("name", ["random", "power-of-two-choices"])
def test_stochastic_heuristics_are_reproducible_per_seed(name):
    env = FakeEnv(queued=[0] * 10, remaining=[0] * 10, rates=np.arange(1, 11), incoming=5)
    a, b, c = (LOAD_BALANCE_POLICIES[name](seed=s) for s in (1, 1, 2))
    seq_a = [a.act(None, env) for _ in range(30)]
    assert seq_a == [b.act(None, env) for _ in range(30)]
    assert seq_a != [c.act(None, env) for _ in range(30)]
    assert len(set(seq_a)) > 1


PARK_RATES = [0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.05]


def test_reserved_servers_are_the_fastest_with_the_nearest_share():
    assert reserved_servers(PARK_RATES, 1 / 3).tolist() == [8, 9]  # 2.0 of 6.0
    assert reserved_servers(PARK_RATES, 0.15).tolist() == [9]  # 1.05 / 6 = 0.175
    assert reserved_servers(PARK_RATES, 0.45).tolist() == [7, 8, 9]  # 2.85 / 6 = 0.475
    assert reserved_servers(PARK_RATES, 0.999).tolist() == list(range(1, 10))  # keeps one
    assert reserved_servers([1.0, 4.0, 2.0], 0.01).tolist() == [1]  # at least one, by rate
    with pytest.raises(ValueError, match="at least two servers"):
        reserved_servers([1.0], 0.5)


def test_work_share_threshold_matches_the_work_above_it():
    park = make_load_balance_config("park")
    assert work_share_threshold(park, 1 / 3) == pytest.approx(900.0)  # 100 * 3 ** 2
    # the share of expected work carried by sizes above T, by numerical integration
    uniform = make_load_balance_config("uniform-100")
    cutoff = work_share_threshold(uniform, 0.3)
    sizes = np.linspace(uniform.uniform_low, uniform.uniform_high, 200_001)
    assert sizes[sizes > cutoff].sum() / sizes.sum() == pytest.approx(0.3, abs=1e-3)
    alpha, xm = park.pareto_shape, park.pareto_scale
    cutoff = work_share_threshold(park, 0.2)
    tail = np.geomspace(cutoff, 1e12, 400_001)  # x * pdf(x) = alpha * xm**alpha * x**-alpha
    above = np.trapezoid(alpha * xm**alpha * tail**-alpha, tail)
    assert above / (alpha * xm / (alpha - 1)) == pytest.approx(0.2, rel=1e-3)
    with pytest.raises(ValueError, match="share"):
        work_share_threshold(park, 1.0)


def test_size_interval_sends_big_jobs_to_the_reserved_servers_only():
    park = make_load_balance_config("park")
    # the fastest two servers are busy; SED over all servers picks server 0 for any size
    state = dict(queued=[0] * 9 + [0], remaining=[0] * 8 + [5000, 4000], rates=PARK_RATES)
    small = FakeEnv(**state, incoming=900, config=park)  # not above the cutoff 900
    big = FakeEnv(**state, incoming=901, config=park)
    policy = SizeIntervalPolicy()
    assert policy.act(None, small) == int(np.argmin(expected_delays(small))) == 7
    assert policy.act(None, big) == 9  # 4000 + 901 / 1.05 < 5000 + 901 / 0.95
    lol = SizeIntervalPolicy(inner="least-observed-load", threshold=100.0)
    assert lol.act(None, FakeEnv(**state, incoming=50, config=park)) == 0  # lowest load, index
    assert lol.act(None, FakeEnv(**state, incoming=101, config=park)) == 9


def test_size_interval_rejects_bad_settings():
    with pytest.raises(ValueError, match="reserved_share"):
        SizeIntervalPolicy(reserved_share=0.0)
    with pytest.raises(ValueError, match="threshold"):
        SizeIntervalPolicy(threshold=-1.0)
    with pytest.raises(ValueError, match="inner"):
        SizeIntervalPolicy(inner="random")


@pytest.mark.parametrize(
    ("inner", "plain"), [("shortest-expected-delay", "shortest-expected-delay"),
                         ("least-observed-load", "least-observed-load")]
)  # fmt: skip
def test_size_interval_without_a_cutoff_is_its_inner_rule(inner, plain):
    env = make_env("load-balance", "debug")
    never = SizeIntervalPolicy(threshold=np.inf, inner=inner)
    for seed in (0, 1):
        assert run_episode(env, never, seed) == run_episode(
            env, make_policy("load-balance", plain), seed
        )
    split = run_episode(env, SizeIntervalPolicy(threshold=0.0, inner=inner), 0)
    assert split != run_episode(env, make_policy("load-balance", plain), 0)


def test_size_interval_follows_the_task_of_a_trial_schedule():
    env = MetaTrialEnv(schedule="park:1,uniform-100:1")
    policy = SizeIntervalPolicy()
    obs, _ = env.reset(seed=0)
    sim = env.unwrapped
    policy.reset(sim)
    cutoffs, done = [], False
    while not done:
        cutoffs.append(policy.routing(sim)[1])
        obs, _, terminated, truncated, _ = env.step(policy.act(obs, sim))
        done = terminated or truncated
    uniform = make_load_balance_config("uniform-100")
    assert cutoffs[0] == pytest.approx(900.0)
    assert cutoffs[-1] == pytest.approx(work_share_threshold(uniform, 1 / 3))
