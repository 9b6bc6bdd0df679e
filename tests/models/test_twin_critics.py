"""Twin Q critics: reference architecture, shapes, per-action head over a different |A|,
independent twins, and a few Adam steps of regression that lower the critic loss."""

import pytest
import torch
from torch import nn

from edge_rl.models import CriticConfig, EncoderConfig, TwinQCritic, critic_loss

LAYOUT_CASES = [
    ("paper-adsac", (36,), 40),
    ("paper-agod", (42,), 20),
    ("tokens", (1 + 12, 4 + 12), 12),
]


def test_depth_zero_paper_critic_is_the_reference_network():
    critic = TwinQCritic("paper-adsac", (36,), 40, EncoderConfig(depth=0))
    for q in (critic.q1, critic.q2):
        linears = [m for m in q.head if isinstance(m, nn.Linear)]
        assert [(m.in_features, m.out_features) for m in linears] == [
            (36, 256),
            (256, 256),
            (256, 40),
        ]
        assert sum(isinstance(m, nn.Mish) for m in q.head) == 2
        assert q.encoder.flat


@pytest.mark.parametrize(("layout", "obs_shape", "num_actions"), LAYOUT_CASES)
@pytest.mark.parametrize("depth", [0, 1, 2])
@pytest.mark.parametrize("head", ["mlp", "per-action"])
def test_shapes(layout, obs_shape, num_actions, depth, head):
    critic = TwinQCritic(
        layout,
        obs_shape,
        num_actions,
        EncoderConfig(width=16, depth=depth, heads=2, dropout=0.0),
        CriticConfig(hidden=32, head=head),
    )
    q1, q2 = critic(torch.rand(3, *obs_shape))
    assert q1.shape == q2.shape == (3, num_actions)
    torch.testing.assert_close(
        critic.q_min(torch.zeros(3, *obs_shape)), torch.minimum(*critic(torch.zeros(3, *obs_shape)))
    )


def test_twins_and_their_encoders_are_independent():
    critic = TwinQCritic("paper-adsac", (36,), 40, EncoderConfig(width=16, depth=1))
    p1 = {id(p) for p in critic.q1.parameters()}
    p2 = {id(p) for p in critic.q2.parameters()}
    assert p1.isdisjoint(p2)
    q1, q2 = critic(torch.rand(2, 36))
    assert not torch.allclose(q1, q2)


def test_per_action_head_works_for_a_different_number_of_servers():
    critic = TwinQCritic(
        "tokens", (13, 16), 12, EncoderConfig(width=16, depth=1), CriticConfig(hidden=32)
    )
    assert critic.q1.head_mode == "per-action"
    for servers in (1, 5):
        q1, q2 = critic(torch.rand(2, 1 + 4 * servers, 16))
        assert q1.shape == q2.shape == (2, 4 * servers)


def test_critic_regression_lowers_the_loss():
    """A few Adam steps on a fixed batch fit Q(s, a) to fixed targets."""
    torch.manual_seed(0)
    critic = TwinQCritic("paper-adsac", (36,), 40, EncoderConfig(width=32, depth=1, dropout=0.0))
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    obs = torch.rand(64, 36)
    actions = torch.randint(0, 40, (64, 1))
    targets = torch.randn(64) * 2 + 1

    def loss() -> torch.Tensor:
        q1, q2 = critic(obs)
        return critic_loss(
            q1.gather(1, actions).squeeze(1), q2.gather(1, actions).squeeze(1), targets
        )

    first = loss().item()
    for _ in range(40):
        value = loss()
        opt.zero_grad()
        value.backward()
        opt.step()
    assert loss().item() < 0.5 * first


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"hidden": 0}, "hidden=0"), ({"head": "dueling"}, "head='dueling'")]
)
def test_config_errors_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CriticConfig(**kwargs).validate()


@pytest.mark.parametrize(("layout", "obs_shape", "num_actions"), LAYOUT_CASES)
@pytest.mark.parametrize("mode", ["mlp", "per-action"])
def test_every_parameter_gets_a_gradient(layout, obs_shape, num_actions, mode):
    """No dead parameters (they would trip distributed data parallel learners)."""
    from edge_rl.models import DiffusionActor, DiffusionConfig

    enc = EncoderConfig(width=16, depth=1, dropout=0.0)
    actor = DiffusionActor(
        layout, obs_shape, num_actions, enc, DiffusionConfig(denoiser=mode, hidden=16)
    )
    critic = TwinQCritic(layout, obs_shape, num_actions, enc, CriticConfig(hidden=16, head=mode))
    obs = torch.rand(4, *obs_shape)
    (torch.softmax(actor(obs), -1) * torch.randn(num_actions)).sum().backward()
    sum(q.square().sum() for q in critic(obs)).backward()
    for module in (actor, critic):
        for name, p in module.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
