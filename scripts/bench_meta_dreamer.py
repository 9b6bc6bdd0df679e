"""Speed of one Meta-Dreamer learner update, by phase, for several ``imagine_starts``.

    python scripts/bench_meta_dreamer.py [--starts 0 256 128] [--threads 1] [--updates 5]
        [--model-size small] [--actor-head servers] [--reward-input deter] [--device cpu|cuda]
        [--compile] [--json PATH]

One update is what ``MetaDreamerTorchLearner`` computes on a batch of B windows of T steps:
the posterior rollout (observe), the world-model loss, imagination of H steps, the actor-critic
loss, one backward pass and the Adam steps. Defaults are the CPU recipe of the load-balancing
trials (small model, servers actor head, reward from h, B=16, T=64, H=15, 10 servers). It prints
milliseconds per update and per phase, and the env steps per second the learner alone allows at
``--train-ratio`` (B*T/train_ratio env steps earn one update); ``--json`` writes the same.
No Ray; random inputs of the trial observation's layout (timing does not depend on them).

``--compile`` also times the update with its losses through ``torch.compile`` (``update_losses``,
what the learner runs with ``compile_update=true``): the first call's seconds (compiling, or
loading Inductor's on-disk cache, ``TORCHINDUCTOR_CACHE_DIR``) and milliseconds per update after
it, against the eager update's total.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import print_figures, write_json  # noqa: E402

from edge_rl.models.server_scoring import trial_obs_size  # noqa: E402
from edge_rl.models.world_model import (  # noqa: E402
    WORLD_MODEL_PRESETS,
    DreamerLossConfig,
    MetaDreamerNets,
    actor_critic_loss,
    imagine,
    observe_sequence,
    update_losses,
    world_model_loss,
)
from edge_rl.models.world_model.networks import ACTOR_HEADS, REWARD_INPUTS  # noqa: E402

PHASES = ("observe", "world_model_loss", "imagine", "actor_critic_loss", "backward", "optimizer")


def _batch(nets: MetaDreamerNets, T: int, B: int, device: torch.device) -> dict:
    g = torch.Generator().manual_seed(0)
    A, obs_dim = nets.num_actions, nets.obs_dim
    batch = {
        "obs": torch.rand(T, B, obs_dim, generator=g) * 4,
        "prev_actions": torch.randint(0, A, (T, B), generator=g),
        "rewards": -5 * torch.rand(T, B, generator=g),
        "continues": torch.ones(T, B),
        **{k: v for k, v in nets.initial_state(B).items() if k in ("h", "z", "m")},
    }
    return {k: v.to(device) for k, v in batch.items()}


def _now(device: torch.device) -> float:
    """perf_counter after the device's queued work has finished."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def time_updates(
    nets: MetaDreamerNets,
    batch: dict,
    losses: DreamerLossConfig,
    starts: int,
    updates: int,
    device: torch.device,
) -> tuple[dict[str, float], int]:
    """Mean seconds per phase over ``updates`` updates (after one untimed warm-up update), and
    the number of imagined rollouts per update (as ``imagine`` resolved ``starts``)."""
    opt = torch.optim.Adam(nets.parameters(), lr=1e-4)
    totals = dict.fromkeys(PHASES, 0.0)
    for i in range(updates + 1):
        marks = [_now(device)]
        seq = observe_sequence(nets, batch)
        marks.append(_now(device))
        loss_wm, _ = world_model_loss(nets, batch, seq, losses)
        marks.append(_now(device))
        imag = imagine(nets, seq, losses.horizon, starts=starts)
        marks.append(_now(device))
        loss_ac, _ = actor_critic_loss(nets, imag, losses)
        marks.append(_now(device))
        opt.zero_grad()
        (loss_wm + loss_ac).backward()
        marks.append(_now(device))
        opt.step()
        marks.append(_now(device))
        if i:  # the first update warms up allocators and kernels
            for name, t0, t1 in zip(PHASES, marks[:-1], marks[1:], strict=True):
                totals[name] += t1 - t0
    return {name: total / updates for name, total in totals.items()}, imag["actions"].shape[1]


def time_compiled_updates(
    losses_fn,
    nets: MetaDreamerNets,
    batch: dict,
    losses: DreamerLossConfig,
    starts: int,
    updates: int,
    device: torch.device,
) -> tuple[float, float]:
    """(seconds of the first update, which compiles or loads the cache; mean seconds per update
    of the ``updates`` after it) with ``losses_fn`` standing for the four loss phases."""
    opt = torch.optim.Adam(nets.parameters(), lr=1e-4)
    seconds = []
    for _ in range(updates + 1):
        t0 = _now(device)
        _, loss_wm, _, loss_ac, _ = losses_fn(nets, batch, losses, starts)
        opt.zero_grad()
        (loss_wm + loss_ac).backward()
        opt.step()
        seconds.append(_now(device) - t0)
    return seconds[0], sum(seconds[1:]) / updates


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, nargs="+", default=[0, 256, 128])
    parser.add_argument("--updates", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model-size", default="small", choices=sorted(WORLD_MODEL_PRESETS))
    parser.add_argument("--actor-head", default="servers", choices=ACTOR_HEADS)
    parser.add_argument("--reward-input", default="deter", choices=REWARD_INPUTS)
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--batch-size-B", type=int, default=16)
    parser.add_argument("--batch-length-T", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=15)
    parser.add_argument("--train-ratio", type=float, default=32.0)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument(
        "--compile", action="store_true", help="also time the update through torch.compile"
    )
    parser.add_argument("--json", default=None, help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    for name in ("updates", "threads", "servers", "batch_size_B", "batch_length_T", "horizon"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} {getattr(args, name)}: must be >= 1")
    if any(s < 0 for s in args.starts):
        parser.error(f"--starts {args.starts}: each must be >= 0 (0 = every real step)")
    if args.train_ratio <= 0:
        parser.error(f"--train-ratio {args.train_ratio}: must be > 0")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device here; use --device cpu")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    cfg = replace(
        WORLD_MODEL_PRESETS[args.model_size],
        actor_head=args.actor_head,
        reward_input=args.reward_input,
    )
    nets = MetaDreamerNets(trial_obs_size(args.servers), args.servers, cfg).to(device)
    T, B = args.batch_length_T, args.batch_size_B
    batch = _batch(nets, T, B, device)
    losses = DreamerLossConfig(horizon=args.horizon)
    env_steps_per_update = B * T / args.train_ratio
    results = {
        "setup": {
            **{k: v for k, v in vars(args).items() if k != "json"},
            "world_model": cfg.__dict__,
            "parameters": sum(p.numel() for p in nets.parameters()),
            "torch": torch.__version__,
        },
        "by_starts": {},
    }
    compiled = torch.compile(update_losses, dynamic=False) if args.compile else None
    for starts in args.starts:
        phases, imagined = time_updates(nets, batch, losses, starts, args.updates, device)
        total = sum(phases.values())
        figures = {
            "imagined_starts": imagined,
            "ms_per_update": 1000 * total,
            "updates_per_s": 1 / total,
            "learner_env_steps_per_s": env_steps_per_update / total,
            **{f"ms_{name}": 1000 * value for name, value in phases.items()},
        }
        if args.compile:
            first, mean = time_compiled_updates(
                compiled, nets, batch, losses, starts, args.updates, device
            )
            figures |= {
                "compiled_first_update_s": first,
                "compiled_ms_per_update": 1000 * mean,
                "compiled_updates_per_s": 1 / mean,
                "compiled_speedup": total / mean,
            }
        results["by_starts"][str(starts)] = figures
        print(f"imagine_starts={starts}")
        print_figures(figures)
    write_json(results, args.json)
    return results


if __name__ == "__main__":
    main()
