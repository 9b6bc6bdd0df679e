"""ADSAC's torch Learner: optimizers, the critic/actor/temperature losses, Polyak targets.

Per gradient step on a minibatch of n-step transitions (adsac-algorithm.md):

    y      = R + discount * sum_a pi_target(a|s') min(Q1', Q2')(s', a)   (no entropy term by
             default, as the reference; ``entropy_in_target`` adds -alpha log pi)
    critic = MSE(Q1(s, a), y) + MSE(Q2(s, a), y)
    actor  = -mean_s[alpha H(pi(.|s)) + sum_a pi(a|s) min(Q1, Q2)(s, a)]   (Q held constant)
    alpha  = -mean(log_alpha (target_entropy - H))                          (if learned)
    then Polyak (tau) on the target actor and target critics.

With ``update_order="critic_first"`` (the reference's order) each gradient step is two optimizer
steps on the same minibatch: the critic's, then the actor's (and temperature's) against the
critic just updated. With ``"joint"`` both losses share one backward pass and the actor sees the
critic from before the step, as in RLlib's SAC. Either way the targets move once per step.
"""

from __future__ import annotations

import contextlib
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
    ENCODER_OPTIMIZER,
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

#: which losses ``compute_loss_for_module`` returns: both (one backward pass), or one phase of
#: the critic-first order
_JOINT, _CRITIC, _ACTOR = "joint", "critic", "actor"


class ADSACTorchLearner(TorchLearner):
    """Learner of ADSAC (and D2SAC: the same with attention depth 0)."""

    _phase = _JOINT

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
        actor_params = list(module.actor.parameters())
        critic_params = list(module.critic.parameters())
        groups = {}
        if config.encoder_lr is not None or config.shared_encoder:
            # The attention encoder leaves the actor's optimizer: it gets its own rate
            # (encoder_lr), or with a shared encoder and no encoder_lr, the critic's.
            encoder_ids = {id(p) for p in module.actor.encoder.parameters()}
            encoder_params = [p for p in actor_params if id(p) in encoder_ids]
            actor_params = [p for p in actor_params if id(p) not in encoder_ids]
            if config.encoder_lr is not None and encoder_params:
                groups[ENCODER_OPTIMIZER] = (encoder_params, config.encoder_lr)
            else:
                critic_params += encoder_params
        groups[ACTOR_OPTIMIZER] = (actor_params, config.actor_lr)
        groups[CRITIC_OPTIMIZER] = (critic_params, config.critic_lr)
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

    @override(TorchLearner)
    def _uncompiled_update(self, batch: dict[str, Any], **kwargs: Any):
        """One gradient step; critic-first (the reference) runs two optimizer steps."""
        # (ADSACConfig.validate has checked the value; this runs on every update.)
        if all(self.config.get_config_for_module(mid).update_order == "joint" for mid in batch):
            return super()._uncompiled_update(batch, **kwargs)
        self._compute_off_policyness(batch)
        try:
            self._phase = _CRITIC
            critic_losses = self.compute_losses(fwd_out={mid: {} for mid in batch}, batch=batch)
            self._step(critic_losses)
            self._phase = _ACTOR
            fwd_out = self.module.forward_train(batch)
            actor_losses = self.compute_losses(fwd_out=fwd_out, batch=batch)
            self._step(actor_losses)
        finally:
            self._phase = _JOINT
        losses = {mid: critic_losses[mid] + actor_losses[mid] for mid in actor_losses}
        return fwd_out, losses, {}

    def _step(self, loss_per_module: dict[ModuleID, torch.Tensor]) -> None:
        """Backward pass and optimizer steps of one phase (the other networks have no grads)."""
        gradients = self.compute_gradients(loss_per_module)
        with contextlib.ExitStack() as stack:
            if self.config.num_learners > 1:
                for mod in self.module.values():
                    if isinstance(mod, torch.nn.Module):
                        stack.enter_context(mod.no_sync())
            self.apply_gradients(self.postprocess_gradients(gradients))

    @override(TorchLearner)
    def compute_gradients(
        self, loss_per_module: dict[ModuleID, torch.Tensor], **kwargs: Any
    ) -> ParamDict:
        # Parameters a phase's loss does not reach keep no gradient: leave them out, so that
        # their optimizers skip them.
        gradients = super().compute_gradients(loss_per_module, **kwargs)
        return {pid: grad for pid, grad in gradients.items() if grad is not None}

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
        total = torch.zeros((), device=obs.device)
        metrics: dict[str, torch.Tensor] = {}
        if self._phase in (_JOINT, _CRITIC):
            loss_critic, q1_BA, q2_BA = self._critic_loss(module, config, batch, fwd_out, metrics)
            total = total + loss_critic
        if self._phase == _ACTOR:
            # The critic has just stepped: the actor is trained against its new values. A
            # shared encoding in fwd_out was made after that step: reuse it, no second pass.
            with torch.no_grad():
                q1_BA, q2_BA = module.q_values(obs, fwd_out)
        if self._phase in (_JOINT, _ACTOR):
            total = total + self._actor_losses(module, config, fwd_out, q1_BA, q2_BA, metrics)
        self.metrics.log_dict(metrics, key=module_id, window=1)
        return total

    def _critic_loss(
        self,
        module: Any,
        config: AlgorithmConfig,
        batch: dict[str, Any],
        fwd_out: dict[str, Any],
        metrics: dict[str, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Twin-Q TD loss toward the n-step target; returns it and Q(s, .) of both critics."""
        obs = batch[Columns.OBS]
        actions_B1 = batch[Columns.ACTIONS].long().reshape(-1, 1)
        alpha = module.log_alpha.exp().detach()
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

        q1_BA, q2_BA = module.q_values(obs, fwd_out)
        q1_sa_B = q1_BA.gather(1, actions_B1).squeeze(1)
        q2_sa_B = q2_BA.gather(1, actions_B1).squeeze(1)
        loss_critic = critic_loss(q1_sa_B, q2_sa_B, target_B)
        metrics[CRITIC_LOSS_KEY] = loss_critic.detach()
        metrics[Q_MEAN_KEY] = q1_sa_B.mean().detach()
        metrics[TARGET_MEAN_KEY] = target_B.mean()
        metrics[TD_ERROR_MEAN_KEY] = (q1_sa_B - target_B).abs().mean().detach()
        return loss_critic, q1_BA, q2_BA

    def _actor_losses(
        self,
        module: Any,
        config: AlgorithmConfig,
        fwd_out: dict[str, Any],
        q1_BA: torch.Tensor,
        q2_BA: torch.Tensor,
        metrics: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Actor loss (Q held constant) plus the temperature loss when alpha is learned."""
        log_alpha = module.log_alpha
        alpha = log_alpha.exp().detach()
        probs_BA = torch.softmax(fwd_out[ACTION_LOGITS], dim=-1)
        loss_actor = actor_loss(probs_BA, q1_BA, q2_BA, alpha)
        entropy_B = categorical_entropy(probs_BA)
        metrics[ACTOR_LOSS_KEY] = loss_actor.detach()
        metrics[ENTROPY_KEY] = entropy_B.mean().detach()
        metrics[ALPHA_VALUE_KEY] = alpha.squeeze()
        if not config.learn_alpha:
            return loss_actor
        num_actions = probs_BA.shape[-1]
        loss_alpha = temperature_loss(
            log_alpha, entropy_B, target_entropy(num_actions, config.target_entropy_fraction)
        )
        metrics[ALPHA_LOSS_KEY] = loss_alpha.detach()
        return loss_actor + loss_alpha

    @override(TorchLearner)
    def apply_gradients(self, gradients_dict: ParamDict) -> None:
        """Optimizer steps, then Polyak-average every target network (once per gradient step:
        after the actor's phase in the critic-first order)."""
        super().apply_gradients(gradients_dict)
        if self._phase == _CRITIC:
            return
        for module_id in self.module.keys():
            module = self.module[module_id].unwrapped()
            if not isinstance(module, TargetNetworkAPI):
                continue
            tau = self.config.get_config_for_module(module_id).tau
            for main_net, target_net in module.get_target_network_pairs():
                polyak_update(target_net, main_net, tau)
