"""ADSAC on RLlib: module, learner, algorithm, checkpoints (tiny sizes; no learning claims)."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

import edge_rl  # noqa: F401  (registers the envs)
from edge_rl.algorithms.adsac.adsac import ADSACConfig
from edge_rl.algorithms.adsac.adsac_learner import DISCOUNTS
from edge_rl.algorithms.adsac.torch.adsac_torch_rl_module import (
    ACTION_LOGITS,
    TARGET_ACTION_LOGITS,
    TARGET_Q1,
    TARGET_Q2,
    ADSACTorchRLModule,
)
from edge_rl.models.losses import actor_loss, critic_loss, soft_state_value

TINY = dict(
    attention_width=16,
    attention_heads=2,
    denoiser_hidden=32,
    critic_hidden=32,
    diffusion_steps=3,
    attention_dropout=0.0,
)


def _spaces(preset: str = "adsac-paper", **overrides) -> tuple[gym.Space, gym.Space]:
    env = gym.make("edge_rl/AIGCEdge-v0", preset=preset, **overrides)
    return env.observation_space, env.action_space


def _module(
    inference_only: bool,
    preset: str = "adsac-paper",
    depth: int = 1,
    settings: dict | None = None,
    **overrides,
):
    obs_space, act_space = _spaces(preset, **overrides)
    config = ADSACConfig().training(attention_depth=depth, **TINY, **(settings or {}))
    return RLModuleSpec(
        module_class=ADSACTorchRLModule,
        observation_space=obs_space,
        action_space=act_space,
        inference_only=inference_only,
        model_config=config.model_config,
    ).build()


@pytest.mark.parametrize("depth", [0, 1, 2])
@pytest.mark.parametrize("preset", ["adsac-paper", "agod-paper", "regions"])
def test_module_forward_shapes(preset: str, depth: int) -> None:
    module = _module(False, preset, depth)
    module.make_target_networks()  # a learner does this when it builds the module
    obs_space, act_space = _spaces(preset)
    obs = torch.as_tensor(np.stack([obs_space.sample() for _ in range(5)]), dtype=torch.float32)
    out = module.forward_inference({Columns.OBS: obs})
    assert out[Columns.ACTION_DIST_INPUTS].shape == (5, act_space.n)
    target = module.forward_target({Columns.OBS: obs})
    assert all(v.shape == (5, act_space.n) for v in target.values())


def test_per_action_denoiser_and_critic_heads_on_the_paper_layout() -> None:
    """``denoiser`` / ``critic_head`` choose the networks; "per-action" reads each action's
    token, so one server's logits depend on that server's features through shared weights."""
    from edge_rl.models.diffusion import PerActionDenoiser

    settings = {"denoiser": "per-action", "critic_head": "per-action", "critic_attention_depth": 1}
    module = _module(False, settings=settings)
    module.make_target_networks()
    assert isinstance(module.actor.denoiser, PerActionDenoiser)
    assert module.critic.q1.head_mode == "per-action" and module.critic.q1.encoder.layers
    assert module.critic.q1.head[-1].out_features == 1  # one Q value per action token
    obs = torch.rand(4, 36)
    logits = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    assert logits.shape == (4, 40)
    q1, q2 = module.critic(obs)
    assert q1.shape == q2.shape == (4, 40)
    # the defaults stay the reference's: one MLP over all 40 logits, a flat critic
    plain = _module(False)
    assert not isinstance(plain.actor.denoiser, PerActionDenoiser)
    assert plain.critic.q1.head_mode == "mlp" and plain.critic.q1.head[-1].out_features == 40


@pytest.mark.parametrize("shared_encoder", [False, True])
def test_softmax_actor_head_trains_through_the_same_learner(shared_encoder: bool) -> None:
    """``actor_head="softmax"``: the chain's ablation, an MLP's logits on the same encoder,
    with the same critics, mask and losses; one learner step moves actor and critics."""
    from edge_rl.models import SoftmaxActor

    torch.manual_seed(0)
    learner, _ = _learner(actor_head="softmax", action_masking=True, shared_encoder=shared_encoder)
    module = learner.module[DEFAULT_MODULE_ID]
    assert isinstance(module.actor, SoftmaxActor) and module.actor.mask is not None
    obs = torch.as_tensor(_fixed_batch(8).policy_batches[DEFAULT_MODULE_ID][Columns.OBS])
    logits = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    assert logits.shape == (8, 40)
    # no noise: inference gives the same logits on every pass
    again = module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    assert torch.equal(logits, again)
    head = [p.clone() for p in module.actor.head.parameters()]
    critic = [p.clone() for p in module.critic.parameters()]
    result = learner.update(batch=_fixed_batch(64), timesteps={"num_env_steps_sampled_lifetime": 0})
    assert np.isfinite(float(result[DEFAULT_MODULE_ID]["actor_loss"].peek()))
    assert any(
        not torch.equal(a, b) for a, b in zip(head, module.actor.head.parameters(), strict=True)
    )
    assert any(
        not torch.equal(a, b) for a, b in zip(critic, module.critic.parameters(), strict=True)
    )
    # the env runner's inference-only module carries the same actor
    lean = _module(True, settings={"actor_head": "softmax"})
    assert isinstance(lean.actor, SoftmaxActor) and not hasattr(lean, "critic")


def test_inference_only_module_has_no_critic_parameters() -> None:
    full = _module(inference_only=False)
    lean = _module(inference_only=True)
    assert hasattr(full, "critic") and not hasattr(lean, "critic")
    assert not hasattr(lean, "log_alpha")
    lean_names = {n for n, _ in lean.named_parameters()}
    assert lean_names and all(n.startswith("actor.") for n in lean_names)
    assert sum(p.numel() for p in lean.parameters()) < sum(p.numel() for p in full.parameters())
    # the learner's inference-only state loads into the env runner's module
    lean.set_state(full.get_state(inference_only=True))
    obs = torch.rand(3, 36)
    torch.manual_seed(0)
    a = lean.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    torch.manual_seed(0)
    full.eval()
    b = full.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS]
    torch.testing.assert_close(a, b)


def _fixed_batch(n: int, seed: int = 0) -> MultiAgentBatch:
    rng = np.random.default_rng(seed)
    obs_space, _ = _spaces()
    obs_space.seed(seed)  # the same batch on every call: tests that compare two steps need it
    obs = np.stack([obs_space.sample() for _ in range(n)]).astype(np.float32)
    data = SampleBatch(
        {
            Columns.OBS: obs,
            Columns.ACTIONS: rng.integers(0, 40, n),
            Columns.REWARDS: rng.normal(1.0, 0.5, n).astype(np.float32),
            Columns.NEXT_OBS: obs[rng.permutation(n)],
            DISCOUNTS: np.zeros(n, np.float32),  # terminal: target = reward, a fixed regression
        }
    )
    return MultiAgentBatch({DEFAULT_MODULE_ID: data}, env_steps=n)


def _learner(**settings):
    obs_space, act_space = _spaces()
    config = (
        ADSACConfig()
        .environment(observation_space=obs_space, action_space=act_space)
        .training(**{**TINY, "train_batch_size_per_learner": 64, **settings})
    )
    return config.build_learner(env=None), config


def test_learner_update_lowers_critic_loss_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    learner, _ = _learner(critic_lr=3e-3)
    batch = _fixed_batch(64)
    losses = []
    for _ in range(40):
        res = learner.update(batch=batch, timesteps={"num_env_steps_sampled_lifetime": 0})
        losses.append(float(res[DEFAULT_MODULE_ID]["critic_loss"].peek()))
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("order", ["critic_first", "joint"])
def test_learner_polyak_moves_targets_by_tau(order: str) -> None:
    # once per gradient step, also when the critic-first order steps twice
    learner, _ = _learner(tau=0.5, update_order=order)
    module = learner.module[DEFAULT_MODULE_ID]
    before = [p.clone() for p in module.target_critic.parameters()]
    learner.update(batch=_fixed_batch(64), timesteps={"num_env_steps_sampled_lifetime": 0})
    after = list(module.target_critic.parameters())
    online = list(module.critic.parameters())
    for b, a, o in zip(before, after, online, strict=True):
        torch.testing.assert_close(a, 0.5 * b + 0.5 * o)


def _replica_step(module, batch: MultiAgentBatch, lr: float, critic_first: bool) -> None:
    """One gradient step of ``module`` written out by hand (Adam, weight decay 1e-4, alpha 0.05,
    tau 0 so targets stay put), drawing diffusion noise in the learner's order."""
    cols = batch.policy_batches[DEFAULT_MODULE_ID]
    obs = torch.as_tensor(cols[Columns.OBS])
    actions = torch.as_tensor(cols[Columns.ACTIONS]).long().reshape(-1, 1)
    critic_opt = torch.optim.Adam(module.critic.parameters(), lr=lr, weight_decay=1e-4)
    actor_opt = torch.optim.Adam(module.actor.parameters(), lr=lr, weight_decay=1e-4)
    logits = None if critic_first else module.actor(obs)  # joint: forward_train comes first
    with torch.no_grad():
        target = module.forward_target({Columns.OBS: torch.as_tensor(cols[Columns.NEXT_OBS])})
        v_next = soft_state_value(
            torch.softmax(target[TARGET_ACTION_LOGITS], -1), target[TARGET_Q1], target[TARGET_Q2]
        )
        y = torch.as_tensor(cols[Columns.REWARDS]) + torch.as_tensor(cols[DISCOUNTS]) * v_next
    q1, q2 = module.critic(obs)
    loss = critic_loss(q1.gather(1, actions).squeeze(1), q2.gather(1, actions).squeeze(1), y)
    critic_opt.zero_grad()
    loss.backward()
    if critic_first:
        critic_opt.step()
        with torch.no_grad():
            q1, q2 = module.critic(obs)
        logits = module.actor(obs)
    actor_opt.zero_grad()
    actor_loss(torch.softmax(logits, -1), q1, q2, 0.05).backward()
    actor_opt.step()
    if not critic_first:
        critic_opt.step()


@pytest.mark.parametrize("order", ["critic_first", "joint"])
def test_update_order_matches_a_hand_written_step(order: str) -> None:
    """critic_first (the reference) trains the actor against the critic it has just updated;
    joint against the critic from before the step. Both match a step written out by hand, and
    they differ from each other."""
    lr = 0.05  # large, so that the critic's step visibly changes the actor's gradient
    actors = {}
    for run_order in ("critic_first", "joint"):
        torch.manual_seed(0)
        learner, _ = _learner(update_order=run_order, actor_lr=lr, critic_lr=lr, tau=1e-9)
        actors[run_order] = learner.module[DEFAULT_MODULE_ID]
        if run_order == order:
            replica = copy.deepcopy(learner.module[DEFAULT_MODULE_ID])
            batch = _fixed_batch(64)
            torch.manual_seed(1)
            learner.update(batch=batch, timesteps={"num_env_steps_sampled_lifetime": 0})
            torch.manual_seed(1)
            _replica_step(replica, batch, lr, critic_first=order == "critic_first")
            # Adam's first step moves each weight by about lr * sign(grad): where a gradient is
            # near zero, float rounding can change that step on another CPU, so the tolerance is
            # 2% of one step (the two orders differ by up to 2 * lr on thousands of weights).
            for got, want in zip(actors[order].parameters(), replica.parameters(), strict=True):
                torch.testing.assert_close(got, want, rtol=1e-3, atol=0.02 * lr)
        else:
            torch.manual_seed(1)
            learner.update(batch=_fixed_batch(64), timesteps={"num_env_steps_sampled_lifetime": 0})
    critic_first = dict(actors["critic_first"].actor.named_parameters())
    joint = dict(actors["joint"].actor.named_parameters())
    assert any(not torch.allclose(critic_first[n], joint[n], atol=0.5 * lr) for n in critic_first)


def test_encoder_lr_gives_the_attention_encoder_its_own_rate() -> None:
    def moved(learner) -> tuple[float, float]:
        actor = learner.module[DEFAULT_MODULE_ID].actor
        before = {n: p.detach().clone() for n, p in actor.named_parameters()}
        learner.update(batch=_fixed_batch(64), timesteps={"num_env_steps_sampled_lifetime": 0})
        change = {n: (p - before[n]).abs().max().item() for n, p in actor.named_parameters()}
        enc = max(v for n, v in change.items() if n.startswith("encoder."))
        den = max(v for n, v in change.items() if n.startswith("denoiser."))
        return enc, den

    torch.manual_seed(0)
    enc, den = moved(_learner(actor_lr=1e-3, encoder_lr=1e-9)[0])
    assert enc < 1e-7 and den > 1e-4, (enc, den)
    torch.manual_seed(0)
    enc, den = moved(_learner(actor_lr=1e-3)[0])  # None: the encoder trains at actor_lr
    assert enc > 1e-4 and den > 1e-4, (enc, den)


@pytest.mark.parametrize(
    "settings",
    [{}, {"denoiser": "per-action", "critic_head": "per-action"}],
    ids=["mlp", "per-action"],
)
def test_shared_encoder_is_trained_by_the_critic_loss_alone(settings: dict) -> None:
    """``shared_encoder``: the critics' heads read the actor's encoder; the TD loss moves it and
    the actor loss does not (its chain reads the encoding detached)."""
    from edge_rl.models import TwinQHeads

    module = _module(False, settings={"shared_encoder": True, **settings})
    module.make_target_networks()
    assert isinstance(module.critic, TwinQHeads)
    assert not any("encoder" in n for n, _ in module.critic.named_parameters())
    obs = torch.rand(6, 36)
    module.train()
    fwd = module.forward_train({Columns.OBS: obs})
    q1, q2 = module.q_values(obs, fwd)
    assert q1.shape == q2.shape == (6, 40)
    encoder = list(module.actor.encoder.parameters())
    denoiser = list(module.actor.denoiser.parameters())
    probs = torch.softmax(fwd[ACTION_LOGITS], dim=-1)
    grads = torch.autograd.grad(-(probs * q1.detach()).sum(), encoder + denoiser, allow_unused=True)
    assert all(g is None for g in grads[: len(encoder)])  # actor loss: encoder untouched
    assert any(g is not None and g.abs().sum() > 0 for g in grads[len(encoder) :])
    grads = torch.autograd.grad(q1.sum() + q2.sum(), encoder, allow_unused=True)
    assert all(g is not None for g in grads)  # critic loss: every encoder weight
    # the encoding handed over by forward_train equals a fresh pass (dropout is off in TINY)
    torch.testing.assert_close(module.q_values(obs), (q1, q2))
    target = module.forward_target({Columns.OBS: obs})
    assert all(v.shape == (6, 40) for v in target.values())
    # env runners: the actor with its encoder, no critic heads
    lean = _module(True, settings={"shared_encoder": True, **settings})
    lean.set_state(module.get_state(inference_only=True))
    assert not hasattr(lean, "critic")


def test_shared_encoder_learner_puts_the_encoder_in_the_critic_optimizer() -> None:
    def moved(learner) -> dict[str, float]:
        module = learner.module[DEFAULT_MODULE_ID]
        parts = {"encoder": module.actor.encoder, "denoiser": module.actor.denoiser}
        parts["heads"] = module.critic
        before = {k: [p.detach().clone() for p in m.parameters()] for k, m in parts.items()}
        learner.update(batch=_fixed_batch(64), timesteps={"num_env_steps_sampled_lifetime": 0})
        change = {}
        for k, m in parts.items():
            pairs = zip(m.parameters(), before[k], strict=True)
            change[k] = max((p - b).abs().max().item() for p, b in pairs)
        return change

    torch.manual_seed(0)
    # the encoder moves at the critic's rate: a frozen actor leaves it moving
    change = moved(_learner(shared_encoder=True, actor_lr=1e-9, critic_lr=1e-3)[0])
    assert change["denoiser"] < 1e-7 and change["encoder"] > 1e-4, change
    torch.manual_seed(0)
    change = moved(_learner(shared_encoder=True, critic_lr=1e-9, actor_lr=1e-3)[0])
    assert change["denoiser"] > 1e-4 and change["encoder"] < 1e-7, change
    torch.manual_seed(0)  # encoder_lr still sets its own rate
    change = moved(_learner(shared_encoder=True, critic_lr=1e-3, encoder_lr=1e-9)[0])
    assert change["heads"] > 1e-4 and change["encoder"] < 1e-7, change


def test_learned_temperature_changes_alpha() -> None:
    learner, _ = _learner(learn_alpha=True, alpha_lr=0.1)
    module = learner.module[DEFAULT_MODULE_ID]
    start = float(module.log_alpha.detach())
    for _ in range(5):
        learner.update(batch=_fixed_batch(64), timesteps={"num_env_steps_sampled_lifetime": 0})
    assert float(module.log_alpha.detach()) != pytest.approx(start)
    fixed, _ = _learner(learn_alpha=False)
    fixed.update(batch=_fixed_batch(64), timesteps={"num_env_steps_sampled_lifetime": 0})
    assert float(fixed.module[DEFAULT_MODULE_ID].log_alpha.detach()) == pytest.approx(np.log(0.05))


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"diffusion_steps": 0}, "diffusion_steps=0"),
        ({"actor_head": "gaussian"}, "actor_head='gaussian': use 'diffusion'"),
        ({"denoiser_output": "relu"}, "denoiser_output='relu': use 'tanh'"),
        ({"attention_depth": -1}, "attention_depth=-1"),
        ({"attention_heads": 3, "attention_width": 16}, "must divide attention_width"),
        ({"beta_schedule": "sigmoid"}, "beta_schedule='sigmoid'"),
        ({"tau": 0.0}, "tau=0.0"),
        ({"actor_lr": -1.0}, "actor_lr=-1.0"),
        ({"updates_per_env_step": 0}, "updates_per_env_step=0"),
        ({"lr": 0.1}, "actor_lr, critic_lr"),
        ({"update_order": "actor_first"}, "update_order='actor_first'"),
        ({"encoder_lr": 0.0}, "encoder_lr=0.0"),
        ({"denoiser": "pointer"}, "denoiser='pointer': use 'mlp'"),
        ({"critic_head": "attention"}, "critic_head='attention': use 'mlp'"),
        ({"shared_encoder": "yes"}, "shared_encoder='yes': must be true or false"),
        (
            {"shared_encoder": True, "critic_attention_depth": 1},
            "leave critic_attention_depth None",
        ),
        (
            {"shared_encoder": True, "critic_head": "per-action", "denoiser": "mlp"},
            "set denoiser='per-action' or critic_head='mlp'",
        ),
        ({"async_sampling": "yes"}, "async_sampling='yes': must be true or false"),
        ({"async_sampling": True}, "add --num-env-runners 1"),
        ({"action_masking": "yes"}, "action_masking='yes': must be true or false"),
    ],
)
def test_bad_config_values_are_clear(settings: dict, needle: str) -> None:
    config = ADSACConfig().environment("edge_rl/AIGCEdge-v0").training(**settings)
    with pytest.raises(ValueError, match="ADSAC") as err:
        config.validate()
    assert needle in str(err.value)


def test_action_masking_needs_an_aigc_env_config() -> None:
    config = (
        ADSACConfig()
        .environment("edge_rl/AIGCEdge-v0", env_config={"preset": "nope"})
        .training(action_masking=True)
    )
    with pytest.raises(ValueError, match="action_masking=True needs an AIGC env config") as err:
        config.validate()
    assert "unknown preset 'nope'" in str(err.value)
    # unmasked, the env config is the env's business (as before)
    ADSACConfig().environment("edge_rl/AIGCEdge-v0", env_config={"preset": "nope"}).validate()


@pytest.mark.parametrize("shared_encoder", [False, True])
def test_masked_learner_puts_no_probability_on_infeasible_actions(shared_encoder: bool) -> None:
    torch.manual_seed(0)
    learner, _ = _learner(action_masking=True, shared_encoder=shared_encoder)
    module = learner.module[DEFAULT_MODULE_ID]
    # the env's normalisers reach the module through its model config
    assert module.model_config["feasibility"] == {
        "t_max": 240.0,
        "cap_max": 1400.0,
        "num_servers": 10,
    }
    batch = _fixed_batch(64)
    cols = batch.policy_batches[DEFAULT_MODULE_ID]
    obs = torch.as_tensor(cols[Columns.OBS])
    # written out from the paper layout: t / 240 at column 4, then [cap / 1400, free / cap, 4]
    free_BE = obs[:, 6::3] * 1400 * obs[:, 7::3]
    feasible_BA = (obs[:, 4:5] * 240 <= free_BE + 0.5).repeat_interleave(4, dim=1)
    some = feasible_BA.any(dim=1)
    assert some.any() and (~feasible_BA[some]).any()
    outputs = {
        "train": module.forward_train({Columns.OBS: obs})[ACTION_LOGITS],
        "target": module.forward_target({Columns.OBS: obs})[TARGET_ACTION_LOGITS],
        "inference": module.forward_inference({Columns.OBS: obs})[Columns.ACTION_DIST_INPUTS],
    }
    for name, logits in outputs.items():
        probs = torch.softmax(logits, dim=-1)[some]
        assert torch.all(probs[~feasible_BA[some]] == 0), name
    result = learner.update(batch=batch, timesteps={"num_env_steps_sampled_lifetime": 0})
    losses = result[DEFAULT_MODULE_ID]
    assert np.isfinite(float(losses["actor_loss"].peek()))
    assert np.isfinite(float(losses["critic_loss"].peek()))
    # without the setting nothing is masked (the reference)
    plain, _ = _learner()
    assert plain.module[DEFAULT_MODULE_ID].actor.mask is None


def test_reports_name_a_softmax_actor_run_apart_from_the_diffusion_one() -> None:
    from edge_rl.algorithms.checkpoint_policy import default_policy_name

    assert default_policy_name({"algo": "adsac", "settings": {"n_step": 1}}) == "adsac"
    softmax = {"actor_head": "softmax"}
    assert default_policy_name({"algo": "adsac", "settings": softmax}) == "adsac-softmax"
    assert default_policy_name({"algo": "d2sac", "settings": softmax}) == "d2sac-softmax"
    assert default_policy_name({}) == "checkpoint"
