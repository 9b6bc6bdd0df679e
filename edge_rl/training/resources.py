"""Resource plans: what a run asks of a Ray cluster, checked before anything starts.

A run is a main process (the Algorithm: under Ray Tune it is an actor of its own; under
``edge-rl train`` it is the driver), ``K`` env runners (rollout actors, one edge region each)
and ``L`` learners (0 = the learner lives in the main process). ``ResourcePlan.bundles`` gives
the same bundles RLlib puts in a trial's placement group (``Algorithm.default_resource_request``),
so a plan that passes :func:`check_plan` is one Tune can place, and one that fails would leave
trials PENDING forever: the check fails at once instead, saying what to change.

No Ray runtime is needed here: the cluster's resources come in as plain dicts (from
``ray.cluster_resources()`` / ``ray.nodes()`` via :func:`cluster_resources`, or from a test).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Ray's own bookkeeping resources, never asked for by a plan
_INTERNAL = ("memory", "object_store_memory")


class ResourceError(ValueError):
    """A plan that the cluster cannot place; the message says what to change."""


@dataclass(frozen=True)
class ResourcePlan:
    """The actors of one run and what each asks for.

    Attributes:
        num_env_runners: remote env runners (rollout actors); 0 samples in the main process.
        envs_per_runner: vectorised env lanes per env runner (costs CPU time, not reservations).
        cpus_per_env_runner: CPUs reserved per env runner; fractions (0.5) pack two on a core,
            sensible when envs are cheap numpy vector envs.
        gpus_per_env_runner: GPUs per env runner (0: inference on CPU).
        env_runner_resources: custom resources per env runner, e.g. ``{"rollout": 1}`` so env
            runners land only on nodes that advertise ``rollout`` (cluster/edge-rl-aws.yaml).
        num_learners: remote learner actors; 0 = one learner inside the main process.
        gpus_per_learner: GPUs per learner (the local learner's when ``num_learners`` is 0).
        cpus_per_learner: CPUs per learner; None = RLlib's "auto" (1 without a GPU, 0 with one).
        learner_resources: custom resources per remote learner, e.g. ``{"learner": 1}``.
        cpus_for_main_process: CPUs of the Algorithm actor under Tune (RLlib default 1).
        main_process_resources: custom resources of the Algorithm actor.
    """

    num_env_runners: int = 0
    envs_per_runner: int = 1
    cpus_per_env_runner: float = 1.0
    gpus_per_env_runner: float = 0.0
    env_runner_resources: Mapping[str, float] = field(default_factory=dict)
    num_learners: int = 0
    gpus_per_learner: float = 0.0
    cpus_per_learner: float | None = None
    learner_resources: Mapping[str, float] = field(default_factory=dict)
    cpus_for_main_process: float = 1.0
    main_process_resources: Mapping[str, float] = field(default_factory=dict)

    def _learner_cpus(self) -> float:
        if self.cpus_per_learner is not None:
            return float(self.cpus_per_learner)
        return 1.0 if self.gpus_per_learner == 0 else 0.0

    def main_bundle(self) -> dict[str, float]:
        """The Algorithm actor's bundle; it also holds the learner when ``num_learners`` is 0."""
        if self.num_learners == 0:
            bundle = {
                "CPU": max(self._learner_cpus(), float(self.cpus_for_main_process)),
                "GPU": float(self.gpus_per_learner),
            }
        else:
            bundle = {"CPU": float(self.cpus_for_main_process), "GPU": 0.0}
        return _merge(bundle, self.main_process_resources)

    def env_runner_bundle(self) -> dict[str, float]:
        bundle = {"CPU": float(self.cpus_per_env_runner), "GPU": float(self.gpus_per_env_runner)}
        return _merge(bundle, self.env_runner_resources)

    def learner_bundle(self) -> dict[str, float]:
        bundle = {"CPU": self._learner_cpus(), "GPU": float(self.gpus_per_learner)}
        return _merge(bundle, self.learner_resources)

    def bundles(self, with_main: bool = True) -> list[dict[str, float]]:
        """Bundles in RLlib's order: main process, env runners, learners.

        ``with_main=False`` is the plan of ``edge-rl train``, whose main process is the driver
        and reserves nothing.
        """
        out = [self.main_bundle()] if with_main else []
        out += [self.env_runner_bundle() for _ in range(self.num_env_runners)]
        out += [self.learner_bundle() for _ in range(self.num_learners)]
        return out

    def demand(self, with_main: bool = True) -> dict[str, float]:
        """Total of every bundle, resource -> amount (zero amounts left out)."""
        total: dict[str, float] = {}
        for bundle in self.bundles(with_main):
            for name, amount in bundle.items():
                total[name] = total.get(name, 0.0) + amount
        return {k: v for k, v in total.items() if v > 0}

    def describe(self, with_main: bool = True) -> str:
        """One line, e.g. ``main {CPU: 0.5} + 2 env runners x {CPU: 0.5} = {CPU: 1.5}``."""
        parts = [f"main {_fmt(self.main_bundle())}"] if with_main else []
        if self.num_env_runners:
            parts.append(
                f"{self.num_env_runners} env runner(s) x {_fmt(self.env_runner_bundle())}"
                f" ({self.envs_per_runner} envs each)"
            )
        if self.num_learners:
            parts.append(f"{self.num_learners} learner(s) x {_fmt(self.learner_bundle())}")
        if not parts:
            return "nothing reserved (driver samples and learns itself)"
        return " + ".join(parts) + f" = {_fmt(self.demand(with_main))}"


def plan_from_config(config: Any) -> ResourcePlan:
    """The plan of an RLlib AlgorithmConfig (read by attribute: any object with them works)."""
    cpus_per_learner = config.num_cpus_per_learner
    return ResourcePlan(
        num_env_runners=int(config.num_env_runners),
        envs_per_runner=int(config.num_envs_per_env_runner),
        cpus_per_env_runner=float(config.num_cpus_per_env_runner),
        gpus_per_env_runner=float(config.num_gpus_per_env_runner),
        env_runner_resources=dict(config.custom_resources_per_env_runner or {}),
        num_learners=int(config.num_learners),
        gpus_per_learner=float(config.num_gpus_per_learner),
        cpus_per_learner=None if cpus_per_learner == "auto" else float(cpus_per_learner),
        learner_resources=dict(config.custom_resources_per_learner or {}),
        cpus_for_main_process=float(config.num_cpus_for_main_process),
        main_process_resources=dict(config.custom_resources_for_main_process or {}),
    )


@dataclass(frozen=True)
class Fit:
    """How a plan fits a cluster: how many copies (trials) run at once, and the totals."""

    concurrent: int
    demand: dict[str, float]
    available: dict[str, float]


def check_plan(
    plan: ResourcePlan,
    cluster: Mapping[str, float],
    nodes: Sequence[Mapping[str, float]] | None = None,
    *,
    with_main: bool = True,
    where: str = "the cluster",
) -> Fit:
    """Check that one run of ``plan`` can be placed on ``cluster``; raise ResourceError if not.

    Args:
        plan: what the run asks for.
        cluster: the cluster's total resources, e.g. ``{"CPU": 2.0, "GPU": 0.0}``.
        nodes: per-node resources (alive nodes); when given, every bundle must also fit on one
            node and the bundles are packed first-fit-decreasing, as a placement group would.
        with_main: count the Algorithm's own bundle (True under Tune, False for ``train``).
        where: how to name the cluster in messages.

    Returns:
        ``Fit`` with ``concurrent`` >= 1: how many such runs the totals allow at once.
    """
    demand = plan.demand(with_main)
    available = {k: float(v) for k, v in cluster.items() if k not in _INTERNAL}
    problems: list[str] = []
    for name, need in sorted(demand.items()):
        have = available.get(name, 0.0)
        if need > have + 1e-9:
            problems.append(_shortage(plan, name, need, have, with_main, where))
    if not problems and nodes:
        problems += _node_problems(plan, nodes, with_main)
    if problems:
        raise ResourceError(
            f"the run cannot be placed on {where} ({_fmt(available)}): it needs "
            f"{plan.describe(with_main)}. " + " ".join(problems)
        )
    ratios = [available[k] / v for k, v in demand.items() if v > 0]
    concurrent = max(1, math.floor(min(ratios) + 1e-9)) if ratios else 1
    return Fit(concurrent=concurrent, demand=demand, available=available)


def _shortage(
    plan: ResourcePlan, name: str, need: float, have: float, with_main: bool, where: str
) -> str:
    """What to change when the totals of resource ``name`` fall short."""
    msg = f"{name}: needs {need:g}, {where} has {have:g}."
    if name == "CPU":
        fixes: list[str] = []
        other = need - plan.num_env_runners * plan.cpus_per_env_runner
        if plan.num_env_runners and plan.cpus_per_env_runner > 0:
            fit_runners = int((have - other) // plan.cpus_per_env_runner) if have > other else 0
            fixes.append(f"--num-env-runners {max(fit_runners, 0)}")
            if have > other:
                per = _floor2((have - other) / plan.num_env_runners)
                if per > 0:
                    fixes.append(f"--cpus-per-env-runner {per:g}")
        if with_main and plan.num_learners == 0:
            fixes.append("--cpus-for-main 0.5 --cpus-per-learner 0.5 (learner in the main process)")
        elif with_main:
            fixes.append("--cpus-for-main 0.5")
        if plan.num_learners:
            fixes.append(f"--num-learners {max(plan.num_learners - 1, 0)}")
        fixes.append("more CPU nodes")
        return f"{msg} Use {' or '.join(fixes)}."
    if name == "GPU":
        return (
            f"{msg} Use --gpus-per-learner 0 (learn on CPU), fewer --num-learners, or a cluster "
            "with GPU nodes (cluster/edge-rl-aws.yaml: node type gpu_learner)."
        )
    asked_by = [
        who
        for who, res in (
            ("--env-runner-resource", plan.env_runner_resources),
            ("--learner-resource", plan.learner_resources),
            ("main process", plan.main_process_resources),
        )
        if name in res
    ]
    return (
        f"{msg} No node offers enough custom resource {name!r} (asked by "
        f"{', '.join(asked_by) or 'the plan'}): start nodes with "
        f"`ray start --resources '{{\"{name}\": N}}'` (the node types in cluster/ declare it), "
        f"or drop {name}=... from the plan."
    )


def _node_problems(
    plan: ResourcePlan, nodes: Sequence[Mapping[str, float]], with_main: bool
) -> list[str]:
    """Bundles that fit no single node, or that first-fit-decreasing packing cannot place."""
    free = [{k: float(v) for k, v in node.items() if k not in _INTERNAL} for node in nodes]
    problems = []
    for label, bundle in (
        ("the main process", plan.main_bundle() if with_main else {}),
        ("one env runner", plan.env_runner_bundle() if plan.num_env_runners else {}),
        ("one learner", plan.learner_bundle() if plan.num_learners else {}),
    ):
        if bundle and not any(_fits(bundle, node) for node in free):
            problems.append(
                f"{label} needs {_fmt(bundle)} on one node, but no node offers that (nodes: "
                f"{'; '.join(_fmt(n) for n in free)}); make that bundle smaller or add a node "
                "type that holds it."
            )
    if problems:
        return problems
    for bundle in sorted(plan.bundles(with_main), key=lambda b: -b.get("CPU", 0.0)):
        node = next((n for n in free if _fits(bundle, n)), None)
        if node is None:
            return [
                f"its bundles do not pack onto the nodes ({'; '.join(_fmt(n) for n in free)}): "
                "use fewer or smaller env runners, or bigger nodes."
            ]
        for k, v in bundle.items():
            node[k] = node.get(k, 0.0) - v
    return []


def _fits(bundle: Mapping[str, float], node: Mapping[str, float]) -> bool:
    return all(v <= node.get(k, 0.0) + 1e-9 for k, v in bundle.items() if v > 0)


def _merge(bundle: dict[str, float], extra: Mapping[str, float]) -> dict[str, float]:
    return {**bundle, **{k: float(v) for k, v in extra.items()}}


def _floor2(x: float) -> float:
    return math.floor(x * 100) / 100


def _fmt(resources: Mapping[str, float]) -> str:
    shown = {k: v for k, v in resources.items() if v and k not in _INTERNAL}
    shown = {k: v for k, v in shown.items() if not k.startswith("node:")}
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(shown.items())) + "}"


def parse_resources(items: Sequence[str] | None, flag: str) -> dict[str, float]:
    """``["rollout=1", "edge=0.5"]`` -> ``{"rollout": 1.0, "edge": 0.5}``; bad items are errors."""
    out: dict[str, float] = {}
    for item in items or ():
        name, sep, amount = item.partition("=")
        try:
            value = float(amount)
        except ValueError:
            value = float("nan")
        if not sep or not name.strip() or not value >= 0:
            raise ValueError(
                f"{flag} {item!r}: expected NAME=AMOUNT with AMOUNT >= 0, e.g. rollout=1"
            )
        out[name.strip()] = value
    return out


# --------------------------------------------------------------------------- Ray side


def local_resources() -> dict[str, float]:
    """What a local ``ray.init()`` on this machine would offer (no Ray started)."""
    gpus = 0.0
    try:
        import torch

        gpus = float(torch.cuda.device_count())
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return {"CPU": float(os.cpu_count() or 1), "GPU": gpus}


def cluster_resources() -> tuple[dict[str, float], list[dict[str, float]]]:
    """The running Ray cluster's totals and its alive nodes' resources (needs ``ray.init``)."""
    import ray

    nodes = [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]
    return dict(ray.cluster_resources()), nodes


def init_ray(address: str | None) -> None:
    """Start a local Ray, or connect to ``address`` (or to the job's cluster under ``ray job``).

    wandb's mode is settled here, before Ray starts: this process (the train loop, a sweep's
    driver) writes the wandb runs, and a local Ray's workers inherit its environment; a remote
    cluster gets ``WANDB_MODE`` through the job's runtime env. The API key is never
    put in a runtime env (Ray records those); clusters read it from their own secret.
    """
    import json

    import ray

    from edge_rl.tracking import wandb_mode

    if ray.is_initialized():
        return
    mode = wandb_mode()
    os.environ.setdefault("WANDB_MODE", mode)
    if address or os.environ.get("RAY_ADDRESS"):
        job_env = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}") or "{}")
        job_vars = (job_env.get("runtime_env") or {}).get("env_vars") or {}
        runtime_env = None if "WANDB_MODE" in job_vars else {"env_vars": {"WANDB_MODE": mode}}
        # Bare otherwise: a job's driver must not pass local-only options (dashboard, CPUs).
        ray.init(address=address, runtime_env=runtime_env)
    else:
        ray.init(include_dashboard=False, log_to_driver=False)
