"""Resource plans, checked without Ray: bundles as RLlib asks for them, fits, and errors that
say what to change."""

from __future__ import annotations

import pytest

from edge_rl.training.algos import RunSpec, build_config
from edge_rl.training.resources import (
    ResourceError,
    ResourcePlan,
    check_plan,
    parse_resources,
    plan_from_config,
)


def _nonzero(bundles: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in b.items() if v} for b in bundles]


@pytest.mark.parametrize(
    "spec",
    [
        RunSpec(algo="adsac"),
        RunSpec(
            algo="adsac",
            num_env_runners=3,
            cpus_per_env_runner=0.5,
            cpus_for_main_process=0.5,
            cpus_per_learner=0.5,
        ),  # fmt: skip
        RunSpec(
            algo="adsac",
            num_env_runners=2,
            env_runner_resources={"rollout": 1},
            num_learners=2,
            gpus_per_learner=1,
            learner_resources={"learner": 1},
        ),  # fmt: skip
        RunSpec(algo="ppo", num_env_runners=1, num_learners=1, gpus_per_learner=0),
    ],
)
def test_bundles_match_rllibs_placement_group(spec: RunSpec) -> None:
    config = build_config(spec)
    expected = config.algo_class.default_resource_request(config).bundles
    assert _nonzero(plan_from_config(config).bundles()) == _nonzero(expected)


def test_train_plan_leaves_out_the_driver() -> None:
    plan = ResourcePlan(num_env_runners=2, cpus_per_env_runner=1.0)
    assert plan.demand(with_main=False) == {"CPU": 2.0}
    assert plan.demand() == {"CPU": 3.0}
    assert check_plan(plan, {"CPU": 2.0}, with_main=False).concurrent == 1


def test_fit_counts_concurrent_trials_and_ignores_rays_bookkeeping() -> None:
    plan = ResourcePlan(num_env_runners=2, cpus_per_env_runner=0.5, cpus_for_main_process=1.0)
    cluster = {"CPU": 64.0, "GPU": 0.0, "memory": 1e10, "object_store_memory": 1e9}
    fit = check_plan(plan, cluster)
    assert fit.concurrent == 32 and fit.demand == {"CPU": 2.0}


def test_too_few_cpus_names_the_fixes() -> None:
    plan = ResourcePlan(num_env_runners=2, cpus_per_env_runner=1.0)
    with pytest.raises(ResourceError) as info:
        check_plan(plan, {"CPU": 2.0}, where="this machine")
    msg = str(info.value)
    assert "CPU: needs 3, this machine has 2" in msg
    assert "--num-env-runners 1" in msg and "--cpus-per-env-runner 0.5" in msg
    assert "--cpus-for-main 0.5 --cpus-per-learner 0.5" in msg


def test_gpu_learners_without_gpus() -> None:
    plan = ResourcePlan(num_learners=2, gpus_per_learner=1.0)
    with pytest.raises(
        ResourceError, match=r"GPU: needs 2, the cluster has 0.*--gpus-per-learner 0"
    ):
        check_plan(plan, {"CPU": 8.0})


def test_missing_custom_resource_says_how_to_offer_it() -> None:
    plan = ResourcePlan(num_env_runners=2, env_runner_resources={"rollout": 1})
    with pytest.raises(ResourceError) as info:
        check_plan(plan, {"CPU": 8.0})
    msg = str(info.value)
    assert "'rollout'" in msg and "--env-runner-resource" in msg
    assert "ray start --resources" in msg


def test_custom_resources_place_runners_on_cpu_nodes_and_learners_on_gpu_nodes() -> None:
    head = {"CPU": 2.0}
    cpu_node = {"CPU": 8.0, "rollout": 8.0}
    gpu_node = {"CPU": 8.0, "GPU": 1.0, "learner": 1.0}
    plan = ResourcePlan(
        num_env_runners=8,
        env_runner_resources={"rollout": 1},
        num_learners=1,
        gpus_per_learner=1.0,
        cpus_per_learner=1.0,
        learner_resources={"learner": 1},
    )
    totals = {"CPU": 18.0, "GPU": 1.0, "rollout": 8.0, "learner": 1.0}
    assert check_plan(plan, totals, [head, cpu_node, gpu_node]).concurrent == 1
    # nine runners: the totals say no (rollout 9 > 8) before any packing
    with pytest.raises(ResourceError, match="rollout: needs 9"):
        check_plan(ResourcePlan(**{**plan.__dict__, "num_env_runners": 9}), totals)


def test_a_bundle_bigger_than_every_node_fails_even_if_totals_fit() -> None:
    plan = ResourcePlan(num_env_runners=1, cpus_per_env_runner=4.0)
    nodes = [{"CPU": 2.0}, {"CPU": 2.0}, {"CPU": 2.0}]
    with pytest.raises(ResourceError, match=r"one env runner needs \{CPU: 4\} on one node"):
        check_plan(plan, {"CPU": 6.0}, nodes)


def test_bundles_that_do_not_pack_onto_nodes() -> None:
    # 3 x 1.5 CPUs: totals 4.5 <= 5, each fits a 2.5-CPU node, but only one per node
    plan = ResourcePlan(num_env_runners=3, cpus_per_env_runner=1.5)
    with pytest.raises(ResourceError, match="do not pack onto the nodes"):
        check_plan(plan, {"CPU": 5.0}, [{"CPU": 2.5}, {"CPU": 2.5}], with_main=False)


def test_describe_reads_like_the_plan() -> None:
    plan = ResourcePlan(num_env_runners=2, envs_per_runner=8, cpus_per_env_runner=0.5)
    assert plan.describe() == (
        "main {CPU: 1} + 2 env runner(s) x {CPU: 0.5} (8 envs each) = {CPU: 2}"
    )


def test_parse_resources() -> None:
    assert parse_resources(["rollout=1", "edge=0.5"], "--x") == {"rollout": 1.0, "edge": 0.5}
    for bad in ("rollout", "=1", "rollout=-1", "rollout=lots"):
        with pytest.raises(ValueError, match="NAME=AMOUNT"):
            parse_resources([bad], "--env-runner-resource")


def test_train_flags_reach_the_config() -> None:
    from edge_rl.cli import build_parser
    from edge_rl.commands.train import build_spec

    args = build_parser().parse_args(
        ["train", "--algo", "adsac", "--num-env-runners", "2", "--cpus-per-env-runner", "0.5",
         "--env-runner-resource", "rollout=1", "--num-learners", "1", "--gpus-per-learner", "1",
         "--learner-resource", "learner=1", "--cpus-for-main", "0.5", "--output", "x"]
    )  # fmt: skip
    config = build_config(build_spec(args))
    assert config.custom_resources_per_env_runner == {"rollout": 1.0}
    assert config.custom_resources_per_learner == {"learner": 1.0}
    assert config.num_cpus_per_env_runner == 0.5 and config.num_cpus_for_main_process == 0.5
    assert config.restart_failed_env_runners is True


@pytest.mark.ray
def test_train_that_cannot_fit_is_a_one_line_error(ray_session, tmp_path, capsys) -> None:
    from edge_rl.cli import main

    code = main(["train", "--algo", "adsac", "--num-env-runners", "3", "--output",
                 str(tmp_path / "run"), "--timesteps", "32"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "CPU: needs 3, the cluster has 2" in err and "--cpus-per-env-runner 0.66" in err
    assert not (tmp_path / "run" / "checkpoints").exists()
