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
