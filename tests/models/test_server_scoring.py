"""The server-scoring policy: shapes, permutation equivariance, memory, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edge_rl.envs.load_balance.trial import MetaTrialEnv
from edge_rl.models.server_scoring import (
    ServerScoringConfig,
    ServerScoringNet,
    num_servers_of,
    trial_obs_size,
)

N = 10


def _trial_obs(steps: int = 40, batch: int = 4) -> torch.Tensor:
    """Real trial observations with busy servers and a previous action."""
    rows = []
    for seed in range(batch):
        env = MetaTrialEnv(episodes_per_trial=1, preset="park")
        obs, _ = env.reset(seed=seed)
        for t in range(steps):
            obs, *_ = env.step((seed + t) % N)
        rows.append(obs)
    return torch.tensor(np.stack(rows))


def _permute_servers(obs_BO: torch.Tensor, perm: list[int]) -> torch.Tensor:
    out = obs_BO.clone()
    p = torch.tensor(perm)
    out[:, :N] = obs_BO[:, :N][:, p]
    out[:, N + 1 : 2 * N + 1] = obs_BO[:, N + 1 : 2 * N + 1][:, p]
    out[:, 2 * N + 3 :] = obs_BO[:, 2 * N + 3 :][:, p]
    return out


@pytest.mark.parametrize("memory", [0, 16])
def test_shapes_and_a_uniform_start(memory: int) -> None:
    torch.manual_seed(0)
    net = ServerScoringNet(N, ServerScoringConfig(hidden=32, memory=memory))
    obs = _trial_obs()
    logits, value, mem = net(obs)
    assert logits.shape == (4, N) and value.shape == (4,) and mem.shape == (4, memory)
    # Zero-initialised score layer: every server starts equally likely.
    assert torch.equal(logits, torch.zeros_like(logits))


@pytest.mark.parametrize("memory", [0, 16])
def test_permuting_servers_permutes_logits_and_keeps_the_value(memory: int) -> None:
    torch.manual_seed(0)
    net = ServerScoringNet(N, ServerScoringConfig(hidden=32, memory=memory))
    torch.nn.init.normal_(net.scorer[-1].weight)  # non-trivial scores
    obs = _trial_obs()
    perm = [3, 7, 0, 9, 1, 2, 8, 5, 4, 6]
    logits, value, mem = net(obs)
    logits_p, value_p, mem_p = net(_permute_servers(obs, perm))
    assert logits.std() > 1e-3
    torch.testing.assert_close(logits_p, logits[:, perm], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(value_p, value, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(mem_p, mem, rtol=1e-5, atol=1e-5)


def test_lower_load_can_score_higher_with_shared_weights() -> None:
    """One shared scorer ranks servers by their own features: train it to prefer light loads."""
    torch.manual_seed(0)
    net = ServerScoringNet(N, ServerScoringConfig(hidden=16))
    obs = _trial_obs(batch=8)
    target = obs[:, :N].argmin(dim=1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(300):
        loss = torch.nn.functional.cross_entropy(net(obs)[0], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (net(obs)[0].argmax(dim=1) == target).all()


def test_memory_carries_information_and_unroll_matches_steps() -> None:
    torch.manual_seed(0)
    net = ServerScoringNet(N, ServerScoringConfig(hidden=16, memory=8))
    obs_BTO = _trial_obs(batch=2).unsqueeze(1).repeat(1, 5, 1)
    obs_BTO[:, :, :N] += torch.arange(5.0).view(1, 5, 1)  # different steps
    logits_BTN, values_BT, last = net.unroll(obs_BTO)
    memory = net.initial_memory(2)
    for t in range(5):
        logits, value, memory = net(obs_BTO[:, t], memory)
        torch.testing.assert_close(logits, logits_BTN[:, t])
        torch.testing.assert_close(value, values_BT[:, t])
    torch.testing.assert_close(memory, last)
    # The same observation after a different history gives a different value.
    _, v_fresh, _ = net(obs_BTO[:, -1])
    assert not torch.allclose(v_fresh, values_BT[:, -1])
    assert values_BT.shape == (2, 5) and logits_BTN.shape == (2, 5, N)


def test_layout_errors_say_what_to_use() -> None:
    assert num_servers_of(trial_obs_size(7)) == 7
    with pytest.raises(ValueError, match="--env load-balance-trials"):
        num_servers_of(11)  # the plain env's observation
    with pytest.raises(ValueError, match="memory=-1"):
        ServerScoringConfig(memory=-1)


@pytest.mark.parametrize("memory", [0, 8])
def test_a_separate_value_head_keeps_value_gradients_out_of_the_policy(memory: int) -> None:
    torch.manual_seed(0)
    net = ServerScoringNet(N, ServerScoringConfig(hidden=16, memory=memory, separate_value=True))
    _, value, _ = net(_trial_obs())
    (value**2).sum().backward()
    policy_parts = [net.token_encoder, net.scorer] + ([net.memory_cell] if memory else [])
    assert all(p.grad is None for part in policy_parts for p in part.parameters())
    assert all(p.grad is not None for p in net.value_encoder.parameters())
    # Shared (the first version): the value trains the token encoder too.
    shared = ServerScoringNet(N, ServerScoringConfig(hidden=16, memory=memory))
    _, value, _ = shared(_trial_obs())
    (value**2).sum().backward()
    assert shared.token_encoder[0].weight.grad.abs().sum() > 0


def test_actor_head_scores_as_its_scorer_on_token_and_context() -> None:
    """The head splits the scorer's first layer (context part once per row); the function and
    its gradients must be those of the scorer on the concatenation [token embed, context]."""
    from edge_rl.models.server_scoring import ServerScoringHead, server_inputs

    torch.manual_seed(0)
    head = ServerScoringHead(N, context_dim=7, hidden=16)
    torch.nn.init.normal_(head.scorer[-1].weight)  # a zero output layer would hide mistakes
    obs_BO = torch.rand(5, trial_obs_size(N)) * 4
    context_BE = torch.randn(5, 7)
    split_BN = head(obs_BO, context_BE)
    grads_split = torch.autograd.grad(split_BN.square().sum(), list(head.parameters()))
    embed_BNH = head.token_encoder(server_inputs(obs_BO, N)[0])
    context_BNH = head.context(context_BE).unsqueeze(1).expand_as(embed_BNH)
    reference_BN = head.scorer(torch.cat([embed_BNH, context_BNH], dim=-1)).squeeze(-1)
    grads_ref = torch.autograd.grad(reference_BN.square().sum(), list(head.parameters()))
    assert split_BN.shape == (5, N)
    torch.testing.assert_close(split_BN, reference_BN)
    for got, want in zip(grads_split, grads_ref, strict=True):
        torch.testing.assert_close(got, want)
