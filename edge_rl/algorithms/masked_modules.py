"""Feasibility masking for RLlib's built-in PPO/A2C, DQN and SAC modules on the AIGC env.

``edge-rl train --algo ppo|a2c|dqn|sac --env aigc --set action_masking=true`` gives the baselines
the same structural prior as masked ADSAC/D2SAC (``edge_rl.models.masking``): a (server, model)
whose server lacks the free capacity for the task is never explored, never the greedy action,
and carries no probability in any loss. Feasibility is read from the observation the module
already gets (RLlib's ``FlattenObservations`` output; tokens arrays are unflattened for the
read), so the baselines see nothing new, as with ADSAC. Comparisons of masked ADSAC against
unmasked baselines would otherwise measure the mask, not the algorithm.

How each family masks, in RLlib's own terms:

- PPO / A2C: infeasible action logits (``ACTION_DIST_INPUTS``) are set to ``MASKED_LOGIT`` in
  every forward pass (sampling, greedy, training), so the behaviour policy's log-probabilities
  and the learner's agree and the entropy term ignores masked actions (Huang and Ontanon 2022).
- DQN: infeasible Q-values are -inf, RLlib's own marker of an invalid action: its epsilon-greedy
  exploration draws random actions only among finite Q-values, its greedy action and the double-Q
  argmax over next actions skip them, and its loss gathers Q only at taken (feasible) actions.
  Distributional DQN (``num_atoms`` > 1) is refused.
- SAC (discrete): the policy's logits are masked in inference and exploration; in training the
  probabilities RLlib computes are renormalised over the feasible actions (exactly the softmax
  of the masked logits), with log-probabilities finite everywhere, so the actor loss, the
  soft value of the next state and the entropy all run over feasible actions only.

Rows where no action is feasible are left unmasked (a crash cannot be avoided then), as in
``edge_rl.models.masking``.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.dqn.dqn_learner import QF_PREDS
from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.algorithms.sac.sac_learner import (
    ACTION_LOG_PROBS,
    ACTION_LOG_PROBS_NEXT,
    ACTION_PROBS,
    ACTION_PROBS_NEXT,
)
from ray.rllib.algorithms.sac.torch.default_sac_torch_rl_module import DefaultSACTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.utils.annotations import override

from edge_rl.models.masking import (
    MASKED_LOGIT,
    FeasibilityMask,
    feasibility_config,
    kept_actions,
    mask_logits,
)

#: the model-config key that carries the env's layout and normalisers
MASK_KEY = "feasibility_mask"


def mask_settings(env_config: dict[str, Any]) -> dict[str, Any]:
    """The ``MASK_KEY`` model-config entry for an AIGC ``env_config``: its observation layout
    plus the normalisers (``edge_rl.envs.aigc.observation.feasibility_settings``). A ValueError
    when ``env_config`` is not a valid AIGC env config."""
    from edge_rl.envs.aigc.env import config_of_env_kwargs
    from edge_rl.envs.aigc.observation import feasibility_settings

    config = config_of_env_kwargs(dict(env_config))
    return {"layout": config.observation, **feasibility_settings(config)}


class _FeasibleActions:
    """obs (as the module receives it) -> bool (B, A) actions the policy may take
    (``kept_actions``: the feasible ones, or all where none is)."""

    def __init__(self, model_config: dict[str, Any], num_actions: int) -> None:
        settings = dict(model_config.get(MASK_KEY) or {})
        if not settings:
            raise ValueError(
                f"a masked module needs model_config[{MASK_KEY!r}] (from "
                "edge_rl.algorithms.masked_modules.mask_settings(env_config))"
            )
        layout = settings.pop("layout")
        self.mask = FeasibilityMask(feasibility_config(layout, settings))
        self.num_actions = num_actions

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        if self.mask.config.layout == "tokens" and obs.dim() == 2:
            obs = obs.reshape(obs.shape[0], 1 + self.num_actions, -1)  # undo FlattenObservations
        return kept_actions(self.mask.feasible(obs, self.num_actions))


class _FeasibilityMixin:
    """Builds the RLlib module, then its ``feasible_actions`` reader (put it first in the bases)."""

    def setup(self) -> None:
        super().setup()  # type: ignore[misc]
        self.feasible_actions = _FeasibleActions(self.model_config, int(self.action_space.n))


def _mask_dist_inputs(module: RLModule, batch: dict[str, Any], out: dict[str, Any]) -> dict:
    keep_BA = module.feasible_actions(batch[Columns.OBS])
    out[Columns.ACTION_DIST_INPUTS] = mask_logits(out[Columns.ACTION_DIST_INPUTS], keep_BA)
    return out


def check_num_atoms(num_atoms: int) -> None:
    """Masking sets Q-values to -inf, which distributional DQN's loss (over atoms) ignores."""
    if num_atoms > 1:
        raise ValueError(
            f"action_masking with distributional DQN (num_atoms={num_atoms}) is not "
            "supported: use num_atoms=1"
        )


class MaskedPPOTorchRLModule(_FeasibilityMixin, DefaultPPOTorchRLModule):
    """RLlib's PPO module (also A2C's) with infeasible logits at ``MASKED_LOGIT``."""

    @override(DefaultPPOTorchRLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return _mask_dist_inputs(self, batch, super()._forward(batch, **kwargs))

    @override(DefaultPPOTorchRLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return _mask_dist_inputs(self, batch, super()._forward_train(batch, **kwargs))


class MaskedDQNTorchRLModule(_FeasibilityMixin, DefaultDQNTorchRLModule):
    """RLlib's DQN module with infeasible Q-values at -inf (online and target networks)."""

    @override(DefaultDQNTorchRLModule)
    def setup(self) -> None:
        super().setup()
        check_num_atoms(self.num_atoms)

    @override(DefaultDQNTorchRLModule)
    def _qf_forward_helper(self, batch: dict[str, Any], encoder: Any, head: Any) -> dict:
        out = super()._qf_forward_helper(batch, encoder, head)
        keep_BA = self.feasible_actions(batch[Columns.OBS])
        out[QF_PREDS] = out[QF_PREDS].masked_fill(~keep_BA, float("-inf"))
        return out


class MaskedSACTorchRLModule(_FeasibilityMixin, DefaultSACTorchRLModule):
    """RLlib's discrete SAC module with the policy restricted to feasible actions."""

    @override(DefaultSACTorchRLModule)
    def _forward_inference(self, batch: dict[str, Any]) -> dict[str, Any]:
        return _mask_dist_inputs(self, batch, super()._forward_inference(batch))

    @override(DefaultSACTorchRLModule)
    def _forward_train(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = super()._forward_train(batch)
        for probs, log_probs, obs in (
            (ACTION_PROBS, ACTION_LOG_PROBS, batch[Columns.OBS]),
            (ACTION_PROBS_NEXT, ACTION_LOG_PROBS_NEXT, batch[Columns.NEXT_OBS]),
        ):
            out[probs], out[log_probs] = renormalise(out[probs], self.feasible_actions(obs))
        return out


def renormalise(probs_BA: torch.Tensor, keep_BA: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities, log-probabilities) of a categorical restricted to ``keep_BA``.

    Equal to softmax / log_softmax of the logits with the others at ``MASKED_LOGIT``: the
    kept probabilities over their sum, and the masked ones 0 with log-probability
    ``MASKED_LOGIT`` (finite, so p * log p is 0 there, not NaN). Gradients flow through the
    kept probabilities.
    """
    kept_BA = probs_BA * keep_BA
    total_B1 = kept_BA.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(probs_BA.dtype).tiny)
    masked_probs_BA = kept_BA / total_B1
    log_BA = torch.log(masked_probs_BA.clamp_min(torch.finfo(probs_BA.dtype).tiny))
    return masked_probs_BA, torch.where(keep_BA, log_BA, torch.full_like(log_BA, MASKED_LOGIT))


#: algo -> its masked module class
MASKED_MODULES: dict[str, type[RLModule]] = {
    "ppo": MaskedPPOTorchRLModule,
    "a2c": MaskedPPOTorchRLModule,
    "dqn": MaskedDQNTorchRLModule,
    "sac": MaskedSACTorchRLModule,
}

__all__ = [
    "MASKED_MODULES",
    "MASK_KEY",
    "MaskedDQNTorchRLModule",
    "MaskedPPOTorchRLModule",
    "MaskedSACTorchRLModule",
    "mask_settings",
    "renormalise",
]
