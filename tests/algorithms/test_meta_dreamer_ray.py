"""Meta-Dreamer on RLlib: memory across a trial's episodes, one iteration, checkpoints, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edge_rl.algorithms.checkpoint_policy import CheckpointPolicy
from edge_rl.algorithms.meta_dreamer.meta_dreamer import MetaDreamer, MetaDreamerConfig
from edge_rl.algorithms.registry import register_rllib_envs
from edge_rl.algorithms.replay_algorithm import SAMPLE_TAG, read_replay_state
from edge_rl.cli import main
from edge_rl.training.loop import read_optimizer_state

pytestmark = pytest.mark.ray

ENV = {"preset": "park", "episodes_per_trial": 2, "jobs_per_episode": 12}


def _config(num_env_runners: int = 0) -> MetaDreamerConfig:
    register_rllib_envs()
    return (
        MetaDreamerConfig()
        .environment("edge_rl/LoadBalanceTrials-v0", env_config=dict(ENV))
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=2,
            rollout_fragment_length=16,
            num_cpus_per_env_runner=0.5,
        )
        .training(
            model_size="debug",
            batch_size_B=2,
            batch_length_T=8,
            horizon=3,
            train_ratio=16.0,
            num_steps_sampled_before_learning_starts=16,
        )
        .debugging(seed=0)
    )


def test_memory_is_carried_across_episodes_and_reset_between_trials() -> None:
    """Replay the env runner's greedy steps through the nets: each step's state must follow
    from the previous step's state (also across the inner-episode boundary), and a trial's
    first step from the initial (zero) state."""
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    runner = SingleAgentEnvRunner(config=_config())
    episodes = runner.sample(num_episodes=3, explore=False)
    nets = runner.module.nets
    trials = [e for e in episodes if e.is_terminated]
    assert len(trials) >= 2
    for episode in trials:
        obs = np.asarray(episode.get_observations())
        states = episode.get_extra_model_outputs(key="state_out")
        actions = np.asarray(episode.get_actions())
        n = (obs.shape[1] - 3) // 3  # servers
        flags = obs[:, 2 * n + 2]  # MetaTrialEnv's new-inner-episode flag
        assert len(actions) == 2 * ENV["jobs_per_episode"]
        assert flags[ENV["jobs_per_episode"]] == 1.0  # the second inner episode starts here
        state = nets.initial_state(1)
        for t in range(len(actions)):
            with torch.no_grad():
                action, _, state = nets.act(state, torch.as_tensor(obs[t : t + 1]), greedy=True)
            assert int(action) == int(actions[t])
            for key in ("h", "m"):
                np.testing.assert_allclose(state[key][0].numpy(), states[key][t], atol=1e-5)
    runner.stop()


def test_one_iteration_and_checkpoint_round_trip(ray_session, tmp_path: Path) -> None:
    algo = _config(num_env_runners=0).build_algo()
    try:
        for _ in range(3):
            result = algo.train()
        assert result["num_gradient_updates_lifetime"] >= 1
        learner = result["learners"]["default_policy"]
        for key in ("world_model_loss", "actor_loss", "critic_loss", "wm_kl_dyn"):
            assert np.isfinite(learner[key]), key
        assert len(algo.replay) > 0
        path = algo.save_to_path(str(tmp_path / "ckpt"))
        weights = algo.get_module().state_dict()
    finally:
        algo.stop()
    restored = _config(num_env_runners=0).build_algo()
    try:
        restored.restore_from_path(path)
        for key, value in restored.get_module().state_dict().items():
            assert torch.equal(value, weights[key]), key
        assert len(restored.replay) > 0 and restored._num_updates >= 1
    finally:
        restored.stop()
    # the Ray-free greedy policy of the checkpoint keeps its memory within a trial
    policy = CheckpointPolicy(path, seed=0)
    assert policy.stateful
    from edge_rl.envs.load_balance.trial import MetaTrialEnv

    env = MetaTrialEnv(**ENV)
    obs, _ = env.reset(seed=0)
    policy.reset(env)
    first = {k: v.clone() for k, v in policy._state.items()}
    policy.act(obs, env)
    assert not torch.equal(policy._state["h"], first["h"])
    policy.reset(env)
    assert torch.equal(policy._state["h"], first["h"])


def test_compile_update_runs_the_losses_through_torch_compile(
    ray_session, monkeypatch, tmp_path: Path
) -> None:
    """compile_update=True: the learner's losses come from the compiled ``update_losses`` (the
    counter sees every call go through the compiled function) and training goes on."""
    from edge_rl.algorithms.meta_dreamer.torch import meta_dreamer_torch_learner as learner_mod

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    calls = {"compile": 0, "compiled": 0}
    real_compile = torch.compile

    def counting_compile(fn, **kwargs):
        calls["compile"] += 1
        compiled = real_compile(fn, **kwargs)

        def wrapper(*args):
            calls["compiled"] += 1
            return compiled(*args)

        return wrapper

    monkeypatch.setattr(learner_mod.torch, "compile", counting_compile)
    algo = _config().training(compile_update=True, horizon=2).build_algo()
    try:
        for _ in range(3):
            result = algo.train()
    finally:
        algo.stop()
        torch._dynamo.reset()
    updates = result["num_gradient_updates_lifetime"]
    assert updates >= 2 and calls == {"compile": 1, "compiled": updates}
    assert np.isfinite(result["learners"]["default_policy"]["world_model_loss"])


def test_replay_value_reaches_the_learner(ray_session) -> None:
    """replay_value > 0: the learner adds the critic's loss on the replayed real steps (its
    metrics appear) and trains on."""
    algo = _config().training(replay_value=0.3, horizon=2).build_algo()
    try:
        for _ in range(3):
            result = algo.train()
    finally:
        algo.stop()
    learner = result["learners"]["default_policy"]
    assert result["num_gradient_updates_lifetime"] >= 2
    assert np.isfinite(learner["replay_value_loss"]) and learner["replay_value_loss"] > 0
    assert np.isfinite(learner["critic_loss"])


def test_input_baseline_reaches_the_learner(ray_session) -> None:
    """input_baseline > 0: the module has the input critic, the critic's optimizer trains it,
    and the learner reports its loss and both advantage spreads."""
    config = _config().training(input_baseline=2, actor_head="servers", horizon=2)
    algo = config.build_algo()
    try:
        before = [p.detach().clone() for p in _input_critic(algo).parameters()]
        for _ in range(3):
            result = algo.train()
        after = list(_input_critic(algo).parameters())
    finally:
        algo.stop()
    learner = result["learners"]["default_policy"]
    assert result["num_gradient_updates_lifetime"] >= 2
    assert np.isfinite(learner["input_critic"]) and learner["input_critic"] > 0
    assert learner["advantage_std_value"] >= 0 and learner["advantage_std_input"] >= 0
    assert any(not torch.equal(b, a.detach()) for b, a in zip(before, after, strict=True))


def _input_critic(algo: MetaDreamer) -> torch.nn.Module:
    return algo.learner_group._learner.module["default_policy"].unwrapped().nets.agent.input_critic


def test_async_sampling_trains_with_a_remote_runner(ray_session) -> None:
    # (and imagination from 6 of the batch's 16 real steps: imagine_starts reaches the learner)
    config = _config(num_env_runners=1).training(async_sampling=True, imagine_starts=6)
    algo = config.build_algo()
    try:
        for iteration in range(1, 4):
            result = algo.train()
            assert result["env_runners"]["num_env_steps_sampled_lifetime"] == iteration * 2 * 16
            assert algo.env_runner_group.num_in_flight_async_reqs(SAMPLE_TAG) == 1
        assert result["num_gradient_updates_lifetime"] >= 1
        assert np.isfinite(result["learners"]["default_policy"]["world_model_loss"])
    finally:
        algo.stop()


def test_guide_labels_reach_the_learner_and_train_the_actor(ray_session) -> None:
    """With env.guide_policy and guide_weight the replay holds the heuristic's labels (equal to
    what the heuristic decides on the stored observation's state) and the learner reports the
    guide loss with the weight the schedule gives at the run's env steps."""
    config = _config().training(guide_weight=[[0, 2.0], [64, 1.0]], actor_head="servers")
    config.env_config["guide_policy"] = "least-observed-load"
    algo = config.build_algo()
    try:
        assert algo.replay.with_guide
        for _ in range(3):
            result = algo.train()
        data = algo.replay.sample(4, 8)
    finally:
        algo.stop()
    learner = result["learners"]["default_policy"]
    assert result["num_gradient_updates_lifetime"] >= 1
    assert np.isfinite(learner["guide_loss"]) and 0 <= learner["guide_agreement"] <= 1
    # the last update ran at >= 64 sampled env steps (2 envs x 16 steps per iteration): 1.0
    assert learner["guide_weight"] == pytest.approx(1.0)
    labels = data["guide_actions"]
    assert labels.shape == (8, 4) and labels.min() >= -1 and labels.max() < 10
    # least-observed-load's label is the argmin of the observed loads (the obs's first N)
    rows = labels >= 0
    loads = data["obs"][..., :10]
    assert rows.any() and (labels[rows] == loads.argmin(-1)[rows]).mean() > 0.95


def test_bad_settings_name_the_fix() -> None:
    with pytest.raises(ValueError, match="model_size='huge'.*debug"):
        _config().training(model_size="huge").validate()
    with pytest.raises(ValueError, match="batch_length_T=0"):
        _config().training(batch_length_T=0).validate()
    with pytest.raises(ValueError, match="imagine_starts=-1: must be an integer >= 0"):
        _config().training(imagine_starts=-1).validate()
    with pytest.raises(ValueError, match="imagine_starts=2.5: must be an integer >= 0"):
        _config().training(imagine_starts=2.5).validate()
    with pytest.raises(ValueError, match="lambda_"):
        _config().training(lambda_=1.5).validate()
    with pytest.raises(ValueError, match="reward_input='obs'.*'feat', 'deter'"):
        _config().training(reward_input="obs").validate()
    with pytest.raises(ValueError, match="add --num-env-runners 1"):
        _config().training(async_sampling=True).validate()
    with pytest.raises(ValueError, match="guide_weight=0.5 needs.*env.guide_policy=size-interval"):
        _config().training(guide_weight=0.5).validate()
    with pytest.raises(ValueError, match="guide_weight=-1.*number >= 0"):
        _config().training(guide_weight=-1).validate()
    with pytest.raises(ValueError, match="guide_weight=.*starts at env step 0"):
        _config().training(guide_weight=[[5, 1.0], [10, 0.0]]).validate()
    with pytest.raises(ValueError, match="compile_update='yes': must be true or false"):
        _config().training(compile_update="yes").validate()
    for bad in (-0.3, "0.3", True):
        with pytest.raises(ValueError, match="replay_value=.*must be a number >= 0"):
            _config().training(replay_value=bad).validate()
    with pytest.raises(ValueError, match="value_mean='mean': use 'symlog' .*or 'linear'"):
        _config().training(value_mean="mean").validate()
    with pytest.raises(ValueError, match="input_baseline=-2: must be an integer >= 0"):
        _config().training(input_baseline=-2).validate()
    with pytest.raises(ValueError, match="input_baseline=4 reads the job sizes.*load-balance-tr"):
        _config().environment("CartPole-v1").training(input_baseline=4).validate()


def test_reward_input_reaches_the_module() -> None:
    import gymnasium as gym
    import numpy as np

    from edge_rl.algorithms.meta_dreamer.torch.meta_dreamer_torch_rl_module import (
        MetaDreamerTorchRLModule,
    )

    config = _config().training(reward_input="deter")
    config.validate()
    module = MetaDreamerTorchRLModule(
        observation_space=gym.spaces.Box(-np.inf, np.inf, (9,), np.float32),
        action_space=gym.spaces.Discrete(2),
        model_config=config._model_config_auto_includes,
    )
    wm = module.nets.world_model
    assert module.sizes.reward_input == "deter"
    assert wm.reward_head[0].in_features == module.sizes.deter


def test_train_and_evaluate_schedule_commands(ray_session, tmp_path: Path, capsys) -> None:
    run = tmp_path / "md"
    code = main(
        [
            "train", "--algo", "meta-dreamer", "--env", "load-balance-trials", "--preset", "park",
            "--timesteps", "96", "--envs-per-runner", "2", "--output", str(run),
            "--set", "model_size=debug", "--set", "batch_size_B=2", "--set", "batch_length_T=8",
            "--set", "num_steps_sampled_before_learning_starts=32", "--set", "horizon=2",
            "--set", "rollout_fragment_length=16",
            "--set", "env.jobs_per_episode=12", "--set", "env.episodes_per_trial=2",
            "--set", "env.reward_mode=jct",
        ]
    )  # fmt: skip
    assert code == 0
    assert (run / "checkpoints" / "final").is_dir()
    report = tmp_path / "adapt.json"
    code = main(
        [
            "evaluate", "--checkpoint", str(run), "--policy", "shortest-expected-delay",
            "--schedule", "pareto-55:1,uniform-100:2", "--seeds", "0", "1",
            "--set", "jobs_per_episode=12", "--json", str(report),
            "--plot", str(tmp_path / "adapt.png"),
        ]
    )  # fmt: skip
    assert code == 0
    data = json.loads(report.read_text())
    curves = data["adaptation"]
    assert set(curves) == {"shortest-expected-delay", "meta-dreamer"}
    assert [row["task"] for row in curves["meta-dreamer"]] == [
        "pareto-55", "uniform-100", "uniform-100"
    ]  # fmt: skip
    assert all(row["n"] == 2 for row in curves["meta-dreamer"])
    assert (tmp_path / "adapt.png").stat().st_size > 0
    assert "mean JCT per episode" in capsys.readouterr().out

    # greedy learning curve over the run's checkpoints (scripts/eval_checkpoints.py)
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "scripts" / "eval_checkpoints.py"
    curves = tmp_path / "curves.json"
    done = subprocess.run(
        [sys.executable, str(script), str(run), "--seeds", "0", "--json", str(curves),
         "--preset", "park", "--env-set", "episodes_per_trial=1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    curve = json.loads(curves.read_text())["curves"][0]
    assert curve["preset"] == "park" and curve["env_overrides"]["episodes_per_trial"] == 1
    assert curve["env_overrides"]["jobs_per_episode"] == 12  # the run's own knobs stay
    points = curve["points"]
    assert curve["best"] in {p["checkpoint"] for p in points}
    assert points[-1]["checkpoint"] == "final" and points[-1]["env_steps"] >= 96
    assert np.isfinite(points[-1]["mean_jct"]["mean"])
    # --schedule evaluates a checkpoint with its run's own env knobs (12 jobs, jct rewards that
    # the RL^2 policy reads back as an input): the same episode as the learning curve's
    code = main(
        ["evaluate", "--checkpoint", str(run / "checkpoints" / "final"), "--schedule", "park:1",
         "--seeds", "0", "--json", str(report)]
    )  # fmt: skip
    assert code == 0
    [episode] = json.loads(report.read_text())["episodes"]
    assert episode["mean_jct"] == pytest.approx(points[-1]["mean_jct"]["mean"])
    # ... and so does a plain evaluation on another preset of its trial env
    jct = {}
    for how in (["--schedule", "pareto-45:1"],
                ["--env", "load-balance-trials", "--preset", "pareto-45", "--set",
                 "episodes_per_trial=1"]):  # fmt: skip
        code = main(
            ["evaluate", "--checkpoint", str(run / "checkpoints" / "final"), *how, "--seeds",
             "0", "--json", str(report)]
        )  # fmt: skip
        assert code == 0
        [episode] = json.loads(report.read_text())["episodes"]
        jct[how[0]] = episode["mean_jct"]
    assert jct["--env"] == pytest.approx(jct["--schedule"])
    late = subprocess.run(
        [sys.executable, str(script), str(run), "--seeds", "0", "--json", str(curves),
         "--from-iteration", str(points[-1]["iteration"])],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert late.returncode == 0, late.stderr[-2000:]
    late_points = json.loads(curves.read_text())["curves"][0]["points"]
    assert [p["checkpoint"] for p in late_points] == ["final"]
    none_left = subprocess.run(
        [sys.executable, str(script), str(run), "--seeds", "0", "--from-iteration", "99999"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert none_left.returncode == 2 and "no checkpoint at or after" in none_left.stderr

    # the world-model probe reads the run's checkpoint (and refuses a non-checkpoint)
    probe_json = tmp_path / "probe.json"
    probe = script.with_name("probe_world_model.py")
    done = subprocess.run(
        [sys.executable, str(probe), str(run), "--steps", "5", "--json", str(probe_json)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    probe_report = json.loads(probe_json.read_text())
    assert probe_report["steps"] == 5 and probe_report["spread_true"] >= 0
    assert "imagined" in done.stdout
    done = subprocess.run(
        [sys.executable, str(probe), str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2 and "not an edge-rl checkpoint" in done.stderr

    # --init-from: a new run (task B) starts from the weights of the first (task A); with no
    # update before it ends, its final weights are exactly those. --init-replay also starts
    # it from A's replay buffer: B's final buffer holds every trial of A's and its own;
    # --init-optimizer from A's Adam moments, at B's own learning rate.
    run_b = tmp_path / "md-b"
    capsys.readouterr()
    code = main(
        [
            "train", "--algo", "meta-dreamer", "--env", "load-balance-trials",
            "--preset", "uniform-100", "--timesteps", "32", "--envs-per-runner", "2",
            "--output", str(run_b), "--init-from", str(run), "--init-replay", "--init-optimizer",
            "--set", "model_size=debug", "--set", "num_steps_sampled_before_learning_starts=1000",
            "--set", "world_model_lr=0.0123",
            "--set", "rollout_fragment_length=16", "--set", "env.jobs_per_episode=12",
        ]
    )  # fmt: skip
    assert code == 0
    a = CheckpointPolicy(run).module.state_dict()
    b = CheckpointPolicy(run_b).module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    replay_a = read_replay_state(run / "checkpoints" / "final", MetaDreamer)
    replay_b = read_replay_state(run_b / "checkpoints" / "final", MetaDreamer)
    out = capsys.readouterr().out
    assert f"replay buffer initialised with {replay_a['size']:,d} records" in out
    assert "optimizer states initialised" in out
    opt_a = read_optimizer_state(run / "checkpoints" / "final")
    opt_b = read_optimizer_state(run_b / "checkpoints" / "final")
    assert set(opt_a) == set(opt_b)
    for name in opt_a:
        saved_a, saved_b = opt_a[name]["state"], opt_b[name]["state"]
        moments_a = [v["exp_avg_sq"] for v in saved_a["state"].values()]
        moments_b = [v["exp_avg_sq"] for v in saved_b["state"].values()]
        assert moments_a and all(
            np.array_equal(x, y) for x, y in zip(moments_a, moments_b, strict=True)
        )
        if name.endswith("world_model"):
            assert saved_b["param_groups"][0]["lr"] == pytest.approx(0.0123)
            assert saved_a["param_groups"][0]["lr"] != pytest.approx(0.0123)
    with pytest.raises(ValueError, match="no optimizer state"):
        read_optimizer_state(tmp_path)
    assert replay_a["size"] >= 96 and replay_b["size"] >= replay_a["size"] + 32
    assert {key for key, _ in replay_a["trials"]} < {key for key, _ in replay_b["trials"]}
    for flag in ("--init-replay", "--init-optimizer"):
        code = main(
            ["train", "--algo", "meta-dreamer", "--env", "load-balance-trials", "--output",
             str(tmp_path / "y"), flag]
        )  # fmt: skip
        assert code == 2
        assert f"{flag} goes with --init-from" in capsys.readouterr().err
    code = main(
        ["train", "--algo", "rl2-ppo", "--env", "load-balance-trials", "--output",
         str(tmp_path / "x"), "--init-from", str(run)]
    )  # fmt: skip
    assert code == 2
    assert "same algorithm" in capsys.readouterr().err


def test_rl2_ppo_is_ppo_with_an_lstm(ray_session, tmp_path: Path, monkeypatch) -> None:
    from edge_rl.training.algos import RunSpec, build_config

    config = build_config(RunSpec(algo="rl2-ppo", env="load-balance-trials", preset="family"))
    assert config.model_config["use_lstm"] is True
    assert config.model_config["max_seq_len"] >= 32
    with pytest.raises(ValueError, match="minibatch_size >= 128"):
        build_config(
            RunSpec(
                algo="rl2-ppo",
                env="load-balance-trials",
                preset="family",
                settings={"minibatch_size": 32},
            )
        )
    run = tmp_path / "rl2"
    monkeypatch.chdir(tmp_path)  # a relative --output (RLlib's checkpoint writer needs care)
    code = main(
        [
            "train", "--algo", "rl2-ppo", "--env", "load-balance-trials", "--timesteps", "256",
            "--envs-per-runner", "2", "--output", "rl2",
            "--set", "train_batch_size_per_learner=256", "--set", "minibatch_size=128",
            "--set", "env.jobs_per_episode=12",
        ]
    )  # fmt: skip
    assert code == 0
    assert (run / "checkpoints" / "final").is_dir()
    policy = CheckpointPolicy("rl2", seed=0)
    assert policy.stateful
    # sampled actions (the training distribution) instead of argmax
    sampled = CheckpointPolicy("rl2", seed=0, sample=True)
    from edge_rl.envs.load_balance.trial import MetaTrialEnv

    env = MetaTrialEnv(preset="park", episodes_per_trial=1, jobs_per_episode=40)
    obs, _ = env.reset(seed=0)
    sampled.reset(env)
    actions = {sampled.act(obs, env) for _ in range(40)}
    assert len(actions) > 1  # an untrained policy samples several servers
    code = main(
        ["evaluate", "--checkpoint", "rl2", "--sample-actions", "--schedule", "park:1",
         "--seeds", "0", "--set", "jobs_per_episode=12"]
    )  # fmt: skip
    assert code == 0


def test_read_replay_state_names_the_fix(tmp_path: Path) -> None:
    import pickle

    from ray.rllib.algorithms.ppo import PPO

    with pytest.raises(ValueError, match="keeps no replay buffer"):
        read_replay_state(tmp_path, PPO)
    with pytest.raises(ValueError, match="not an algorithm checkpoint"):
        read_replay_state(tmp_path, MetaDreamer)
    state = {MetaDreamer.STATE_KEY: {"num_updates": 3, "update_credit": 0.0}}
    (tmp_path / "algorithm_state.pkl").write_bytes(pickle.dumps(state))
    with pytest.raises(ValueError, match="checkpoint_replay_buffer=false"):
        read_replay_state(tmp_path, MetaDreamer)


def test_value_mean_reaches_the_learners_loss_config() -> None:
    from edge_rl.algorithms.meta_dreamer.torch.meta_dreamer_torch_learner import loss_config_of

    assert loss_config_of(_config()).value_mean == "symlog"
    assert loss_config_of(_config().training(value_mean="linear")).value_mean == "linear"
