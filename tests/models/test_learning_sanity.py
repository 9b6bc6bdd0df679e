"""Slow end-to-end check of the loss signs and gradient paths: the actor learns a contextual
bandit (reward = free fraction of the chosen server + 0.5 for model 0) from the critic."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from edge_rl.models import EncoderConfig, sample_actions

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_policy.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_policy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_policy"] = module
    spec.loader.exec_module(module)
    return module


def _reward(obs_BO: torch.Tensor, actions_B: torch.Tensor) -> torch.Tensor:
    free_BE = obs_BO[:, 6:].reshape(-1, 10, 3)[:, :, 1]
    server, model = actions_B // 4, actions_B % 4
    return free_BE.gather(1, server[:, None]).squeeze(1) + 0.5 * (model == 0).float()


@pytest.mark.slow
@pytest.mark.parametrize("encoder", [EncoderConfig(depth=0), EncoderConfig(width=32, depth=1)])
def test_actor_and_critic_learn_a_contextual_bandit(encoder):
    bench = _bench()
    spec = ("paper-adsac", (36,), 40)
    torch.manual_seed(0)
    learner = bench.make_learner(spec, encoder, "cpu")
    g = torch.Generator().manual_seed(0)
    test_obs = torch.rand(2000, 36, generator=torch.Generator().manual_seed(1))
    batch_size = 128
    for _ in range(300):
        obs = torch.rand(batch_size, 36, generator=g)
        with torch.no_grad():
            actions = sample_actions(learner.actor(obs, g), g)
        rewards = torch.zeros(batch_size, 3)
        rewards[:, 0] = _reward(obs, actions)
        dones = torch.zeros(batch_size, 3, dtype=torch.bool)
        dones[:, 0] = True  # one-step episodes: the target is the reward
        batch = {
            "obs": obs,
            "actions": actions,
            "rewards": rewards,
            "dones": dones,
            "next_obs": torch.rand(batch_size, 36, generator=g),
        }
        bench.plain_torch_update(learner, batch)
    learner.actor.eval()
    greedy = learner.actor.act(test_obs, explore=False, generator=g)
    critic_greedy = learner.critic.q_min(test_obs).argmax(-1)
    # random policy: 0.5 + 0.125 = 0.625; optimum: E[max of 10 U(0,1)] + 0.5 = 1.41
    assert _reward(test_obs, critic_greedy).mean() > 1.3
    assert _reward(test_obs, greedy).mean() > 0.9
