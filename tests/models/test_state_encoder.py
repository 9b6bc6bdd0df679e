"""StateEncoder: shapes over layouts/depths/heads, the D2SAC flat path, attention stays inside
one state, gradients reach the attention weights."""

import pytest
import torch

from edge_rl.models.attention import EncoderConfig, StateEncoder

LAYOUT_CASES = [
    ("paper-adsac", (36,), 40),
    ("paper-agod", (42,), 20),
    ("tokens", (1 + 12, 4 + 12), 12),
]


@pytest.mark.parametrize(("layout", "obs_shape", "num_actions"), LAYOUT_CASES)
@pytest.mark.parametrize("depth", [0, 1, 2])
@pytest.mark.parametrize("heads", [1, 2, 4])
def test_shapes(layout, obs_shape, num_actions, depth, heads):
    config = EncoderConfig(width=16, depth=depth, heads=heads, dropout=0.0)
    enc = StateEncoder(layout, obs_shape, num_actions, config, action_embeddings=True)
    obs = torch.rand(3, *obs_shape)
    state, act = enc(obs)
    # paper layouts append the raw observation to the attention embedding (raw_state=True)
    flat = 0 if layout == "tokens" else obs_shape[0]
    assert state.shape == (3, 16 + flat) == (3, enc.state_dim)
    if flat:
        assert torch.equal(state[:, 16:], obs)
    assert act.shape == (3, num_actions, 16)
    assert len(getattr(enc, "layers", [])) == depth


def test_raw_state_can_be_switched_off():
    config = EncoderConfig(width=16, depth=1, dropout=0.0, raw_state=False)
    enc = StateEncoder("paper-adsac", (36,), 40, config)
    state, _ = enc(torch.rand(3, 36))
    assert state.shape == (3, 16) and enc.state_dim == 16


@pytest.mark.parametrize(("layout", "obs_shape", "num_actions"), LAYOUT_CASES[:2])
def test_depth_zero_on_paper_layouts_is_the_flat_observation(layout, obs_shape, num_actions):
    enc = StateEncoder(layout, obs_shape, num_actions, EncoderConfig(width=16, depth=0))
    obs = torch.rand(3, *obs_shape)
    state, act = enc(obs)
    assert enc.flat and enc.state_dim == obs_shape[0]
    assert torch.equal(state, obs) and act is None
    assert sum(p.numel() for p in enc.parameters()) == 0


def test_depth_zero_on_tokens_layout_still_tokenises():
    enc = StateEncoder("tokens", (13, 16), 12, EncoderConfig(width=16, depth=0))
    state, _ = enc(torch.rand(2, 13, 16))
    assert not enc.flat and state.shape == (2, 16)


@pytest.mark.parametrize(("layout", "obs_shape", "num_actions"), LAYOUT_CASES)
def test_attention_does_not_mix_samples(layout, obs_shape, num_actions):
    """Changing sample j of a batch leaves sample i's outputs unchanged (eval mode)."""
    torch.manual_seed(0)
    config = EncoderConfig(width=16, depth=2, heads=2, dropout=0.4)
    enc = StateEncoder(layout, obs_shape, num_actions, config, action_embeddings=True).eval()
    obs = torch.rand(4, *obs_shape)
    state, act = enc(obs)
    changed = obs.clone()
    changed[3] = torch.rand(*obs_shape) + 1.0
    state2, act2 = enc(changed)
    torch.testing.assert_close(state2[:3], state[:3], rtol=0, atol=1e-6)
    torch.testing.assert_close(act2[:3], act[:3], rtol=0, atol=1e-6)
    assert not torch.allclose(state2[3], state[3])
    # The batch of one gives the same answer as the batch of four.
    single, _ = enc(obs[:1])
    torch.testing.assert_close(single[0], state[0], rtol=0, atol=1e-5)


def test_attention_mixes_tokens_within_a_state():
    """With attention, a server token's output depends on the other servers' features."""
    enc = StateEncoder(
        "paper-adsac", (36,), 40, EncoderConfig(width=16, depth=1, dropout=0.0), True
    ).eval()
    obs = torch.rand(1, 36)
    _, act = enc(obs)
    changed = obs.clone()
    changed[0, 6 + 3 * 9 : 6 + 3 * 10] += 1.0  # server 9 only
    _, act2 = enc(changed)
    assert not torch.allclose(act[0, 0], act2[0, 0])  # action 0 lives on server 0


def test_gradients_reach_every_attention_parameter():
    enc = StateEncoder("paper-adsac", (36,), 40, EncoderConfig(width=16, depth=2, heads=2), True)
    state, act = enc(torch.rand(4, 36))
    (state.square().sum() + act.square().sum()).backward()
    for layer in enc.layers:
        for name, p in layer.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_dropout_is_active_only_in_train_mode():
    enc = StateEncoder("paper-adsac", (36,), 40, EncoderConfig(width=16, depth=1, dropout=0.5))
    obs = torch.rand(2, 36)
    enc.train()
    assert not torch.equal(enc(obs)[0], enc(obs)[0])
    enc.eval()
    assert torch.equal(enc(obs)[0], enc(obs)[0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 0}, "width=0"),
        ({"depth": -1}, "depth=-1"),
        ({"width": 10, "heads": 4}, "heads=4"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"ff_mult": -1}, "ff_mult=-1"),
    ],
)
def test_config_errors_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EncoderConfig(**kwargs).validate()


def test_wrong_observation_shape_is_caught_at_the_edge():
    enc = StateEncoder("paper-adsac", (36,), 40, EncoderConfig(width=16, depth=1))
    with pytest.raises(AssertionError, match="36"):
        enc(torch.rand(2, 42))
