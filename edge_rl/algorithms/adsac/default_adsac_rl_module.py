"""ADSAC's RLModule contract, independent of the framework.

    obs -> actor (tokeniser -> attention encoder -> DDPM over logits) -> action_dist_inputs
    obs -> twin critics (own encoders) -> (q1_BA, q2_BA)          [learner only]
           (``shared_encoder``: twin heads on the actor's encoder, trained by the TD loss)
    target actor and target critics: Polyak copies                  [learner only]

Env runners build the module with ``inference_only=True``: only the actor exists there.
"""

from __future__ import annotations

from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, TargetNetworkAPI
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.utils.annotations import override

#: the learner-only attributes (critics, target networks, entropy temperature)
NON_INFERENCE_ATTRIBUTES = ["critic", "target_critic", "target_actor", "log_alpha"]


class DefaultADSACRLModule(RLModule, InferenceOnlyAPI, TargetNetworkAPI):
    """Which parts are inference-only, and which pairs the learner Polyak-averages."""

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> list[str]:
        return list(NON_INFERENCE_ATTRIBUTES)

    @override(TargetNetworkAPI)
    def get_target_network_pairs(self) -> list[tuple]:
        return [(self.actor, self.target_actor), (self.critic, self.target_critic)]
