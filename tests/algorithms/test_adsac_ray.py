"""ADSAC with a real (local) Ray runtime: one env runner, checkpoints, the train command."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ray.rllib.core import DEFAULT_MODULE_ID

from edge_rl.algorithms.adsac.adsac import ADSACConfig
from edge_rl.algorithms.checkpoint_policy import CheckpointPolicy
from edge_rl.algorithms.registry import register_rllib_envs
from edge_rl.algorithms.replay_algorithm import SAMPLE_TAG
from edge_rl.cli import main

pytestmark = pytest.mark.ray

TINY = dict(
    attention_width=16,
    denoiser_hidden=32,
    critic_hidden=32,
    diffusion_steps=2,
    train_batch_size_per_learner=32,
    num_steps_sampled_before_learning_starts=16,
    updates_per_env_step=0.25,
)


def _config(num_env_runners: int, **settings) -> ADSACConfig:
    register_rllib_envs()
    return (
        ADSACConfig()
        .environment("edge_rl/AIGCEdge-v0", env_config={"preset": "adsac-paper", "world_seed": 0})
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=2,
            rollout_fragment_length=16,
            num_cpus_per_env_runner=0.5,
        )
        .training(**(TINY | settings))
        .debugging(seed=0)
    )


def test_one_iteration_with_one_remote_env_runner(ray_session) -> None:
    algo = _config(num_env_runners=1).build_algo()
    try:
        result = algo.train()
        result = algo.train()
        assert result["env_runners"]["num_env_steps_sampled_lifetime"] == 64
        assert result["num_gradient_updates_lifetime"] >= 1
        learner = result["learners"]["default_policy"]
        assert np.isfinite(learner["critic_loss"]) and np.isfinite(learner["actor_loss"])
        assert len(algo.replay) > 0
        # this iteration's own split of its time (metrics.csv's perf/sample_s, perf/learn_s)
        sample_s, learn_s = result["iteration_sample_s"], result["iteration_learn_s"]
        assert sample_s > 0 and learn_s > 0
        assert sample_s + learn_s <= result["time_this_iter_s"]
    finally:
        algo.stop()


def test_masked_env_runner_explores_feasible_actions_only(ray_session) -> None:
    # a heavy load, so that many steps offer only some servers; the env runner is remote, so
    # the mask travels to it in the module's config, as on a cluster
    config = _config(num_env_runners=1, action_masking=True).environment(
        env_config={"preset": "adsac-paper", "world_seed": 0, "arrival_rate": 0.004}
    )
    algo = config.build_algo()
    try:
        for _ in range(4):
            algo.train()
        size = len(algo.replay)
        obs = algo.replay._cols["obs"][:size]
        actions = algo.replay._cols["actions"][:size]
    finally:
        algo.stop()
    free_BE = obs[:, 6::3] * 1400 * obs[:, 7::3]
    feasible_BA = np.repeat(obs[:, 4:5] * 240 <= free_BE + 0.5, 4, axis=1)
    some = feasible_BA.any(axis=1)
    assert size >= 100 and (~feasible_BA[some]).any()
    assert feasible_BA[np.arange(size), actions][some].all()


def test_async_sampling_keeps_runners_sampling_and_their_weights_current(ray_session) -> None:
    algo = _config(num_env_runners=2, async_sampling=True).build_algo()
    fragment = 2 * 16  # envs per runner x rollout fragment length
    group = algo.env_runner_group
    try:
        for iteration in range(1, 4):
            result = algo.train()
            # the first call waits for the first fragments; each returns with the next in flight
            steps = result["env_runners"]["num_env_steps_sampled_lifetime"]
            assert steps == iteration * 2 * fragment
            assert group.num_in_flight_async_reqs(SAMPLE_TAG) == 2
        assert result["num_gradient_updates_lifetime"] >= 1
        # every sampled step is in the buffer but the last n-1 of each of the 4 lanes (their
        # n-step targets wait for the next fragment)
        assert steps - 4 * (algo.config.n_step - 1) <= len(algo.replay) <= steps
        # The weights synced after the last update queue behind the in-flight fragment: a call
        # made now runs after both and sees the learner's current weights on every runner.
        learner_state = {
            k: v.detach().numpy()
            for k, v in algo.learner_group._learner.module[DEFAULT_MODULE_ID].state_dict().items()
        }
        runner_states = group.foreach_env_runner(
            lambda runner: {k: v.numpy() for k, v in runner.module.state_dict().items()},
            local_env_runner=False,
        )
        assert len(runner_states) == 2
        for state in runner_states:
            assert state.keys() <= learner_state.keys()
            for key, value in state.items():
                np.testing.assert_array_equal(value, learner_state[key], err_msg=key)
    finally:
        algo.stop()


@pytest.mark.parametrize("actor_head", ["diffusion", "softmax"])
def test_checkpoint_restore_gives_identical_greedy_actions(
    ray_session, tmp_path: Path, actor_head: str
) -> None:
    algo = _config(num_env_runners=0, actor_head=actor_head).build_algo()
    try:
        for _ in range(2):
            algo.train()
        path = algo.save_to_path(str(tmp_path / "ckpt"))
        module = algo.get_module()
        obs = torch.rand(8, 36)
        torch.manual_seed(1)
        before = module.forward_inference({"obs": obs})["action_dist_inputs"].argmax(-1)
        updates, replay_size = algo._num_updates, len(algo.replay)
    finally:
        algo.stop()
    restored = ADSACConfig().algo_class.from_checkpoint(path)
    try:
        torch.manual_seed(1)
        after = restored.get_module().forward_inference({"obs": obs})["action_dist_inputs"]
        assert torch.equal(before, after.argmax(-1))
        assert restored.iteration == 2
        # ADSAC's own state: update counters and the replay buffer come back too
        assert restored._num_updates == updates and restored._num_updates > 0
        assert len(restored.replay) == replay_size
    finally:
        restored.stop()
    # and the Ray-free checkpoint policy acts the same way
    policy = CheckpointPolicy(path, seed=1)
    torch.manual_seed(1)
    acts = [policy.act(o.numpy(), env=None) for o in obs[:1]]
    assert acts == [int(before[0])]


def _check_act_by_modes(run: Path, report: Path, capsys) -> None:
    """--act-by: each mode is a policy of its own in one report; critic acts by its twin Qs'
    min, mean-probs by the mean of K chains' probabilities; modes a checkpoint cannot do and
    malformed modes are one-line errors."""
    from edge_rl.evaluation.runner import make_env

    code = main(
        ["evaluate", "--checkpoint", str(run), "--act-by", "argmax", "mean-probs:4", "critic",
         "rollout:samples=2,horizon=3", "--seeds", "0", "--json", str(report),
         "--paired-against", "adsac"]
    )  # fmt: skip
    assert code == 0
    episodes = json.loads(report.read_text())["episodes"]
    assert {e["policy"] for e in episodes} == {
        "adsac", "adsac[mean-probs:4]", "adsac[critic]", "adsac[rollout:samples=2,horizon=3]"
    }  # fmt: skip
    # the learning-curve script acts the same way: the critic is deterministic, so its final
    # checkpoint scores exactly what evaluate reported
    curves = report.with_name("curves.json")
    script = Path(__file__).resolve().parents[2] / "scripts" / "eval_checkpoints.py"
    proc = subprocess.run(
        [sys.executable, str(script), str(run), "--seeds", "0", "--act-by", "critic",
         "--json", str(curves)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (curve,) = json.loads(curves.read_text())["curves"]
    critic_return = next(e["return"] for e in episodes if e["policy"] == "adsac[critic]")
    assert curve["act_by"] == "critic" and curve["points"][-1]["checkpoint"] == "final"
    assert curve["points"][-1]["return"]["mean"] == pytest.approx(critic_return)
    env = make_env("aigc", "adsac-paper", world_seed=0)
    obs, _ = env.reset(seed=3)
    obs_t = torch.as_tensor(np.asarray(obs, np.float32)).unsqueeze(0)
    critic = CheckpointPolicy(run, act_by="critic")
    q1_BA, q2_BA = critic.module.q_values(obs_t)
    assert critic.act(obs, env) == int(torch.minimum(q1_BA, q2_BA).argmax())
    mean = CheckpointPolicy(run, act_by="mean-probs:64")
    torch.manual_seed(7)
    with torch.no_grad():
        logits_KA = mean.module.forward_inference({"obs": obs_t.expand(64, -1)})
    expected = int(torch.softmax(logits_KA["action_dist_inputs"], -1).mean(0).argmax())
    torch.manual_seed(7)
    assert mean.act(obs, env) == expected
    capsys.readouterr()
    for argv, needle in (
        (["--act-by", "mean-probs:1"], "mean-probs:K"),
        (["--act-by", "softmax"], "write one of argmax, mean-probs:K, critic"),
        (["--act-by", "critic", "--sample-actions"], "drop --sample-actions"),
        (["--act-by", "rollout:samples=0"], "samples=0: must be >= 1"),
        (["--act-by", "rollout:depth=2"], "'depth=2' is not a rollout setting"),
    ):
        code = main(["evaluate", "--checkpoint", str(run), "--seeds", "0", *argv])
        err = capsys.readouterr().err
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, (argv, err)


def _check_crash_anatomy(run: Path, evaluated: dict, report: Path) -> None:
    """scripts/aigc_crash_anatomy.py plays a checkpoint as `edge-rl evaluate` does (same
    episode, same crash events) and files every crash under one cause."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "aigc_crash_anatomy.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--checkpoint", str(run), "--policy", "crash-avoid",
         "--seeds", "0", "--json", str(report)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    anatomy = json.loads(report.read_text())
    learned = anatomy["episodes"][f"{run.name}[argmax]"][0]
    expected = next(e for e in evaluated["episodes"] if e["policy"] == "adsac")
    assert learned["return"] == pytest.approx(expected["return"])
    assert learned["crash_events"] == expected["crash_events"]
    causes = learned["avoidable"] + learned["fragmented"] + learned["overloaded"]
    assert causes == learned["crash_events"]
    assert anatomy["paired_against"] == "crash-avoid"


def test_train_then_evaluate_commands(ray_session, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    settings = [f"--set={k}={v}" for k, v in TINY.items()]
    code = main(
        ["train", "--algo", "adsac", "--env", "aigc", "--preset", "adsac-paper",
         "--timesteps", "96", "--envs-per-runner", "2", "--checkpoint-every", "1",
         "--keep-checkpoints", "0", "--output", str(out), *settings,
         "--set", "rollout_fragment_length=16",
         "--set", "actor_lr=[[0, 1e-3], [96, 1e-5]]"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "checkpoint:" in printed and (out / "checkpoints" / "final").is_dir()
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("train/iteration,env/steps") and len(rows) >= 3
    # the actor's rate follows its schedule in env steps; the critic's stays fixed
    table = list(csv.DictReader(rows))
    steps_lr = [(float(r["env/steps"]), float(r["lr/actor"])) for r in table if r["lr/actor"]]
    assert len(steps_lr) >= 2 and steps_lr[-1][1] < steps_lr[0][1]
    for steps, lr in steps_lr:  # logged after each iteration's updates, at that step count
        assert lr == pytest.approx(1e-3 + min(steps, 96) / 96 * (1e-5 - 1e-3), rel=1e-4)
    assert {float(r["lr/critic"]) for r in table if r["lr/critic"]} == {1e-3}
    # each row splits its iteration's time into sampling and learner updates
    for r in table:
        assert 0 < float(r["perf/sample_s"]) < float(r["perf/iteration_s"])
        if r["lr/actor"]:  # an iteration with updates (at least two, asserted above)
            assert 0 < float(r["perf/learn_s"]) < float(r["perf/iteration_s"])
    assert json.loads((out / "run.json").read_text())["spec"]["algo"] == "adsac"
    report = tmp_path / "eval.json"
    code = main(
        ["evaluate", "--checkpoint", str(out), "--policy", "crash-avoid", "--seeds", "0",
         "--json", str(report)]
    )  # fmt: skip
    assert code == 0
    data = json.loads(report.read_text())
    assert {e["policy"] for e in data["episodes"]} == {"adsac", "crash-avoid"}
    assert data["preset"] == "adsac-paper" and data["world_seed"] == 0
    _check_crash_anatomy(out, data, tmp_path / "anatomy.json")
    _check_act_by_modes(out, tmp_path / "act_by.json", capsys)
    # resuming with another algorithm is a one-line error; without --algo, the run's own
    code = main(["train", "--algo", "sac", "--resume", str(out), "--timesteps", "128"])
    err = capsys.readouterr().err
    assert code == 2 and "holds a run of adsac" in err and len(err.strip().splitlines()) == 1
    # resume continues from the same iteration and step counts, on the run's own checkpoint
    # schedule: this run keeps every periodic checkpoint (the default would keep 3)
    assert json.loads((out / "run.json").read_text())["checkpointing"] == {"every": 1, "keep": 0}
    code = main(["train", "--resume", str(out), "--timesteps", "192"])
    assert code == 0
    assert "checkpoints: every 1 iterations, keeping all" in capsys.readouterr().out
    rows = (out / "metrics.csv").read_text().splitlines()[1:]
    iters = [float(r.split(",")[0]) for r in rows]
    assert iters == sorted(iters) and len(set(iters)) == len(iters) and iters[-1] == 6
    periodic = sorted(p.name for p in (out / "checkpoints").glob("iter_*"))
    assert periodic == ["iter_000001", "iter_000002", "iter_000004", "iter_000005"], periodic


def test_train_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    cases = [
        ([], "--algo is required"),
        (["--algo", "a3c"], "choose one of: adsac"),
        (["--algo", "adsac", "--env", "load-balance"], "runs on: aigc"),
        (["--algo", "adsac", "--preset", "mars"], "adsac-paper"),
        (["--algo", "adsac", "--set", "diffusion_steps=0"], "diffusion_steps=0"),
        (["--algo", "adsac", "--set", "warp_factor=9"], "unknown setting"),
        (["--algo", "sac", "--set", "checkpoint_replay_buffer=maybe"], "must be true or false"),
        (["--algo", "adsac", "--set", "env.num_servers=0"], "num_servers"),
    ]
    for argv, needle in cases:
        code = main(["train", *argv, "--output", str(tmp_path / "x")])
        err = capsys.readouterr().err
        assert code == 2, argv
        assert needle in err and len(err.strip().splitlines()) == 1, err
    code = main(["train", "--resume", str(tmp_path / "nothing")])
    assert code == 2 and "run.json" in capsys.readouterr().err


#: RLlib's built-ins with a few env steps: learning starts (sac, dqn) / small batches (ppo)
BUILTIN_TINY_FLAGS = {
    "sac": ["--set", "num_steps_sampled_before_learning_starts=32"],
    "ppo": ["--set", "train_batch_size_per_learner=64", "--set", "minibatch_size=32"],
    "dqn": ["--set", "num_steps_sampled_before_learning_starts=32"],
}


def train_builtin(algo: str, out: Path, timesteps: int, *flags: str) -> int:
    """``edge-rl train`` of a built-in on the AIGC env at its tiny budget, 2 envs per runner."""
    return main(
        ["train", "--algo", algo, "--env", "aigc", "--timesteps", str(timesteps),
         "--envs-per-runner", "2", "--output", str(out), *flags, *BUILTIN_TINY_FLAGS[algo]]
    )  # fmt: skip


@pytest.mark.parametrize("algo", ["sac", "ppo", "dqn"])
def test_builtin_algorithms_train_and_evaluate(
    algo: str, ray_session, tmp_path: Path, capsys
) -> None:
    out = tmp_path / algo
    code = train_builtin(algo, out, 64, "--preset", "regions", "--set", "env.num_servers=3")
    assert code == 0, capsys.readouterr().err
    # metrics.csv shows the learning rate each one trains at
    column = {"sac": "lr/policy", "ppo": "lr/default", "dqn": "lr/default"}[algo]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert any(r[column] and float(r[column]) > 0 for r in rows)
    code = main(["evaluate", "--checkpoint", str(out), "--seeds", "0"])  # knobs from run.json
    assert code == 0
    assert algo in capsys.readouterr().out
    code = main(["evaluate", "--checkpoint", str(out), "--seeds", "0", "--act-by", "critic"])
    err = capsys.readouterr().err
    assert code == 2 and "needs a checkpoint with twin critics" in err, err


def test_averaged_checkpoint_holds_the_mean_weights_and_evaluates(
    ray_session, tmp_path: Path, capsys
) -> None:
    from ray.rllib.core.rl_module.rl_module import RLModule

    from edge_rl.algorithms.checkpoint_policy import MODULE_SUBPATH

    out = tmp_path / "run"
    settings = [f"--set={k}={v}" for k, v in TINY.items()]
    code = main(
        ["train", "--algo", "adsac", "--preset", "adsac-paper", "--timesteps", "128",
         "--envs-per-runner", "2", "--checkpoint-every", "1", "--keep-checkpoints", "0",
         "--output", str(out), *settings, "--set", "rollout_fragment_length=16"]
    )  # fmt: skip
    assert code == 0
    script = Path(__file__).resolve().parents[2] / "scripts" / "average_checkpoints.py"
    proc = subprocess.run(
        [sys.executable, str(script), str(out), "--from-iteration", "1", "--to-iteration", "3"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    avg = out / "checkpoints" / "avg_000001_000003"
    assert f"checkpoint: {avg}" in proc.stdout
    params = {}
    for name in ("iter_000001", "iter_000002", "iter_000003", avg.name):
        module = RLModule.from_checkpoint(str(out / "checkpoints" / name / MODULE_SUBPATH))
        params[name] = dict(module.named_parameters())
    name = next(n for n in params[avg.name] if n.endswith("denoiser.hidden2.weight"))
    inputs = [params[f"iter_00000{i}"][name].detach() for i in (1, 2, 3)]
    assert not torch.equal(inputs[0], inputs[2])  # the weights did move between checkpoints
    torch.testing.assert_close(params[avg.name][name].detach(), torch.stack(inputs).mean(0))
    code = main(["evaluate", "--checkpoint", str(avg), "--seeds", "0"])
    assert code == 0 and "adsac" in capsys.readouterr().out
    # asking again for the same average is a one-line error that names the fix
    proc = subprocess.run(
        [sys.executable, str(script), str(out), "--from-iteration", "1", "--to-iteration", "3"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "exists" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
