"""The vector env: lane-by-lane alignment with the scalar env (EnvPool style), API, errors."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import edge_rl  # noqa: F401 - registers the env ids
from edge_rl.envs import LOAD_BALANCE_ENV_ID
from edge_rl.envs.load_balance import LoadBalanceEnv, LoadBalanceVectorEnv

EDGE_A = dict(
    preset="debug",
    num_servers=3,
    service_rates=(50.0, 0.5, 1.0),
    mean_interval=0.5,
    pareto_scale=3.0,
)
EDGE_B = dict(
    preset="debug",
    num_servers=4,
    service_rates=(2.0, 3.0, 0.5, 7.0),
    mean_interval=3.0,
    pareto_scale=3.0,
)
SUMMARY_KEYS = ("return", "length", "mean_jct", "jobs")


def assert_aligned(kwargs: dict, num_envs: int, steps: int, seed: int = 10) -> int:
    """Step the vector env and num_envs scalar envs with the same random actions; compare all.

    Returns how many episodes ended (so callers can check autoresets were exercised).
    """
    vec = LoadBalanceVectorEnv(num_envs, **kwargs)
    envs = [LoadBalanceEnv(**kwargs) for _ in range(num_envs)]
    obs, infos = vec.reset(seed=seed)
    for i, env in enumerate(envs):
        o, info = env.reset(seed=seed + i)
        assert np.array_equal(obs[i], o)
        assert infos["task"][i] == info["task"] and infos["trial"][i] == info["trial"]
    rng = np.random.default_rng(seed)
    ended, pending_reset = 0, [False] * num_envs
    # park layout: bit-exact; scaled: log1p of a batch may differ from a row's in the last ulp
    layout_exact = envs[0].config.obs_layout == "park"
    for _ in range(steps):
        actions = rng.integers(vec.single_action_space.n, size=num_envs)
        obs, rewards, terminated, truncated, infos = vec.step(actions)
        assert not truncated.any()
        for i, env in enumerate(envs):
            if pending_reset[i]:  # NEXT_STEP autoreset: the action is ignored
                o, info = env.reset()
                r, done = 0.0, False
                pending_reset[i] = False
                assert infos["_trial"][i] and infos["trial"][i] == info["trial"]
                assert infos["episode_in_task"][i] == info["episode_in_task"]
            else:
                o, r, done, _, info = env.step(int(actions[i]))
            if layout_exact:
                assert np.array_equal(obs[i], o)
            else:
                np.testing.assert_allclose(obs[i], o, rtol=1e-6)
            assert rewards[i] == r and terminated[i] == done
            assert infos["time"][i] == info["time"] and infos["jobs_done"][i] == info["jobs_done"]
            assert infos["task"][i] == info["task"]
            assert bool(infos.get("_summary", np.zeros(num_envs, bool))[i]) == done
            if done:
                ended += 1
                pending_reset[i] = True
                for key in SUMMARY_KEYS:
                    assert infos["summary"][key][i] == info["summary"][key], key
    return ended


@pytest.mark.parametrize(
    ("kwargs", "steps", "episodes"),
    [
        (dict(preset="debug"), 350, 3),
        (dict(preset="park"), 2050, 2),
        (dict(preset="uniform-55", jobs_per_episode=300), 650, 2),
        (dict(EDGE_A, jobs_per_episode=60), 400, 6),
        (dict(EDGE_B, jobs_per_episode=50), 400, 7),
        (
            dict(
                preset="debug", obs_layout="scaled", rate_permutation=(3, 1, 4, 0, 5, 9, 2, 6, 8, 7)
            ),
            220,
            2,
        ),
    ],
    ids=["debug", "park", "uniform-55", "edge-a", "edge-b", "scaled-permuted"],
)
def test_lanes_equal_scalar_envs_through_autoresets(kwargs, steps, episodes):
    assert assert_aligned(kwargs, num_envs=6, steps=steps) == 6 * episodes


def test_lanes_follow_their_own_schedule_and_sampled_tasks():
    kwargs = dict(schedule="debug:1,sample-train:2,sample-held-out:1,cycle", jobs_per_episode=100)
    assert assert_aligned(kwargs, num_envs=4, steps=101 * 9) == 4 * 9


def test_lanes_align_when_episode_lengths_differ():
    """Tasks with different episode lengths desynchronise the lanes' autoresets."""
    kwargs = dict(schedule=[("debug", 1), ("pareto-70", 1), ("debug", 2)], jobs_per_episode=37)
    assert_aligned(kwargs, num_envs=3, steps=200)
    short = LoadBalanceVectorEnv(2, schedule="debug:1,park:1")
    short.reset(seed=0)
    for _ in range(101):
        short.step(np.zeros(2, dtype=np.int64))
    assert short._jm == 1000  # grown for the longer task


def test_make_vec_by_registered_id():
    env = gym.make_vec(
        LOAD_BALANCE_ENV_ID, num_envs=5, vectorization_mode="vector_entry_point", preset="pareto-70"
    )
    assert isinstance(env, LoadBalanceVectorEnv)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, infos = env.reset(seed=1)
    assert obs.shape == (5, 11) and obs.dtype == np.float32
    assert env.observation_space.contains(obs)
    assert list(infos["task"]) == ["pareto-70"] * 5 and infos["_task"].all()
    obs, rewards, terminated, truncated, infos = env.step(env.action_space.sample())
    assert rewards.dtype == np.float64 and terminated.dtype == bool and truncated.dtype == bool


def test_observations_in_space_over_long_random_play():
    env = LoadBalanceVectorEnv(16, preset="uniform-55", obs_clip=3000.0)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    top = 0.0
    for _ in range(1100):
        obs, *_ = env.step(rng.integers(10, size=16))
        assert env.observation_space.contains(obs)
        top = max(top, obs.max())
    assert top == np.float32(3000.0)


def test_seed_lists_and_determinism():
    a, b = LoadBalanceVectorEnv(3), LoadBalanceVectorEnv(3)
    obs_a, _ = a.reset(seed=[5, 6, 7])
    obs_b, _ = b.reset(seed=5)
    assert np.array_equal(obs_a, obs_b)
    actions = np.array([1, 2, 3])
    for _ in range(30):
        ra, rb = a.step(actions), b.step(actions)
        assert np.array_equal(ra[0], rb[0]) and np.array_equal(ra[1], rb[1])


def test_pickle_round_trip_mid_episode():
    env = LoadBalanceVectorEnv(4, **EDGE_A)
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(40):
        env.step(rng.integers(3, size=4))
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(150):
        actions = rng.integers(3, size=4)
        a, b = env.step(actions), clone.step(actions)
        assert all(np.array_equal(x, y) for x, y in zip(a[:4], b[:4], strict=True))


def test_unseeded_reset_mid_episode_continues_like_the_scalar_env():
    vec, env = LoadBalanceVectorEnv(1), LoadBalanceEnv()
    vec.reset(seed=9)
    env.reset(seed=9)
    for action in range(7):
        vec.step(np.array([action]))
        env.step(action)
    obs_v, _ = vec.reset()
    obs_s, _ = env.reset()
    assert np.array_equal(obs_v[0], obs_s)


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        (np.array([0, 10]), r"actions\[1\]=10: must be an integer in \[0, 9\]"),
        (np.array([0.0, 1.0]), "need 2 integers"),
        (np.array([0, 1, 2]), "need 2 integers"),
    ],
)
def test_bad_actions_raise_clear_errors(actions, message):
    env = LoadBalanceVectorEnv(2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(actions)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_envs=0: must be an integer >= 1"):
        LoadBalanceVectorEnv(0)
    with pytest.raises(RuntimeError, match="before reset"):
        LoadBalanceVectorEnv(2).step(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="seed list of length 1: need num_envs=2"):
        LoadBalanceVectorEnv(2).reset(seed=[1])
    with pytest.raises(ValueError, match=r"seed=4294967296: must be an integer in \[0, 2\*\*32"):
        LoadBalanceVectorEnv(2).reset(seed=2**32 - 1)
