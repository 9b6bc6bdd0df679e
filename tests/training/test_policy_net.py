"""``--set policy_net=server-scoring``: which algos/envs take it, its module, and a real run."""

from __future__ import annotations

import pytest

from edge_rl.algorithms.server_scoring_module import ServerScoringTorchRLModule
from edge_rl.envs.load_balance.trial import MetaTrialEnv
from edge_rl.training.algos import (
    RL2_MAX_SEQ_LEN,
    SERVER_SCORING_MEMORY,
    RunSpec,
    build_config,
)

TRIALS = dict(env="load-balance-trials", preset="family", world_seed=None)


def _build(module_spec):
    env = MetaTrialEnv(episodes_per_trial=1, preset="park")
    module_spec.observation_space, module_spec.action_space = (
        env.observation_space,
        env.action_space,
    )
    return module_spec.build()


def _spec(algo: str, **settings) -> RunSpec:
    return RunSpec(algo=algo, settings={"policy_net": "server-scoring", **settings}, **TRIALS)


def test_a2c_gets_the_feed_forward_scorer_and_stays_a2c() -> None:
    config = build_config(_spec("a2c"))
    spec = config.get_rl_module_spec()
    assert spec.module_class is ServerScoringTorchRLModule
    assert spec.model_config["memory"] == 0
    assert config.num_epochs == 1 and config.minibatch_size == config.train_batch_size_per_learner
    module = _build(spec)
    assert not module.is_stateful() and module.get_initial_state() == {}


def test_rl2_ppo_gets_the_recurrent_scorer() -> None:
    config = build_config(_spec("rl2-ppo"))
    spec = config.get_rl_module_spec()
    assert spec.model_config["memory"] == SERVER_SCORING_MEMORY
    assert spec.model_config["max_seq_len"] == RL2_MAX_SEQ_LEN
    module = _build(spec)
    assert module.is_stateful()
    assert module.get_initial_state()["m"].shape == (SERVER_SCORING_MEMORY,)
    with pytest.raises(ValueError, match="minibatch_size >= 128"):
        build_config(_spec("rl2-ppo", minibatch_size=64))


def test_mlp_is_the_default_and_bad_choices_name_the_fix() -> None:
    config = build_config(RunSpec(algo="a2c", **TRIALS))
    assert config.get_rl_module_spec().module_class is not ServerScoringTorchRLModule
    with pytest.raises(ValueError, match="policy_net='gnn': choose one of mlp, server-scoring"):
        build_config(_spec("a2c", policy_net="gnn"))
    with pytest.raises(ValueError, match="works with --algo a2c/ppo/rl2-ppo on --env"):
        build_config(RunSpec(algo="a2c", env="load-balance", preset="park", world_seed=None,
                             settings={"policy_net": "server-scoring"}))  # fmt: skip
    with pytest.raises(ValueError, match="works with --algo"):
        build_config(RunSpec(algo="dqn", settings={"policy_net": "server-scoring"}, **TRIALS))


def test_rl2_ppo_with_the_scorer_trains_and_evaluates_with_memory(
    ray_session, tmp_path, capsys
) -> None:
    from edge_rl.cli import main

    out = tmp_path / "rl2"
    code = main(
        ["train", "--algo", "rl2-ppo", "--env", "load-balance-trials", "--preset", "debug",
         "--set", "policy_net=server-scoring", "--set", "env.episodes_per_trial=2",
         "--set", "train_batch_size_per_learner=256", "--set", "minibatch_size=128",
         "--set", "num_epochs=1", "--timesteps", "256", "--envs-per-runner", "2",
         "--output", str(out)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    code = main(["evaluate", "--checkpoint", str(out), "--env", "load-balance-trials",
                 "--preset", "debug", "--schedule", "debug:2", "--seeds", "0", "1"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "rl2-ppo" in printed and "mean JCT per episode" in printed
