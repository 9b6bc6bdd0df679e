"""The scalar AIGC edge env: gymnasium API, determinism, invariants, layouts, errors."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import edge_rl  # noqa: F401  (registers edge_rl/AIGCEdge-v0)
from edge_rl.envs.aigc import (
    PRESETS,
    AIGCEdgeEnv,
    AIGCEdgeVectorEnv,
    make_aigc_config,
    token_layout,
)
from edge_rl.envs.aigc.world import World, make_stream, runtime

SMALL = {"num_servers": 3, "models_per_server": 2, "num_task_types": 2, "horizon": 200_000}
#: (preset, overrides): every preset, each paper preset with the token layout, a small world.
CASES = [
    ("adsac-paper", {}),
    ("agod-paper", {}),
    ("regions", {}),
    ("adsac-paper", {"observation": "tokens"}),
    ("agod-paper", {"observation": "tokens"}),
    ("regions", {"observation": "paper-adsac"}),
    ("adsac-paper", SMALL),
]
IDS = [f"{p}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'default'}" for p, o in CASES]


def play(env: AIGCEdgeEnv, seed: int | None, steps: int, action_seed: int = 0):
    """Reset with ``seed`` and take random actions; yield every step's results (resets at end)."""
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(action_seed)
    for _ in range(steps):
        action = int(rng.integers(env.action_space.n))
        out = env.step(action)
        yield action, out
        if out[2]:
            env.reset()


@pytest.mark.parametrize(("preset", "overrides"), CASES, ids=IDS)
def test_check_env_passes_without_warnings(preset, overrides):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(AIGCEdgeEnv(preset, world_seed=1, **overrides), skip_render_check=True)
    assert [str(w.message) for w in caught] == []


def test_gym_make_and_make_vec():
    env = gym.make("edge_rl/AIGCEdge-v0", preset="agod-paper", world_seed=2)
    assert isinstance(env.unwrapped, AIGCEdgeEnv)
    assert env.unwrapped.world_seed == 2 and env.action_space.n == 20
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (42,)
    vec = gym.make_vec(
        "edge_rl/AIGCEdge-v0", num_envs=4, vectorization_mode="vector_entry_point", preset="regions"
    )
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (4, 41, 16)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP


@pytest.mark.parametrize(("preset", "overrides"), CASES, ids=IDS)
def test_same_seed_same_episode(preset, overrides):
    runs = []
    for _ in range(2):
        env = AIGCEdgeEnv(preset, world_seed=3, **overrides)
        runs.append([(a, o[0], o[1], o[2], o[4]) for a, o in play(env, 7, 400)])
    for (a1, o1, r1, d1, i1), (a2, o2, r2, d2, i2) in zip(*runs, strict=True):
        assert a1 == a2 and r1 == r2 and d1 == d2 and i1 == i2
        np.testing.assert_array_equal(o1, o2)
    other = AIGCEdgeEnv(preset, world_seed=3, **overrides)
    first = [o[1] for _, o in play(other, 8, 400)]
    assert first != [r for _, _, r, _, _ in runs[0]], "a different seed gave the same episode"


@pytest.mark.parametrize("preset", ["adsac-paper", "regions"])
def test_unseeded_reset_continues_the_seeded_stream(preset):
    """reset() after reset(seed=s) draws the next episode from the env's generator."""
    episodes = []
    for _ in range(2):
        env = AIGCEdgeEnv(preset, horizon=100_000)
        env.reset(seed=11)
        obs, _ = env.reset()
        episodes.append((obs, env.current_demand, env.capacities, env.task_stream.arrival))
    np.testing.assert_array_equal(episodes[0][3], episodes[1][3])
    np.testing.assert_array_equal(episodes[0][0], episodes[1][0])
    env = AIGCEdgeEnv(preset, horizon=100_000)
    env.reset(seed=11)
    assert not np.array_equal(env.task_stream.arrival, episodes[0][3])


@pytest.mark.parametrize(("preset", "overrides"), CASES, ids=IDS)
def test_long_random_play_invariants(preset, overrides):
    env = AIGCEdgeEnv(preset, world_seed=5, **overrides)
    space, m = env.observation_space, env.config.models_per_server
    obs, _ = env.reset(seed=4)
    rng = np.random.default_rng(1)
    total, episodes = 0.0, 0
    for _ in range(4000):
        assert space.contains(obs), "observation outside its declared space"
        free, demand = env.free_capacity, env.current_demand
        assert (free >= 0).all()
        np.testing.assert_array_equal(
            env.capacities - env.running_demand.reshape(-1, m).sum(axis=1), free
        )
        counts = env.counts
        assert counts["decided"] == (
            counts["finished"] + counts["killed"] + counts["running"] + counts["dropped"]
        )
        action = int(rng.integers(env.action_space.n))
        server = action // m
        utilities, feasible = env.action_utilities, env.feasible_mask
        penalty_if_crash = env.crash_penalties[server]
        running_before = env.counts["running"]
        obs, reward, terminated, truncated, info = env.step(action)
        assert not truncated and isinstance(reward, float)
        assert set(info) >= {"utility", "crashed", "tasks_killed", "time"}
        assert info["crashed"] == (not feasible[action]) == (demand > free[server])
        if info["crashed"]:
            assert reward == pytest.approx(-penalty_if_crash, rel=1e-12)
            assert info["utility"] == 0.0 and 0 <= info["tasks_killed"] <= running_before
        else:
            assert reward == info["utility"] == utilities[action] and info["tasks_killed"] == 0
        total += reward
        if terminated:
            summary = info["summary"]
            assert summary == env.episode_summary()
            assert summary["return"] == pytest.approx(total, rel=1e-9, abs=1e-9)
            assert summary["length"] == env.counts["decided"]
            assert summary["crash_rate"] == summary["crash_events"] / summary["length"]
            assert summary["tasks_dropped"] == summary["crash_events"]
            total, episodes = 0.0, episodes + 1
            obs, _ = env.reset()
        else:
            assert "summary" not in info
    assert space.contains(obs)
    if "horizon" in overrides:
        assert episodes > 0


def test_pickle_round_trip_mid_episode():
    env = gym.make("edge_rl/AIGCEdge-v0", preset="regions")
    env.reset(seed=9)
    rng = np.random.default_rng(0)
    for _ in range(300):
        env.step(int(rng.integers(40)))
    copy = pickle.loads(pickle.dumps(env))
    actions = rng.integers(40, size=2500)
    for action in actions:
        a, b = env.step(int(action)), copy.step(int(action))
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:] == b[1:]
        if a[2]:
            np.testing.assert_array_equal(env.reset()[0], copy.reset()[0])


def test_paper_layouts_follow_the_spec():
    env = AIGCEdgeEnv("adsac-paper")
    obs, _ = env.reset(seed=0)
    k, t = env.current_task_type, env.current_demand
    np.testing.assert_array_equal(obs[:4], np.eye(4)[k])
    assert obs[4] == np.float32(t / 240) and obs[5] == np.float32(runtime(t) / runtime(240))
    servers = obs[6:].reshape(10, 3)
    np.testing.assert_array_equal(servers[:, 0], (env.capacities / 1400).astype(np.float32))
    assert (servers[:, 1] == 1).all() and (servers[:, 2] == 4).all()
    obs = env.step(0)[0]
    servers = obs[6:].reshape(10, 3)
    free = env.free_capacity / env.capacities
    np.testing.assert_array_equal(servers[:, 1], free.astype(np.float32))

    env = AIGCEdgeEnv("agod-paper")
    obs, _ = env.reset(seed=0)
    t = env.current_demand
    assert obs.shape == (42,) and obs[40] == np.float32(t / 250)
    np.testing.assert_array_equal(obs[0:40:2], (env.capacities / 900).astype(np.float32))


@pytest.mark.parametrize("preset", ["regions", "agod-paper"])
def test_token_layout_columns(preset):
    env = AIGCEdgeEnv(preset, observation="tokens")
    lay = token_layout(env.config)
    k_types, m = env.config.num_task_types, env.config.models_per_server
    assert env.observation_space.shape == (lay.num_tokens, lay.num_features)
    assert lay.num_features == k_types + 12
    obs, _ = env.reset(seed=2)
    rng = np.random.default_rng(0)
    for _ in range(200):
        obs, _, terminated, _, _ = env.step(int(rng.integers(env.action_space.n)))
    world, col = env.world, lay.feature
    t_max = env.config.choices("demand_range")[-1]
    cap_max = env.config.choices("capacity_range")[-1]
    k, t = env.current_task_type, env.current_demand
    task, rows = obs[0], obs[1:]
    np.testing.assert_array_equal(task[lay.task_type], np.eye(k_types)[k])
    assert task[lay.task_demand] == np.float32(t / t_max)
    assert (task[lay.server] == 0).all() and (rows[:, lay.task] == 0).all()
    cap = np.repeat(env.capacities, m)
    free = np.repeat(env.free_capacity, m)
    np.testing.assert_allclose(rows[:, col["capacity"]], cap / cap_max, rtol=1e-6)
    np.testing.assert_allclose(rows[:, col["free"]], free / cap, rtol=1e-6)
    np.testing.assert_allclose(rows[:, col["load"]], env.running_demand / cap, rtol=1e-6)
    busy = (env.running_demand.reshape(-1, m) > 0).mean(axis=1)
    np.testing.assert_allclose(rows[:, col["busy"]], np.repeat(busy, m), rtol=1e-6)
    np.testing.assert_array_equal(rows[:, col["feasible"]] == 1.0, env.feasible_mask)
    expected_base = world.baseline.reshape(-1, k_types)[:, k]
    if env.config.reward == "q":
        expected_base = np.zeros_like(expected_base)
    np.testing.assert_allclose(rows[:, col["baseline"]], expected_base, rtol=1e-6)
    np.testing.assert_allclose(rows[:, col["bx"]], world.bx.ravel() / t_max, rtol=1e-6)
    np.testing.assert_allclose(rows[:, col["by"]], world.by.ravel(), rtol=1e-6)


def test_regions_draw_a_new_world_per_episode_and_paper_presets_keep_theirs():
    env = AIGCEdgeEnv("regions")
    env.reset(seed=0)
    first = env.world
    env.reset()
    assert not np.array_equal(first.baseline, env.world.baseline)
    low, high = env.config.arrival_rate_range
    assert low <= first.arrival_rate <= high and first.arrival_rate != env.world.arrival_rate
    fixed = AIGCEdgeEnv("adsac-paper", world_seed=4)
    fixed.reset(seed=0)
    world = fixed.world
    fixed.reset(seed=1)
    assert fixed.world is world
    assert not np.array_equal(AIGCEdgeEnv("adsac-paper", world_seed=5).world.ax, world.ax)


def test_utility_is_baseline_plus_quality_curve():
    env = AIGCEdgeEnv("adsac-paper")
    env.reset(seed=0)
    w, k, t = env.world, env.current_task_type, float(env.current_demand)
    ax, ay, bx, by = (x.ravel() for x in (w.ax, w.ay, w.bx, w.by))
    quality = np.where(t < ax, 0.0, np.where(t <= bx, (by - ay) / (bx - ax) * (t - ax), by - ay))
    np.testing.assert_allclose(env.action_utilities, w.baseline.reshape(-1, 4)[:, k] + quality)
    agod = AIGCEdgeEnv("agod-paper")
    agod.reset(seed=0)
    assert (agod.world.baseline == 0).all()


def test_large_and_numpy_seeds_work():
    env = AIGCEdgeEnv("adsac-paper", world_seed=2**40)
    obs, _ = env.reset(seed=2**63)
    assert env.observation_space.contains(obs)
    np.testing.assert_array_equal(env.reset(seed=np.int64(3))[0], env.reset(seed=3)[0])


def test_bad_actions_and_call_order_errors():
    env = AIGCEdgeEnv("adsac-paper", horizon=20_000)
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(0)
    env.reset(seed=0)
    for bad in (40, -1, 1.5, "3", True, np.array([1, 2]), None):
        with pytest.raises(ValueError, match="action"):
            env.step(bad)
    env.step(np.int64(3))
    env.step(np.array(5))
    with pytest.raises(ValueError, match="options"):
        env.reset(seed=0, options={"world_seed": 1})
    terminated = False
    while not terminated:
        terminated = env.step(0)[2]
    with pytest.raises(RuntimeError, match="terminated"):
        env.step(0)
    with pytest.raises(ValueError, match="render_mode"):
        AIGCEdgeEnv(render_mode="human")
    with pytest.raises(ValueError, match="world_seed=-1"):
        AIGCEdgeEnv(world_seed=-1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "nope"}, "unknown preset 'nope'; choose one of: adsac-paper, agod-paper"),
        ({"num_servrs": 3}, r"unknown AIGC env setting\(s\) \['num_servrs'\]; valid keys"),
        ({"num_servers": 0}, "num_servers=0: must be an integer >= 1"),
        ({"models_per_server": 2.5}, "models_per_server=2.5: must be an integer >= 1"),
        ({"capacity_range": (600, 500, 100)}, r"capacity_range=\(600, 500, 100\): must be an"),
        ({"capacity_range": (100, 200, 100)}, "the largest capacity must fit"),
        ({"demand_range": (5, 100, 5)}, "demands must be integers >= 10"),
        ({"ax_range": (0, 200, 10)}, "every ax must be below every bx"),
        ({"ay_range": (-0.5, 0.5, 0.05)}, "values must be >= 0"),
        ({"arrival_rate": 0.0}, "arrival_rate=0.0: must be a finite number > 0"),
        ({"arrival_rate": "fast"}, "arrival_rate='fast': must be a finite number > 0"),
        ({"capacity_range": "600:1500"}, "capacity_range='600:1500': must be an arange triple"),
        (
            {"arrival_rate_range": (0.002, 0.001), "world_per_episode": True},
            r"arrival_rate_range=\(0.002, 0.001\): must be \(low, high\) with 0 < low <= high",
        ),
        ({"arrival_rate_range": (0.001, 0.002)}, "needs world_per_episode=True"),
        ({"arrival_rate": 5.0}, "tasks per episode: must be <= 1e6"),
        ({"crash_penalty": -1.0}, "crash_penalty=-1.0: must be a finite number >= 0"),
        ({"observation": "image"}, "observation='image': must be one of"),
        ({"reward": "b"}, "reward='b': must be one of"),
        ({"reference": "agod"}, "reference='agod' with reward='b\\+q'"),
        ({"world_per_episode": 1}, "world_per_episode=1: must be True or False"),
    ],
)
def test_bad_config_errors_name_field_value_and_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AIGCEdgeEnv(**kwargs)


def test_make_aigc_config_presets_and_config_argument():
    cfg = make_aigc_config("regions", num_servers=6)
    assert cfg.num_servers == 6 and cfg.world_per_episode and cfg.observation == "tokens"
    env = AIGCEdgeEnv(config=cfg, models_per_server=2)
    assert env.action_space.n == 12 and env.observation_space.shape == (13, 16)
    assert make_aigc_config("agod-paper").num_actions == 20
    with pytest.raises(ValueError, match="unknown AIGC env setting"):
        AIGCEdgeEnv(config=cfg, bogus=1)
    listed = make_aigc_config("adsac-paper", capacity_range=[600, 1500, 100])
    assert listed == make_aigc_config("adsac-paper") and hash(listed) == hash(
        PRESETS["adsac-paper"]
    )


def test_worked_crash_example_of_the_docstring():
    """The Rewards example of AIGCEdgeEnv's docstring, in the scalar and the vector env (a
    hand-made world and stream are installed through the envs' internal episode setup)."""
    cfg = make_aigc_config(
        num_servers=1,
        models_per_server=2,
        num_task_types=1,
        capacity_range=(600, 700, 100),
        demand_range=(200, 280, 40),  # choices 200, 240
    )
    zeros = np.zeros((1, 2))
    world = World(np.array([600]), np.zeros((1, 2, 1)), zeros, zeros, zeros + 150, zeros + 0.5, 1.0)
    arrival = np.array([0, 11_418, 19_308, 30_000])
    stream = make_stream(cfg, arrival, np.zeros(4, dtype=np.int64), np.array([1, 0, 0, 0]))
    assert stream.demand.tolist() == [240, 200, 200, 200]
    assert runtime(240) == 38_616 and runtime(200) == 31_560
    env = AIGCEdgeEnv(config=cfg)
    env._set_world(world)
    env._start(stream)
    assert env.step(0)[1] > 0 and env.step(1)[1] > 0  # both fit: 600 - 240 - 200 = 160 free
    assert env.free_capacity.tolist() == [160]
    _, reward, terminated, _, info = env.step(0)  # t = 200 > 160: crash
    assert reward == -4.5 and info["crashed"] and info["tasks_killed"] == 2 and terminated
    assert info["summary"]["crash_events"] == 1 and info["summary"]["tasks_dropped"] == 1

    vec = AIGCEdgeVectorEnv(1, config=cfg)
    vec.reset(seed=0)
    vec._set_lane_world(0, world)
    vec._util = world.utility_table(cfg).reshape(1, -1)  # the fixed-world table, replaced
    vec._load_stream(0, stream)
    rewards = [vec.step(np.array([a]))[1][0] for a in (0, 1, 0)]
    assert rewards[0] > 0 and rewards[1] > 0 and rewards[2] == -4.5
