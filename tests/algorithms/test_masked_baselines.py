"""``--set action_masking=true`` for RLlib's PPO/A2C, DQN and SAC on the AIGC env
(``edge_rl.algorithms.masked_modules``): the modules' masks, their outputs, and real runs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.algorithms.dqn.dqn_learner import QF_PREDS, QF_TARGET_NEXT_PREDS
from ray.rllib.algorithms.sac.sac_learner import (
    ACTION_LOG_PROBS,
    ACTION_LOG_PROBS_NEXT,
    ACTION_PROBS,
    ACTION_PROBS_NEXT,
)

from edge_rl.algorithms.masked_modules import (
    MASKED_MODULES,
    MaskedDQNTorchRLModule,
    renormalise,
)
from edge_rl.envs.aigc.env import AIGCEdgeEnv
from edge_rl.models.masking import MASKED_LOGIT
from edge_rl.training.algos import RunSpec, build_config
from tests.algorithms.test_adsac_ray import train_builtin

HEAVY = {"arrival_rate": 0.004}  # many steps with few or no feasible servers


def _env_kwargs(preset: str, overrides: dict) -> dict:
    return {"preset": preset, "world_seed": 3, **overrides}


def _module(algo: str, preset: str, overrides: dict):
    config = build_config(
        RunSpec(
            algo=algo,
            preset=preset,
            world_seed=3,
            env_overrides=dict(overrides),
            settings={"action_masking": True},
        )
    )
    spec = config.get_rl_module_spec()
    env = AIGCEdgeEnv(**_env_kwargs(preset, overrides))
    # RLlib's built-ins see FlattenObservations' output
    spec.observation_space = gym.spaces.flatten_space(env.observation_space)
    spec.action_space = env.action_space
    spec.model_config = config.model_config
    return spec.build()


def _walk(preset: str, overrides: dict, steps: int = 300):
    """(flat obs (N, O), next flat obs, feasible (N, A), next feasible) along random feasible
    play."""
    env = AIGCEdgeEnv(**_env_kwargs(preset, overrides))
    obs, _ = env.reset(seed=5)
    rng = np.random.default_rng(0)
    rows, feas = [], []
    for _ in range(steps + 1):
        rows.append(np.asarray(obs, np.float32).reshape(-1))
        feas.append(env.feasible_mask.copy())
        # random feasible picks fill the servers, so some states have no feasible action
        pick = np.flatnonzero(feas[-1]) if feas[-1].any() else np.arange(env.action_space.n)
        obs, _, terminated, truncated, _ = env.step(int(rng.choice(pick)))
        if terminated or truncated:
            obs, _ = env.reset()
    obs_NO = torch.as_tensor(np.stack(rows))
    feas_NA = torch.as_tensor(np.stack(feas))
    return obs_NO[:-1], obs_NO[1:], feas_NA[:-1], feas_NA[1:]


def _kept(feasible_NA: torch.Tensor) -> torch.Tensor:
    """What a masked module allows: the feasible actions, or every action when none is."""
    return feasible_NA | ~feasible_NA.any(dim=-1, keepdim=True)


LAYOUTS = [("adsac-paper", HEAVY), ("regions", HEAVY)]  # paper-adsac, and tokens (flattened)


def test_each_builtin_gets_its_masked_module_and_unmasked_is_unchanged() -> None:
    for algo, cls in MASKED_MODULES.items():
        masked = build_config(RunSpec(algo=algo, settings={"action_masking": True}))
        assert masked.get_rl_module_spec().module_class is cls
        plain = build_config(RunSpec(algo=algo, settings={"action_masking": False}))
        assert not issubclass(plain.get_rl_module_spec().module_class, cls)


@pytest.mark.parametrize("preset,overrides", LAYOUTS)
@pytest.mark.parametrize("algo", ["ppo", "dqn", "sac"])
def test_the_modules_read_feasibility_as_the_simulator_decides(
    algo: str, preset: str, overrides: dict
) -> None:
    module = _module(algo, preset, overrides)
    obs_NO, _, feas_NA, _ = _walk(preset, overrides)
    assert (~feas_NA).any() and (~feas_NA.any(dim=-1)).any()  # both cases occur
    torch.testing.assert_close(module.feasible_actions(obs_NO), _kept(feas_NA))


@pytest.mark.parametrize("preset,overrides", LAYOUTS)
@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_policy_logits_are_masked_when_acting(algo: str, preset: str, overrides: dict) -> None:
    module = _module(algo, preset, overrides)
    obs_NO, _, feas_NA, _ = _walk(preset, overrides)
    kept_NA = _kept(feas_NA)
    with torch.no_grad():
        for forward in (module.forward_inference, module.forward_exploration):
            logits_NA = forward({"obs": obs_NO})["action_dist_inputs"]
            assert (logits_NA[~kept_NA] == MASKED_LOGIT).all()
            assert (logits_NA[kept_NA] > MASKED_LOGIT / 2).all()
            sampled = torch.distributions.Categorical(logits=logits_NA).sample((20,))
            assert kept_NA.gather(1, sampled.T).all()


def test_ppo_trains_on_the_masked_distribution() -> None:
    module = _module("ppo", "adsac-paper", HEAVY)
    obs_NO, _, feas_NA, _ = _walk("adsac-paper", HEAVY)
    out = module.forward_train({"obs": obs_NO})
    kept_NA = _kept(feas_NA)
    assert (out["action_dist_inputs"][~kept_NA] == MASKED_LOGIT).all()
    dist = torch.distributions.Categorical(logits=out["action_dist_inputs"])
    entropy = dist.entropy().mean()
    entropy.backward()  # the entropy bonus: finite, with finite gradients
    assert torch.isfinite(entropy)
    assert all(torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None)


def test_dqn_q_values_are_minus_inf_where_infeasible_online_and_target() -> None:
    module = _module("dqn", "adsac-paper", HEAVY)
    assert isinstance(module, MaskedDQNTorchRLModule)
    module.make_target_networks()  # as the learner does
    obs_NO, next_NO, feas_NA, next_feas_NA = _walk("adsac-paper", HEAVY)
    out = module.forward_train({"obs": obs_NO, "new_obs": next_NO})
    for q_NA, feasible_NA in ((out[QF_PREDS], feas_NA), (out[QF_TARGET_NEXT_PREDS], next_feas_NA)):
        kept_NA = _kept(feasible_NA)
        assert torch.isneginf(q_NA[~kept_NA]).all() and torch.isfinite(q_NA[kept_NA]).all()
    with torch.no_grad():
        greedy = module.forward_inference({"obs": obs_NO})["actions"]
        # epsilon is 1 at t=0: every action is RLlib's random pick among finite Q-values
        explored = module.forward_exploration({"obs": obs_NO}, t=0)["actions"]
    kept_NA = _kept(feas_NA)
    assert kept_NA.gather(1, greedy.view(-1, 1)).all()
    assert kept_NA.gather(1, explored.view(-1, 1)).all()
    assert len(set(explored.tolist())) > 5  # it does explore


def test_sac_training_probabilities_live_on_feasible_actions() -> None:
    module = _module("sac", "adsac-paper", HEAVY)
    obs_NO, next_NO, feas_NA, next_feas_NA = _walk("adsac-paper", HEAVY)
    module.make_target_networks()  # as the learner does
    out = module.forward_train({"obs": obs_NO, "new_obs": next_NO})
    for probs, log_probs, feasible_NA in (
        (ACTION_PROBS, ACTION_LOG_PROBS, feas_NA),
        (ACTION_PROBS_NEXT, ACTION_LOG_PROBS_NEXT, next_feas_NA),
    ):
        kept_NA = _kept(feasible_NA)
        p_NA, logp_NA = out[probs], out[log_probs]
        assert (p_NA[~kept_NA] == 0).all()
        torch.testing.assert_close(p_NA.sum(-1), torch.ones(len(p_NA)))
        assert torch.isfinite(logp_NA).all() and torch.isfinite(p_NA * logp_NA).all()


def test_renormalise_is_the_softmax_of_masked_logits_in_value_and_gradient() -> None:
    torch.manual_seed(0)
    logits = torch.randn(6, 7, dtype=torch.float64, requires_grad=True)
    keep = torch.rand(6, 7) > 0.4
    keep[0] = False
    keep[0, 3] = True  # one feasible action
    keep[1] = True  # all feasible
    probs, log_probs = renormalise(torch.softmax(logits, -1), keep)
    want_logits = logits.masked_fill(~keep, MASKED_LOGIT)
    torch.testing.assert_close(probs, torch.softmax(want_logits, -1))
    torch.testing.assert_close(log_probs[keep], torch.log_softmax(want_logits, -1)[keep])
    assert (log_probs[~keep] == MASKED_LOGIT).all()
    weights = torch.randn(6, 7, dtype=torch.float64)
    (got,) = torch.autograd.grad((probs * weights).sum(), logits)
    (want,) = torch.autograd.grad((torch.softmax(want_logits, -1) * weights).sum(), logits)
    torch.testing.assert_close(got, want)


def test_bad_masking_settings_say_what_to_fix() -> None:
    with pytest.raises(ValueError, match="action_masking='yes': must be true or false"):
        build_config(RunSpec(algo="ppo", settings={"action_masking": "yes"}))
    with pytest.raises(ValueError, match="it needs --env aigc, got --env load-balance"):
        build_config(
            RunSpec(algo="dqn", env="load-balance", preset="park", world_seed=None,
                    settings={"action_masking": True})
        )  # fmt: skip
    with pytest.raises(ValueError, match="use num_atoms=1"):
        build_config(RunSpec(algo="dqn", settings={"action_masking": True, "num_atoms": 3}))
    with pytest.raises(ValueError, match="unknown setting"):  # not a pseudo-setting elsewhere
        build_config(
            RunSpec(algo="rl2-ppo", env="load-balance-trials", preset="family", world_seed=None,
                    settings={"action_masking": True})
        )  # fmt: skip


@pytest.mark.parametrize("algo", ["ppo", "dqn", "sac"])
def test_masked_builtins_train_restore_and_act_feasibly(
    algo: str, ray_session, tmp_path: Path, capsys
) -> None:
    from edge_rl.algorithms.checkpoint_policy import CheckpointPolicy

    out = tmp_path / algo
    code = train_builtin(
        algo, out, 96, "--preset", "adsac-paper", "--set", "env.arrival_rate=0.004",
        "--set", "action_masking=true",
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    # the learner trained on the masked module: its losses are in metrics.csv, all finite
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    for column in {"ppo": ("losses/policy", "losses/value", "losses/entropy"),
                   "dqn": ("losses/q",), "sac": ("losses/policy", "losses/q")}[algo]:  # fmt: skip
        values = [float(r[column]) for r in rows if r[column]]
        assert values and all(math.isfinite(v) for v in values), (column, values)
    policy = CheckpointPolicy(out)  # the masked module class comes back from the checkpoint
    assert type(policy.module).__name__ == type(_module(algo, "adsac-paper", HEAVY)).__name__
    env = AIGCEdgeEnv(preset="adsac-paper", world_seed=0, arrival_rate=0.004)
    obs, _ = env.reset(seed=1)
    policy.reset(env)
    for _ in range(200):
        feasible = env.feasible_mask.copy()
        action = policy.act(obs, env)
        assert feasible[action] or not feasible.any()
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
