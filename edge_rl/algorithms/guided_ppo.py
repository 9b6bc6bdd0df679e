"""Heuristic guidance for RLlib's PPO and A2C (``--set guide_weight=...``), as Meta-Dreamer's.

The env labels every observation with a heuristic's action (``MetaTrialEnv(guide_policy=...)``
puts it in ``info["guide_action"]``); the agent still acts itself, so the labels are on the
states its own policy visits (DAgger-style, Ross et al. 2011). ``GuideActionsToBatch`` (a
learner connector piece) copies the labels into the train batch and ``GuidedPPOTorchLearner``
adds ``guide_weight`` times the cross-entropy of the policy's logits toward them to PPO's loss.
The weight is a number or a schedule of [env_steps, weight] points (``learning_rates``), so the
guidance can be switched off part-way, leaving plain PPO / A2C from there on. It exists so that
Meta-Dreamer's guided runs have a like-for-like baseline: A2C given the same labels.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.utils.annotations import override

from edge_rl.algorithms.learning_rates import schedule_value
from edge_rl.algorithms.lifetime_steps import LifetimeStepsMixin
from edge_rl.algorithms.meta_dreamer.meta_dreamer_learner import (
    GUIDE_ACTIONS,
    GUIDE_AGREEMENT_KEY,
    GUIDE_LOSS_KEY,
    GUIDE_WEIGHT_KEY,
)
from edge_rl.envs.load_balance.trial import guide_labels
from edge_rl.models.losses import label_cross_entropy


class GuideActionsToBatch(ConnectorV2):
    """Learner connector piece: ``info["guide_action"]`` of every decision as a batch column.

    One item per timestep the other columns hold (the observations an action was taken at,
    plus the step PPO appends for bootstrapping, which its loss mask leaves out); -1 where an
    info has no label.
    """

    @override(ConnectorV2)
    def __call__(
        self,
        *,
        rl_module: Any,
        batch: dict[str, Any],
        episodes: list[Any],
        explore: bool | None = None,
        shared_data: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        for episode in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False):
            steps = len(episode)
            labels = guide_labels(episode.get_infos(slice(0, steps)))
            self.add_n_batch_items(batch, GUIDE_ACTIONS, labels, steps, episode)
        return batch


def guide_connector(*_spaces: Any) -> GuideActionsToBatch:
    """The ``learner_connector`` builder (RLlib passes the observation and action spaces)."""
    return GuideActionsToBatch()


class GuidedPPOTorchLearner(LifetimeStepsMixin, PPOTorchLearner):
    """PPO's loss plus ``guide_weight`` x cross-entropy toward the heuristic's labels."""

    @override(PPOTorchLearner)
    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        loss = super().compute_loss_for_module(
            module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
        )
        if GUIDE_ACTIONS not in batch:
            return loss
        schedule = config.learner_config_dict[GUIDE_WEIGHT_KEY]  # set by training.algos
        weight = schedule_value(schedule, self._lifetime_steps)
        logits = fwd_out[Columns.ACTION_DIST_INPUTS]
        labels = batch[GUIDE_ACTIONS].long()
        labelled = labels >= 0
        if Columns.LOSS_MASK in batch:
            labelled = labelled & batch[Columns.LOSS_MASK].bool()
        guide, agree = label_cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), labelled.reshape(-1)
        )
        self.metrics.log_dict(
            {GUIDE_LOSS_KEY: guide.detach(), GUIDE_AGREEMENT_KEY: agree, GUIDE_WEIGHT_KEY: weight},
            key=module_id,
            window=1,
        )
        return loss + weight * guide if weight > 0 else loss
