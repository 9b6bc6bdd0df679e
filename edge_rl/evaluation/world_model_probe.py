"""Does a meta-dreamer world model know what each action is worth? (no Ray)

The imagination actor-critic can only prefer one server over another if the world model's
imagined reward for the next step depends on the imagined action. ``probe_reward_head`` plays a
trial with the model's own (sampled) policy and, at every step, compares

* the reward the model imagines for each action a: img_step(h, z, a) -> prior latent ->
  reward head (two-hot decoded, averaged over ``latent_samples`` prior draws), with
* the reward the simulator really pays for a: a copy of the env stepped with a.

Reported: the mean per-step spread (max - min over actions) of both, their mean correlation
over actions, and how often the model's best action is the simulator's best (chance: 1/A).
A model whose predicted spread is near zero gives its actor no signal, whatever the actor's
learning rate.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from edge_rl.models.world_model import MetaDreamerNets
from edge_rl.models.world_model.functions import two_hot_decode


@torch.no_grad()
def imagined_rewards(
    nets: MetaDreamerNets, h_BD: torch.Tensor, z_BL: torch.Tensor, latent_samples: int = 8
) -> torch.Tensor:
    """(B, A): the reward the model imagines for each action from the posterior state (h, z)."""
    wm, num_actions = nets.world_model, nets.num_actions
    B = h_BD.shape[0]
    actions = torch.arange(num_actions).repeat(B)  # (B*A,): 0..A-1 for every state
    a = F.one_hot(actions, num_actions).to(h_BD.dtype)
    h, prior = wm.img_step(
        h_BD.repeat_interleave(num_actions, 0), z_BL.repeat_interleave(num_actions, 0), a
    )
    draws = [
        two_hot_decode(wm.reward_logits(torch.cat([h, wm.sample(prior)], -1)), wm.bins)
        for _ in range(latent_samples)
    ]
    return torch.stack(draws).mean(0).reshape(B, num_actions)


def probe_reward_head(
    nets: MetaDreamerNets,
    env: gym.Env,
    *,
    steps: int = 300,
    seed: int = 100,
    latent_samples: int = 8,
) -> dict[str, Any]:
    """Play up to ``steps`` decisions of ``env`` (a trial env) and compare rewards per action."""
    if steps < 1:
        raise ValueError(f"steps={steps}: must be >= 1")
    generator = torch.Generator().manual_seed(seed)
    obs, _ = env.reset(seed=seed)
    state = dict(nets.initial_state(1))
    corrs, hits, spread_true, spread_pred = [], [], [], []
    for _ in range(steps):
        obs_t = torch.as_tensor(np.asarray(obs, np.float32)).unsqueeze(0)
        with torch.no_grad():
            _, logits, state = nets.act(state, obs_t, greedy=False)
        pred = imagined_rewards(nets, state["h"], state["z"], latent_samples)[0].numpy()
        true = np.array([copy.deepcopy(env).step(a)[1] for a in range(nets.num_actions)])
        if true.std() > 1e-12 and pred.std() > 1e-12:
            corrs.append(float(np.corrcoef(true, pred)[0, 1]))
        hits.append(float(np.argmax(pred) == np.argmax(true)))
        spread_true.append(float(true.max() - true.min()))
        spread_pred.append(float(pred.max() - pred.min()))
        action = int(torch.multinomial(torch.softmax(logits[0], -1), 1, generator=generator))
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    return {
        "steps": len(hits),
        "spread_true": float(np.mean(spread_true)),
        "spread_pred": float(np.mean(spread_pred)),
        "corr": float(np.mean(corrs)) if corrs else float("nan"),
        "steps_with_corr": len(corrs),
        "best_action_agreement": float(np.mean(hits)),
        "chance": 1.0 / nets.num_actions,
    }
