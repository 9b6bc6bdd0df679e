"""Meta-Dreamer's torch Learner: world-model, actor and critic losses; the slow critic's EMA.

Per update on B windows of T steps (batch-major rows, transposed to time-major here):
observe the windows with the posterior from their stored states, world-model loss
(``world_model_loss``), imagine H steps from every posterior state, actor-critic loss
(``actor_critic_loss``), with ``replay_value`` the critic also on the real steps
(``replay_value_loss``), and with ``guide_weight`` the actor's cross-entropy on a heuristic's
actions at the real steps (``guide_loss``, weight scheduled in env steps). One backward pass;
three optimizers (world model, actor incl. its memory GRU, critic and any input critic) whose
losses touch disjoint parameters (inputs are detached across them).

With ``compile_update`` the four loss steps (``update_losses``) run through ``torch.compile``
(Inductor; CPU needs a C++ compiler). RLlib's own ``torch_compile_learner`` compiles the whole
``_uncompiled_update`` (metrics logging, optimizer bookkeeping) or only ``forward_train`` (here
a pass-through); the losses are where the time goes. The first process on a machine compiles
for minutes (about nine for the small model at H=15, 256 starts on this 2-core CPU); Inductor's
on-disk cache (``TORCHINDUCTOR_CACHE_DIR``, default ``/tmp/torchinductor_$USER``) makes later
processes with the same shapes and loss settings start in seconds.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import Learner
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.utils.annotations import override
from ray.rllib.utils.typing import ModuleID, ParamDict

from edge_rl.algorithms.learning_rates import schedule_value
from edge_rl.algorithms.lifetime_steps import LifetimeStepsMixin
from edge_rl.algorithms.meta_dreamer.meta_dreamer import STATE_COLUMN, STATE_KEYS
from edge_rl.algorithms.meta_dreamer.meta_dreamer_learner import (
    ACTOR_LOSS_KEY,
    ACTOR_OPTIMIZER,
    CONTINUES,
    CRITIC_LOSS_KEY,
    CRITIC_OPTIMIZER,
    GUIDE_ACTIONS,
    GUIDE_AGREEMENT_KEY,
    GUIDE_LOSS_KEY,
    GUIDE_WEIGHT_KEY,
    PREV_ACTIONS,
    PREV_REWARDS,
    WORLD_MODEL_LOSS_KEY,
    WORLD_MODEL_OPTIMIZER,
)
from edge_rl.models.losses import polyak_update
from edge_rl.models.world_model import (
    DreamerLossConfig,
    guide_loss,
    update_losses,
)


def loss_config_of(config: AlgorithmConfig) -> DreamerLossConfig:
    return DreamerLossConfig(
        dyn_scale=config.dyn_scale,
        rep_scale=config.rep_scale,
        free_bits=config.free_bits,
        horizon=config.horizon,
        gamma=config.gamma,
        lam=config.lambda_,
        entropy=config.entropy_coeff,
        slow_reg=config.slow_critic_reg,
        return_decay=config.return_decay,
        replay_value=float(config.replay_value),
        value_mean=config.value_mean,
    )


class MetaDreamerTorchLearner(LifetimeStepsMixin, TorchLearner):
    """Learner of Meta-Dreamer (the mixin keeps guide_weight's clock)."""

    _losses_fn: Any = None

    def _update_losses(self, config: AlgorithmConfig) -> Any:
        """``update_losses``, or its ``torch.compile``d form with ``compile_update``."""
        if self._losses_fn is None:
            self._losses_fn = (
                torch.compile(update_losses, dynamic=False)
                if config.compile_update
                else update_losses
            )
        return self._losses_fn

    @override(TorchLearner)
    def configure_optimizers_for_module(
        self, module_id: ModuleID, config: AlgorithmConfig = None
    ) -> None:
        nets = self._module[module_id].nets
        agent = nets.agent
        critics = [agent.critic] + ([agent.input_critic] if agent.input_critic is not None else [])
        groups = {
            WORLD_MODEL_OPTIMIZER: (list(nets.world_model.parameters()), config.world_model_lr),
            ACTOR_OPTIMIZER: (
                [*agent.memory.parameters(), *agent.actor.parameters()],
                config.actor_lr,
            ),
            CRITIC_OPTIMIZER: ([p for c in critics for p in c.parameters()], config.critic_lr),
        }
        for name, (params, lr) in groups.items():
            self.register_optimizer(
                module_id=module_id,
                optimizer_name=name,
                optimizer=torch.optim.Adam(params, eps=1e-8),
                params=params,
                lr_or_lr_schedule=lr,
            )

    @override(Learner)
    def compute_loss_for_module(
        self,
        *,
        module_id: ModuleID,
        config: AlgorithmConfig,
        batch: dict[str, Any],
        fwd_out: dict[str, Any],
    ) -> torch.Tensor:
        nets = self.module[module_id].unwrapped().nets
        losses = loss_config_of(config)
        seq_batch = {
            "obs": batch[Columns.OBS].float().transpose(0, 1),
            "prev_actions": batch[PREV_ACTIONS].long().transpose(0, 1),
            "rewards": batch[PREV_REWARDS].float().transpose(0, 1),
            "continues": batch[CONTINUES].float().transpose(0, 1),
            **{k: batch[STATE_COLUMN.format(k)].float() for k in STATE_KEYS},
        }
        seq, loss_wm, wm_metrics, loss_ac, ac_metrics = self._update_losses(config)(
            nets, seq_batch, losses, config.imagine_starts
        )
        if GUIDE_ACTIONS in batch:
            weight = schedule_value(config.guide_weight, self._lifetime_steps)
            loss_guide, agreement = guide_loss(
                nets, seq, batch[GUIDE_ACTIONS].long().transpose(0, 1)
            )
            ac_metrics[GUIDE_LOSS_KEY] = loss_guide.detach()
            ac_metrics[GUIDE_AGREEMENT_KEY] = agreement
            ac_metrics[GUIDE_WEIGHT_KEY] = weight
            if weight > 0:
                loss_ac = loss_ac + weight * loss_guide
        metrics = {
            WORLD_MODEL_LOSS_KEY: loss_wm.detach(),
            ACTOR_LOSS_KEY: ac_metrics.pop("actor"),
            CRITIC_LOSS_KEY: ac_metrics.pop("critic"),
            **{f"wm_{k}": v for k, v in wm_metrics.items()},
            **ac_metrics,
        }
        self.metrics.log_dict(metrics, key=module_id, window=1)
        return loss_wm + loss_ac

    @override(TorchLearner)
    def apply_gradients(self, gradients_dict: ParamDict) -> None:
        """One optimizer step, then move the slow critic toward the critic (EMA)."""
        super().apply_gradients(gradients_dict)
        for module_id in self.module.keys():
            agent = self.module[module_id].unwrapped().nets.agent
            rate = self.config.get_config_for_module(module_id).slow_critic_rate
            polyak_update(agent.slow_critic, agent.critic, rate)
