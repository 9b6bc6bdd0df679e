"""The models read the AIGC env's real observations: every layout, preset and size knob, and the
"tokens" column slices the env documents (``token_layout``)."""

import pytest
import torch

from edge_rl.models import DiffusionActor, EncoderConfig, TwinQCritic
from edge_rl.models.tokenizers import TOKENS_SERVER_FEATURES

aigc_env = pytest.importorskip("edge_rl.envs.aigc.env")
aigc_obs = pytest.importorskip("edge_rl.envs.aigc.observation")

CASES = [
    ("adsac-paper", {}),
    ("agod-paper", {}),
    ("regions", {}),
    ("adsac-paper", {"observation": "tokens"}),
    ("adsac-paper", {"num_servers": 5}),
    ("agod-paper", {"num_servers": 7}),
]


@pytest.mark.parametrize(("preset", "overrides"), CASES)
def test_actor_and_critic_run_on_env_observations(preset, overrides):
    env = aigc_env.AIGCEdgeEnv(preset, **overrides)
    layout, shape, num_actions = (
        env.config.observation,
        env.observation_space.shape,
        env.action_space.n,
    )
    encoder = EncoderConfig(width=16, depth=1, dropout=0.0)
    actor = DiffusionActor(layout, shape, num_actions, encoder).eval()
    critic = TwinQCritic(layout, shape, num_actions, encoder)
    obs, _ = env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        obs_1O = torch.as_tensor(obs)[None]
        action = int(actor.act(obs_1O, explore=True, generator=gen)[0])
        assert critic(obs_1O)[0].shape == (1, num_actions)
        obs, _, terminated, _, _ = env.step(action)
        assert not terminated


def test_tokens_columns_match_the_env_layout():
    config = aigc_env.AIGCEdgeEnv("regions").config
    cols = aigc_obs.token_layout(config)
    k = config.num_task_types
    assert cols.num_features == k + 2 + TOKENS_SERVER_FEATURES
    assert (cols.task.start, cols.task.stop) == (0, k + 2)
    assert (cols.server.start, cols.server.stop) == (k + 2, k + 2 + TOKENS_SERVER_FEATURES)
