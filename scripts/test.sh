#!/usr/bin/env bash
# Set up .venv (see scripts/setup.sh) and run the default test suite (slow tests excluded).
# Extra arguments go to pytest, e.g. `scripts/test.sh -m slow` or `scripts/test.sh tests/envs`.
# pytest's exit code is kept: 5 (no tests collected) fails, as it should.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export WANDB_MODE=offline RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 PYTHONUNBUFFERED=1
exec python -m pytest "$@"
