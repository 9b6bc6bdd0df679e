"""The batched AIGC vector env against the scalar env, lane by lane (EnvPool-style alignment).

The expected side is gymnasium's own ``SyncVectorEnv`` over scalar ``AIGCEdgeEnv``s (NEXT_STEP
autoreset, its info convention), so observations, rewards, terminations and the whole info
dicts (keys, masks, dtypes, values) must be identical, through several episodes and autoresets.
"""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest

import edge_rl  # noqa: F401  (registers edge_rl/AIGCEdge-v0)
from edge_rl.envs.aigc import AIGCEdgeEnv, AIGCEdgeVectorEnv

SHORT = {"horizon": 40_000}  # ~60 decisions per episode: many autoresets
CASES = [
    ("adsac-paper", {}, 1700),  # full-length episodes, crossing an autoreset
    ("adsac-paper", SHORT, 700),
    ("agod-paper", SHORT, 700),
    ("regions", SHORT, 700),
    ("adsac-paper", {**SHORT, "observation": "tokens"}, 500),
    ("agod-paper", {**SHORT, "observation": "tokens", "arrival_rate": 0.004}, 500),
    (
        "regions",
        {"horizon": 10_000, "arrival_rate_range": (0.004, 0.02), "num_servers": 3},
        800,
    ),
    ("adsac-paper", {**SHORT, "models_per_server": 3, "num_task_types": 2}, 500),
]
IDS = [f"{p}-{i}" for i, (p, _, _) in enumerate(CASES)]


def assert_same_info(got: dict, want: dict, path: str = "info") -> None:
    assert sorted(got) == sorted(want), path
    for key, value in want.items():
        if isinstance(value, dict):
            assert_same_info(got[key], value, f"{path}[{key!r}]")
        else:
            assert got[key].dtype == value.dtype, f"{path}[{key!r}] dtype"
            np.testing.assert_array_equal(got[key], value, err_msg=f"{path}[{key!r}]")


@pytest.mark.parametrize(("preset", "overrides", "steps"), CASES, ids=IDS)
def test_vector_matches_sync_vector_of_scalar_envs(preset, overrides, steps):
    n = 4
    vec = AIGCEdgeVectorEnv(n, preset=preset, world_seed=3, **overrides)
    sync = gym.vector.SyncVectorEnv(
        [lambda: AIGCEdgeEnv(preset, world_seed=3, **overrides) for _ in range(n)]
    )
    got, want = vec.reset(seed=100), sync.reset(seed=100)
    np.testing.assert_array_equal(got[0], want[0])
    assert_same_info(got[1], want[1])
    rng = np.random.default_rng(0)
    finished = 0
    for step in range(steps):
        actions = rng.integers(vec.single_action_space.n, size=n)
        got, want = vec.step(actions), sync.step(actions)
        for name, g, w in zip(
            ("obs", "reward", "terminated", "truncated"), got, want, strict=False
        ):
            np.testing.assert_array_equal(g, w, err_msg=f"{name} at step {step}")
        assert got[1].dtype == want[1].dtype == np.float64
        assert_same_info(got[4], want[4])
        finished += int(got[2].sum())
    assert finished >= n, "the run should cross autoresets in every lane"


def test_vector_seeds_per_lane_and_reseeding():
    vec = AIGCEdgeVectorEnv(3, preset="adsac-paper")
    obs, _ = vec.reset(seed=[5, None, 7])
    scalar = AIGCEdgeEnv("adsac-paper")
    np.testing.assert_array_equal(obs[0], scalar.reset(seed=5)[0])
    np.testing.assert_array_equal(obs[2], scalar.reset(seed=7)[0])
    again, _ = vec.reset(seed=[5, 6, 7])
    np.testing.assert_array_equal(again[0], obs[0])
    with pytest.raises(ValueError, match="2 seeds for 3 lanes"):
        vec.reset(seed=[1, 2])
    with pytest.raises(ValueError, match="options"):
        vec.reset(options={"x": 1})


def test_vector_action_errors():
    vec = AIGCEdgeVectorEnv(4, preset="agod-paper")
    with pytest.raises(RuntimeError, match="before reset"):
        vec.step(np.zeros(4, dtype=np.int64))
    vec.reset(seed=0)
    for bad in (np.zeros(3, dtype=np.int64), np.zeros(4), np.zeros((4, 1), dtype=np.int64)):
        with pytest.raises(ValueError, match="one per lane"):
            vec.step(bad)
    with pytest.raises(ValueError, match=r"actions\[2\]=20: out of range"):
        vec.step(np.array([0, 1, 20, 3]))
    vec.step([0, 1, 2, 3])  # a list of ints is fine
    with pytest.raises(ValueError, match="num_envs=0"):
        AIGCEdgeVectorEnv(0)


def test_vector_buffers_grow_for_long_episodes():
    """Lane buffers are sized from the arrival rate; a longer episode must grow them."""
    vec = AIGCEdgeVectorEnv(2, preset="regions", horizon=50_000)
    vec._alloc(8)  # far too small for ~100 tasks
    vec.reset(seed=1)
    sync = gym.vector.SyncVectorEnv(
        [lambda: AIGCEdgeEnv("regions", horizon=50_000) for _ in range(2)]
    )
    want = sync.reset(seed=1)
    got = vec.reset(seed=1)
    np.testing.assert_array_equal(got[0], want[0])
    rng = np.random.default_rng(3)
    for _ in range(300):
        actions = rng.integers(40, size=2)
        got, want = vec.step(actions), sync.step(actions)
        np.testing.assert_array_equal(got[1], want[1])
    assert vec._slots > 8


def test_vector_spaces_metadata_and_pickle():
    vec = gym.make_vec(
        "edge_rl/AIGCEdge-v0",
        num_envs=3,
        vectorization_mode="vector_entry_point",
        preset="adsac-paper",
        world_seed=2,
    )
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    assert vec.single_observation_space.shape == (36,)
    assert vec.observation_space.shape == (3, 36) and vec.action_space.shape == (3,)
    obs, _ = vec.reset(seed=0)
    assert obs in vec.observation_space
    vec.step(vec.action_space.sample())
    copy = pickle.loads(pickle.dumps(vec))
    actions = np.array([1, 2, 3])
    a, b = vec.step(actions), copy.step(actions)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
