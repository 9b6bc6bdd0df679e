"""Test-suite set-up: wandb offline and loopback-only Ray for every test that may start them."""

import os

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
