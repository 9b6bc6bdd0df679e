"""Meta-Dreamer's torch RLModule: a stateful module whose state is the trial's memory.

RLlib resets the state (``get_initial_state``: zeros) when an episode starts; with
``MetaTrialEnv`` an episode is a whole trial, so the world model's h and the policy's memory m
are carried across its inner episodes (RL^2). The module picks the action itself (a sample when
exploring, the argmax otherwise), because the state it returns holds that action for the next
step's GRU input.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from ray.rllib.utils.annotations import override

from edge_rl.models.world_model import MetaDreamerNets, WorldModelConfig

SIZE_FIELDS = (
    "deter",
    "stoch",
    "classes",
    "hidden",
    "layers",
    "memory",
    "unimix",
    "num_bins",
    "actor_head",
    "reward_input",
    "input_baseline",
)


class MetaDreamerTorchRLModule(TorchRLModule):
    """World model + recurrent actor-critic (``edge_rl.models.world_model.MetaDreamerNets``)."""

    framework: str = "torch"

    @override(RLModule)
    def setup(self) -> None:
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise ValueError(f"meta-dreamer needs a Discrete action space, got {self.action_space}")
        shape = tuple(self.observation_space.shape or ())
        if len(shape) != 1:
            raise ValueError(f"meta-dreamer needs flat vector observations, got shape {shape}")
        given = {k: self.model_config[k] for k in SIZE_FIELDS if k in self.model_config}
        self.sizes = WorldModelConfig(**given)
        self.nets = MetaDreamerNets(shape[0], int(self.action_space.n), self.sizes)

    @override(RLModule)
    def get_initial_state(self) -> dict[str, np.ndarray]:
        s, n = self.sizes, int(self.action_space.n)
        return {
            "h": np.zeros(s.deter, np.float32),
            "z": np.zeros(s.latent, np.float32),
            "m": np.zeros(s.memory, np.float32),
            "a": np.zeros(n, np.float32),
        }

    def _step(self, batch: dict[str, Any], greedy: bool) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        time_rank = obs.dim() == 3  # RLlib adds a time axis of 1 for stateful modules
        obs_BO = obs[:, -1] if time_rank else obs
        state = {k: v.float() for k, v in batch[Columns.STATE_IN].items()}
        with torch.no_grad():
            actions, logits, new_state = self.nets.act(state, obs_BO.float(), greedy=greedy)
        logp = torch.log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        out = {
            Columns.ACTIONS: actions,
            Columns.ACTION_DIST_INPUTS: logits,
            Columns.ACTION_LOGP: logp,
        }
        if time_rank:
            out = {k: v.unsqueeze(1) for k, v in out.items()}
        out[Columns.STATE_OUT] = dict(new_state)
        return out

    @override(RLModule)
    def _forward_inference(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._step(batch, greedy=True)

    @override(RLModule)
    def _forward_exploration(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._step(batch, greedy=False)

    @override(RLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._step(batch, greedy=False)

    @override(RLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Nothing: the learner runs the world model and imagination itself (one pass)."""
        return {}
