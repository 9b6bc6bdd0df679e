"""RLlib RLModule for PPO/A2C with the server-scoring policy (``edge_rl.models.server_scoring``).

``--set policy_net=server-scoring`` puts it under ``--algo a2c`` / ``ppo`` on
``--env load-balance-trials``; ``--algo rl2-ppo`` gets the recurrent version (GRU memory across
the trial, the RL^2 policy) with ``policy_net=server-scoring``. Model config keys: ``hidden``
(token and scorer width), ``memory`` (GRU size; 0 = feed-forward, no state) and
``separate_value`` (the value head's own token encoder).

When the module has memory it is stateful: RLlib then adds a time axis to every batch (``[B, T,
O]``, 1 step while sampling, ``max_seq_len`` when training), resets the state at each episode
(= each trial) and slices training sequences from the stored states.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule
from ray.rllib.utils.annotations import override

from edge_rl.models.server_scoring import ServerScoringConfig, ServerScoringNet, num_servers_of

#: the pseudo-setting that picks this module, and its values
POLICY_NET_KEY = "policy_net"
POLICY_NETS = ("mlp", "server-scoring")
MEMORY_STATE = "m"


class ServerScoringTorchRLModule(TorchRLModule, ValueFunctionAPI):
    """Logits from the shared per-server scorer, values from the pooled tokens."""

    framework: str = "torch"

    @override(RLModule)
    def setup(self) -> None:
        shape = tuple(self.observation_space.shape or ())
        if len(shape) != 1:
            raise ValueError(f"server-scoring needs flat trial observations, got shape {shape}")
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise ValueError(f"server-scoring needs a Discrete action space: {self.action_space}")
        num_servers = num_servers_of(shape[0])
        if int(self.action_space.n) != num_servers:
            raise ValueError(
                f"server-scoring scores one action per server: {num_servers} servers in the "
                f"observation but {self.action_space.n} actions"
            )
        keys = ("hidden", "memory", "separate_value")
        known = {k: self.model_config[k] for k in keys if k in self.model_config}
        self.net = ServerScoringNet(num_servers, ServerScoringConfig(**known))

    @override(RLModule)
    def is_stateful(self) -> bool:
        return self.net.memory_size > 0

    @override(RLModule)
    def get_initial_state(self) -> dict[str, np.ndarray]:
        if not self.is_stateful():
            return {}
        return {MEMORY_STATE: np.zeros(self.net.memory_size, np.float32)}

    def _run(self, batch: dict[str, Any], with_value: bool) -> dict[str, Any]:
        """Logits (and values as EMBEDDINGS when ``with_value``; acting skips the value head)."""
        obs = batch[Columns.OBS].float()
        out: dict[str, Any] = {}
        if not self.is_stateful():
            logits, values, _ = self.net(obs, with_value=with_value)
        else:
            memory_BM = batch[Columns.STATE_IN][MEMORY_STATE].float()
            logits, values, memory_BM = self.net.unroll(obs, memory_BM, with_value)
            out[Columns.STATE_OUT] = {MEMORY_STATE: memory_BM}
        out[Columns.ACTION_DIST_INPUTS] = logits
        if with_value:
            out[Columns.EMBEDDINGS] = values
        return out

    @override(RLModule)
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._run(batch, with_value=False)

    @override(RLModule)
    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._run(batch, with_value=True)

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        """State values (``[B]``, or ``[B, T]`` when stateful); reuses ``_forward_train``'s."""
        if embeddings is not None:
            return embeddings
        return self._run(batch, with_value=True)[Columns.EMBEDDINGS]
