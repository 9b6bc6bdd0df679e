"""The RL^2 trial env: several inner episodes of one task as one outer episode."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from edge_rl.envs.load_balance import LoadBalanceEnv
from edge_rl.envs.load_balance.trial import MetaTrialEnv, symlog

N = 10


def _play(env: MetaTrialEnv, seed: int, policy=lambda obs, t: t % N):
    obs, info = env.reset(seed=seed)
    trace, t = [obs], 0
    while True:
        obs, reward, term, trunc, info = env.step(policy(obs, t))
        trace.append(obs)
        t += 1
        if term or trunc:
            return np.array(trace), info


def test_check_env_and_spaces() -> None:
    env = MetaTrialEnv(episodes_per_trial=2, jobs_per_episode=20)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (3 * N + 3,)
    for seed in range(3):  # observations stay inside the declared bounds
        trace, _ = _play(MetaTrialEnv(episodes_per_trial=2, jobs_per_episode=20), seed)
        assert all(env.observation_space.contains(o) for o in trace)


def test_trial_runs_k_inner_episodes_of_one_task_with_markers() -> None:
    env = MetaTrialEnv(episodes_per_trial=3, tasks=["pareto-55"], jobs_per_episode=25)
    trace, info = _play(env, seed=4)
    assert len(trace) == 1 + 3 * 25
    summary = info["summary"]
    assert summary["length"] == 75 and len(summary["mean_jct_per_episode"]) == 3
    assert summary["task"].startswith("pareto-55")
    # the new-episode flag is set exactly on the first step of inner episodes 2 and 3
    flags = trace[:, 2 * N + 2]
    assert np.flatnonzero(flags).tolist() == [25, 50]
    # previous action one-hot: the action taken one step before (round robin here)
    assert trace[0, N + 1 : 2 * N + 1].sum() == 0
    assert np.argmax(trace[7, N + 1 : 2 * N + 1]) == 6
    # the service rates of the task are visible (Park's rates)
    np.testing.assert_allclose(trace[0, 2 * N + 3 :], LoadBalanceEnv().service_rates)


def test_returns_are_scaled_job_completion_times() -> None:
    env = MetaTrialEnv(episodes_per_trial=2, tasks=["park"], jobs_per_episode=30, reward_scale=10)
    total = 0.0
    env.reset(seed=1)
    while True:
        _, reward, term, _, info = env.step(0)
        total += reward
        if term:
            break
    summary = info["summary"]
    assert summary["return"] == pytest.approx(total)
    jcts = summary["mean_jct_per_episode"]
    assert summary["mean_jct"] == pytest.approx(np.mean(jcts))  # equal job counts
    assert -total * 10 == pytest.approx(30 * sum(jcts))  # return = -sum JCT / scale


def test_same_seed_same_trial_and_pickling() -> None:
    a = _play(MetaTrialEnv(episodes_per_trial=2, jobs_per_episode=15), seed=7)[0]
    b = _play(MetaTrialEnv(episodes_per_trial=2, jobs_per_episode=15), seed=7)[0]
    np.testing.assert_array_equal(a, b)
    env = MetaTrialEnv(episodes_per_trial=2, jobs_per_episode=15)
    env.reset(seed=3)
    env.step(1)
    clone = pickle.loads(pickle.dumps(env))
    for action in (2, 3, 4):
        np.testing.assert_array_equal(env.step(action)[0], clone.step(action)[0])


def test_sampled_tasks_differ_between_trials_and_splits_hold() -> None:
    env = MetaTrialEnv(episodes_per_trial=1, jobs_per_episode=5, split="held-out")
    names = set()
    for seed in range(5):
        env.reset(seed=seed)
        names.add(env.inner.config.name)
    assert len(names) > 1 and all(n.startswith("held-out:") for n in names)


def test_bad_arguments_are_clear() -> None:
    with pytest.raises(ValueError, match="episodes_per_trial=0"):
        MetaTrialEnv(episodes_per_trial=0)
    with pytest.raises(ValueError, match="split="):
        MetaTrialEnv(split="test")
    with pytest.raises(ValueError, match="reward_scale"):
        MetaTrialEnv(reward_scale=0)
    with pytest.raises(RuntimeError, match="reset"):
        MetaTrialEnv().step(0)


def test_symlog() -> None:
    np.testing.assert_allclose(symlog([-np.e + 1, 0.0, 99.0]), [-1.0, 0.0, np.log(100.0)])


# -- schedules, presets and heuristics on trials (the adaptation protocol) ----------------------


def _play_trial(env, policy, seed):
    obs, _ = env.reset(seed=seed)
    policy.reset(env)
    done = False
    info = {}
    while not done:
        obs, _, done, _, info = env.step(policy.act(obs, env))
    return info["summary"]


def test_a_one_episode_trial_replays_the_plain_env_episode():
    from edge_rl.baselines.load_balance import ShortestExpectedDelayPolicy
    from edge_rl.envs.load_balance.env import LoadBalanceEnv

    sed = ShortestExpectedDelayPolicy
    trial = _play_trial(MetaTrialEnv(schedule="park:1", jobs_per_episode=60), sed(0), 5)
    plain = _play_trial(LoadBalanceEnv(preset="park", jobs_per_episode=60), sed(0), 5)
    assert trial["mean_jct_per_episode"] == [pytest.approx(plain["mean_jct"])]


def test_schedule_switches_tasks_inside_one_trial():
    from edge_rl.baselines.load_balance import LeastObservedLoadPolicy

    env = MetaTrialEnv(schedule="pareto-55:1,uniform-100:2", jobs_per_episode=40)
    assert env.episodes_per_trial == 3
    tasks = []
    obs, _ = env.reset(seed=1)
    policy = LeastObservedLoadPolicy(0)
    done = False
    while not done:
        tasks.append(env.inner.config.name.split("[")[0])  # names carry their overrides
        obs, _, done, _, info = env.step(policy.act(obs, env))
    assert tasks[0] == "pareto-55" and tasks[-1] == "uniform-100"
    assert tasks.count("pareto-55") == 40 and tasks.count("uniform-100") == 80
    assert len(info["summary"]["mean_jct_per_episode"]) == 3


def test_preset_fixes_the_task_and_bad_presets_name_the_choices():
    env = MetaTrialEnv(preset="uniform-55", episodes_per_trial=1, jobs_per_episode=5)
    env.reset(seed=0)
    assert env.inner.config.name.startswith("uniform-55")
    with pytest.raises(ValueError, match="family"):
        MetaTrialEnv(preset="nope")
    with pytest.raises(ValueError, match="not both"):
        MetaTrialEnv(schedule="park:1", tasks=["park"])


def test_heuristic_accessors_are_forwarded_to_the_inner_env():
    env = MetaTrialEnv(episodes_per_trial=1, jobs_per_episode=5)
    env.reset(seed=0)
    assert env.num_servers == env.inner.num_servers
    np.testing.assert_array_equal(env.queued_work(), env.inner.queued_work())
    with pytest.raises(AttributeError):
        env.not_an_accessor  # noqa: B018


def test_guide_policy_labels_every_decision_with_the_heuristic_action() -> None:
    from edge_rl.baselines import make_policy

    env = MetaTrialEnv(
        episodes_per_trial=2, preset="park", jobs_per_episode=30, guide_policy="size-interval"
    )
    teacher = make_policy("load-balance", "size-interval")
    obs, info = env.reset(seed=4)
    labels, decisions = [], []
    rng = np.random.default_rng(0)
    while True:
        labels.append(info["guide_action"])
        if labels[-1] == -1:
            break
        decisions.append(teacher.act(obs, env))
        obs, _, terminated, _, info = env.step(int(rng.integers(N)))  # the agent acts itself
    assert terminated and len(decisions) == 60
    assert labels[:-1] == decisions  # the label is the heuristic's action on that state
    assert "guide_action" not in MetaTrialEnv(episodes_per_trial=1).reset(seed=0)[1]
    with pytest.raises(ValueError, match="guide_policy: unknown policy 'fastest'.*size-interval"):
        MetaTrialEnv(guide_policy="fastest")
