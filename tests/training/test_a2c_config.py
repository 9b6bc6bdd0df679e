"""``--algo a2c`` really is A2C: PPO with one epoch over one minibatch and no clipping/KL."""

from __future__ import annotations

import math

from edge_rl.training.algos import RunSpec, build_config


def test_a2c_is_one_epoch_one_minibatch_without_clip_or_kl() -> None:
    config = build_config(RunSpec(algo="a2c", env="load-balance", preset="park", world_seed=None))
    config.validate()
    assert config.num_epochs == 1
    assert config.minibatch_size == config.train_batch_size_per_learner
    assert not config.use_kl_loss and config.kl_coeff == 0.0
    assert config.clip_param >= 1e6 and math.isinf(config.vf_clip_param)
    assert not config.shuffle_batch_per_epoch


def test_a2c_trains_on_load_balancing_and_evaluates(ray_session, tmp_path, capsys) -> None:
    from edge_rl.cli import main

    out = tmp_path / "a2c"
    code = main(
        ["train", "--algo", "a2c", "--env", "load-balance", "--preset", "debug",
         "--set", "env.obs_layout=scaled", "--set", "train_batch_size_per_learner=100",
         "--set", "minibatch_size=100", "--timesteps", "100", "--envs-per-runner", "2",
         "--output", str(out)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    code = main(["evaluate", "--checkpoint", str(out), "--policy", "least-work-left",
                 "--seeds", "0"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "a2c" in printed and "mean_jct" in printed


def test_guided_a2c_gets_the_labels_and_bad_guidance_names_the_fix(ray_session) -> None:
    """``guide_weight`` on a2c: the guided learner sees the env's labels (least-observed-load's
    = the argmin of the observed loads) and logs the guide loss at the scheduled weight."""
    import numpy as np
    import pytest

    from edge_rl.algorithms.guided_ppo import GuidedPPOTorchLearner
    from edge_rl.algorithms.registry import register_rllib_envs

    register_rllib_envs()

    spec = RunSpec(
        algo="a2c",
        env="load-balance-trials",
        preset="park",
        world_seed=None,
        envs_per_runner=2,
        settings={
            "policy_net": "server-scoring",
            "guide_weight": [[0, 3.0], [64, 3.0], [128, 0.5]],
            "train_batch_size_per_learner": 64,
            "minibatch_size": 64,
        },
        env_overrides={
            "episodes_per_trial": 1,
            "jobs_per_episode": 20,
            "guide_policy": "least-observed-load",
        },
    )
    config = build_config(spec)
    assert config.learner_class is GuidedPPOTorchLearner
    algo = config.build_algo()
    try:
        results = [algo.train() for _ in range(3)]
        learner = algo.learner_group._learner
        # the connector's labels for a fresh sample equal least-observed-load's decisions
        episodes = algo.env_runner.sample(num_timesteps=40)
        batch = learner._learner_connector(rl_module=learner.module, batch={}, episodes=episodes)
    finally:
        algo.stop()
    first = results[0]["learners"]["default_policy"]
    last = results[-1]["learners"]["default_policy"]
    assert first["guide_weight"] == 3.0 and last["guide_weight"] == 0.5  # 64, then >= 128 steps
    assert np.isfinite(last["guide_loss"]) and 0 <= last["guide_agreement"] <= 1
    labels = batch["default_policy"]["guide_actions"].numpy()
    obs = batch["default_policy"]["obs"].numpy()
    mask = batch["default_policy"]["loss_mask"].numpy() & (labels >= 0)
    assert mask.sum() > 20
    assert (labels[mask] == obs[mask][:, :10].argmin(-1)).mean() > 0.95
    with pytest.raises(ValueError, match="needs a heuristic.*env.guide_policy=size-interval"):
        build_config(RunSpec(algo="a2c", env="load-balance-trials", preset="park",
                             world_seed=None, settings={"guide_weight": 1.0}))  # fmt: skip
    with pytest.raises(ValueError, match="guide_weight=-2.*number >= 0"):
        build_config(RunSpec(algo="a2c", env="load-balance-trials", preset="park",
                             world_seed=None, settings={"guide_weight": -2}))  # fmt: skip
