"""The cluster specs under cluster/: valid for Ray's launcher, the same shape in KubeRay, custom
resources wired so env runners land on CPU nodes and learners on GPU nodes, and the example job
fits the cluster it declares (checked with edge_rl's own resource plan, no Ray started)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_rl.cli import build_parser
from edge_rl.commands.train import build_spec
from edge_rl.training.algos import build_config
from edge_rl.training.resources import ResourceError, check_plan, plan_from_config

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"


def _kuberay() -> tuple[dict[str, Any], dict[str, Any]]:
    docs = list(yaml.safe_load_all((CLUSTER / "kuberay-raycluster.yaml").read_text()))
    cluster = next(d for d in docs if d["kind"] == "RayCluster")
    job = yaml.safe_load((CLUSTER / "kuberay-rayjob.yaml").read_text())
    return cluster, job


def _group_resources(group: dict[str, Any]) -> dict[str, float]:
    """Ray resources of one pod of a KubeRay group: CPU/GPU from its limits, custom ones from
    rayStartParams.resources (KubeRay's quoted JSON string)."""
    limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
    out = {"CPU": float(limits["cpu"]), "GPU": float(limits.get("nvidia.com/gpu", 0))}
    custom = group.get("rayStartParams", {}).get("resources")
    if custom:
        out.update(json.loads(json.loads(custom)))
    return out


def _nodes_of(spec: dict[str, Any]) -> list[dict[str, float]]:
    """Every pod the cluster can scale to (head + each group at maxReplicas)."""
    nodes = [_group_resources(spec["headGroupSpec"])]
    for group in spec["workerGroupSpecs"]:
        nodes += [_group_resources(group)] * group["maxReplicas"]
    return nodes


def _totals(nodes: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for node in nodes:
        for k, v in node.items():
            out[k] = out.get(k, 0.0) + v
    return out


def test_launcher_yaml_is_valid_for_rays_cluster_launcher() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((CLUSTER / "edge-rl-aws.yaml").read_text())
    validate_config(prepare_config(config))
    types = config["available_node_types"]
    assert types["rollout_cpu"]["resources"].get("rollout", 0) > 0
    assert "GPU" not in types["rollout_cpu"]["resources"]
    assert types["gpu_learner"]["resources"]["GPU"] >= 1
    assert types["gpu_learner"]["resources"]["learner"] >= 1
    assert "rollout" not in types["gpu_learner"]["resources"]
    assert "learner" not in types["rollout_cpu"]["resources"] and config["head_node_type"] == "head"


def test_kuberay_cluster_and_job_have_the_same_shape() -> None:
    cluster, job = _kuberay()
    assert cluster["spec"]["rayVersion"] == "2.60.0"
    assert job["spec"]["rayClusterSpec"] == cluster["spec"]
    groups = {g["groupName"]: _group_resources(g) for g in cluster["spec"]["workerGroupSpecs"]}
    assert groups["rollout-cpu"]["rollout"] > 0 and groups["rollout-cpu"]["GPU"] == 0
    assert groups["gpu-learner"]["learner"] >= 1 and groups["gpu-learner"]["GPU"] >= 1
    # the API key only ever comes from a secret
    text = (CLUSTER / "kuberay-raycluster.yaml").read_text()
    assert text.count("secretKeyRef") == 3 and "WANDB_API_KEY=" not in text


def test_rayjob_entrypoint_is_a_valid_run_that_fits_its_cluster() -> None:
    cluster, job = _kuberay()
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:3] == ["python", "-m", "edge_rl.cli"]
    config = build_config(build_spec(build_parser().parse_args(argv[3:])))
    config.validate()
    plan = plan_from_config(config)
    assert plan.env_runner_resources == {"rollout": 1.0}
    assert plan.learner_resources == {"learner": 1.0} and plan.gpus_per_learner == 1
    nodes = _nodes_of(cluster["spec"])
    check_plan(plan, _totals(nodes), nodes, with_main=False)
    # and the CPU-only part of the cluster could not host its learner
    cpu_only = [n for n in nodes if not n["GPU"]]
    with pytest.raises(ResourceError, match="learner"):
        check_plan(plan, _totals(cpu_only), cpu_only, with_main=False)


def test_runtime_env_uploads_the_checkout_but_no_secrets() -> None:
    env = yaml.safe_load((CLUSTER / "runtime_env.yaml").read_text())
    assert env["working_dir"] == "."
    assert {".venv", ".git", "runs"} <= set(env["excludes"])
    assert "WANDB_API_KEY" not in env.get("env_vars", {})
