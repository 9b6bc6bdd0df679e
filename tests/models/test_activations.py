"""edge_rl's Mish is torch's Mish, value and gradient, on every path it takes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edge_rl.models.activations import Mish, mish


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mish_matches_torch_value_and_gradient(dtype: torch.dtype) -> None:
    # Wide range: the exp clamp (x > 20), the far-negative tail, and around zero.
    noise = torch.randn(5000, generator=torch.Generator().manual_seed(0)) * 3
    x = torch.cat([torch.linspace(-60.0, 60.0, 20001), noise]).to(dtype)
    x_ref = x.clone().requires_grad_()
    x_new = x.clone().requires_grad_()
    ref = F.mish(x_ref)
    new = mish(x_new)
    tol = 2e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(new, ref, atol=tol, rtol=tol)
    g = torch.randn_like(x)
    (g_ref,) = torch.autograd.grad(ref, x_ref, g)
    (g_new,) = torch.autograd.grad(new, x_new, g)
    torch.testing.assert_close(g_new, g_ref, atol=5 * tol, rtol=5 * tol)


def test_mish_without_grad_leaves_its_input_alone() -> None:
    x = torch.randn(512, 32)
    before = x.clone()
    with torch.no_grad():
        y = mish(x)
    torch.testing.assert_close(y, F.mish(before), atol=2e-6, rtol=2e-6)
    assert torch.equal(x, before)
    assert not y.requires_grad


def test_mish_second_use_in_a_graph_backpropagates_through_both() -> None:
    # The saved tensors of the hand-written backward must not be clobbered by in-place passes.
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(64, 64, generator=gen, dtype=torch.float64, requires_grad=True) / 8
    x = torch.randn(256, 64, generator=gen, dtype=torch.float64)  # 16k elements: the fast path
    h = mish(x @ w)
    out = mish(h @ w).sum()
    (gw,) = torch.autograd.grad(out, w)
    w2 = w.detach().clone().requires_grad_()
    ref = F.mish(F.mish(x @ w2) @ w2).sum()
    (gw_ref,) = torch.autograd.grad(ref, w2)
    torch.testing.assert_close(gw, gw_ref, atol=1e-10, rtol=1e-10)


def test_half_precision_and_small_tensors_fall_back_to_torch() -> None:
    x = torch.linspace(-30, 30, 10001).to(torch.bfloat16)
    assert torch.equal(mish(x), F.mish(x))
    small = torch.randn(4, 64)  # one decision's activations: torch's single kernel is faster
    assert torch.equal(mish(small), F.mish(small))


def test_module_is_an_nn_mish_with_no_state() -> None:
    m = Mish()
    assert isinstance(m, nn.Mish)
    assert m.state_dict() == {}
    x = torch.randn(4, 5)
    torch.testing.assert_close(m(x), F.mish(x), atol=2e-6, rtol=2e-6)
    inplace = Mish(inplace=True)
    y = x.clone()
    assert inplace(y) is y
