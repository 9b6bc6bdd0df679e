"""Shared pieces of the training tests: a tiny ADSAC run that finishes episodes quickly."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from edge_rl.training.algos import RunSpec

#: a model and batch small enough that an iteration takes well under a second on 2 cores
TINY_SETTINGS = {
    "attention_width": 16,
    "denoiser_hidden": 32,
    "critic_hidden": 32,
    "diffusion_steps": 2,
    "train_batch_size_per_learner": 32,
    "num_steps_sampled_before_learning_starts": 16,
    "rollout_fragment_length": 16,
    "updates_per_env_step": 0.25,
}


def make_tiny_spec(timesteps: int, num_env_runners: int = 0) -> RunSpec:
    """32 env steps per iteration (2 envs x 16); ~30-step episodes (short horizon)."""
    return RunSpec(
        algo="adsac",
        timesteps=timesteps,
        num_env_runners=num_env_runners,
        envs_per_runner=2,
        cpus_per_env_runner=0.5,
        env_overrides={"horizon": 20_000},
        settings=dict(TINY_SETTINGS),
    )


@pytest.fixture
def tiny_spec() -> Callable[..., RunSpec]:
    return make_tiny_spec


@pytest.fixture
def tiny_settings() -> dict[str, float]:
    return dict(TINY_SETTINGS)
