"""Workload schedules (task switching between episodes) and the meta-RL task family."""

from __future__ import annotations

import numpy as np
import pytest

from edge_rl.envs.load_balance import (
    PRESETS,
    TASK_FAMILY,
    LoadBalanceEnv,
    TaskFamily,
    WorkloadSchedule,
    is_held_out,
    make_load_balance_config,
    sample_task,
)


def episode_tasks(env: LoadBalanceEnv, episodes: int, seed: int = 0) -> list[dict]:
    """Reset infos of ``episodes`` episodes (the first seeded), each played to the end."""
    infos = []
    for episode in range(episodes):
        _, info = env.reset(seed=seed if episode == 0 else None)
        infos.append(info)
        done = False
        while not done:
            _, _, done, _, step_info = env.step(0)
            assert step_info["task"] == info["task"]
    return infos


def test_parse_text_pairs_and_objects_agree():
    a = WorkloadSchedule.parse("pareto-55:3, uniform-100:5")
    b = WorkloadSchedule.from_pairs([("pareto-55", 3), (PRESETS["uniform-100"], 5)])
    assert a == b == WorkloadSchedule.coerce([("pareto-55", 3), ("uniform-100", 5)])
    assert a.total_episodes == 8 and a.at_end == "hold"
    assert WorkloadSchedule.parse("park:2,cycle").at_end == "cycle"


def test_env_switches_workload_between_episodes_then_holds():
    env = LoadBalanceEnv(schedule="debug:2,pareto-100:1", jobs_per_episode=20)
    infos = episode_tasks(env, 5)
    names = [i["task"] for i in infos]
    assert names == [
        "debug[jobs_per_episode=20]",
        "debug[jobs_per_episode=20]",
        "pareto-100[jobs_per_episode=20]",
        "pareto-100[jobs_per_episode=20]",
        "pareto-100[jobs_per_episode=20]",
    ]
    assert [i["trial"] for i in infos] == [0, 0, 1, 1, 1]
    assert [i["episode_in_task"] for i in infos] == [0, 1, 0, 1, 2]
    assert env.config.mean_interval == 100.0 and env.config.jobs_per_episode == 20


def test_cycle_starts_over_and_a_seeded_reset_restarts_the_schedule():
    env = LoadBalanceEnv(schedule=[("debug", 1), ("pareto-45", 1)], jobs_per_episode=10)
    cyc = LoadBalanceEnv(schedule="debug:1,pareto-45:1,cycle", jobs_per_episode=10)
    assert [i["task"].split("[")[0] for i in episode_tasks(cyc, 5)] == [
        "debug",
        "pareto-45",
        "debug",
        "pareto-45",
        "debug",
    ]
    assert [i["trial"] for i in episode_tasks(cyc, 3, seed=1)] == [0, 1, 2]
    first = episode_tasks(env, 3, seed=3)
    again = episode_tasks(env, 3, seed=3)
    assert first == again


def test_the_switch_changes_the_dynamics():
    """Same seed, different task: the stream's sizes follow the new workload."""
    env = LoadBalanceEnv(schedule="pareto-55:1,uniform-100:1")
    episode_tasks(env, 1)
    obs, info = env.reset()
    assert info["task"] == "uniform-100" and 100 <= obs[-1] < 1000


def test_sampled_segments_draw_reproducible_tasks_per_seed():
    env = LoadBalanceEnv(schedule="sample-train:2,sample-held-out:1,cycle", jobs_per_episode=5)
    infos = episode_tasks(env, 6, seed=42)
    names = [i["task"] for i in infos]
    assert names[0] == names[1] != names[3] == names[4]
    assert [i["held_out"] for i in infos] == [False, False, True, False, False, True]
    assert all(n.startswith("train:") for n in names[:2]) and names[2].startswith("held-out:")
    assert episode_tasks(env, 6, seed=42) == infos
    assert episode_tasks(env, 6, seed=43)[0]["task"] != names[0]


def test_sample_task_respects_the_splits():
    rng = np.random.default_rng(0)
    lo, hi = TASK_FAMILY.held_out_load
    for _ in range(200):
        train = sample_task(rng, "train")
        held = sample_task(rng, "held-out")
        assert not is_held_out(train) and train.name.startswith("train:")
        assert is_held_out(held) and lo <= held.offered_load < hi
        assert TASK_FAMILY.load[0] <= train.offered_load <= TASK_FAMILY.load[1] + 1e-9
        assert sorted(train.rate_permutation) == list(range(10))
    kinds = {sample_task(rng, "all").job_size_dist for _ in range(50)}
    assert kinds == {"pareto", "uniform"}


def test_sample_task_is_seeded_by_the_caller():
    a = [sample_task(np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]
    assert sample_task(np.random.default_rng(8)) != a[0]


def test_no_named_preset_is_held_out():
    assert not any(is_held_out(config) for config in PRESETS.values())


def test_a_custom_family_keeps_its_base():
    family = TaskFamily(base=make_load_balance_config("debug"), permute_rates=False)
    task = sample_task(np.random.default_rng(0), "all", family)
    assert task.jobs_per_episode == 100 and task.rate_permutation is None


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("park", "schedule entry 'park': must be '<preset or sample-split>:<episodes>'"),
        ("park:0", r"schedule segment \(.*0\): episodes must be an integer >= 1"),
        ("nope:2", "schedule task 'nope': must be a preset"),
        ("sample-test:2", "schedule task 'sample-test': sampled tasks are sample-train"),
        ([], "needs at least one"),
    ],
)
def test_bad_schedules_raise_clear_errors(schedule, message):
    with pytest.raises(ValueError, match=message):
        WorkloadSchedule.coerce(schedule)


def test_tasks_of_one_env_must_share_the_spaces():
    odd = make_load_balance_config(
        "park", num_servers=2, service_rates=(1.0, 2.0), name="two-servers"
    )
    with pytest.raises(ValueError, match="disagree on .num_servers, obs_layout, obs_clip"):
        LoadBalanceEnv(schedule=[("park", 1), (odd, 1)])
    with pytest.raises(ValueError, match="at_end='loop': must be one of"):
        WorkloadSchedule.parse("park:1", at_end="loop")


def test_bad_task_family_ranges():
    with pytest.raises(ValueError, match="held_out_load=.*inside load"):
        TaskFamily(held_out_load=(0.1, 0.2))
    with pytest.raises(ValueError, match=r"pareto_shape=\(0.5, 2.0\): must be \(low, high\)"):
        TaskFamily(pareto_shape=(0.5, 2.0))
    with pytest.raises(ValueError, match="split='test'"):
        sample_task(np.random.default_rng(0), "test")


def test_check_env_with_a_sampled_schedule():
    from gymnasium.utils.env_checker import check_env

    env = LoadBalanceEnv(schedule="sample-all:2,park:1,cycle", obs_layout="scaled")
    check_env(env, skip_render_check=True)


def test_explicit_at_end_wins_over_the_trailing_token():
    assert WorkloadSchedule.parse("park:1,hold", at_end="cycle").at_end == "cycle"
