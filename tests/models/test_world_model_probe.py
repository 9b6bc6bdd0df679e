"""The world-model probe: imagined vs simulated reward per action (no Ray)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from edge_rl.envs.load_balance.trial import MetaTrialEnv
from edge_rl.evaluation.world_model_probe import imagined_rewards, probe_reward_head
from edge_rl.models.world_model import WORLD_MODEL_PRESETS, MetaDreamerNets


def _setup(reward_input: str = "feat") -> tuple[MetaDreamerNets, MetaTrialEnv]:
    env = MetaTrialEnv(episodes_per_trial=1, preset="park", jobs_per_episode=30, reward_mode="jct")
    cfg = replace(WORLD_MODEL_PRESETS["debug"], reward_input=reward_input)
    torch.manual_seed(0)
    return MetaDreamerNets(env.observation_space.shape[0], env.action_space.n, cfg), env


def test_an_untrained_reward_head_imagines_no_difference_between_servers():
    nets, env = _setup()
    report = probe_reward_head(nets, env, steps=12, seed=3)
    assert report["steps"] == 12 and report["chance"] == pytest.approx(1 / env.action_space.n)
    assert report["spread_true"] > 0  # servers differ in the simulator ...
    assert report["spread_pred"] == 0.0  # ... not in a zero-initialised reward head
    assert math.isnan(report["corr"]) and report["steps_with_corr"] == 0
    with pytest.raises(ValueError, match="steps=0"):
        probe_reward_head(nets, env, steps=0)


@pytest.mark.parametrize("reward_input", ["feat", "deter"])
def test_a_reward_head_that_reads_the_action_shows_a_spread(reward_input):
    nets, env = _setup(reward_input)
    torch.nn.init.normal_(nets.world_model.reward_head[-1].weight)  # h depends on the action
    h = torch.randn(2, nets.cfg.deter)
    z = nets.world_model.sample(torch.zeros(2, nets.cfg.stoch, nets.cfg.classes))
    per_action = imagined_rewards(nets, h, z, latent_samples=2)
    assert per_action.shape == (2, env.action_space.n)
    assert (per_action.max(-1).values - per_action.min(-1).values).min() > 0
    report = probe_reward_head(nets, env, steps=100, seed=3)
    assert report["steps"] == 30  # the episode's 30 jobs, then it stops
    assert report["spread_pred"] > 0 and report["steps_with_corr"] > 0
    assert -1.0 <= report["corr"] <= 1.0
