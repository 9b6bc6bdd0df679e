"""Test-suite set-up: wandb offline and loopback-only Ray for every test that may start them."""

import os

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray runtime for the tests that need one (starting Ray costs ~5 s)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
