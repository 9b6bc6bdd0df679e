#!/usr/bin/env bash
# Generalisation across edge regions (ADSAC issue): train ADSAC on the "regions" preset (a fresh
# region every episode: capacities, model profiles, load; the "tokens" observation, one token per
# server-model pair, so one set of weights serves any number of servers), then evaluate it on
# held-out region seeds with the training server count and with other counts, against Prophet
# (sees the model profiles) and Crash-Avoid, paired seed by seed.
#
#   scripts/regions_study.sh [train|evaluate|all]      (default: all)
#
# Environment knobs:
#   MINUTES=60          wall-clock budget of the training run (--max-minutes)
#   RUNS=runs/regions   run directory parent;  OUT=results/regions  reports and plots
#   SEED=0              training seed
#   EVAL_SEEDS="1000 .. 1019"   evaluation region seeds; training lanes start from seeds
#                       SEED .. SEED + envs - 1 and then continue their own streams, so these
#                       regions are never trained on
#   SERVERS="10 6 14"   server counts to evaluate on (the preset trains on 10)
#   GPUS=               e.g. GPUS=1 to put the learner on a GPU (then TRAIN_FLAGS= for the
#                       full-size model)
#   TRAIN_FLAGS="--set attention_width=64 --set denoiser_hidden=64 --set critic_hidden=64
#                --set train_batch_size_per_learner=128 --set actor_lr=3e-5
#                --set updates_per_env_step=0.25"
#                       the CPU-sized model: on the tokens layout the full-size learner does
#                       under one update per second on 2 CPU cores (docs/history/aigc.md)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .venv ] && source .venv/bin/activate

STAGE=${1:-all}
MINUTES=${MINUTES:-60}
RUNS=${RUNS:-runs/regions}
OUT=${OUT:-results/regions}
SEED=${SEED:-0}
EVAL_SEEDS=${EVAL_SEEDS:-$(seq 1000 1019)}
SERVERS=${SERVERS:-"10 6 14"}
TRAIN_FLAGS=${TRAIN_FLAGS-"--set attention_width=64 --set denoiser_hidden=64 \
--set critic_hidden=64 --set train_batch_size_per_learner=128 --set actor_lr=3e-5 \
--set updates_per_env_step=0.25"}
GPU_FLAGS=()
[ -n "${GPUS:-}" ] && GPU_FLAGS=(--gpus-per-learner "$GPUS")
RUN="$RUNS/adsac-s$SEED"
mkdir -p "$RUNS" "$OUT"

if [[ $STAGE == train || $STAGE == all ]]; then
    if [ -f "$RUN/run.json" ]; then
        echo "exists: $RUN (remove it to retrain)"
    else
        # shellcheck disable=SC2086
        edge-rl train --algo adsac --env aigc --preset regions --timesteps 100000000 \
            --max-minutes "$MINUTES" --envs-per-runner 8 --seed "$SEED" --checkpoint-every 50 \
            --keep-checkpoints 0 $TRAIN_FLAGS "${GPU_FLAGS[@]}" --output "$RUN"
    fi
fi

if [[ $STAGE == evaluate || $STAGE == all ]]; then
    for e in $SERVERS; do
        # shellcheck disable=SC2086
        edge-rl evaluate --checkpoint "$RUN" --policy prophet crash-avoid --seeds $EVAL_SEEDS \
            --set num_servers="$e" --paired-against prophet \
            --json "$OUT/servers_$e.json" --plot "$OUT/servers_$e.png"
    done
fi
