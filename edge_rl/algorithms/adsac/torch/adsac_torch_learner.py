"""ADSAC's torch Learner: optimizers, the critic/actor/temperature losses, Polyak targets.

Per gradient step on a minibatch of n-step transitions (adsac-algorithm.md):

    y      = R + discount * sum_a pi_target(a|s') min(Q1', Q2')(s', a)   (no entropy term by
             default, as the reference; ``entropy_in_target`` adds -alpha log pi)
    critic = MSE(Q1(s, a), y) + MSE(Q2(s, a), y)
    actor  = -mean_s[alpha H(pi(.|s)) + sum_a pi(a|s) min(Q1, Q2)(s, a)]   (Q held constant)
    alpha  = -mean(log_alpha (target_entropy - H))                          (if learned)
    then Polyak (tau) on the target actor and target critics.

Critic and actor gradients come from one backward pass over the same minibatch (the actor sees
the critic before this step's update, as in RLlib's SAC); the reference steps the critic first.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import Learner
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.utils.annotations import override
from ray.rllib.utils.typing import ModuleID, ParamDict

from edge_rl.algorithms.adsac.adsac_learner import (
    ACTOR_LOSS_KEY,
    ACTOR_OPTIMIZER,
    ALPHA_LOSS_KEY,
    ALPHA_OPTIMIZER,
    ALPHA_VALUE_KEY,
    CRITIC_LOSS_KEY,
    CRITIC_OPTIMIZER,
    DISCOUNTS,
    ENTROPY_KEY,
    Q_MEAN_KEY,
    TARGET_MEAN_KEY,
    TD_ERROR_MEAN_KEY,
)
from edge_rl.algorithms.adsac.torch.adsac_torch_rl_module import (
    ACTION_LOGITS,
    TARGET_ACTION_LOGITS,
    TARGET_Q1,
    TARGET_Q2,
)
from edge_rl.models.losses import (
    actor_loss,
    categorical_entropy,
    critic_loss,
    polyak_update,
    soft_state_value,
    target_entropy,
    temperature_loss,
)


class ADSACTorchLearner(TorchLearner):
    """Learner of ADSAC (and D2SAC: the same with attention depth 0)."""

    @override(Learner)
    def build(self) -> None:
        super().build()
        self.module.foreach_module(
            lambda mid, mod: (
                mod.make_target_networks() if isinstance(mod, TargetNetworkAPI) else None
            )
        )

    @override(TorchLearner)
    def configure_optimizers_for_module(
        self, module_id: ModuleID, config: AlgorithmConfig = None
    ) -> None:
        module = self._module[module_id]
        groups = {
            ACTOR_OPTIMIZER: (list(module.actor.parameters()), config.actor_lr),
            CRITIC_OPTIMIZER: (list(module.critic.parameters()), config.critic_lr),
        }
        for name, (params, lr) in groups.items():
            self.register_optimizer(
                module_id=module_id,
                optimizer_name=name,
                optimizer=torch.optim.Adam(params, weight_decay=config.weight_decay),
                params=params,
                lr_or_lr_schedule=lr,
            )
        log_alpha = module.log_alpha
        if config.learn_alpha:
            self.register_optimizer(
                module_id=module_id,
                optimizer_name=ALPHA_OPTIMIZER,
                optimizer=torch.optim.Adam([log_alpha]),
                params=[log_alpha],
                lr_or_lr_schedule=config.alpha_lr,
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
        module = self.module[module_id].unwrapped()
        obs = batch[Columns.OBS]
        actions_B1 = batch[Columns.ACTIONS].long().reshape(-1, 1)
        log_alpha = module.log_alpha
        alpha = log_alpha.exp().detach()

        with torch.no_grad():
            target_out = module.forward_target({Columns.OBS: batch[Columns.NEXT_OBS]})
            probs_next_BA = torch.softmax(target_out[TARGET_ACTION_LOGITS], dim=-1)
            v_next_B = soft_state_value(
                probs_next_BA,
                target_out[TARGET_Q1],
                target_out[TARGET_Q2],
                alpha if config.entropy_in_target else 0.0,
            )
            target_B = batch[Columns.REWARDS].float() + batch[DISCOUNTS].float() * v_next_B

        q1_BA, q2_BA = module.critic(obs)
        q1_sa_B = q1_BA.gather(1, actions_B1).squeeze(1)
        q2_sa_B = q2_BA.gather(1, actions_B1).squeeze(1)
        loss_critic = critic_loss(q1_sa_B, q2_sa_B, target_B)

        probs_BA = torch.softmax(fwd_out[ACTION_LOGITS], dim=-1)
        loss_actor = actor_loss(probs_BA, q1_BA, q2_BA, alpha)
        entropy_B = categorical_entropy(probs_BA)
        total = loss_critic + loss_actor
        metrics = {
            CRITIC_LOSS_KEY: loss_critic.detach(),
            ACTOR_LOSS_KEY: loss_actor.detach(),
            ENTROPY_KEY: entropy_B.mean().detach(),
            ALPHA_VALUE_KEY: alpha.squeeze(),
            Q_MEAN_KEY: q1_sa_B.mean().detach(),
            TARGET_MEAN_KEY: target_B.mean(),
            TD_ERROR_MEAN_KEY: (q1_sa_B - target_B).abs().mean().detach(),
        }
        if config.learn_alpha:
            num_actions = probs_BA.shape[-1]
            loss_alpha = temperature_loss(
                log_alpha, entropy_B, target_entropy(num_actions, config.target_entropy_fraction)
            )
            total = total + loss_alpha
            metrics[ALPHA_LOSS_KEY] = loss_alpha.detach()
        self.metrics.log_dict(metrics, key=module_id, window=1)
        return total

    @override(TorchLearner)
    def apply_gradients(self, gradients_dict: ParamDict) -> None:
        """One optimizer step, then Polyak-average every target network (once per step)."""
        super().apply_gradients(gradients_dict)
        for module_id in self.module.keys():
            module = self.module[module_id].unwrapped()
            if not isinstance(module, TargetNetworkAPI):
                continue
            tau = self.config.get_config_for_module(module_id).tau
            for main_net, target_net in module.get_target_network_pairs():
                polyak_update(target_net, main_net, tau)
