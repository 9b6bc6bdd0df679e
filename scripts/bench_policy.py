"""Benchmarks of the D2SAC/ADSAC networks: actor decision latency and learner update rate.

Run::

    python scripts/bench_policy.py --json bench_policy.json           # all figures
    python scripts/bench_policy.py --only actor_latency_ms_batch1      # one figure
    python scripts/bench_policy.py --quick --no-compile                # smoke run (seconds)

Figures, one function each, registered in ``FIGURES`` (name -> function(BenchArgs) -> dict).
A later figure, e.g. RLlib env steps sampled per second with 0/1/2 env runners, is one more
function with the same signature and one more entry in ``FIGURES``; the table and the JSON pick it
up unchanged.

- ``actor_latency_ms_batch1``: one decision (batch 1, 5 diffusion steps, paper-adsac layout
  unless named), one CPU thread, median over many calls after warm-up, in ms. Variants:
  "straightforward" (the same weights run the textbook way: the epsilon network called as a
  whole per step, so its time embedding and state features are recomputed each step, the DDPM
  posterior mean and std gathered from schedule tensors, noise drawn per step, under
  ``torch.no_grad``; the attention encoder still runs once per decision, not per step as in
  the public ADSAC code, so this baseline flatters the reference), "eager"
  (``DiffusionActor`` under ``torch.inference_mode``) and "compiled" (``CompiledActor``:
  ``torch.compile`` with inductor's C++ wrapper).
- ``actor_latency_ms_mean_probs``: one decision by ``edge-rl evaluate --act-by mean-probs:K``
  (the argmax of the action probabilities averaged over K chains, run as one batch of K rows)
  for K = 1, 8, 32, eager, one CPU thread, paper-adsac depth 1 width 64: what the better
  greedy action costs.
- ``learner_updates_per_s``: plain-torch D2SAC/ADSAC updates per second at batch 512 (critic
  step, actor step, Polyak on both targets; 3-step targets from the target actor and critics),
  with one thread and with torch's default thread count.
- ``rllib_learner_updates_per_s``: the same through ADSAC's RLlib Learner, as training runs it
  (``--device cuda`` puts the learner on a GPU).
- ``env_steps_sampled_per_s``: env steps sampled per second with 0, 1 and 2 env runners (starts
  a local Ray).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

try:
    import edge_rl  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_rl.models import (
    CompiledActor,
    DiffusionActor,
    DiffusionConfig,
    EncoderConfig,
    TwinQCritic,
    actor_loss,
    critic_loss,
    mean_probs_action,
    n_step_targets,
    polyak_update,
    soft_state_value,
)
from edge_rl.models.masking import FeasibilityConfig, FeasibilityMask

PAPER_ADSAC = ("paper-adsac", (36,), 40)
# "tokens" layout of the adsac-paper sizes: 10 servers x 4 models, K = 4 task types.
TOKENS_10X4 = ("tokens", (1 + 40, 4 + 12), 40)


@dataclass(frozen=True)
class BenchArgs:
    """Benchmark settings.

    Attributes:
        json: where to write the figures as JSON (None: do not write).
        only: names of the figures to run (empty: all of ``FIGURES``).
        calls: timed calls per latency variant (after ``warmup`` untimed ones).
        warmup: untimed calls before timing a latency variant.
        updates: timed learner updates per setting (after ``learner_warmup`` untimed ones).
        learner_warmup: untimed learner updates before timing.
        compile: also time ``CompiledActor`` (needs a C++ compiler; compiles for seconds).
        device: device of the learner figure ("cpu" or "cuda").
        seed: seed of the weights and of every random draw.
    """

    json: Path | None = None
    only: tuple[str, ...] = ()
    calls: int = 3000
    warmup: int = 300
    updates: int = 20
    learner_warmup: int = 3
    compile: bool = True
    device: str = "cpu"
    seed: int = 0


class _Threads:
    """Context manager: run torch with ``n`` intra-op threads, restore the old count after."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> None:
        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.old)


def _median_ms(fn: Callable[[], Any], calls: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


# --------------------------------------------------------------------------- actor latency


def schedule_tables(actor: DiffusionActor) -> dict[str, torch.Tensor]:
    """The per-step DDPM tables a textbook implementation keeps as buffers (computed once)."""
    betas = actor.betas
    alphas = 1.0 - betas
    abar = torch.cumprod(alphas, 0)
    abar_prev = torch.cat([torch.ones(1), abar[:-1]])
    return {
        "sqrt_recip_abar": (1.0 / abar).sqrt(),
        "sqrt_recipm1_abar": (1.0 / abar - 1.0).sqrt(),
        "coef1": betas * abar_prev.sqrt() / (1.0 - abar),
        "coef2": (1.0 - abar_prev) * alphas.sqrt() / (1.0 - abar),
        "log_var": (betas * (1.0 - abar_prev) / (1.0 - abar)).clamp(min=1e-20).log(),
    }


def straightforward_logits(
    actor: DiffusionActor,
    obs: torch.Tensor,
    tables: dict[str, torch.Tensor],
    noise_NBA: torch.Tensor | None = None,
) -> torch.Tensor:
    """The actor's chain written the textbook way (see the module docstring); same result as
    ``actor`` given the same noise (``noise_NBA`` as from ``draw_noise``; None draws per step).
    ``tables`` come from ``schedule_tables``."""

    def at(name: str, t_B: torch.Tensor) -> torch.Tensor:
        return tables[name].gather(-1, t_B).reshape(-1, 1)

    n = actor.num_steps
    state_BD, act_BAD = actor.encoder(obs)
    b, a = obs.shape[0], actor.num_actions_of(obs)
    x = torch.randn(b, a) if noise_NBA is None else noise_NBA[0]
    for i in reversed(range(n)):
        t_B = torch.full((b,), i, dtype=torch.long)
        eps = actor.denoiser(x, i, state_BD, act_BAD)
        x0 = at("sqrt_recip_abar", t_B) * x - at("sqrt_recipm1_abar", t_B) * eps
        mean = at("coef1", t_B) * x0 + at("coef2", t_B) * x
        z = torch.randn_like(x) if noise_NBA is None else noise_NBA[min(n - i, n - 1)]
        nonzero = (t_B != 0).float().reshape(-1, 1)
        x = mean + nonzero * (0.5 * at("log_var", t_B)).exp() * z
    return x


def _latency_variants(
    name: str,
    args: BenchArgs,
    spec: tuple,
    encoder: EncoderConfig,
    mask: FeasibilityMask | None = None,
) -> dict[str, float]:
    layout, obs_shape, num_actions = spec
    torch.manual_seed(args.seed)
    actor = DiffusionActor(
        layout, obs_shape, num_actions, encoder, DiffusionConfig(steps=5), mask=mask
    ).eval()
    obs = torch.rand(1, *obs_shape, generator=torch.Generator().manual_seed(args.seed))
    gen = torch.Generator().manual_seed(args.seed)
    with torch.inference_mode():
        noise = actor.draw_noise(1, num_actions, torch.Generator().manual_seed(1))
        state, act = actor.encoder(obs)
        tables = schedule_tables(actor)
        slow = straightforward_logits(actor, obs, tables, noise)
        gap = (slow - actor.denoise(state, act, noise)).abs()
    if gap.max().item() > 1e-3:
        raise RuntimeError(f"{name}: straightforward and fast chains disagree by {gap.max():.2e}")
    row: dict[str, float] = {}
    with torch.no_grad():
        row["straightforward"] = _median_ms(
            lambda: straightforward_logits(actor, obs, tables), args.calls, args.warmup
        )
    with torch.inference_mode():
        row["eager"] = _median_ms(lambda: actor(obs, gen), args.calls, args.warmup)
    if args.compile:
        compiled = CompiledActor(actor)
        with torch.inference_mode():
            gap = compiled(obs, torch.Generator().manual_seed(2)) - actor(
                obs, torch.Generator().manual_seed(2)
            )
        if gap.abs().max().item() > 1e-3:
            raise RuntimeError(
                f"{name}: compiled and eager actors disagree by {gap.abs().max():.2e}"
            )
        row["compiled"] = _median_ms(lambda: compiled(obs, gen), args.calls, args.warmup)
    return row


def actor_latency_ms_batch1(args: BenchArgs) -> dict[str, dict[str, float]]:
    """Median ms per decision (batch 1, 5 steps, 1 thread) per model variant."""
    variants = {
        "paper-adsac depth1 width64": (PAPER_ADSAC, EncoderConfig(width=64, depth=1)),
        "paper-adsac depth1 width256": (PAPER_ADSAC, EncoderConfig(width=256, depth=1)),
        "paper-adsac depth1 width256 ff0": (
            PAPER_ADSAC,
            EncoderConfig(width=256, depth=1, ff_mult=0),
        ),
        "paper-adsac depth0 (D2SAC)": (PAPER_ADSAC, EncoderConfig(depth=0)),
        "tokens 10x4 per-action depth1 width64": (TOKENS_10X4, EncoderConfig(width=64, depth=1)),
        # action_masking=true on adsac-paper (t_max 240, cap_max 1400)
        "paper-adsac depth1 width64 masked": (
            PAPER_ADSAC,
            EncoderConfig(width=64, depth=1),
            FeasibilityMask(FeasibilityConfig("paper-adsac", t_max=240.0, cap_max=1400.0)),
        ),
    }
    with _Threads(1):
        return {name: _latency_variants(name, args, *v) for name, v in variants.items()}


def actor_latency_ms_mean_probs(args: BenchArgs) -> dict[str, dict[str, float]]:
    """Median ms per decision by the mean of K chains' probabilities (1 thread, eager)."""
    layout, obs_shape, num_actions = PAPER_ADSAC
    torch.manual_seed(args.seed)
    encoder = EncoderConfig(width=64, depth=1)
    actor = DiffusionActor(layout, obs_shape, num_actions, encoder, DiffusionConfig(steps=5))
    actor.eval()
    obs = torch.rand(1, *obs_shape, generator=torch.Generator().manual_seed(args.seed))
    gen = torch.Generator().manual_seed(args.seed)

    def decide(passes: int) -> int:
        return mean_probs_action(actor(obs.expand(passes, *obs_shape), gen))

    row: dict[str, float] = {}
    with _Threads(1), torch.inference_mode():
        for passes in (1, 8, 32):
            row[f"K={passes}"] = _median_ms(lambda p=passes: decide(p), args.calls, args.warmup)
    return {"paper-adsac depth1 width64": row}


# --------------------------------------------------------------------------- learner updates


@dataclass
class PlainTorchLearner:
    """Networks, targets and optimisers of one D2SAC/ADSAC learner (reference settings)."""

    actor: DiffusionActor
    target_actor: DiffusionActor
    critic: TwinQCritic
    target_critic: TwinQCritic
    actor_opt: torch.optim.Optimizer
    critic_opt: torch.optim.Optimizer
    alpha: float = 0.05
    gamma: float = 0.95
    tau: float = 0.005


def make_learner(spec: tuple, encoder: EncoderConfig, device: str) -> PlainTorchLearner:
    """Reference optimiser settings: Adam, actor lr 1e-4, critic lr 1e-3, weight decay 1e-4.
    The critics' encoders run without dropout (``TwinQCritic``'s default)."""
    layout, obs_shape, num_actions = spec
    actor = DiffusionActor(layout, obs_shape, num_actions, encoder).to(device)
    critic_encoder = dataclasses.replace(encoder, dropout=0.0)
    critic = TwinQCritic(layout, obs_shape, num_actions, critic_encoder).to(device)
    target_actor = copy.deepcopy(actor).eval().requires_grad_(False)
    target_critic = copy.deepcopy(critic).eval().requires_grad_(False)
    return PlainTorchLearner(
        actor=actor,
        target_actor=target_actor,
        critic=critic,
        target_critic=target_critic,
        actor_opt=torch.optim.Adam(actor.parameters(), lr=1e-4, weight_decay=1e-4),
        critic_opt=torch.optim.Adam(critic.parameters(), lr=1e-3, weight_decay=1e-4),
    )


def plain_torch_update(
    learner: PlainTorchLearner, batch: dict[str, torch.Tensor]
) -> dict[str, float]:
    """One update in the reference's order: critic step, actor step, Polyak on both targets."""
    lr = learner
    with torch.no_grad():
        next_probs = torch.softmax(lr.target_actor(batch["next_obs"]), dim=-1)
        value = soft_state_value(next_probs, *lr.target_critic(batch["next_obs"]))
        target = n_step_targets(batch["rewards"], batch["dones"], lr.gamma, value)
    q1, q2 = lr.critic(batch["obs"])
    actions = batch["actions"].unsqueeze(1)
    loss_q = critic_loss(q1.gather(1, actions).squeeze(1), q2.gather(1, actions).squeeze(1), target)
    lr.critic_opt.zero_grad()
    loss_q.backward()
    lr.critic_opt.step()
    probs = torch.softmax(lr.actor(batch["obs"]), dim=-1)
    with torch.no_grad():
        q1, q2 = lr.critic(batch["obs"])
    loss_pi = actor_loss(probs, q1, q2, lr.alpha)
    lr.actor_opt.zero_grad()
    loss_pi.backward()
    lr.actor_opt.step()
    polyak_update(lr.target_critic, lr.critic, lr.tau)
    polyak_update(lr.target_actor, lr.actor, lr.tau)
    return {"losses/critic": loss_q.item(), "losses/actor": loss_pi.item()}


def random_batch(
    spec: tuple, batch: int, n_step: int, device: str, seed: int
) -> dict[str, torch.Tensor]:
    """A replay minibatch of the right shapes (values do not matter for timing)."""
    _, obs_shape, num_actions = spec
    g = torch.Generator().manual_seed(seed)
    data = {
        "obs": torch.rand(batch, *obs_shape, generator=g),
        "actions": torch.randint(0, num_actions, (batch,), generator=g),
        "rewards": torch.randn(batch, n_step, generator=g),
        "dones": torch.rand(batch, n_step, generator=g) < 0.001,
        "next_obs": torch.rand(batch, *obs_shape, generator=g),
    }
    return {k: v.to(device) for k, v in data.items()}


def _updates_per_s(spec: tuple, encoder: EncoderConfig, args: BenchArgs) -> float:
    torch.manual_seed(args.seed)
    learner = make_learner(spec, encoder, args.device)
    batch = random_batch(spec, 512, 3, args.device, args.seed)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    def one() -> None:
        plain_torch_update(learner, batch)
        sync()

    return 1e3 / _median_ms(one, args.updates, warmup=args.learner_warmup)


def learner_updates_per_s(args: BenchArgs) -> dict[str, dict[str, float]]:
    """Plain-torch updates per second at batch 512 (one thread and torch's default)."""
    default_threads = torch.get_num_threads()
    settings = {
        "paper-adsac depth0 (D2SAC)": (PAPER_ADSAC, EncoderConfig(depth=0)),
        "paper-adsac depth1 width64": (PAPER_ADSAC, EncoderConfig(width=64, depth=1)),
        "paper-adsac depth1 width256": (PAPER_ADSAC, EncoderConfig(width=256, depth=1)),
    }
    out: dict[str, dict[str, float]] = {}
    for name, (spec, encoder) in settings.items():
        row = {}
        for threads in sorted({1, default_threads}):
            with _Threads(threads):
                row[f"threads={threads}"] = _updates_per_s(spec, encoder, args)
        out[name] = row
    return out


# --------------------------------------------------------------------------- RLlib figures


def _rllib_batch(spec: tuple, batch: int, seed: int) -> Any:
    """A numpy MultiAgentBatch with ADSAC's learner columns (values do not matter for timing)."""
    import numpy as np
    from ray.rllib.core import DEFAULT_MODULE_ID
    from ray.rllib.core.columns import Columns
    from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

    from edge_rl.algorithms.adsac.adsac_learner import DISCOUNTS

    _, obs_shape, num_actions = spec
    rng = np.random.default_rng(seed)
    cols = SampleBatch(
        {
            Columns.OBS: rng.random((batch, *obs_shape), dtype=np.float32),
            Columns.ACTIONS: rng.integers(0, num_actions, batch),
            Columns.REWARDS: rng.normal(size=batch).astype(np.float32),
            Columns.NEXT_OBS: rng.random((batch, *obs_shape), dtype=np.float32),
            DISCOUNTS: np.full(batch, 0.95**3, np.float32),
        }
    )
    return MultiAgentBatch({DEFAULT_MODULE_ID: cols}, env_steps=batch)


def rllib_learner_updates_per_s(args: BenchArgs) -> dict[str, dict[str, float]]:
    """ADSAC's RLlib Learner (the one training uses): gradient updates per second at batch 512,
    8 minibatches per ``update`` call as ``ADSAC.training_step`` sends them."""
    import gymnasium as gym

    from edge_rl.algorithms.adsac.adsac import ADSACConfig

    env = gym.make("edge_rl/AIGCEdge-v0", preset="adsac-paper")
    gpus = 1 if args.device.startswith("cuda") else 0
    settings = {
        "paper-adsac depth0 (D2SAC)": dict(attention_depth=0),
        "paper-adsac depth1 width64": dict(attention_width=64),
        "paper-adsac depth1 width64 shared encoder": dict(
            attention_width=64, attention_dropout=0.0, shared_encoder=True
        ),
        "paper-adsac depth1 width256": dict(attention_width=256),
    }
    per_call = 8
    out: dict[str, dict[str, float]] = {}
    for name, model in settings.items():
        config = (
            ADSACConfig()
            .environment(observation_space=env.observation_space, action_space=env.action_space)
            .learners(num_gpus_per_learner=gpus)
            .training(**model)
        )
        learner = config.build_learner(env=None)
        batch = _rllib_batch(PAPER_ADSAC, 512 * per_call, args.seed)

        def one(learner: Any = learner, batch: Any = batch) -> None:
            learner.update(
                batch=batch,
                minibatch_size=512,
                num_epochs=1,
                timesteps={"num_env_steps_sampled_lifetime": 0},
            )
            if gpus:
                torch.cuda.synchronize()

        ms = _median_ms(one, max(1, args.updates // per_call), warmup=1)
        out[name] = {f"threads={torch.get_num_threads()}": per_call * 1e3 / ms}
    return out


def env_steps_sampled_per_s(args: BenchArgs) -> dict[str, dict[str, float]]:
    """Env steps sampled per second by ADSAC's env runners (no learning), with 0, 1 and 2 remote
    env runners of 8 vectorised envs each, depth-1 width-64 actor on CPU."""
    import ray

    from edge_rl.algorithms.adsac.adsac import ADSACConfig
    from edge_rl.algorithms.registry import register_rllib_envs

    started = not ray.is_initialized()
    if started:
        ray.init(include_dashboard=False, log_to_driver=False)
    register_rllib_envs()
    out: dict[str, dict[str, float]] = {}
    iters = 2 if args.updates <= 1 else 6
    try:
        for runners in (0, 1, 2):
            config = (
                ADSACConfig()
                .environment("edge_rl/AIGCEdge-v0", env_config={"preset": "adsac-paper"})
                .env_runners(
                    num_env_runners=runners,
                    num_envs_per_env_runner=8,
                    rollout_fragment_length=64,
                    num_cpus_per_env_runner=0.5,
                )
                .training(attention_width=64, num_steps_sampled_before_learning_starts=10**9)
                .debugging(seed=args.seed)
            )
            algo = config.build_algo()
            try:
                algo.train()  # warm-up
                t0 = time.perf_counter()
                start = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"))
                for _ in range(iters):
                    result = algo.train()
                steps = result["env_runners"]["num_env_steps_sampled_lifetime"] - start
                out[f"env_runners={runners}"] = {"steps/s": steps / (time.perf_counter() - t0)}
            finally:
                algo.stop()
    finally:
        if started:
            ray.shutdown()
    return out


# --------------------------------------------------------------------------- driver

FIGURES: dict[str, Callable[[BenchArgs], dict[str, dict[str, float]]]] = {
    "actor_latency_ms_batch1": actor_latency_ms_batch1,
    "actor_latency_ms_mean_probs": actor_latency_ms_mean_probs,
    "learner_updates_per_s": learner_updates_per_s,
    "rllib_learner_updates_per_s": rllib_learner_updates_per_s,
    "env_steps_sampled_per_s": env_steps_sampled_per_s,
}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def parse_args(argv: list[str] | None = None) -> BenchArgs:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--only", nargs="*", default=[], choices=sorted(FIGURES), help="figures")
    parser.add_argument("--calls", type=int, default=BenchArgs.calls)
    parser.add_argument("--updates", type=int, default=BenchArgs.updates)
    parser.add_argument("--device", default=BenchArgs.device, help="learner device: cpu or cuda")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled actor")
    parser.add_argument("--quick", action="store_true", help="few calls: a smoke run, no figures")
    parser.add_argument("--seed", type=int, default=BenchArgs.seed)
    ns = parser.parse_args(argv)
    calls, warmup, updates, learner_warmup = ns.calls, BenchArgs.warmup, ns.updates, 3
    if ns.quick:
        calls, warmup, updates, learner_warmup = 5, 2, 1, 1
    return BenchArgs(
        json=ns.json,
        only=tuple(ns.only),
        calls=calls,
        warmup=warmup,
        updates=updates,
        learner_warmup=learner_warmup,
        compile=not ns.no_compile,
        device=ns.device,
        seed=ns.seed,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    names = args.only or tuple(FIGURES)
    results: dict[str, Any] = {
        "environment": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "cpu": _cpu_name(),
            "default_threads": torch.get_num_threads(),
            # Other processes on the machine skew timings: record how busy it was.
            "load_average_1min_at_start": os.getloadavg()[0],
            "learner_device": args.device,
            "calls": args.calls,
            "updates": args.updates,
        }
    }
    print(f"{'figure':<26} {'variant':<40} {'mode':<16} {'value':>9}")
    for name in names:
        results[name] = FIGURES[name](args)
        for variant, row in results[name].items():
            for mode, value in row.items():
                print(f"{name:<26} {variant:<40} {mode:<16} {value:>9.3f}")
    results["environment"]["load_average_1min_at_end"] = os.getloadavg()[0]
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
