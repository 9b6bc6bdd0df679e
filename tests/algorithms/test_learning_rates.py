"""Learning-rate schedules in env steps for ADSAC and Meta-Dreamer (RLlib's [[step, lr], ...])."""

from __future__ import annotations

import gymnasium as gym
import pytest
from ray.rllib.core import DEFAULT_MODULE_ID

import edge_rl  # noqa: F401  (registers the envs)
from edge_rl.algorithms.adsac.adsac import ADSACConfig
from edge_rl.algorithms.learning_rates import learning_rate_error
from edge_rl.algorithms.meta_dreamer.meta_dreamer import MetaDreamerConfig
from edge_rl.algorithms.registry import register_rllib_envs
from edge_rl.cli import main
from tests.algorithms.test_adsac import TINY, _fixed_batch, _learner

LIFETIME = "num_env_steps_sampled_lifetime"


@pytest.mark.parametrize(
    "value",
    [3e-5, 1, [[0, 1e-3], [1000, 1e-5]], ((0, 1e-3), (2e5, 1e-4), (4e5, 1e-5)), [[0.0, 1], [1, 2]]],
)
def test_numbers_and_schedules_are_accepted(value) -> None:
    assert learning_rate_error("actor_lr", value) is None


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (0.0, "must be a positive number (e.g. 3e-5) or a schedule"),
        (float("nan"), "must be a positive number"),
        (True, "must be a positive number"),
        ("fast", "must be a positive number"),
        ([[0, 1e-3]], "at least two points"),
        ([[0, 1e-3], [100]], "every point must be a pair"),
        ([[0, 1e-3], [100, 1e-4, 5]], "every point must be a pair"),
        ([[0, 1e-3], [-5, 1e-4]], "env_steps -5 must be a whole number"),
        ([[0, 1e-3], [10.5, 1e-4]], "env_steps 10.5 must be a whole number"),
        ([[0, 1e-3], [100, 1e-4], [100, 1e-5]], "must strictly increase (100 then 100)"),
        ([[0, 1e-3], [100, 0.0]], "the rate 0.0 at step 100 must be a positive number"),
        ([[10, 1e-3], [100, 1e-4]], "starts at env step 0"),
    ],
)
def test_bad_learning_rates_say_how_to_write_them(value, needle: str) -> None:
    error = learning_rate_error("actor_lr", value)
    assert error is not None and needle in error, error
    assert error.startswith(f"actor_lr={value!r}")


def _lr(learner, name: str) -> float:
    return learner.get_optimizer(DEFAULT_MODULE_ID, name).param_groups[0]["lr"]


def test_adsac_learner_follows_the_schedule_in_env_steps() -> None:
    learner, _ = _learner(
        actor_lr=[[0, 1e-3], [1000, 1e-5]], critic_lr=2e-4, encoder_lr=[[0, 4e-4], [10, 2e-4]]
    )
    batch = _fixed_batch(64)
    learner.update(batch=batch, timesteps={LIFETIME: 500})
    assert _lr(learner, "actor") == pytest.approx(0.5 * (1e-3 + 1e-5))
    assert _lr(learner, "encoder") == pytest.approx(2e-4)  # past its last point
    assert _lr(learner, "critic") == pytest.approx(2e-4)  # fixed
    learner.update(batch=batch, timesteps={LIFETIME: 5000})
    assert _lr(learner, "actor") == pytest.approx(1e-5)


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"actor_lr": [[0, 1e-4], [100, -1e-5]]}, "actor_lr=[[0, 0.0001], [100, -1e-05]]"),
        ({"encoder_lr": [[5, 1e-4], [100, 1e-5]]}, "starts at env step 0"),
        ({"alpha_lr": "3e-4"}, "alpha_lr='3e-4'"),
    ],
)
def test_adsac_rejects_bad_schedules(settings: dict, needle: str) -> None:
    config = ADSACConfig().environment("edge_rl/AIGCEdge-v0").training(**{**TINY, **settings})
    with pytest.raises(ValueError, match="ADSAC") as err:
        config.validate()
    assert needle in str(err.value)


def _meta_config(**settings) -> MetaDreamerConfig:
    register_rllib_envs()
    env = gym.make("edge_rl/LoadBalanceTrials-v0", preset="park", jobs_per_episode=12)
    return (
        MetaDreamerConfig()
        .environment(observation_space=env.observation_space, action_space=env.action_space)
        .training(model_size="debug", batch_size_B=2, batch_length_T=8, **settings)
    )


def test_meta_dreamer_learner_follows_the_schedule_in_env_steps() -> None:
    config = _meta_config(
        world_model_lr=[[0, 2e-4], [1000, 1e-4]], actor_lr=[[0, 1e-4], [1000, 3e-5]]
    )
    learner = config.build_learner(env=None)
    learner.after_gradient_based_update(timesteps={LIFETIME: 250})
    assert _lr(learner, "world_model") == pytest.approx(1.75e-4)
    assert _lr(learner, "actor") == pytest.approx(1e-4 - 0.25 * 7e-5)
    assert _lr(learner, "critic") == pytest.approx(3e-5)  # the default, fixed


def test_meta_dreamer_rejects_a_bad_schedule() -> None:
    config = _meta_config(critic_lr=[[0, 1e-4], [50, 1e-4], [20, 1e-5]])
    with pytest.raises(ValueError, match="meta-dreamer") as err:
        config.validate()
    assert "must strictly increase (50 then 20)" in str(err.value)


def test_cli_reports_a_bad_schedule_in_one_line(tmp_path, capsys) -> None:
    code = main(
        [
            "train",
            "--algo",
            "adsac",
            "--preset",
            "adsac-paper",
            "--timesteps",
            "10",
            "--set",
            "actor_lr=[[0, 1e-4], [100]]",
            "--output",
            str(tmp_path / "run"),
        ]
    )
    err = capsys.readouterr().err
    assert code != 0
    assert "actor_lr=[[0, 0.0001], [100]]: every point must be a pair" in err
    assert "Traceback" not in err


def test_weight_schedules_allow_zero_and_interpolate() -> None:
    from edge_rl.algorithms.learning_rates import schedule_value, weight_schedule_error

    assert weight_schedule_error("guide_weight", 0) is None
    assert weight_schedule_error("guide_weight", [[0, 1.0], [20_000, 1.0], [30_000, 0]]) is None
    assert "number >= 0" in weight_schedule_error("guide_weight", -0.5)
    assert "strictly increase" in weight_schedule_error("guide_weight", [[0, 1], [0, 0]])
    assert "starts at env step 0" in weight_schedule_error("guide_weight", [[10, 1], [20, 0]])
    schedule = [[0, 1.0], [20_000, 1.0], [30_000, 0.0]]
    assert schedule_value(schedule, 10_000) == 1.0
    assert schedule_value(schedule, 25_000) == pytest.approx(0.5)
    assert schedule_value(schedule, 1e9) == 0.0
    assert schedule_value(0.3, 123) == 0.3
