"""The scalar load-balancing env and its config: API, determinism, invariants, errors."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import edge_rl  # noqa: F401 - registers the env ids
from edge_rl.envs import LOAD_BALANCE_ENV_ID
from edge_rl.envs.load_balance import (
    PRESETS,
    LoadBalanceConfig,
    LoadBalanceEnv,
    make_load_balance_config,
)
from edge_rl.envs.load_balance.workload import draw_job_stream

#: Zero-length services (rate 50 vs sizes >= 3) and simultaneous arrivals: completions at the
#: exact time of the next arrival, the event-order corner cases of Park's heap.
EDGE = dict(
    num_servers=3,
    service_rates=(50.0, 0.5, 1.0),
    mean_interval=0.5,
    pareto_scale=3.0,
    jobs_per_episode=300,
)


def play(env: LoadBalanceEnv, seed: int | None, policy=None, rng=None):
    """One episode; returns (observations, rewards, last info)."""
    obs, info = env.reset(seed=seed)
    observations, rewards, done = [obs], [], False
    rng = rng or np.random.default_rng(0)
    while not done:
        action = policy(obs) if policy else int(rng.integers(env.num_servers))
        obs, reward, done, truncated, info = env.step(action)
        assert not truncated
        observations.append(obs)
        rewards.append(reward)
    return np.array(observations), np.array(rewards), info


# -- config -------------------------------------------------------------------------------------
def test_park_preset_is_parks_defaults():
    c = PRESETS["park"]
    assert c.service_rates == (0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.05)
    assert (c.num_servers, c.jobs_per_episode, c.obs_clip) == (10, 1000, 5e5)
    assert (c.job_size_dist, c.pareto_shape, c.pareto_scale, c.mean_interval) == (
        "pareto",
        1.5,
        100.0,
        55.0,
    )
    assert c.offered_load == pytest.approx(300 / (55 * 6.0))
    assert PRESETS["uniform-55"].offered_load > 1.6  # the overloaded task
    assert PRESETS["uniform-100"].offered_load == pytest.approx(550 / 600)


def test_make_config_overrides_rename_changed_workloads():
    assert make_load_balance_config("pareto-70").mean_interval == 70.0
    c = make_load_balance_config("park", mean_interval=45.0, obs_layout="scaled")
    assert c.name == "park[mean_interval=45.0]" and c.obs_layout == "scaled"
    assert make_load_balance_config("park", obs_layout="scaled").name == "park"
    assert make_load_balance_config("park", mean_interval=45.0, name="mine").name == "mine"
    assert make_load_balance_config("park", service_rates=[1.0] * 10).service_rates == (1.0,) * 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_servers": 0}, "num_servers=0: must be an integer >= 1"),
        ({"num_servers": 3}, "service_rates=.*num_servers=3"),
        ({"service_rates": (1.0,) * 9 + (0.0,)}, "every rate must be a finite number > 0"),
        ({"job_size_dist": "normal"}, r"job_size_dist='normal': must be one of \['pareto'"),
        ({"pareto_shape": 1.0}, r"pareto_shape=1.0: must be a number in \(1, 100\]"),
        ({"uniform_low": 500.0, "uniform_high": 400.0}, "uniform_high=400.0: must be > uniform"),
        ({"mean_interval": 0}, r"mean_interval=0: must be a number in \(0,"),
        ({"jobs_per_episode": 2.5}, "jobs_per_episode=2.5: must be an integer >= 1"),
        ({"obs_clip": -1.0}, "obs_clip=-1.0"),
        ({"rate_permutation": (0, 0, 1, 2, 3, 4, 5, 6, 7, 8)}, "permutation of range"),
        ({"obs_layout": "raw"}, r"obs_layout='raw': must be one of \['park', 'scaled'\]"),
    ],
)
def test_bad_config_errors_name_field_value_and_range(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_load_balance_config("park", **kwargs)


def test_unknown_preset_or_field_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown preset 'nope'; choose one of: park, pareto-45"):
        make_load_balance_config("nope")
    with pytest.raises(ValueError, match=r"unknown LoadBalanceConfig field\(s\) \['speed'\]"):
        make_load_balance_config("park", speed=2)


def test_job_stream_equals_parks_lazy_legacy_draws():
    """Batched draws == Park's interleaved pareto/exponential calls, and the same RNG state."""
    for seed in (0, 1, 12345):
        lazy = np.random.RandomState(seed)
        sizes, gaps = [], []
        for _ in range(1000):
            sizes.append(int((lazy.pareto(1.5) + 1) * 100.0))
            gaps.append(int(lazy.exponential(55)))
        batched = np.random.RandomState(seed)
        arrivals, drawn = draw_job_stream(batched, PRESETS["park"])
        assert drawn.tolist() == sizes
        assert arrivals.tolist() == np.cumsum(gaps).tolist()
        assert batched.randint(2**31) == lazy.randint(2**31)


# -- env API --------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("layout", ["park", "scaled"])
def test_check_env_every_preset(preset, layout):
    check_env(LoadBalanceEnv(preset=preset, obs_layout=layout), skip_render_check=True)


def test_gym_make_by_registered_id():
    env = gym.make(LOAD_BALANCE_ENV_ID, preset="pareto-70", obs_layout="scaled")
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs) and info["task"] == "pareto-70"
    assert env.unwrapped.config.mean_interval == 70.0
    assert env.unwrapped.config.obs_layout == "scaled"


def test_same_seed_same_episode_and_seed_changes_it():
    env = LoadBalanceEnv(preset="debug")
    a = play(env, 7)
    b = play(LoadBalanceEnv(preset="debug"), 7)
    c = play(env, 8)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("preset", ["park", "uniform-55", "pareto-45"])
def test_observations_stay_in_space_over_long_random_play(preset):
    env = LoadBalanceEnv(preset=preset)
    for layout_env in (env, LoadBalanceEnv(preset=preset, obs_layout="scaled")):
        for seed in range(2):
            observations, _, _ = play(layout_env, seed)
            space = layout_env.observation_space
            assert observations.dtype == np.float32
            assert all(space.contains(o) for o in observations)
    # queues on the overloaded task grow past a low clip: observations sit exactly at the bound
    for layout in ("park", "scaled"):
        env = LoadBalanceEnv(preset="uniform-55", obs_clip=2000.0, obs_layout=layout)
        observations, _, _ = play(env, 0)
        assert observations.max() == env.observation_space.high[0]
        assert all(env.observation_space.contains(o) for o in observations)


def test_episode_is_exactly_jobs_per_episode_steps_and_return_is_minus_sum_of_jcts():
    env = LoadBalanceEnv(preset="park")
    _, rewards, info = play(env, 0)
    assert len(rewards) == 1000
    summary = info["summary"]
    assert summary == env.episode_summary()
    assert summary["length"] == 1000 and summary["jobs"] == 1000
    jct = np.array(env._finish) - np.array(env._arrivals)  # finish - arrival, per job
    assert (jct >= 0).all()
    assert summary["return"] == rewards.sum() == -jct.sum()
    assert summary["mean_jct"] == pytest.approx(-summary["return"] / 1000, rel=1e-12)
    assert rewards[-1] < rewards[:-1].min()  # the last step drains the system


@pytest.mark.parametrize("overrides", [{}, EDGE], ids=["park", "edge"])
def test_no_job_is_lost(overrides):
    env = LoadBalanceEnv(preset="park", **overrides)
    rng = np.random.default_rng(1)
    env.reset(seed=5)
    done, steps = False, 0
    while not done:
        _, _, done, _, info = env.step(int(rng.integers(env.num_servers)))
        steps += 1
        assigned = env.jobs_assigned
        waiting, serving = env.queue_lengths().sum(), env.jobs_in_service().sum()
        assert assigned == steps
        assert info["jobs_done"] == env.jobs_done
        # Arrived and placed = finished + waiting + in service (a job whose completion event is
        # still queued at this very instant is in service, as in Park).
        assert assigned == env.jobs_done + waiting + serving
    assert env.jobs_done == env.config.jobs_per_episode
    assert env.queue_lengths().sum() == 0 and env.jobs_in_service().sum() == 0


def test_accessors_match_the_park_observation():
    env = LoadBalanceEnv(preset="park")
    obs, _ = env.reset(seed=2)
    for action in [3, 3, 3, 9, 0, 3]:
        load = env.queued_work() + env.remaining_service_time()
        assert np.array_equal(obs[:-1], np.minimum(load, 5e5).astype(np.float32))
        assert np.array_equal(env.server_loads(), obs[:-1].astype(np.float64))
        assert obs[-1] == env.incoming_job_size
        obs, *_ = env.step(action)
    assert env.queue_lengths()[3] >= 1  # four jobs on server 3 within a few arrivals
    assert env.service_rates.tolist() == list(PRESETS["park"].service_rates)


def test_rate_permutation_moves_the_rates():
    perm = tuple(range(9, -1, -1))
    env = LoadBalanceEnv(preset="park", rate_permutation=perm)
    env.reset(seed=0)
    assert env.service_rates.tolist() == list(PRESETS["park"].service_rates)[::-1]


def test_pickle_round_trip_mid_episode():
    env = LoadBalanceEnv(preset="park", **EDGE)
    env.reset(seed=11)
    for action in [0, 1, 2, 0, 0, 1] * 5:
        env.step(action)
    clone = pickle.loads(pickle.dumps(env))
    rng = np.random.default_rng(0)
    for _ in range(100):
        action = int(rng.integers(3))
        a, b = env.step(action), clone.step(action)
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4]


def test_unseeded_reset_continues_the_stream_like_park():
    """Park draws one job per decision; an abandoned episode leaves the stream there."""
    env = LoadBalanceEnv(preset="park")
    env.reset(seed=4)
    for _ in range(9):  # Park has drawn jobs 0..9 now
        env.step(0)
    obs, _ = env.reset()
    lazy = np.random.RandomState(4)
    for _ in range(10):
        lazy.pareto(1.5), lazy.exponential(55)
    assert obs[-1] == int((lazy.pareto(1.5) + 1) * 100.0)
    assert env.current_time == int(lazy.exponential(55))
    # after a finished episode, the next one starts at draw 1000
    env2 = LoadBalanceEnv(preset="park")
    play(env2, 4)
    obs, _ = env2.reset()
    lazy = np.random.RandomState(4)
    lazy.standard_exponential(2000)
    assert obs[-1] == int((lazy.pareto(1.5) + 1) * 100.0)


@pytest.mark.parametrize("bad", [10, -1, 2.0, "1", True, np.array([1, 2]), None])
def test_bad_action_raises_a_clear_value_error(bad):
    env = LoadBalanceEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action=.*must be an integer in \[0, 9\]"):
        env.step(bad)


def test_numpy_integer_actions_are_accepted():
    env = LoadBalanceEnv()
    env.reset(seed=0)
    env.step(np.int64(3))
    env.step(np.array(4))
    env.step(np.uint8(5))


def test_step_outside_an_episode_raises():
    env = LoadBalanceEnv(preset="debug")
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(0)
    play(env, 0)
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step(0)


def test_bad_seed_and_constructor_arguments():
    with pytest.raises(ValueError, match=r"seed=-1: must be an integer in \[0, 2\*\*32 - 1\]"):
        LoadBalanceEnv().reset(seed=-1)
    with pytest.raises(ValueError, match="unknown preset"):
        LoadBalanceEnv(preset="nope")
    with pytest.raises(ValueError, match="either schedule= or preset=/config="):
        LoadBalanceEnv(config=LoadBalanceConfig(), schedule="park:1")


def test_info_per_step_and_render():
    env = LoadBalanceEnv(preset="debug", render_mode="ansi")
    _, info = env.reset(seed=0)
    assert {"task", "trial", "episode_in_task", "held_out", "time", "jobs_done"} <= info.keys()
    _, _, _, _, info = env.step(0)
    assert info["task"] == "debug" and info["time"] == env.current_time
    assert env.render().startswith(f"t={env.current_time} loads=[")
