#!/usr/bin/env python
"""Can the learned load balancers' policy network represent a rule better than least-observed-load?

    python scripts/lb_imitation_probe.py [--teacher size-interval] [--train-seeds 1000 .. 1199]
                                         [--train-preset park|family|PRESET]
                                         [--epochs 30] [--seeds 20 .. 79] [--json PATH]

Every learned policy on Park's workload (A2C and meta-dreamer alike) ends at least-observed-load's
level, while ``size-interval`` routing, which keeps the rare huge jobs off the slow servers, is
clearly better (docs/history/load-balance.md, sessions 12-13 and 25). This probe separates what
the policy network can express from what reinforcement learning finds with it: it fits the
server-scoring net that A2C uses (``--set policy_net=server-scoring``:
``edge_rl.models.server_scoring.ServerScoringNet``, feed-forward, the same sizes) to a teacher
heuristic's decisions by supervised learning (behaviour cloning: cross-entropy on the teacher's
action for the trial observation the net reads), then plays the fitted net greedily on the test
seeds, one park trial per seed, exactly as ``edge-rl evaluate --env load-balance-trials --preset
park --schedule park:1`` plays a checkpoint. The teacher and ``--baselines`` play the same seeds.

The net sees what A2C sees: the observed loads (queued work plus the job in service, in work
and time units mixed as in Park), the incoming job's size and the service rates. Size-interval
reads more (the remaining service time and queued work separately, and the task's size
distribution for its cutoff), so a perfect copy is not possible; the agreement is reported for
all decisions and for the teacher's big-job decisions (jobs above its cutoff, the ones that
matter). Training data: one park trial per ``--train-seeds`` seed, driven by the teacher (no
DAgger: the net is never corrected on the states its own mistakes lead to), the last
``--holdout-seeds`` of them held out for the agreement figures. Plain torch on one core: the
defaults took 137 s here (7 s to collect the 200 trials, the rest to fit and play 60 seeds x 3).

``--json PATH`` writes an ``edge-rl evaluate``-style report (episodes, summary, paired against
the first baseline; ``scripts/compare_reports.py`` joins it with checkpoint reports on the same
seeds) with the fit's figures under ``imitation``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
import torch

from edge_rl.baselines import make_policy, parse_policy_spec
from edge_rl.baselines.base import Policy
from edge_rl.baselines.load_balance import SizeIntervalPolicy
from edge_rl.envs.load_balance.trial import MetaTrialEnv
from edge_rl.evaluation.adaptation import evaluate_schedule
from edge_rl.evaluation.report import (
    build_report,
    format_paired_table,
    format_table,
    paired_differences,
    write_json,
)
from edge_rl.evaluation.runner import check_seeds
from edge_rl.models.server_scoring import ServerScoringConfig, ServerScoringNet, num_servers_of

#: the workload of the comparison: Park's default task, one episode per trial
SCHEDULE = "park:1"


def training_env(preset: str) -> MetaTrialEnv:
    """One-episode trials of ``preset``: "park" (the test workload, as ``--schedule park:1``),
    "family" (a task drawn from the task family's train split per trial, as the agents
    train) or another load-balancing preset."""
    if preset == "park":
        return MetaTrialEnv(schedule=SCHEDULE)
    return MetaTrialEnv(episodes_per_trial=1, preset=preset)


def collect(teacher_spec: str, seeds: list[int], preset: str = "park") -> dict[str, np.ndarray]:
    """Play one ``preset`` trial per seed with the teacher; its observations, actions and whether
    each decision was a big job (above a size-interval teacher's cutoff; all False otherwise)."""
    env = training_env(preset)
    obs_list, actions, big, seed_of = [], [], [], []
    for seed in seeds:
        teacher = make_policy("load-balance", teacher_spec, seed=seed)
        obs, _ = env.reset(seed=seed)
        teacher.reset(env)
        done = False
        while not done:
            action = teacher.act(obs, env)
            obs_list.append(obs)
            actions.append(action)
            big.append(is_big_job(teacher, env))
            seed_of.append(seed)
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    env.close()
    return {
        "obs": np.asarray(obs_list, dtype=np.float32),
        "actions": np.asarray(actions, dtype=np.int64),
        "big": np.asarray(big, dtype=bool),
        "seed": np.asarray(seed_of, dtype=np.int64),
    }


def is_big_job(teacher: Policy, env: MetaTrialEnv) -> bool:
    if not isinstance(teacher, SizeIntervalPolicy):
        return False
    return bool(env.incoming_job_size > teacher.routing(env)[1])


def fit(
    data: dict[str, np.ndarray],
    train: np.ndarray,
    num_servers: int,
    epochs: int,
    batch: int,
    lr: float,
    hidden: int,
    seed: int,
    big_job_weight: float = 1.0,
) -> ServerScoringNet:
    """Cross-entropy of the net's logits on the teacher's actions, Adam, ``epochs`` passes;
    the teacher's big-job decisions weigh ``big_job_weight`` times the others."""
    torch.manual_seed(seed)
    net = ServerScoringNet(num_servers, ServerScoringConfig(hidden=hidden))
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    obs = torch.as_tensor(data["obs"][train])
    actions = torch.as_tensor(data["actions"][train])
    weights = torch.where(torch.as_tensor(data["big"][train]), big_job_weight, 1.0)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        order = torch.randperm(len(obs), generator=generator)
        total = 0.0
        for start in range(0, len(obs), batch):
            index = order[start : start + batch]
            logits, _, _ = net(obs[index], with_value=False)
            per_decision = torch.nn.functional.cross_entropy(
                logits, actions[index], reduction="none"
            )
            loss = (weights[index] * per_decision).sum() / weights[index].sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        if epoch == 0 or (epoch + 1) % 5 == 0 or epoch + 1 == epochs:
            print(f"  epoch {epoch + 1:3d}  cross-entropy {total / len(obs):.4f}", flush=True)
    return net


@torch.no_grad()
def agreement(net: ServerScoringNet, data: dict[str, np.ndarray], rows: np.ndarray) -> float | None:
    """Share of ``rows`` where the net's greedy action is the teacher's (None for no rows)."""
    if not rows.any():
        return None
    logits, _, _ = net(torch.as_tensor(data["obs"][rows]), with_value=False)
    return float((logits.argmax(-1).numpy() == data["actions"][rows]).mean())


class GreedyNetPolicy(Policy):
    """The fitted net's argmax, as a ``Policy`` the evaluation runner plays."""

    def __init__(self, net: ServerScoringNet, name: str) -> None:
        super().__init__(None)
        self.net = net
        self.name = name

    @torch.no_grad()
    def act(self, obs: np.ndarray, env: Any) -> int:
        logits, _, _ = self.net(torch.as_tensor(obs, dtype=torch.float32)[None], with_value=False)
        return int(logits[0].argmax())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", default="size-interval", help="heuristic to imitate (NAME[:K=V])")
    p.add_argument("--train-seeds", type=int, nargs="+", default=list(range(1000, 1200)))
    p.add_argument("--train-preset", default="park",
                   help="workload of the training trials: park (default), family (the task "
                        "family the agents train on) or a load-balancing preset")  # fmt: skip
    p.add_argument("--holdout-seeds", type=int, default=20,
                   help="the last N train seeds: held out for the agreement figures")  # fmt: skip
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=64, help="width (A2C's server-scoring: 64)")
    p.add_argument("--big-job-weight", type=float, default=1.0,
                   help="weight of the teacher's big-job decisions in the loss")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="torch seed of the fit")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(20, 80)), help="test seeds")
    p.add_argument("--baselines", nargs="*", default=["least-observed-load"],
                   help="heuristics played on the test seeds besides the teacher")  # fmt: skip
    p.add_argument("--json", default=None, help="write the report here")
    args = p.parse_args(argv)
    for name, value in (("--epochs", args.epochs), ("--batch", args.batch)):
        if value < 1:
            p.error(f"{name} {value}: must be >= 1")
    for name, value in (("--lr", args.lr), ("--big-job-weight", args.big_job_weight)):
        if not value > 0:
            p.error(f"{name} {value}: must be > 0")
    if not 0 < args.holdout_seeds < len(args.train_seeds):
        p.error(
            f"--holdout-seeds {args.holdout_seeds}: must be between 1 and the number of "
            f"--train-seeds minus 1 ({len(args.train_seeds) - 1})"
        )
    try:
        training_env(args.train_preset).close()
    except ValueError as err:
        p.error(f"--train-preset {args.train_preset!r}: {err}")
    try:
        check_seeds(args.train_seeds + args.seeds)
        for spec in [args.teacher, *args.baselines]:
            parse_policy_spec("load-balance", spec)
    except ValueError as err:
        p.error(str(err))
    overlap = sorted(set(args.train_seeds) & set(args.seeds))
    if overlap:
        p.error(f"train and test seeds overlap ({overlap[:5]}...): give disjoint seed sets")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    data = collect(args.teacher, args.train_seeds, args.train_preset)
    held_out = np.isin(data["seed"], args.train_seeds[-args.holdout_seeds :])
    print(
        f"collected {len(data['actions'])} decisions of {args.teacher} on "
        f"{len(args.train_seeds)} {args.train_preset} trials ({data['big'].mean():.1%} big jobs) "
        f"in {time.perf_counter() - started:.0f} s"
    )
    num_servers = num_servers_of(data["obs"].shape[1])
    net = fit(
        data,
        ~held_out,
        num_servers,
        args.epochs,
        args.batch,
        args.lr,
        args.hidden,
        args.seed,
        args.big_job_weight,
    )
    figures = {
        "teacher": args.teacher,
        "train_preset": args.train_preset,
        "train_seeds": [args.train_seeds[0], args.train_seeds[-1]],
        "held_out_seeds": args.holdout_seeds,
        "decisions": int(len(data["actions"])),
        "epochs": args.epochs,
        "hidden": args.hidden,
        "big_job_weight": args.big_job_weight,
        "agreement_train": agreement(net, data, ~held_out),
        "agreement_held_out": agreement(net, data, held_out),
        "agreement_held_out_big_jobs": agreement(net, data, held_out & data["big"]),
        "agreement_held_out_small_jobs": agreement(net, data, held_out & ~data["big"]),
    }
    for key, value in figures.items():
        if key.startswith("agreement"):
            print(f"{key:32s} {'n/a' if value is None else f'{value:.3f}'}")
    student = f"imitation:{args.teacher}"
    net.eval()
    records = []
    for spec in [*args.baselines, args.teacher]:
        maker = lambda seed, spec=spec: make_policy("load-balance", spec, seed=seed)  # noqa: E731
        records += evaluate_schedule(SCHEDULE, maker, args.seeds)
    records += evaluate_schedule(
        SCHEDULE, lambda seed: GreedyNetPolicy(net, student), args.seeds, policy_name=student
    )
    print(f"schedule {SCHEDULE}, test seeds {args.seeds[0]}..{args.seeds[-1]}:")
    print(format_table("load-balance-trials", records))
    baseline = records[0].policy
    differences = paired_differences(records, baseline)
    print(format_paired_table("load-balance-trials", differences, baseline))
    print(f"done in {time.perf_counter() - started:.0f} s")
    if args.json:
        extra = {"seeds": args.seeds, "schedule": SCHEDULE, "imitation": figures}
        report = build_report(
            "load-balance-trials", "schedule", records, None, extra, (baseline, differences)
        )
        print(f"report: {write_json(report, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
