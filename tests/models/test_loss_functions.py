"""Loss functions on tiny hand-made tensors with values computed by hand."""

import math

import pytest
import torch
from torch import nn

from edge_rl.models import (
    actor_loss,
    categorical_entropy,
    critic_loss,
    n_step_targets,
    polyak_update,
    soft_state_value,
    target_entropy,
    temperature_loss,
)

# pi = (1/4, 3/4); Q1 = (1, 4), Q2 = (2, 3) -> min Q = (1, 3); sum pi min Q = 1/4 + 9/4 = 2.5
PROBS = torch.tensor([[0.25, 0.75]])
Q1 = torch.tensor([[1.0, 4.0]])
Q2 = torch.tensor([[2.0, 3.0]])
H = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))  # 0.5623351446


def test_entropy():
    assert categorical_entropy(PROBS).item() == pytest.approx(H)
    assert categorical_entropy(torch.full((1, 4), 0.25)).item() == pytest.approx(math.log(4))
    probs = torch.tensor([[0.0, 1.0]], requires_grad=True)
    entropy = categorical_entropy(probs)
    entropy.sum().backward()
    assert entropy.item() == 0.0 and torch.isfinite(probs.grad).all()


def test_soft_state_value_without_and_with_entropy():
    assert soft_state_value(PROBS, Q1, Q2).item() == pytest.approx(2.5)
    assert soft_state_value(PROBS, Q1, Q2, alpha=0.1).item() == pytest.approx(2.5 + 0.1 * H)
    batch = soft_state_value(PROBS.repeat(3, 1), Q1.repeat(3, 1), Q2.repeat(3, 1))
    assert batch.shape == (3,)


def test_n_step_targets_truncate_at_episode_ends():
    rewards = torch.tensor([[1.0, 2.0, 3.0]] * 4)
    dones = torch.tensor([[0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=torch.bool)
    targets = n_step_targets(rewards, dones, gamma=0.5, bootstrap_value_B=torch.full((4,), 8.0))
    # no done: 1 + 0.5*2 + 0.25*3 + 0.125*8; done at 1: 1 + 0.5*2; done at 0: 1;
    # done at 2: 1 + 0.5*2 + 0.25*3 (no bootstrap)
    assert targets.tolist() == pytest.approx([3.75, 2.0, 1.0, 2.75])


def test_one_step_target_is_the_td_target():
    targets = n_step_targets(
        torch.tensor([[2.0], [2.0]]), torch.tensor([[0.0], [1.0]]), 0.95, torch.tensor([10.0, 10.0])
    )
    assert targets.tolist() == pytest.approx([2.0 + 9.5, 2.0])


def test_n_step_targets_reject_bad_gamma():
    with pytest.raises(ValueError, match="gamma=1.5"):
        n_step_targets(torch.zeros(1, 3), torch.zeros(1, 3), 1.5, torch.zeros(1))


def test_critic_loss_sums_both_mses_and_stops_target_gradients():
    q1 = torch.tensor([1.0, 2.0], requires_grad=True)
    q2 = torch.tensor([0.0, 2.0], requires_grad=True)
    target = torch.tensor([1.0, 1.0], requires_grad=True)
    loss = critic_loss(q1, q2, target)
    # mse1 = (0 + 1)/2, mse2 = (1 + 1)/2
    assert loss.item() == pytest.approx(1.5)
    loss.backward()
    assert target.grad is None
    assert q1.grad.tolist() == pytest.approx([0.0, 1.0])  # 2 (q - y) / B


def test_actor_loss_value_and_gradient_only_to_the_policy():
    probs = PROBS.clone().requires_grad_(True)
    q1, q2 = Q1.clone().requires_grad_(True), Q2.clone().requires_grad_(True)
    loss = actor_loss(probs, q1, q2, alpha=0.1)
    assert loss.item() == pytest.approx(-(0.1 * H + 2.5))
    loss.backward()
    assert q1.grad is None and q2.grad is None
    # d/dpi_a of -(alpha * -sum pi log pi + sum pi minQ) = alpha (log pi_a + 1) - minQ_a
    expected = [0.1 * (math.log(0.25) + 1) - 1.0, 0.1 * (math.log(0.75) + 1) - 3.0]
    assert probs.grad[0].tolist() == pytest.approx(expected)


def test_actor_loss_averages_over_states():
    probs = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    q = torch.tensor([[2.0, 0.0], [0.0, 4.0]])
    assert actor_loss(probs, q, q, alpha=0.5).item() == pytest.approx(-3.0)


def test_temperature_loss_moves_alpha_toward_the_entropy_target():
    log_alpha = torch.tensor(0.5, requires_grad=True)
    loss = temperature_loss(log_alpha, torch.tensor([1.0, 2.0]), target_entropy=1.2)
    # -(0.5 * mean(1.2 - H)) = -(0.5 * -0.3)
    assert loss.item() == pytest.approx(0.15)
    loss.backward()
    assert log_alpha.grad.item() == pytest.approx(
        0.3
    )  # H above target: gradient descent lowers alpha
    log_alpha.grad = None
    temperature_loss(log_alpha, torch.tensor([0.1]), target_entropy=1.2).backward()
    assert log_alpha.grad.item() < 0  # H below target: alpha rises


def test_target_entropy():
    assert target_entropy(40) == pytest.approx(0.98 * math.log(40))
    assert target_entropy(20, fraction=0.5) == pytest.approx(0.5 * math.log(20))
    with pytest.raises(ValueError, match="fraction=2"):
        target_entropy(4, fraction=2)


class _WithBuffer(nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)
        nn.init.constant_(self.lin.weight, value)
        nn.init.constant_(self.lin.bias, value)
        self.register_buffer("stat", torch.full((2,), value))


def test_polyak_update():
    target, source = _WithBuffer(0.0), _WithBuffer(1.0)
    polyak_update(target, source, tau=0.25)
    assert torch.allclose(target.lin.weight, torch.full((2, 2), 0.25))
    polyak_update(target, source, tau=0.25)
    assert torch.allclose(target.lin.bias, torch.full((2,), 0.25 + 0.75 * 0.25))
    assert torch.equal(target.stat, source.stat)
    assert torch.equal(source.lin.weight, torch.ones(2, 2))
    polyak_update(target, source, tau=1.0)
    assert torch.equal(target.lin.weight, source.lin.weight)


def test_polyak_update_rejects_bad_tau_and_mismatched_modules():
    with pytest.raises(ValueError, match="tau=1.5"):
        polyak_update(_WithBuffer(0.0), _WithBuffer(1.0), tau=1.5)
    with pytest.raises(ValueError, match="same architecture"):
        polyak_update(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), tau=0.1)
