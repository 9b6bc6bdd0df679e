"""Fast inference of a ``DiffusionActor``: the same computation through ``torch.compile``.

One decision (batch 1, 5 diffusion steps) in eager torch is a few hundred tiny kernels, so its
time is mostly per-op dispatch. ``CompiledActor`` compiles encoder + chain into one graph with
inductor's C++ wrapper, which removes most of that overhead (figures in
``scripts/bench_policy.py``). It needs a C++ compiler on the machine, and the first call per
batch size compiles (seconds).

The parameters stay graph inputs (no freezing), so in-place weight updates on the wrapped actor
(``load_state_dict``, optimiser steps, Polyak updates) take effect without recompiling. The noise
is drawn outside the graph with ``DiffusionActor.draw_noise``, so a seeded generator gives the
same logits as ``DiffusionActor.forward``.
"""

from __future__ import annotations

import torch

from edge_rl.models.diffusion import DiffusionActor, greedy_actions, sample_actions


class CompiledActor:
    """(obs, generator) -> logits_BA of ``actor`` in inference mode, compiled.

    Args:
        actor: the actor to run; put it in eval mode first (dropout is compiled in as it is).
        cpp_wrapper: let inductor call its kernels from generated C++ rather than Python
            (lower per-call overhead, slower first compile).
    """

    def __init__(self, actor: DiffusionActor, cpp_wrapper: bool = True) -> None:
        self.actor = actor
        self._logits = torch.compile(
            self._logits_from_noise,
            dynamic=False,
            fullgraph=True,
            options={"cpp_wrapper": cpp_wrapper},
        )

    def _logits_from_noise(self, obs: torch.Tensor, noise_NBA: torch.Tensor) -> torch.Tensor:
        state_BD, act_BAD = self.actor.encoder(obs)
        return self.actor.mask_logits(obs, self.actor.denoise(state_BD, act_BAD, noise_NBA))

    @torch.inference_mode()
    def __call__(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """obs -> logits_BA, as ``DiffusionActor.forward`` without autograd."""
        noise_NBA = self.actor.draw_noise(obs.shape[0], self.actor.num_actions_of(obs), generator)
        return self._logits(obs, noise_NBA)

    @torch.inference_mode()
    def act(
        self, obs: torch.Tensor, explore: bool = True, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """actions_B: sampled from pi when ``explore``, else argmax."""
        logits_BA = self(obs, generator)
        return sample_actions(logits_BA, generator) if explore else greedy_actions(logits_BA)
