"""The softmax actor (the diffusion chain's ablation): shapes over layouts, heads and depths,
determinism, gradients to the attention layers, any |A| with the per-action head, the mask."""

import pytest
import torch

from edge_rl.models import EncoderConfig, SoftmaxActor
from edge_rl.models.masking import FeasibilityMask, feasibility_config

SMALL = EncoderConfig(width=16, depth=1, heads=2, dropout=0.0)
LAYOUT_CASES = [
    ("paper-adsac", (36,), 40),
    ("paper-agod", (42,), 20),
    ("tokens", (1 + 12, 4 + 12), 12),
]


@pytest.mark.parametrize(("layout", "obs_shape", "num_actions"), LAYOUT_CASES)
@pytest.mark.parametrize("depth", [0, 1, 2])
@pytest.mark.parametrize("head", ["mlp", "per-action"])
def test_softmax_actor_shapes(layout, obs_shape, num_actions, depth, head):
    enc = EncoderConfig(width=16, depth=depth, heads=2, dropout=0.0)
    actor = SoftmaxActor(layout, obs_shape, num_actions, enc, head=head, hidden=32)
    logits = actor(torch.rand(3, *obs_shape))
    assert logits.shape == (3, num_actions) and torch.isfinite(logits).all()
    assert actor.denoiser_mode == head


def test_head_defaults_follow_the_layout_and_the_mlp_head_has_no_tanh():
    assert SoftmaxActor("paper-adsac", (36,), 40, SMALL).denoiser_mode == "mlp"
    assert SoftmaxActor("tokens", (13, 16), 12, SMALL).denoiser_mode == "per-action"
    actor = SoftmaxActor("paper-adsac", (36,), 40, SMALL, hidden=32)
    assert actor.head[-1].out_features == 40
    # logits are unbounded (a softmax policy must be able to become near-deterministic)
    with torch.no_grad():
        actor.head[-1].bias.copy_(torch.arange(40, dtype=torch.float32) * 10)
    assert actor(torch.rand(2, 36)).max() > 100


def test_no_noise_so_every_pass_gives_the_same_logits():
    actor = SoftmaxActor("paper-adsac", (36,), 40, SMALL, hidden=32).eval()
    obs = torch.rand(4, 36)
    noise = actor.draw_noise(4, 40, torch.Generator().manual_seed(0))
    assert noise.shape == (0, 4, 40)
    a = actor(obs, torch.Generator().manual_seed(1))
    b = actor(obs, torch.Generator().manual_seed(2))
    state, act = actor.encoder(obs)
    assert torch.equal(a, b) and torch.equal(a, actor.denoise(state, act, noise))


def test_gradients_reach_the_attention_layers_and_the_head():
    actor = SoftmaxActor("paper-adsac", (36,), 40, SMALL, hidden=32)
    probs = torch.softmax(actor(torch.rand(4, 36)), dim=-1)
    (probs * torch.randn(40)).sum().backward()
    qkv = actor.encoder.layers[0].qkv.weight.grad
    assert qkv is not None and all(part.abs().sum() > 0 for part in qkv.chunk(3, dim=0))
    assert actor.head[0].weight.grad.abs().sum() > 0


def test_per_action_head_works_for_any_number_of_servers_and_is_equivariant():
    actor = SoftmaxActor("tokens", (13, 16), 12, SMALL, hidden=32).eval()
    for servers in (2, 3, 7):
        assert actor(torch.rand(2, 1 + servers * 4, 16)).shape == (2, servers * 4)
    obs = torch.rand(2, 13, 16)
    perm = torch.randperm(12)
    permuted = torch.cat([obs[:, :1], obs[:, 1:][:, perm]], dim=1)
    torch.testing.assert_close(actor(permuted), actor(obs)[:, perm], rtol=1e-4, atol=1e-5)


def test_mask_gives_infeasible_actions_no_probability():
    mask = FeasibilityMask(feasibility_config("paper-adsac", {"t_max": 240.0, "cap_max": 1400.0}))
    actor = SoftmaxActor("paper-adsac", (36,), 40, SMALL, hidden=32, mask=mask)
    obs = torch.rand(64, 36)
    probs = torch.softmax(actor(obs), dim=-1)
    unmasked = torch.softmax(actor.head(actor.encoder(obs)[0]), dim=-1)
    feasible = mask.feasible(obs, 40)
    some = feasible.any(dim=1)
    assert some.any() and (~feasible[some]).any()
    assert torch.all(probs[some][~feasible[some]] == 0)
    assert torch.all(unmasked > 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"head": "pointer"}, "head='pointer'"), ({"hidden": 0}, "hidden=0")],
)
def test_bad_settings_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SoftmaxActor("paper-adsac", (36,), 40, SMALL, **kwargs)
