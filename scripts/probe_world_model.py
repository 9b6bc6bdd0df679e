#!/usr/bin/env python
"""Probe a meta-dreamer checkpoint: does its imagined reward depend on the imagined action?

    python scripts/probe_world_model.py runs/meta/meta-dreamer/checkpoints/iter_000100 \
        --preset park --steps 300 --json results/probe.json

Plays one trial on the run's env knobs (``--preset``/``--env-set`` as in eval_checkpoints.py;
default: the park workload, one episode, the run's reward mode) with the model's sampled policy,
and at each step compares the reward the world model imagines for every server with what the
simulator pays (see edge_rl/evaluation/world_model_probe.py). A predicted spread near zero
means the imagination actor-critic has nothing to learn from.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval_checkpoints import _env_setting

from edge_rl.algorithms.checkpoint_policy import CheckpointPolicy
from edge_rl.evaluation.runner import make_env
from edge_rl.evaluation.world_model_probe import probe_reward_head


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a meta-dreamer run directory or one of its checkpoints")
    parser.add_argument("--preset", default="park")
    parser.add_argument("--env-set", action="append", type=_env_setting, default=[],
                        metavar="KEY=VALUE", help="env knob (overrides the run's)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        policy = CheckpointPolicy(args.checkpoint)
    except FileNotFoundError as err:
        parser.error(str(err))
    if policy.spec.get("algo") != "meta-dreamer":
        parser.error(f"{args.checkpoint} holds a {policy.spec.get('algo')} policy; "
                     "the probe reads a meta-dreamer world model")  # fmt: skip
    overrides = {**(policy.spec.get("env_overrides") or {}), "episodes_per_trial": 1}
    overrides.update(dict(args.env_set))
    env = make_env("load-balance-trials", args.preset, **overrides)
    report = probe_reward_head(policy.module.nets, env, steps=args.steps, seed=args.seed)
    report = {"checkpoint": str(policy.checkpoint), "preset": args.preset,
              "env_overrides": overrides, **report}  # fmt: skip
    print(
        f"{report['steps']} steps: reward spread over actions true {report['spread_true']:.4g}"
        f", imagined {report['spread_pred']:.4g}; corr {report['corr']:.3f}; best action"
        f" agreed {report['best_action_agreement']:.3f} (chance {report['chance']:.3f})"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
