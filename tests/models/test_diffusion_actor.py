"""Diffusion actor: beta schedules, the reverse chain against the textbook DDPM posterior,
shapes over layouts/steps/schedules, seeding, per-action generalisation over |A|."""

import math

import pytest
import torch
import torch.nn.functional as F

from edge_rl.models import (
    BETA_SCHEDULES,
    DiffusionActor,
    DiffusionConfig,
    EncoderConfig,
    cosine_beta_schedule,
    greedy_actions,
    linear_beta_schedule,
    reverse_step_coefficients,
    sample_actions,
    vp_beta_schedule,
)
from edge_rl.models.diffusion import sinusoidal_embedding

SMALL = EncoderConfig(width=16, depth=1, heads=2, dropout=0.0)
LAYOUT_CASES = [
    ("paper-adsac", (36,), 40),
    ("paper-agod", (42,), 20),
    ("tokens", (1 + 12, 4 + 12), 12),
]


def test_vp_schedule_matches_the_reference_values():
    expected = [0.1959, 0.4588, 0.6358, 0.7549, 0.8350]
    assert vp_beta_schedule(5).tolist() == pytest.approx(expected, abs=5e-5)
    # The formula for another N: beta_1 = 1 - exp(-0.1/N - 0.5 * 9.9 / N^2).
    assert vp_beta_schedule(10)[0].item() == pytest.approx(1 - math.exp(-0.01 - 0.0495))


def test_linear_and_cosine_schedules():
    lin = linear_beta_schedule(10)
    assert lin[0].item() == pytest.approx(1e-4) and lin[-1].item() == pytest.approx(2e-2)
    assert torch.all(lin[1:] > lin[:-1])
    cos = cosine_beta_schedule(10)
    assert torch.all(cos[1:] > cos[:-1]) and cos.max() <= 0.999

    # prod_{k<N}(1 - beta_k) is alpha_bar((N-1)/N) of the cosine curve; the last beta, which
    # would be 1 (alpha_bar(1) = 0), is clipped to 0.999.
    def abar(u, s=0.008):
        return (
            math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
            / math.cos(s / (1 + s) * math.pi / 2) ** 2
        )

    assert torch.prod(1 - cos[:-1]).item() == pytest.approx(abar(0.9), rel=1e-9)
    assert cos[-1].item() == pytest.approx(0.999)


@pytest.mark.parametrize("schedule", sorted(BETA_SCHEDULES))
@pytest.mark.parametrize("steps", [1, 5, 10])
def test_schedules_are_valid_variances(schedule, steps):
    betas = BETA_SCHEDULES[schedule](steps)
    assert betas.shape == (steps,) and torch.all(betas > 0) and torch.all(betas < 1)


def test_schedule_rejects_zero_steps():
    with pytest.raises(ValueError, match="num_steps=0"):
        vp_beta_schedule(0)


def test_reverse_coefficients_have_no_noise_on_the_last_step():
    coefs = reverse_step_coefficients(vp_beta_schedule(5))
    assert coefs.noise_std[0] == 0 and torch.all(coefs.noise_std[1:] > 0)


def textbook_chain(actor, state_BD, act_BAD, noise_NBA):
    """DDPM reverse process written out: x0 from eps, posterior mean and std per step."""
    betas = actor.betas.double()
    alphas = 1 - betas
    abar = torch.cumprod(alphas, 0)
    abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
    n = len(betas)
    x = noise_NBA[0]
    for i in reversed(range(n)):
        eps = actor.denoiser(x, i, state_BD, act_BAD)
        x0 = (x - (1 - abar[i]).sqrt() * eps) / abar[i].sqrt()
        mean = (betas[i] * abar_prev[i].sqrt() / (1 - abar[i])) * x0 + (
            (1 - abar_prev[i]) * alphas[i].sqrt() / (1 - abar[i])
        ) * x
        std = (betas[i] * (1 - abar_prev[i]) / (1 - abar[i])).sqrt()
        x = (mean + std * noise_NBA[n - i] if i > 0 else mean).float()
    return x


@pytest.mark.parametrize("schedule", sorted(BETA_SCHEDULES))
@pytest.mark.parametrize("steps", [1, 5, 10])
@pytest.mark.parametrize("denoiser", ["mlp", "per-action"])
def test_chain_equals_the_textbook_ddpm_posterior(schedule, steps, denoiser):
    torch.manual_seed(0)
    config = DiffusionConfig(steps=steps, schedule=schedule, denoiser=denoiser, hidden=32)
    actor = DiffusionActor("paper-adsac", (36,), 40, SMALL, config)
    obs = torch.rand(3, 36)
    noise = actor.draw_noise(3, 40, torch.Generator().manual_seed(1))
    state, act = actor.encoder(obs)
    fast = actor.denoise(state, act, noise)
    slow = textbook_chain(actor, state, act, noise)
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-4)
    # forward() draws the same noise from the same seed.
    torch.testing.assert_close(actor(obs, torch.Generator().manual_seed(1)), fast)


def test_mlp_denoiser_is_the_reference_network_over_the_concatenation():
    """The weight split in prepare() equals Linear([mish(x_in x), time(i), mish(s_in s)])."""
    torch.manual_seed(0)
    actor = DiffusionActor("paper-adsac", (36,), 40, EncoderConfig(depth=0))
    d = actor.denoiser
    x, s = torch.randn(2, 40), torch.rand(2, 36)
    t = d.time_mlp(sinusoidal_embedding(torch.tensor([3.0, 3.0]), 16))
    inp = torch.cat([F.mish(d.x_in(x)), t, F.mish(d.s_in(s))], dim=1)
    expected = torch.tanh(d.out(F.mish(d.hidden2(F.mish(d.hidden1(inp))))))
    torch.testing.assert_close(d(x, 3, s), expected, rtol=1e-5, atol=1e-6)
    assert (d.hidden1.in_features, d.hidden1.out_features) == (64 + 16 + 128, 256)


@pytest.mark.parametrize(("layout", "obs_shape", "num_actions"), LAYOUT_CASES)
@pytest.mark.parametrize("depth", [0, 1, 2])
@pytest.mark.parametrize("denoiser", ["mlp", "per-action"])
def test_actor_shapes(layout, obs_shape, num_actions, depth, denoiser):
    enc = EncoderConfig(width=16, depth=depth, heads=2, dropout=0.0)
    actor = DiffusionActor(
        layout, obs_shape, num_actions, enc, DiffusionConfig(denoiser=denoiser, hidden=32)
    )
    logits = actor(torch.rand(3, *obs_shape))
    assert logits.shape == (3, num_actions) and torch.isfinite(logits).all()


@pytest.mark.parametrize("heads", [1, 2, 4])
@pytest.mark.parametrize("steps", [1, 5, 10])
def test_actor_shapes_over_heads_and_steps(heads, steps):
    enc = EncoderConfig(width=16, depth=1, heads=heads)
    actor = DiffusionActor("paper-adsac", (36,), 40, enc, DiffusionConfig(steps=steps, hidden=32))
    assert actor(torch.rand(2, 36)).shape == (2, 40)


def test_defaults_are_the_reference_settings():
    actor = DiffusionActor("paper-adsac", (36,), 40)
    cfg, enc = actor.diffusion_config, actor.encoder.config
    assert (cfg.steps, cfg.schedule, cfg.hidden, actor.denoiser_mode) == (5, "vp", 256, "mlp")
    assert (enc.depth, enc.heads, enc.width, enc.dropout) == (1, 1, 256, 0.4)
    assert DiffusionActor("tokens", (13, 16), 12).denoiser_mode == "per-action"


def test_seeded_generator_makes_the_chain_reproducible():
    actor = DiffusionActor("paper-adsac", (36,), 40, SMALL, DiffusionConfig(hidden=32)).eval()
    obs = torch.rand(2, 36)
    a = actor(obs, torch.Generator().manual_seed(7))
    b = actor(obs, torch.Generator().manual_seed(7))
    c = actor(obs, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.allclose(a, c)


def test_gradients_flow_through_the_chain_to_the_attention_layers():
    actor = DiffusionActor("paper-adsac", (36,), 40, SMALL, DiffusionConfig(hidden=32))
    probs = torch.softmax(actor(torch.rand(4, 36)), dim=-1)
    (probs * torch.randn(40)).sum().backward()
    qkv = actor.encoder.layers[0].qkv.weight.grad
    assert qkv is not None and torch.isfinite(qkv).all()
    for part in qkv.chunk(3, dim=0):  # query, key and value projections all learn
        assert part.abs().sum() > 0
    assert actor.denoiser.x_in.weight.grad.abs().sum() > 0


def test_per_action_actor_works_for_a_different_number_of_servers():
    k, m = 4, 4
    actor = DiffusionActor("tokens", (1 + 3 * m, k + 12), 3 * m, SMALL, DiffusionConfig(hidden=32))
    for servers in (2, 3, 7):
        logits = actor(torch.rand(2, 1 + servers * m, k + 12))
        assert logits.shape == (2, servers * m)


def test_per_action_actor_is_permutation_equivariant():
    """Permuting server-model rows (and the noise with them) permutes the logits."""
    actor = DiffusionActor("tokens", (13, 16), 12, SMALL, DiffusionConfig(hidden=32)).eval()
    obs = torch.rand(2, 13, 16)
    perm = torch.randperm(12)
    noise = actor.draw_noise(2, 12, torch.Generator().manual_seed(0))
    state, act = actor.encoder(obs)
    logits = actor.denoise(state, act, noise)
    permuted_obs = torch.cat([obs[:, :1], obs[:, 1:][:, perm]], dim=1)
    state_p, act_p = actor.encoder(permuted_obs)
    logits_p = actor.denoise(state_p, act_p, noise[:, :, perm])
    torch.testing.assert_close(logits_p, logits[:, perm], rtol=1e-4, atol=1e-5)


def test_mlp_actor_refuses_a_different_action_count():
    actor = DiffusionActor("tokens", (13, 16), 12, SMALL, DiffusionConfig(denoiser="mlp"))
    with pytest.raises(AssertionError, match="per-action"):
        actor(torch.rand(2, 17, 16))


def test_actor_does_not_mix_samples():
    actor = DiffusionActor("paper-adsac", (36,), 40, SMALL, DiffusionConfig(hidden=32)).eval()
    obs = torch.rand(4, 36)
    a = actor(obs, torch.Generator().manual_seed(0))
    obs[2] += 1.0
    b = actor(obs, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a[[0, 1, 3]], b[[0, 1, 3]], rtol=0, atol=1e-5)
    assert not torch.allclose(a[2], b[2])


def test_sampling_and_greedy_actions():
    logits = torch.tensor([[0.0, 10.0, 0.0], [30.0, 0.0, 0.0]])
    assert greedy_actions(logits).tolist() == [1, 0]
    draws = sample_actions(logits.repeat(500, 1), torch.Generator().manual_seed(0))
    assert draws.shape == (1000,)
    assert (draws[0::2] == 1).float().mean() > 0.99  # pi(1) = e^10 / (e^10 + 2)
    assert torch.all(draws[1::2] == 0)
    uniform = sample_actions(torch.zeros(3000, 3), torch.Generator().manual_seed(0))
    assert torch.bincount(uniform, minlength=3).min() > 900


def test_act_explores_or_takes_the_argmax():
    actor = DiffusionActor("paper-adsac", (36,), 40, SMALL, DiffusionConfig(hidden=32)).eval()
    obs = torch.rand(5, 36)
    greedy = actor.act(obs, explore=False, generator=torch.Generator().manual_seed(3))
    expected = actor(obs, torch.Generator().manual_seed(3)).argmax(-1)
    assert torch.equal(greedy, expected)
    explored = actor.act(obs, explore=True, generator=torch.Generator().manual_seed(3))
    assert explored.shape == (5,) and explored.dtype == torch.long


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, "steps=0"),
        ({"schedule": "sigmoid"}, "schedule='sigmoid'"),
        ({"denoiser": "unet"}, "denoiser='unet'"),
        ({"hidden": 0}, "hidden=0"),
        ({"output": "relu"}, "output='relu'"),
    ],
)
def test_config_errors_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DiffusionConfig(**kwargs).validate()


@pytest.mark.slow
@pytest.mark.parametrize(("layout", "obs_shape", "num_actions"), [LAYOUT_CASES[0], LAYOUT_CASES[2]])
def test_compiled_actor_matches_eager_and_follows_weight_updates(layout, obs_shape, num_actions):
    from edge_rl.models import CompiledActor

    actor = DiffusionActor(layout, obs_shape, num_actions, SMALL, DiffusionConfig(hidden=32)).eval()
    compiled = CompiledActor(actor)
    obs = torch.rand(2, *obs_shape)
    with torch.inference_mode():
        eager = actor(obs, torch.Generator().manual_seed(0))
    torch.testing.assert_close(compiled(obs, torch.Generator().manual_seed(0)), eager)
    with torch.no_grad():
        for p in actor.parameters():
            p.mul_(1.5)
    with torch.inference_mode():
        eager = actor(obs, torch.Generator().manual_seed(0))
    torch.testing.assert_close(compiled(obs, torch.Generator().manual_seed(0)), eager)
    greedy = compiled.act(obs, explore=False, generator=torch.Generator().manual_seed(0))
    assert torch.equal(greedy, eager.argmax(-1))


@pytest.mark.parametrize("denoiser", ["mlp", "per-action"])
def test_linear_output_lets_epsilon_exceed_one_and_tanh_is_the_default(denoiser):
    """``output="linear"`` drops the reference's Tanh; both denoisers honour it."""
    enc = EncoderConfig(width=16, depth=1, heads=2, dropout=0.0)
    layout, obs_shape, num_actions = LAYOUT_CASES[0]
    eps = {}
    for output in ("tanh", "linear"):
        actor = DiffusionActor(
            layout,
            obs_shape,
            num_actions,
            enc,
            DiffusionConfig(denoiser=denoiser, hidden=32, output=output),
        )
        assert actor.denoiser.tanh_output == (output == "tanh")
        with torch.no_grad():
            actor.denoiser.out.bias.fill_(3.0)
        state, act = actor.encoder(torch.rand(2, *obs_shape))
        x = torch.randn(2, num_actions)
        time_features = actor.time_features_NT
        eps[output] = actor.denoiser.step(x, 0, actor.denoiser.prepare(state, act, time_features))
    assert eps["tanh"].abs().max() <= 1.0
    assert eps["linear"].abs().max() > 1.0
    assert DiffusionConfig().output == "tanh"
