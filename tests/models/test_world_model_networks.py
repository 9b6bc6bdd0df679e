"""World model + RL^2 actor-critic nets: shapes, state handling, gradient routing, learning."""

from __future__ import annotations

import pytest
import torch

from edge_rl.models.world_model import (
    WORLD_MODEL_PRESETS,
    DreamerLossConfig,
    MetaDreamerNets,
    WorldModelConfig,
    actor_critic_loss,
    imagine,
    observe_sequence,
    world_model_loss,
)

OBS, ACTIONS = 7, 3


def _batch(nets: MetaDreamerNets, T: int = 6, B: int = 4, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    state = nets.initial_state(B)
    return {
        "obs": torch.rand(T, B, OBS, generator=g),
        "prev_actions": torch.randint(-1, ACTIONS, (T, B), generator=g),
        "rewards": -5 * torch.rand(T, B, generator=g),
        "continues": torch.ones(T, B),
        "h": state["h"],
        "z": state["z"],
        "m": state["m"],
    }


@pytest.mark.parametrize("preset", ["debug", "small"])
def test_shapes_of_a_training_pass(preset):
    cfg = WORLD_MODEL_PRESETS[preset]
    nets = MetaDreamerNets(OBS, ACTIONS, cfg)
    batch = _batch(nets)
    seq = observe_sequence(nets, batch)
    assert seq["feat"].shape == (6, 4, cfg.deter + cfg.stoch * cfg.classes)
    assert seq["post"].shape == seq["prior"].shape == (6, 4, cfg.stoch, cfg.classes)
    assert seq["m"].shape == (6, 4, cfg.memory)
    # latents are one-hot per categorical variable
    z = seq["feat"][..., cfg.deter :].reshape(6, 4, cfg.stoch, cfg.classes).detach()
    assert torch.allclose(z.sum(-1), torch.ones(6, 4, cfg.stoch))
    imag = imagine(nets, seq, horizon=5)
    assert imag["feat"].shape == (6, 24, seq["feat"].shape[-1])
    assert imag["actions"].shape == imag["logp"].shape == (5, 24)
    loss_wm, metrics = world_model_loss(nets, batch, seq, DreamerLossConfig())
    loss_ac, ac = actor_critic_loss(nets, imag, DreamerLossConfig(horizon=5))
    assert loss_wm.ndim == 0 and loss_ac.ndim == 0
    assert metrics["kl_dyn"].item() >= 1.0  # free bits: never below 1 nat


def test_imagination_from_a_subset_of_starts():
    """``starts`` picks distinct real states (each imagined rollout begins at one of them);
    0 or more than T*B uses all of them; a negative number is an error."""
    torch.manual_seed(0)
    nets = MetaDreamerNets(OBS, ACTIONS, WORLD_MODEL_PRESETS["debug"])
    seq = observe_sequence(nets, _batch(nets))
    real = seq["feat"].detach().flatten(0, 1)
    imag = imagine(nets, seq, horizon=3, starts=10)
    assert imag["feat"].shape == (4, 10, real.shape[-1]) and imag["actions"].shape == (3, 10)
    assert imag["m"].shape == (4, 10, seq["m"].shape[-1])
    rows = [int((real == f).all(-1).nonzero()[0]) for f in imag["feat"][0]]
    assert len(set(rows)) == 10  # distinct real steps, without replacement
    m_real = seq["m"].flatten(0, 1)
    assert torch.equal(imag["m"][0], m_real[rows])  # memory taken from the same steps
    # the actor loss still trains the memory GRU through the picked real steps
    loss_ac, _ = actor_critic_loss(nets, imag, DreamerLossConfig(horizon=3))
    loss_ac.backward()
    assert nets.agent.memory.weight_ih.grad.abs().sum() > 0
    for starts in (0, 24, 100):
        assert imagine(nets, seq, horizon=2, starts=starts)["feat"].shape[1] == 24
    with pytest.raises(ValueError, match="starts=-1: must be >= 0"):
        imagine(nets, seq, horizon=2, starts=-1)


def test_default_preset_is_32x32():
    cfg = WORLD_MODEL_PRESETS["default"]
    assert (cfg.stoch, cfg.classes) == (32, 32)
    with pytest.raises(ValueError, match="stoch"):
        WorldModelConfig(stoch=0)
    with pytest.raises(ValueError, match="unimix"):
        WorldModelConfig(unimix=1.5)


def test_act_carries_state_and_acts_greedily():
    torch.manual_seed(0)
    nets = MetaDreamerNets(OBS, ACTIONS, WORLD_MODEL_PRESETS["debug"])
    state = nets.initial_state(2)
    obs = torch.rand(2, OBS)
    a1, logits, s1 = nets.act(state, obs, greedy=True)
    assert a1.shape == (2,) and logits.shape == (2, ACTIONS)
    assert torch.equal(a1, logits.argmax(-1))
    assert torch.equal(s1["a"], torch.nn.functional.one_hot(a1, ACTIONS).float())
    assert s1["h"].abs().sum() > 0 and s1["m"].abs().sum() > 0
    # greedy steps are deterministic, and the state changes what comes next
    a1b, _, s1b = nets.act(state, obs, greedy=True)
    assert torch.equal(a1, a1b) and torch.allclose(s1["h"], s1b["h"])
    _, _, s2 = nets.act(s1, obs, greedy=True)
    assert not torch.allclose(s2["h"], s1["h"])


def test_losses_touch_only_their_own_parameters():
    torch.manual_seed(0)
    nets = MetaDreamerNets(OBS, ACTIONS, WORLD_MODEL_PRESETS["debug"])
    batch = _batch(nets)
    seq = observe_sequence(nets, batch)
    loss_wm, _ = world_model_loss(nets, batch, seq, DreamerLossConfig())
    loss_wm.backward()
    assert all(p.grad is None for p in nets.agent.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in nets.world_model.parameters())
    nets.zero_grad(set_to_none=True)
    seq = observe_sequence(nets, batch)
    loss_ac, _ = actor_critic_loss(nets, imagine(nets, seq, 4), DreamerLossConfig(horizon=4))
    loss_ac.backward()
    assert all(p.grad is None for p in nets.world_model.parameters())
    # the recurrent memory learns from the actor loss (RL^2), the critic from its own loss
    assert nets.agent.memory.weight_ih.grad.abs().sum() > 0
    assert nets.agent.actor[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in nets.agent.slow_critic.parameters())


def _fit_world_model(nets: MetaDreamerNets, batch: dict, steps: int) -> list[float]:
    """Adam (lr 3e-3) on the world-model loss of one fixed batch; the loss after each step."""
    opt = torch.optim.Adam(nets.world_model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        seq = observe_sequence(nets, batch)
        loss, _ = world_model_loss(nets, batch, seq, DreamerLossConfig())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_world_model_fits_a_fixed_batch():
    torch.manual_seed(0)
    nets = MetaDreamerNets(OBS, ACTIONS, WORLD_MODEL_PRESETS["debug"])
    losses = _fit_world_model(nets, _batch(nets, T=8, B=8), steps=60)
    assert losses[-1] < 0.6 * losses[0], (losses[0], losses[-1])


def test_return_scale_is_an_ema_of_the_return_range():
    torch.manual_seed(0)
    nets = MetaDreamerNets(OBS, ACTIONS, WORLD_MODEL_PRESETS["debug"])
    seq = observe_sequence(nets, _batch(nets))
    assert nets.agent.return_scale.item() == 0.0
    actor_critic_loss(nets, imagine(nets, seq, 3), DreamerLossConfig(horizon=3, return_decay=0.5))
    first = nets.agent.return_scale.item()
    assert first >= 0.0
    actor_critic_loss(nets, imagine(nets, seq, 3), DreamerLossConfig(horizon=3), update_scale=False)
    assert nets.agent.return_scale.item() == first
    assert "agent.return_scale" in nets.state_dict()  # checkpoints carry it


def test_value_mean_picks_how_rewards_and_values_are_read():
    """value_mean="linear" reads the reward and critic heads by their mean in the rewards' own
    units (two_hot_linear_mean), "symlog" (the default) by DreamerV3's decode; an unknown
    name is refused."""
    from edge_rl.models.world_model.functions import two_hot_decode, two_hot_linear_mean

    torch.manual_seed(0)
    nets = MetaDreamerNets(OBS, ACTIONS, WORLD_MODEL_PRESETS["debug"])
    with torch.no_grad():  # spread the zero-initialised heads' predictions out
        for p in nets.parameters():
            p.add_(0.5 * torch.randn_like(p))
    imag = imagine(nets, observe_sequence(nets, _batch(nets)), 3)
    logits = nets.world_model.reward_logits(imag["feat"][1:]).detach()
    bins = nets.world_model.bins
    read = {}
    for mode, decode in (("symlog", two_hot_decode), ("linear", two_hot_linear_mean)):
        cfg = DreamerLossConfig(horizon=3, value_mean=mode)
        _, metrics = actor_critic_loss(nets, imag, cfg, update_scale=False)
        read[mode] = metrics["imagined_reward"].item()
        assert read[mode] == pytest.approx(decode(logits, bins).mean().item(), rel=1e-5)
    assert DreamerLossConfig().value_mean == "symlog"
    assert abs(read["linear"] - read["symlog"]) > 1e-3 * abs(read["symlog"])
    with pytest.raises(ValueError, match="value_mean='median': must be one of"):
        DreamerLossConfig(value_mean="median")


def test_servers_actor_head_reads_the_decoded_observation_and_trains_without_the_world_model():

    from edge_rl.models.server_scoring import ServerScoringHead

    servers = 4
    torch.manual_seed(0)
    nets, batch = _trial_nets(input_baseline=0, servers=servers)
    cfg = nets.cfg
    assert isinstance(nets.agent.actor, ServerScoringHead)
    actions, logits, _ = nets.act(nets.initial_state(3), batch["obs"][0], greedy=False)
    assert logits.shape == (3, servers) and actions.shape == (3,)
    seq = observe_sequence(nets, batch)
    imag = imagine(nets, seq, horizon=3)
    loss_ac, _ = actor_critic_loss(nets, imag, DreamerLossConfig(horizon=3))
    loss_ac.backward()
    # the scorer learns; the decoder that fed it its observation does not (no gradient path)
    assert nets.agent.actor.scorer[-1].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in nets.world_model.parameters())
    with pytest.raises(ValueError, match="actor_head='servers' scores one action per server"):
        MetaDreamerNets(OBS, ACTIONS, cfg)
    with pytest.raises(ValueError, match="actor_head='gnn'"):
        WorldModelConfig(actor_head="gnn")


def _action_reward_batch(nets: MetaDreamerNets, T: int = 8, B: int = 16) -> dict:
    """r_{t-1} = +1 for action 0, -1 otherwise, and the observation repeats it (as the trial
    env's observation repeats the previous reward)."""
    g = torch.Generator().manual_seed(3)
    prev = torch.randint(-1, ACTIONS, (T, B), generator=g)
    rewards = torch.where(prev == 0, 1.0, -1.0) * (prev >= 0)
    obs = torch.rand(T, B, OBS, generator=g)
    obs[..., 0] = rewards
    state = nets.initial_state(B)
    return {"obs": obs, "prev_actions": prev, "rewards": rewards, "continues": torch.ones(T, B),
            "h": state["h"], "z": state["z"], "m": state["m"]}  # fmt: skip


def _imagined_reward(nets: MetaDreamerNets, seq: dict, action: int) -> float:
    """The mean reward the model imagines for ``action`` from every posterior state of ``seq``."""
    from edge_rl.evaluation.world_model_probe import imagined_rewards

    feat = seq["feat"].flatten(0, 1)
    h, z = feat[:, : nets.cfg.deter], feat[:, nets.cfg.deter :]
    return imagined_rewards(nets, h, z)[:, action].mean().item()


def test_reward_from_the_deterministic_state_depends_on_the_imagined_action():
    from dataclasses import replace

    with pytest.raises(ValueError, match="reward_input='z'"):
        WorldModelConfig(reward_input="z")
    cfg = replace(WORLD_MODEL_PRESETS["debug"], reward_input="deter")
    torch.manual_seed(0)
    nets = MetaDreamerNets(OBS, ACTIONS, cfg)
    # the head reads h alone: the latent part of the features changes nothing
    feat = torch.randn(5, cfg.feat)
    other = feat.clone()
    other[:, cfg.deter :] = torch.randn(5, cfg.latent)
    assert torch.equal(nets.world_model.reward_logits(feat), nets.world_model.reward_logits(other))
    batch = _action_reward_batch(nets)
    _fit_world_model(nets, batch, steps=150)
    with torch.no_grad():
        seq = observe_sequence(nets, batch)
        good, bad = _imagined_reward(nets, seq, 0), _imagined_reward(nets, seq, 1)
    assert good - bad > 1.0, (good, bad)  # the true difference is 2


def test_guide_loss_is_the_cross_entropy_on_labelled_steps_and_trains_only_the_actor():
    from edge_rl.models.world_model import guide_loss

    torch.manual_seed(0)
    nets = MetaDreamerNets(OBS, ACTIONS, WORLD_MODEL_PRESETS["debug"])
    batch = _batch(nets)
    seq = observe_sequence(nets, batch)
    labels = torch.randint(0, ACTIONS, (6, 4), generator=torch.Generator().manual_seed(5))
    labels[0] = -1  # unlabelled steps are left out
    loss, agree = guide_loss(nets, seq, labels)
    logits = nets.agent.logits(seq["feat"][1:], seq["m"][1:])
    expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels[1:].flatten())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    greedy = logits.argmax(-1)
    assert agree.item() == pytest.approx((greedy == labels[1:]).float().mean().item())
    loss.backward()
    assert all(p.grad is None for p in nets.world_model.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in nets.agent.actor.parameters())
    assert all(p.grad is None for p in nets.agent.critic.parameters())
    none, no_agree = guide_loss(nets, seq, torch.full((6, 4), -1))
    assert none.item() == 0.0 and no_agree.item() == 0.0


def test_guide_loss_with_the_servers_head_reads_the_decoded_observation():
    from dataclasses import replace

    from edge_rl.models.server_scoring import trial_obs_size
    from edge_rl.models.world_model import guide_loss

    servers = 4
    torch.manual_seed(0)
    cfg = replace(WORLD_MODEL_PRESETS["debug"], actor_head="servers")
    nets = MetaDreamerNets(trial_obs_size(servers), servers, cfg)
    state = nets.initial_state(3)
    batch = {
        "obs": torch.rand(5, 3, trial_obs_size(servers)) * 5,
        "prev_actions": torch.randint(-1, servers, (5, 3)),
        "rewards": -torch.rand(5, 3),
        "continues": torch.ones(5, 3),
        **{k: state[k] for k in ("h", "z", "m")},
    }
    seq = observe_sequence(nets, batch)
    labels = torch.randint(0, servers, (5, 3))
    loss, _ = guide_loss(nets, seq, labels)
    feat = seq["feat"].flatten(0, 1)
    logits = nets.agent.logits(feat, seq["m"].flatten(0, 1), nets.world_model.decode_obs(feat))
    expected = torch.nn.functional.cross_entropy(logits, labels.flatten())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_guide_loss_teaches_the_actor_a_rule_of_the_observation():
    """Labels 'repeat the previous action' (which the actor's memory reads) are learned from
    the real steps alone; steps without a previous action are unlabelled."""
    from edge_rl.models.world_model import guide_loss

    torch.manual_seed(0)
    nets = MetaDreamerNets(OBS, ACTIONS, WORLD_MODEL_PRESETS["debug"])
    batch = _batch(nets, T=8, B=16, seed=2)
    labels = batch["prev_actions"]
    params = [*nets.agent.actor.parameters(), *nets.agent.memory.parameters()]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    with torch.no_grad():
        seq = observe_sequence(nets, batch)
    _, before = guide_loss(nets, seq, labels)
    for _ in range(300):
        seq = observe_sequence(nets, batch)
        loss, _ = guide_loss(nets, seq, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    _, after = guide_loss(nets, observe_sequence(nets, batch), labels)
    assert before < 0.6 and after > 0.95, (before, after)


def test_update_losses_compiled_equal_the_eager_ones(monkeypatch, tmp_path):
    """``update_losses`` through ``torch.compile`` (what ``compile_update`` runs) gives the eager
    losses, metrics, gradients and return-scale update; Inductor draws random numbers as eager
    torch does here (``fallback_random``), so the sampled latents and actions are the same."""
    import torch._inductor.config as inductor_config

    from edge_rl.models.world_model import update_losses

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    monkeypatch.setattr(inductor_config, "fallback_random", True)
    torch._dynamo.reset()
    cfg = DreamerLossConfig(horizon=2)

    def run(fn) -> tuple:
        torch.manual_seed(0)
        nets = MetaDreamerNets(OBS, ACTIONS, WORLD_MODEL_PRESETS["debug"])
        batch = _batch(nets, T=3, B=2)
        torch.manual_seed(1)
        _, loss_wm, wm_metrics, loss_ac, ac_metrics = fn(nets, batch, cfg, 4)
        (loss_wm + loss_ac).backward()
        grads = {k: p.grad.clone() for k, p in nets.named_parameters() if p.grad is not None}
        return loss_wm, loss_ac, {**wm_metrics, **ac_metrics}, grads, nets.agent.return_scale

    eager = run(update_losses)
    compiled = run(torch.compile(update_losses, dynamic=False))
    torch._dynamo.reset()
    for a, b in zip(eager[:2], compiled[:2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert eager[2].keys() == compiled[2].keys()
    for key in eager[2]:
        torch.testing.assert_close(eager[2][key], compiled[2][key], rtol=1e-4, atol=1e-5)
    assert eager[3].keys() == compiled[3].keys() and len(eager[3]) > 10
    for key in eager[3]:
        torch.testing.assert_close(eager[3][key], compiled[3][key], rtol=1e-3, atol=1e-5)
    assert float(eager[4]) != 1.0  # the EMA moved, and the compiled graph moved it alike
    torch.testing.assert_close(eager[4], compiled[4])


def _terminal_batch(nets: MetaDreamerNets, rewards: torch.Tensor) -> dict:
    """A batch of one trial per column that ends at o_3 (continues[3] = 0) of T = 4 steps."""
    batch = _batch(nets, T=4, B=rewards.shape[1])
    batch["rewards"] = rewards
    batch["continues"] = torch.tensor([1.0, 1.0, 1.0, 0.0]).unsqueeze(1).expand(4, -1).clone()
    return batch


def test_replay_value_loss_is_the_critic_on_real_lambda_returns_and_trains_only_it():
    from edge_rl.models.world_model import replay_value_loss
    from edge_rl.models.world_model.functions import two_hot_decode, two_hot_loss

    torch.manual_seed(0)
    nets = MetaDreamerNets(OBS, ACTIONS, WORLD_MODEL_PRESETS["debug"])
    batch = _batch(nets, T=6, B=3)
    batch["continues"][3, 1] = 0.0  # column 1: o_3 ends a trial, o_4 starts the next
    seq = observe_sequence(nets, batch)
    cfg = DreamerLossConfig(gamma=0.9, lam=0.8, slow_reg=0.5)
    loss, metrics = replay_value_loss(nets, batch, seq, cfg)

    feat, m, bins = seq["feat"].detach(), seq["m"].detach(), nets.world_model.bins
    logits = nets.agent.value_logits(feat, m).detach()
    v = two_hot_decode(logits, bins)
    r, c = batch["rewards"], batch["continues"]
    ret = [None] * 5
    following = v[5]
    for t in reversed(range(5)):  # R_t = r_{t+1} + gamma c_{t+1} ((1 - lam) v_{t+1} + lam R_{t+1})
        following = r[t + 1] + 0.9 * c[t + 1] * (0.2 * v[t + 1] + 0.8 * following)
        ret[t] = following
    ret = torch.stack(ret)
    slow = two_hot_decode(nets.agent.value_logits(feat[:5], m[:5], slow=True), bins).detach()
    per_step = two_hot_loss(logits[:5], ret, bins) + 0.5 * two_hot_loss(logits[:5], slow, bins)
    acting = torch.ones(5, 3)
    acting[3, 1] = 0.0  # no action at the trial's last observation
    expected = (per_step * acting).sum() / acting.sum()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert metrics["replay_return"].item() == pytest.approx(ret.mean().item(), rel=1e-5)

    loss.backward()
    assert all(p.grad is None for p in nets.world_model.parameters())
    assert all(p.grad is None for p in nets.agent.actor.parameters())
    assert all(p.grad is None for p in nets.agent.memory.parameters())
    assert all(p.grad is None for p in nets.agent.slow_critic.parameters())
    critic = list(nets.agent.critic.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in critic)


def test_replay_value_loss_fits_the_critic_to_the_real_returns():
    """With lambda = 1 and the trial ending inside the window the targets bootstrap nothing:
    R_2 = r_3, R_1 = r_2 + gamma r_3, R_0 = r_1 + gamma r_2 + gamma^2 r_3 (the reward of the
    action at o_t arrives with o_{t+1}). Fitting the critic on them alone reaches those values."""
    from edge_rl.models.world_model import replay_value_loss
    from edge_rl.models.world_model.functions import two_hot_decode

    torch.manual_seed(0)
    nets = MetaDreamerNets(OBS, ACTIONS, WORLD_MODEL_PRESETS["debug"])
    rewards = torch.tensor([[0.0, 0.0], [-1.0, -4.0], [-2.0, 0.0], [-3.0, -8.0]])
    batch = _terminal_batch(nets, rewards)
    cfg = DreamerLossConfig(gamma=0.5, lam=1.0, slow_reg=0.0)
    with torch.no_grad():
        seq = observe_sequence(nets, batch)
    expected = torch.tensor([[-2.75, -6.0], [-3.5, -4.0], [-3.0, -8.0]])
    opt = torch.optim.Adam(nets.agent.critic.parameters(), lr=3e-3)
    for _ in range(500):
        loss, _ = replay_value_loss(nets, batch, seq, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
    values = two_hot_decode(
        nets.agent.value_logits(seq["feat"][:3], seq["m"][:3]), nets.world_model.bins
    )
    assert torch.allclose(values, expected, atol=0.15), values


def test_update_losses_add_the_weighted_replay_value_loss():
    from edge_rl.models.world_model import replay_value_loss, update_losses

    nets = MetaDreamerNets(OBS, ACTIONS, WORLD_MODEL_PRESETS["debug"])
    batch = _batch(nets)
    torch.manual_seed(3)
    seq, _, _, plain, plain_metrics = update_losses(nets, batch, DreamerLossConfig(horizon=3))
    assert "replay_value_loss" not in plain_metrics
    torch.manual_seed(3)
    cfg = DreamerLossConfig(horizon=3, replay_value=0.3)
    _, _, _, weighted, metrics = update_losses(nets, batch, cfg)
    extra, _ = replay_value_loss(nets, batch, seq, cfg)
    assert weighted.item() == pytest.approx(plain.item() + 0.3 * extra.item(), rel=1e-5)
    assert metrics["replay_value_loss"].item() == pytest.approx(extra.item(), rel=1e-5)


def test_future_inputs_are_the_next_steps_with_a_mask():
    from edge_rl.models.world_model import future_inputs

    x = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])  # H+1 = 4, N = 2
    out = future_inputs(x, window=2)
    assert out.shape == (3, 2, 4)  # (H, N, 2 * window)
    # step t reads x_{t+1}, x_{t+2}; past the last imagined state: 0 with mask 0
    assert out[:, 0].tolist() == [[2, 3, 1, 1], [3, 4, 1, 1], [4, 0, 1, 0]]
    assert out[:, 1].tolist() == [[20, 30, 1, 1], [30, 40, 1, 1], [40, 0, 1, 0]]
    with pytest.raises(ValueError, match="window=0"):
        future_inputs(x, window=0)


def _trial_nets(input_baseline: int, servers: int = 4):
    from dataclasses import replace

    from edge_rl.models.server_scoring import trial_obs_size

    obs_dim = trial_obs_size(servers)
    cfg = replace(WORLD_MODEL_PRESETS["debug"], actor_head="servers", input_baseline=input_baseline)
    nets = MetaDreamerNets(obs_dim, servers, cfg)
    g = torch.Generator().manual_seed(1)
    batch = {
        "obs": torch.rand(6, 3, obs_dim, generator=g) * 5,
        "prev_actions": torch.randint(-1, servers, (6, 3), generator=g),
        "rewards": -5 * torch.rand(6, 3, generator=g),
        "continues": torch.ones(6, 3),
        **{k: v for k, v in nets.initial_state(3).items() if k in ("h", "z", "m")},
    }
    return nets, batch


def test_input_baseline_sets_the_advantages_not_the_returns():
    """With input_baseline the actor's advantages subtract the input critic's value: moving
    that value moves the actor's gradient and leaves the lambda-returns (which bootstrap from
    the plain critic) alone; the input critic learns from its own loss only."""
    torch.manual_seed(0)
    nets, batch = _trial_nets(input_baseline=3)
    ag = nets.agent
    assert ag.input_critic is not None and ag.input_critic[0].in_features == (
        nets.cfg.feat + nets.cfg.memory + 6
    )
    imag = imagine(nets, observe_sequence(nets, batch), horizon=4)
    cfg = DreamerLossConfig(horizon=4, entropy=0.0)
    actor_params = list(ag.actor.parameters())

    def actor_grad_and_metrics():
        loss, metrics = actor_critic_loss(nets, imag, cfg, update_scale=False)
        grads = torch.autograd.grad(loss, actor_params, retain_graph=True)
        return torch.cat([g.flatten() for g in grads]), metrics

    grad0, m0 = actor_grad_and_metrics()
    with torch.no_grad():
        ag.input_critic[-1].bias[-1] += 5.0  # the top bin: a much larger baseline
    grad1, m1 = actor_grad_and_metrics()
    assert m1["imagined_return"] == m0["imagined_return"]
    assert not torch.allclose(grad0, grad1)
    assert {"input_critic", "advantage_std_value", "advantage_std_input"} <= set(m1)
    nets.zero_grad(set_to_none=True)
    loss, _ = actor_critic_loss(nets, imag, cfg)
    loss.backward()
    assert ag.input_critic[-1].weight.grad.abs().sum() > 0  # (zero-initialised output layer)
    assert all(p.grad is None for p in nets.world_model.parameters())


def test_input_baseline_needs_trial_observations_and_a_count():
    from dataclasses import replace

    with pytest.raises(ValueError, match="input_baseline=-1: must be an integer >= 0"):
        WorldModelConfig(input_baseline=-1)
    cfg = replace(WORLD_MODEL_PRESETS["debug"], input_baseline=2)
    with pytest.raises(ValueError, match="input_baseline reads the incoming job size"):
        MetaDreamerNets(OBS, ACTIONS, cfg)
    plain, _ = _trial_nets(input_baseline=0)
    assert plain.agent.input_critic is None
