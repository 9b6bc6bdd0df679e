"""``reward_mode="jct"``: each job's completion time charged at dispatch, same episode return."""

from __future__ import annotations

import numpy as np
import pytest

# pytest puts this directory on sys.path: the event-order corner-case config of the env tests
from test_load_balance import EDGE

from edge_rl.envs.load_balance import LoadBalanceEnv, make_load_balance_config
from edge_rl.envs.load_balance.trial import MetaTrialEnv
from edge_rl.envs.load_balance.vector import LoadBalanceVectorEnv


def _run(env: LoadBalanceEnv, seed: int, policy_seed: int) -> tuple[list[float], dict]:
    rng = np.random.default_rng(policy_seed)
    env.reset(seed=seed)
    rewards, done, info = [], False, {}
    while not done:
        _, reward, done, _, info = env.step(int(rng.integers(env.num_servers)))
        rewards.append(reward)
    return rewards, info


@pytest.mark.parametrize(
    "preset, overrides",
    [("park", {}), ("uniform-55", {}), ("park", EDGE)],
    ids=["park", "overloaded-uniform", "edge-cases"],
)
def test_jct_rewards_are_each_jobs_completion_time_and_sum_to_the_park_return(
    preset: str, overrides: dict
) -> None:
    park = LoadBalanceEnv(config=make_load_balance_config(preset, **overrides))
    jct = LoadBalanceEnv(config=make_load_balance_config(preset, reward_mode="jct", **overrides))
    park_rewards, park_info = _run(park, seed=3, policy_seed=7)
    jct_rewards, jct_info = _run(jct, seed=3, policy_seed=7)
    # Same actions on the same job stream: the same schedule, so the same total.
    assert sum(jct_rewards) == pytest.approx(sum(park_rewards), rel=1e-12)
    assert jct_info["summary"]["mean_jct"] == park_info["summary"]["mean_jct"]
    # Reward k is minus job k's completion time as the simulator later recorded it
    # (internal arrays: no public per-job accessor).
    completion = np.asarray(jct._finish) - np.asarray(jct._arrivals)
    np.testing.assert_array_equal(-np.asarray(jct_rewards), completion)
    assert park_rewards != jct_rewards


def test_jct_mode_flows_through_trials_and_bad_values_are_named() -> None:
    trial = MetaTrialEnv(episodes_per_trial=2, preset="park", reward_mode="jct", reward_scale=1.0)
    trial.reset(seed=0)
    assert trial.inner.config.reward_mode == "jct"
    _, reward, *_ = trial.step(0)
    # The first job lands on an idle server: its completion time is its own service time.
    assert reward == -int(trial.inner._sizes[0] / trial.inner.service_rates[0])
    with pytest.raises(ValueError, match=r"reward_mode='time'.*'park', 'jct'"):
        make_load_balance_config("park", reward_mode="time")
    with pytest.raises(ValueError, match="batched load-balancing env computes Park's reward"):
        LoadBalanceVectorEnv(num_envs=2, preset="park", reward_mode="jct")
