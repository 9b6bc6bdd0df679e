"""AIGC heuristics: valid on every preset and layout, their rules, and the project heuristic."""

from __future__ import annotations

import numpy as np
import pytest

from edge_rl.baselines.aigc import AIGC_POLICIES, RolloutObserver, RolloutPlanner
from edge_rl.envs.aigc import AIGCEdgeEnv

SHORT = {"horizon": 60_000}
SETTINGS = [
    ("adsac-paper", SHORT),
    ("agod-paper", SHORT),
    ("regions", SHORT),
    ("adsac-paper", {**SHORT, "observation": "tokens"}),
    ("agod-paper", {**SHORT, "observation": "tokens"}),
    ("regions", {**SHORT, "num_servers": 5, "models_per_server": 3, "num_task_types": 2}),
]


def episode(env: AIGCEdgeEnv, name: str, seed: int) -> dict:
    policy = AIGC_POLICIES[name](seed=seed)
    obs, _ = env.reset(seed=seed)
    policy.reset(env)
    terminated = False
    while not terminated:
        action = policy.act(obs, env)
        assert isinstance(action, int) and 0 <= action < env.action_space.n
        obs, _, terminated, _, info = env.step(action)
    return info["summary"]


def test_registry_names():
    assert set(AIGC_POLICIES) == {
        "random",
        "round-robin",
        "crash-avoid",
        "prophet",
        "prophet-cheap-crash",
        "prophet-keep-open",
        "best-fit",
        "prophet-rollout",
    }
    assert all(cls.name == name for name, cls in AIGC_POLICIES.items())


@pytest.mark.parametrize("name", sorted(AIGC_POLICIES))
@pytest.mark.parametrize(("preset", "overrides"), SETTINGS)
def test_every_policy_runs_on_every_preset_and_layout(name, preset, overrides):
    env = AIGCEdgeEnv(preset, **overrides)
    first, second = episode(env, name, 3), episode(env, name, 3)
    assert first == second  # reproducible from the seed


def test_rules_on_a_live_episode():
    env = AIGCEdgeEnv("regions", arrival_rate_range=(0.004, 0.005))
    policies = {name: cls(seed=0) for name, cls in AIGC_POLICIES.items()}
    obs, _ = env.reset(seed=1)
    for p in policies.values():
        p.reset(env)
    infeasible_seen = kept_other = 0
    for step in range(1500):
        free, m = env.free_capacity, env.config.models_per_server
        utility, feasible = env.action_utilities, env.feasible_mask
        assert policies["round-robin"].act(obs, env) == step % env.action_space.n
        assert policies["crash-avoid"].act(obs, env) == int(np.argmax(free)) * m
        prophet = policies["prophet"].act(obs, env)
        cheap = policies["prophet-cheap-crash"].act(obs, env)
        packed = policies["best-fit"].act(obs, env)
        kept = policies["prophet-keep-open"].act(obs, env)
        left = free - env.current_demand
        if (left >= 0).any():  # best fit: the least room left among servers with room
            assert left[packed // m] == left[left >= 0].min()
            assert utility[packed] == utility[packed // m * m : (packed // m + 1) * m].max()
        else:
            assert packed == 0
        check_keep_open(env, prophet, kept)
        kept_other += kept != prophet
        if feasible.any():
            best = np.max(utility[feasible])
            assert feasible[cheap] and utility[cheap] == best
            assert prophet == (
                int(np.flatnonzero(feasible & (utility == best))[0]) if best > 0 else 0
            )
        else:
            infeasible_seen += 1
            assert prophet == 0
            cost = env.crash_penalties / env.capacities
            assert cost[cheap // m] == cost.min()
        obs, _, terminated, _, _ = env.step(prophet)
        if terminated:
            break
    assert infeasible_seen > 0  # Prophet at this load overfills: the crash rule was checked
    assert kept_other > 0  # and keep-open's own branch was checked


def check_keep_open(env: AIGCEdgeEnv, prophet: int, kept: int) -> None:
    """prophet-keep-open's rule, checked against Prophet's pick on the env's state now."""
    m, demand = env.config.models_per_server, env.current_demand
    reserve = max(env.config.choices("demand_range"))

    def keeps_open(action: int) -> bool:
        after = env.free_capacity.copy()
        after[action // m] -= demand
        return bool(after.max() >= reserve)

    feasible, utility = env.feasible_mask, env.action_utilities
    if kept == prophet:  # Prophet's pick keeps a server open, or no positive pick does
        others = [a for a in np.flatnonzero(feasible) if keeps_open(a) and utility[a] > 0]
        assert keeps_open(prophet) or not others or utility[prophet] <= 0
    else:  # the best pick among those that keep a server open
        assert not keeps_open(prophet) and keeps_open(kept) and feasible[kept]
        best_open = max(utility[a] for a in np.flatnonzero(feasible) if keeps_open(a))
        assert utility[kept] == best_open > 0


def test_keep_open_bad_arguments():
    policy_cls = AIGC_POLICIES["prophet-keep-open"]
    with pytest.raises(ValueError, match="reserve=-1"):
        policy_cls(reserve=-1)
    with pytest.raises(ValueError, match="slack=-0.5"):
        policy_cls(slack=-0.5)


def test_best_fit_crashes_less_than_prophet():
    """Measured on adsac-paper world 0 (scripts/aigc_crash_anatomy.py): Best Fit packs tightly
    and has fewer crash events than Prophet, at a large cost in utility."""
    env = AIGCEdgeEnv("adsac-paper")
    runs = {n: [episode(env, n, seed) for seed in range(4)] for n in ("prophet", "best-fit")}
    crashes = {n: sum(r["crash_events"] for r in eps) for n, eps in runs.items()}
    returns = {n: np.mean([r["return"] for r in eps]) for n, eps in runs.items()}
    assert crashes["best-fit"] < crashes["prophet"], crashes
    assert returns["best-fit"] < returns["prophet"] - 100, returns


def test_cheap_crash_beats_prophet_under_load():
    """Measured: mean return over seeds 10-13 on regions and on a loaded adsac-paper world."""
    for preset, overrides in (("regions", {}), ("adsac-paper", {"arrival_rate": 0.002})):
        env = AIGCEdgeEnv(preset, **overrides)
        means = {}
        for name in ("prophet", "prophet-cheap-crash"):
            means[name] = np.mean([episode(env, name, seed)["return"] for seed in range(10, 14)])
        assert means["prophet-cheap-crash"] > means["prophet"], (preset, means)


def prophet_crash_step(env: AIGCEdgeEnv, seed: int) -> int:
    """The decision at which Prophet first crashes a server in episode ``seed``."""
    prophet = AIGC_POLICIES["prophet"]()
    obs, _ = env.reset(seed=seed)
    for step in range(10_000):
        obs, _, _, _, info = env.step(prophet.act(obs, env))
        if info["crashed"]:
            return step
    raise AssertionError("Prophet never crashed")


def test_running_tasks_account_for_the_used_capacity():
    env = AIGCEdgeEnv("adsac-paper", world_seed=0)
    crash = prophet_crash_step(env, 0)
    prophet = AIGC_POLICIES["prophet"]()
    obs, _ = env.reset(seed=0)
    m = env.config.models_per_server
    for step in range(crash + 2):
        running = env.running_tasks
        used = np.bincount(running["action"] // m, running["demand"], minlength=10)
        assert np.array_equal(used, env.capacities - env.free_capacity)
        assert np.array_equal(
            np.bincount(running["action"], running["demand"], minlength=40), env.running_demand
        )
        assert (running["arrival"] + running["runtime"] > env.current_time).all()
        action = prophet.act(obs, env)
        obs, _, _, _, info = env.step(action)
        if step == crash:  # the crashed server runs nothing afterwards
            assert info["crashed"] and not (env.running_tasks["action"] // m == action // m).any()


def check_rollouts_against_the_simulator(
    env: AIGCEdgeEnv, planner: RolloutPlanner, base_act, crash_weight: float
) -> None:
    """Given the true next tasks as its one "sampled" future, a rollout of each candidate scores
    exactly what the simulator pays for that candidate followed by the base policy
    (``base_act(obs, env)`` on a copy of the env), over a stretch with a crash in it (the penalty
    of running tasks, the capacity they free, the kill)."""
    import copy

    crash = prophet_crash_step(env, 0)
    prophet = AIGC_POLICIES["prophet"]()
    obs, _ = env.reset(seed=0)
    for _ in range(crash - 15):
        obs, *_ = env.step(prophet.act(obs, env))
    planner.reset(env)
    stream, i = env.task_stream, env.counts["decided"]
    rows = stream.task_type * len(planner.demands_T) + stream.demand_index
    nxt = slice(i + 1, i + 1 + planner.horizon)
    future = (stream.arrival[None, nxt], rows[None, nxt], stream.demand[None, nxt],
              stream.runtime[None, nxt])  # fmt: skip
    planner.future = lambda env: future
    m = env.config.models_per_server
    servers = np.flatnonzero(env.free_capacity >= env.current_demand)
    assert len(servers) >= 2
    cands = servers * m  # model 0 of every server with room
    scores = planner.rollouts(env, cands)[:, 0]
    crashes_seen = 0
    for cand, score in zip(cands, scores, strict=True):
        sim = copy.deepcopy(env)
        obs, *_ = sim.step(int(cand))
        paid = crashes = 0
        for _ in range(planner.horizon):
            obs, reward, _, _, info = sim.step(int(base_act(obs, sim)))
            paid += reward
            crashes += info["crashed"]
        crashes_seen += crashes
        assert score == pytest.approx(paid - crash_weight * crashes, abs=1e-9)
    assert crashes_seen > 0  # the stretch tests the crash path


def test_rollout_simulates_what_the_simulator_does():
    env = AIGCEdgeEnv("adsac-paper", world_seed=0)
    policy = AIGC_POLICIES["prophet-rollout"](horizon=30, samples=1, crash_weight=7.0)
    prophet = AIGC_POLICIES["prophet"]()
    check_rollouts_against_the_simulator(env, policy.planner, prophet.act, 7.0)


@pytest.mark.parametrize("layout", ["paper-adsac", "tokens"])
def test_rollouts_show_a_base_policy_what_the_simulator_shows(layout):
    """A base policy that reads observations (as a trained checkpoint does): the observations
    the rollouts build are the simulator's, so the rollouts score what the simulator pays."""
    env = AIGCEdgeEnv("adsac-paper", world_seed=0, observation=layout)
    weights = np.random.default_rng(3).normal(size=(int(np.prod(env.observation_space.shape)),
                                                    env.action_space.n))  # fmt: skip

    def act_on(obs_BF: np.ndarray, feasible_BA: np.ndarray) -> np.ndarray:
        """A fixed linear policy, masked like the trained ones: argmax over feasible actions."""
        scores_BA = obs_BF.reshape(len(obs_BF), -1).astype(np.float64) @ weights
        return np.argmax(np.where(feasible_BA, scores_BA, -np.inf), axis=1)

    planner = RolloutPlanner(np.random.default_rng(0), horizon=25, samples=1, crash_weight=3.0)
    planner.base = lambda step: act_on(observer(step), step.fits_BA)
    observer = None

    def base_act(obs: np.ndarray, sim: AIGCEdgeEnv) -> int:
        nonlocal observer
        if observer is None:
            observer = RolloutObserver(sim)
        return int(act_on(obs[None], sim.feasible_mask[None])[0])

    base_act(env.reset(seed=0)[0], env)
    check_rollouts_against_the_simulator(env, planner, base_act, 3.0)


def test_rollout_settings_are_checked():
    cls = AIGC_POLICIES["prophet-rollout"]
    for kwargs, needle in (
        ({"horizon": 0}, "horizon=0"),
        ({"samples": 0}, "samples=0"),
        ({"crash_weight": -1.0}, "crash_weight=-1.0"),
        ({"switch_z": -1.0}, "switch_z=-1.0"),
        ({"samples": 1, "switch_z": 1.0}, "needs samples >= 2"),
    ):
        with pytest.raises(ValueError, match=needle):
            cls(**kwargs)


def test_rollout_keeps_the_base_server_without_evidence_against_it():
    """switch_z: with an unreachable bar the planner never leaves the base policy's server
    (Prophet's pick exactly); with 0 it takes the best mean score, so it leaves it sometimes."""
    env = AIGCEdgeEnv("adsac-paper", world_seed=0, horizon=40_000)
    prophet = AIGC_POLICIES["prophet"]()
    stubborn = AIGC_POLICIES["prophet-rollout"](seed=1, samples=4, horizon=10, switch_z=1e9)
    plain = AIGC_POLICIES["prophet-rollout"](seed=1, samples=4, horizon=10)
    obs, _ = env.reset(seed=2)
    stubborn.reset(env)
    plain.reset(env)
    left = 0
    for _ in range(400):
        base = prophet.act(obs, env)
        assert stubborn.act(obs, env) == base
        left += plain.act(obs, env) != base
        obs, _, terminated, _, _ = env.step(base)
        if terminated:
            break
    assert left > 0
