#!/bin/bash
# The GPU figures the issues ask for, in one call, for a lent GPU machine that has PyTorch with
# CUDA but neither Ray nor this project's other dependencies, and no network.
#
#   bash scripts/device_checks.sh --fetch-wheels    # here, once: gymnasium's wheels into .whl/
#   bash scripts/device_checks.sh                   # there, in the repo root (carry .whl)
#   DEVICE=cpu QUICK=1 OUT=/tmp/x bash scripts/device_checks.sh   # smoke run on a CPU
#
# With the workplace's device tool: run(command="bash scripts/device_checks.sh", carry=[".whl"],
# timeout_s=540). It writes to $OUT (default results/device):
#   env.txt                           GPU, driver, torch and Python versions
#   bench_policy_learner.json         ADSAC/D2SAC plain-torch learner updates per second at batch
#                                     512 on the GPU (issue 3's learner_updates_per_s)
#   bench_meta_dreamer_small.json     one Meta-Dreamer update, by phase, the CPU recipe's small
#                                     model, imagine_starts 0/256/128 (issue 5)
#   bench_meta_dreamer_default.json   the same for DreamerV3's default size (32 x 32 latents)
#
# Only plain-torch figures: Ray's wheel (79 MB) is over the device call's 64 MiB limit, so an
# RLlib learner on a GPU needs a Ray cluster with a GPU node (cluster/). The update code timed
# here is the one the RLlib learners call (edge_rl/models), on random inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
# the version pyproject.toml pins, read from it so the two cannot drift apart
GYMNASIUM=$(grep -o '"gymnasium==[^"]*"' pyproject.toml | tr -d '"' || true)

PY=${PYTHON:-python3}
if [[ "${1:-}" == "--fetch-wheels" ]]; then
    [[ -n "$GYMNASIUM" ]] || { echo "error: no gymnasium==VERSION pin in pyproject.toml" >&2; exit 2; }
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "$GYMNASIUM" farama-notifications==0.0.6
    ls -l .whl
    exit 0
elif [[ -n "${1:-}" ]]; then
    echo "usage: bash scripts/device_checks.sh [--fetch-wheels]" >&2
    exit 2
fi

DEVICE=${DEVICE:-cuda}
OUT=${OUT:-results/device}
mkdir -p "$OUT"
if ! "$PY" -c "import gymnasium" 2>/dev/null; then
    if ! ls .whl/*.whl > /dev/null 2>&1; then
        echo "error: $PY has no gymnasium and .whl/ holds no wheels: run" \
            "'bash scripts/device_checks.sh --fetch-wheels' where pip works, and carry .whl" >&2
        exit 2
    fi
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/device_site .whl/*.whl
    export PYTHONPATH=/tmp/device_site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
HAS_GPU="import torch, sys; sys.exit(not torch.cuda.is_available())"
if [[ "$DEVICE" == cuda* ]] && ! "$PY" -c "$HAS_GPU"; then
    echo "error: DEVICE=$DEVICE but torch sees no GPU;" \
        "DEVICE=cpu runs the same checks on the CPU" >&2
    exit 2
fi

{
    date -u
    nvidia-smi -L 2>/dev/null || echo "nvidia-smi: none"
    "$PY" -c "import platform, torch; print('python', platform.python_version(), 'torch', \
torch.__version__, 'cuda', torch.version.cuda, 'device', torch.cuda.get_device_name() \
if torch.cuda.is_available() else 'cpu')"
} | tee "$OUT/env.txt"

if [[ -n "${QUICK:-}" ]]; then  # a smoke run: every step once, no figures worth keeping
    POLICY=(--quick) SMALL=(--starts 256 --updates 1) DEFAULT=(--starts 256 --updates 1)
else
    POLICY=(--updates 50) SMALL=(--starts 0 256 128 --updates 20) DEFAULT=(--starts 0 256 --updates 20)
fi
"$PY" scripts/bench_policy.py --only learner_updates_per_s --device "$DEVICE" "${POLICY[@]}" \
    --json "$OUT/bench_policy_learner.json"
"$PY" scripts/bench_meta_dreamer.py --device "$DEVICE" --model-size small "${SMALL[@]}" \
    --json "$OUT/bench_meta_dreamer_small.json"
"$PY" scripts/bench_meta_dreamer.py --device "$DEVICE" --model-size default "${DEFAULT[@]}" \
    --json "$OUT/bench_meta_dreamer_default.json"
echo "device checks done: $OUT"
