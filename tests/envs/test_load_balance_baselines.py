"""The load-balancing heuristics: names, decision rules on a known state, ties, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from edge_rl.baselines import make_policy
from edge_rl.baselines.load_balance import LOAD_BALANCE_POLICIES, expected_delays


class FakeEnv:
    """A hand-made state: the accessors the heuristics read, nothing else."""

    def __init__(self, queued, remaining, rates, incoming, loads=None):
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
