"""RLlib's SAC and DQN carry their replay buffer in checkpoints when asked (RLlib 2.60's current
stack leaves it out), so ``edge-rl train --resume`` continues them with the experience they had;
by default it is left out, and a resume says that the buffer starts empty."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from edge_rl.algorithms.replay_checkpointing import REPLAY_STATE_KEY
from edge_rl.cli import main
from edge_rl.training.loop import latest_checkpoint
from tests.algorithms.test_adsac_ray import train_builtin

pytestmark = pytest.mark.ray

SMALL = ("--preset", "regions", "--set", "env.num_servers=3")


def _saved_state(out: Path) -> dict:
    with (latest_checkpoint(out) / "algorithm_state.pkl").open("rb") as f:
        return pickle.load(f)


@pytest.mark.parametrize("algo", ["sac", "dqn"])
def test_the_replay_buffer_is_checkpointed_and_restored_on_resume(
    algo: str, ray_session, tmp_path: Path, capsys
) -> None:
    out = tmp_path / algo
    flags = (*SMALL, "--set", "checkpoint_replay_buffer=true")
    assert train_builtin(algo, out, 64, *flags) == 0, capsys.readouterr().err
    buffer = _saved_state(out)[REPLAY_STATE_KEY]
    held = buffer["_num_timesteps"]
    assert held >= 64 and buffer["_num_timesteps_added"] >= held  # every sampled env step
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--timesteps", "96"]) == 0
    printed = capsys.readouterr().out
    assert f"replay buffer restored with {held:,d} env steps" in printed, printed
    # and the resumed run's own checkpoint holds the old steps plus the new ones
    assert _saved_state(out)[REPLAY_STATE_KEY]["_num_timesteps"] > held


def test_by_default_the_buffer_is_left_out_and_a_resume_says_it_starts_empty(
    ray_session, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "sac"
    assert train_builtin("sac", out, 64, *SMALL) == 0, capsys.readouterr().err
    assert REPLAY_STATE_KEY not in _saved_state(out)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--timesteps", "96"]) == 0
    printed = capsys.readouterr().out
    assert "holds no replay buffer" in printed and "refills it from empty" in printed, printed
