"""DreamerV3 loss math (edge_rl.models.world_model.functions) on tiny hand-checked tensors."""

from __future__ import annotations

import math

import pytest
import torch

from edge_rl.models.world_model.functions import (
    categorical_kl,
    ema_update,
    kl_balanced_losses,
    lambda_returns,
    percentile_scale,
    straight_through_sample,
    symexp,
    symlog,
    symlog_bins,
    two_hot,
    two_hot_decode,
    two_hot_linear_mean,
    two_hot_loss,
    unimix_logits,
)


def test_symlog_values_and_inverse():
    x = torch.tensor([-1000.0, -1.0, 0.0, 0.5, 1e6])
    assert symlog(torch.tensor([0.0, math.e - 1, -(math.e - 1)])).tolist() == pytest.approx(
        [0.0, 1.0, -1.0]
    )
    assert torch.allclose(symexp(symlog(x)), x, rtol=1e-5)


def test_two_hot_splits_weight_between_neighbours():
    bins = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])
    enc = two_hot(torch.tensor([0.25, -2.0, 2.0, 7.0, -1.0]), bins)
    assert enc[0].tolist() == pytest.approx([0, 0, 0.75, 0.25, 0])
    assert enc[1].tolist() == pytest.approx([1, 0, 0, 0, 0])
    assert enc[2].tolist() == pytest.approx([0, 0, 0, 0, 1])
    assert enc[3].tolist() == pytest.approx([0, 0, 0, 0, 1])  # clipped to the end bin
    assert enc[4].tolist() == pytest.approx([0, 1, 0, 0, 0])
    assert torch.allclose(enc.sum(-1), torch.ones(5))


def test_two_hot_round_trip_through_logits():
    bins = symlog_bins(255)
    targets = torch.tensor([-3000.0, -12.5, 0.0, 0.3, 48.0])
    probs = two_hot(symlog(targets), bins)
    logits = torch.log(probs.clamp_min(1e-30))
    assert torch.allclose(two_hot_decode(logits, bins), targets, rtol=1e-3, atol=1e-4)


def test_linear_mean_of_one_target_is_the_target():
    """A two-hot of one value decodes to it in symlog space exactly and in linear space to
    within the bins' convexity (255 bins over [-20, 20]: 1.2% at 0.3, 0.2-0.4% from 10 up)."""
    bins = symlog_bins(255)
    targets = torch.tensor([-3.0e5, -3000.0, -12.5, 0.0, 0.3, 48.0, 7.0e4])
    logits = torch.log(two_hot(symlog(targets), bins).clamp_min(1e-30))
    assert torch.allclose(two_hot_linear_mean(logits, bins), targets, rtol=1.5e-2, atol=1e-3)


def test_linear_mean_weighs_a_rare_huge_cost_by_its_size():
    """4% of -50,000 among -500s: the mean is -2,480; DreamerV3's symlog-space decode puts
    it near -600, the linear mean where it is."""
    bins = symlog_bins(255)
    probs = 0.96 * two_hot(symlog(torch.tensor([-500.0])), bins) + 0.04 * two_hot(
        symlog(torch.tensor([-50000.0])), bins
    )
    logits = torch.log(probs.clamp_min(1e-30))
    assert two_hot_linear_mean(logits, bins).item() == pytest.approx(-2480.0, rel=5e-3)
    assert two_hot_decode(logits, bins).item() == pytest.approx(-600.0, rel=0.05)


def test_linear_mean_drops_the_softmax_residue_on_far_bins():
    """A prediction peaked at -500 with 1e-5 of probability on the +20 bin (symexp 4.9e8):
    below the floor, that residue is left out instead of adding ~4,900."""
    bins = symlog_bins(255)
    probs = two_hot(symlog(torch.tensor([-500.0])), bins) * (1 - 1e-5)
    probs[..., -1] += 1e-5
    logits = torch.log(probs.clamp_min(1e-30))
    assert two_hot_linear_mean(logits, bins).item() == pytest.approx(-500.0, rel=5e-3)
    assert two_hot_linear_mean(logits, bins, floor=0.0).item() > 4000.0
    uniform = torch.zeros(1, 255)  # a zero-initialised head: symmetric bins, mean 0
    assert abs(two_hot_linear_mean(uniform, bins).item()) < 1.0


def test_two_hot_loss_is_smallest_at_the_target():
    bins = symlog_bins(41)
    target = torch.tensor([5.0])
    good = torch.log(two_hot(symlog(target), bins).clamp_min(1e-9))
    bad = torch.log(two_hot(symlog(torch.tensor([-5.0])), bins).clamp_min(1e-9))
    assert two_hot_loss(good, target, bins).item() < two_hot_loss(bad, target, bins).item()
    assert two_hot_loss(torch.zeros(1, 41), target, bins).item() == pytest.approx(math.log(41))


def test_lambda_returns_by_hand():
    # H = 2, one trajectory: r = [1, 2], c = [1, 0.5], v(s0..s2) = [10, 20, 30]
    r = torch.tensor([[1.0], [2.0]])
    c = torch.tensor([[1.0], [0.5]])
    v = torch.tensor([[10.0], [20.0]])
    boot = torch.tensor([30.0])
    gamma, lam = 0.9, 0.5
    r1 = 2 + gamma * 0.5 * ((1 - lam) * 30 + lam * 30)
    r0 = 1 + gamma * 1.0 * ((1 - lam) * 20 + lam * r1)
    out = lambda_returns(r, c, v, boot, gamma, lam)
    assert out[:, 0].tolist() == pytest.approx([r0, r1])
    # lam = 0: one-step TD targets; lam = 1: discounted rewards + bootstrap
    td = lambda_returns(r, c, v, boot, gamma, 0.0)[:, 0]
    assert td.tolist() == pytest.approx([1 + 0.9 * 20, 2 + 0.9 * 0.5 * 30])
    mc = lambda_returns(r, c, v, boot, gamma, 1.0)[:, 0]
    assert mc[0].item() == pytest.approx(1 + 0.9 * (2 + 0.9 * 0.5 * 30))


def test_kl_free_bits_clip_value_and_gradient():
    post = torch.zeros(1, 2, 3, requires_grad=True)
    prior = torch.zeros(1, 2, 3, requires_grad=True)
    dyn, rep = kl_balanced_losses(post, prior, free_bits=1.0)
    assert dyn.item() == pytest.approx(1.0) and rep.item() == pytest.approx(1.0)
    (dyn + rep).sum().backward()
    assert post.grad.abs().sum() == 0 and prior.grad.abs().sum() == 0  # below the free budget


def test_kl_balancing_routes_gradients():
    torch.manual_seed(0)
    post = (3 * torch.randn(4, 2, 5)).requires_grad_()
    prior = (3 * torch.randn(4, 2, 5)).requires_grad_()
    dyn, rep = kl_balanced_losses(post, prior, free_bits=0.0)
    assert torch.allclose(dyn, categorical_kl(post, prior))
    assert torch.allclose(dyn, rep)
    dyn.sum().backward(retain_graph=True)
    assert post.grad is None or post.grad.abs().sum() == 0  # dyn trains the prior only
    assert prior.grad.abs().sum() > 0
    prior.grad = None
    rep.sum().backward()
    assert post.grad.abs().sum() > 0  # rep trains the posterior only
    assert prior.grad is None or prior.grad.abs().sum() == 0


def test_unimix_floor_and_straight_through():
    logits = torch.tensor([[[100.0, 0.0, 0.0, 0.0]]])
    probs = unimix_logits(logits, 0.01).exp()
    assert probs.min().item() == pytest.approx(0.0025, rel=1e-3)
    assert probs.sum().item() == pytest.approx(1.0)
    x = torch.randn(3, 2, 4, requires_grad=True)
    sample = straight_through_sample(x)
    assert torch.allclose(sample.detach().sum(-1), torch.ones(3, 2))
    assert set(sample.detach().unique().tolist()) <= {0.0, 1.0}
    (sample * torch.arange(4.0)).sum().backward()
    assert x.grad.abs().sum() > 0
    greedy = straight_through_sample(torch.tensor([[0.0, 5.0, 1.0]]), greedy=True)
    assert greedy.detach().tolist() == [[0.0, 1.0, 0.0]]


def test_straight_through_samples_follow_the_probabilities():
    """Frequencies of 40,000 draws per variable match softmax(logits), a zero-probability
    class is never drawn, and the last class is reachable (inverse-CDF edges)."""
    torch.manual_seed(0)
    logits = torch.log(
        torch.tensor([[[0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.0, 0.5], [0.0, 0.0, 0.0, 1.0]]])
    ).expand(40_000, 3, 4)
    freq = straight_through_sample(logits).detach().mean(0)
    want = torch.softmax(logits[0], -1)
    assert torch.allclose(freq, want, atol=0.01), freq
    assert freq[1, 0] == 0 and freq[1, 2] == 0 and freq[2, 3] == 1


def test_percentile_scale_and_ema():
    returns = torch.arange(101.0)
    assert percentile_scale(returns).item() == pytest.approx(90.0)
    state = torch.tensor(0.0)
    ema_update(state, torch.tensor(10.0), 0.9)
    assert state.item() == pytest.approx(1.0)
