"""Feasibility masking: read from the observation, it must agree with the simulator's own rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edge_rl.envs.aigc import AIGCEdgeEnv
from edge_rl.envs.aigc.observation import feasibility_settings
from edge_rl.models import DiffusionActor, DiffusionConfig, EncoderConfig, categorical_entropy
from edge_rl.models.masking import (
    MASKED_LOGIT,
    FeasibilityConfig,
    FeasibilityMask,
    feasibility_config,
    feasible_actions,
    mask_logits,
)


def _mask_of(env: AIGCEdgeEnv) -> FeasibilityMask:
    settings = feasibility_settings(env.config)
    return FeasibilityMask(feasibility_config(env.config.observation, settings))


@pytest.mark.parametrize(
    ("preset", "overrides"),
    [
        ("adsac-paper", {}),
        ("agod-paper", {}),
        ("regions", {}),
        ("adsac-paper", {"observation": "tokens"}),
        # K != 4 task types: E cannot be told from the paper-adsac shape alone
        ("adsac-paper", {"num_task_types": 3, "num_servers": 6}),
        # a heavier load, so that many steps have few or no feasible servers
        ("adsac-paper", {"arrival_rate": 0.004}),
    ],
)
def test_mask_from_observation_equals_the_simulators_rule(preset: str, overrides: dict) -> None:
    env = AIGCEdgeEnv(preset=preset, world_seed=3, **overrides)
    mask = _mask_of(env)
    obs, _ = env.reset(seed=5)
    rng = np.random.default_rng(0)
    seen_feasible = seen_infeasible = 0
    for _ in range(400):
        want = env.feasible_mask
        got = mask.feasible(torch.as_tensor(obs).unsqueeze(0), env.action_space.n)[0].numpy()
        np.testing.assert_array_equal(got, want)
        seen_feasible += int(want.any())
        seen_infeasible += int((~want).any())
        action = int(rng.integers(env.action_space.n))
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
    assert seen_feasible > 0 and seen_infeasible > 0


def test_mask_logits_zeroes_infeasible_probability_with_finite_gradients() -> None:
    logits = torch.randn(3, 5, requires_grad=True)
    feasible = torch.tensor(
        [
            [True, False, True, False, False],
            [False, False, False, False, False],  # nothing feasible: left as it is
            [True, True, True, True, True],
        ]
    )
    masked = mask_logits(logits, feasible)
    probs = torch.softmax(masked, dim=-1)
    assert torch.all(probs[0, ~feasible[0]] == 0)
    assert torch.allclose(probs[0, feasible[0]].sum(), torch.tensor(1.0))
    assert torch.equal(masked[1], logits[1]) and torch.equal(masked[2], logits[2])
    assert torch.all(masked[0, ~feasible[0]] == MASKED_LOGIT)
    entropy = categorical_entropy(probs)
    assert torch.isfinite(entropy).all()
    (entropy.sum() + (probs * torch.arange(5.0)).sum()).backward()
    assert torch.isfinite(logits.grad).all()
    assert torch.all(logits.grad[0, ~feasible[0]] == 0)
    assert torch.any(logits.grad[0, feasible[0]] != 0)


@pytest.mark.parametrize("layout", ["paper-adsac", "paper-agod"])
def test_paper_layouts_need_the_normalisers(layout: str) -> None:
    with pytest.raises(ValueError, match="t_max"):
        FeasibilityMask(FeasibilityConfig(layout))
    with pytest.raises(ValueError, match="layout"):
        FeasibilityMask(FeasibilityConfig("flat"))
    with pytest.raises(ValueError, match="feasibility settings"):
        feasibility_config(layout, {"t_max": 240, "cap": 1400})


def test_masked_actor_never_picks_an_infeasible_action() -> None:
    env = AIGCEdgeEnv(preset="adsac-paper", world_seed=0, arrival_rate=0.004)
    obs_list, feasible_list = [], []
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(1)
    while len(obs_list) < 64:
        obs_list.append(obs)
        feasible_list.append(env.feasible_mask)
        obs, *_ = env.step(int(rng.integers(env.action_space.n)))
    obs_BO = torch.as_tensor(np.stack(obs_list))
    feasible_BA = torch.as_tensor(np.stack(feasible_list))
    assert (~feasible_BA).any() and feasible_BA.any(dim=-1).all()
    settings = feasibility_settings(env.config)
    torch.manual_seed(0)
    masked = DiffusionActor(
        "paper-adsac",
        (36,),
        40,
        EncoderConfig(width=16, dropout=0.0),
        DiffusionConfig(steps=2, hidden=32),
        mask=FeasibilityMask(FeasibilityConfig("paper-adsac", **settings)),
    )
    for _ in range(20):
        sampled = masked.act(obs_BO, explore=True)
        assert feasible_BA[torch.arange(64), sampled].all()
    greedy = masked.act(obs_BO, explore=False)
    assert feasible_BA[torch.arange(64), greedy].all()
    # the same weights without the mask pick infeasible actions: the mask is what prevents it
    masked.mask = None
    unmasked = torch.cat([masked.act(obs_BO, explore=True) for _ in range(20)])
    assert not feasible_BA.repeat(20, 1)[torch.arange(64 * 20), unmasked].all()


def test_feasible_actions_rounds_toward_the_simulator() -> None:
    # t = 240 against free = 240 (feasible) and free = 239 (not), through float32 fractions
    cfg = FeasibilityConfig("paper-agod", t_max=250.0, cap_max=1200.0)
    obs = torch.zeros(2, 6)
    obs[:, 0] = 1.0  # server 0's capacity / cap_max; server 1 has none
    obs[:, 1] = torch.tensor([240 / 1200, 239 / 1200], dtype=torch.float32)
    obs[:, 4] = 240 / 250  # t / t_max (the task block follows the 2 servers)
    got = feasible_actions(obs, 2, cfg)
    assert got.tolist() == [[True, False], [False, False]]
