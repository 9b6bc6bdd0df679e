#!/usr/bin/env bash
# The main job on the embedded default (local Ray, wandb offline): set up .venv, train ADSAC
# briefly on the reference AIGC setting (adsac-paper, world seed 0; with feasibility masking,
# one-step critic targets and no Tanh on the denoiser's epsilon output, the best measured
# diffusion recipe: README), evaluate the checkpoint
# against every AIGC heuristic on five episode seeds, and evaluate every load-balancing
# heuristic on Park's default workload. Reports (JSON) and plots land in results/main/.
#   TIMESTEPS=120000 scripts/run.sh      # a longer run (about 45 minutes on 2 cores)
#   scripts/run.sh OUTDIR                # another output folder
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export WANDB_MODE=${WANDB_MODE:-offline} RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
out=${1:-results/main}
timesteps=${TIMESTEPS:-10000}
mkdir -p "$out"
rm -rf "$out/adsac"  # this script's own previous run
edge-rl train --algo adsac --env aigc --preset adsac-paper --world-seed 0 \
  --timesteps "$timesteps" --envs-per-runner 8 \
  --set attention_width=64 --set attention_dropout=0 --set shared_encoder=true \
  --set updates_per_env_step=0.25 --set action_masking=true --set n_step=1 \
  --set denoiser_output=linear --output "$out/adsac"
aigc_policies=$(python -c "from edge_rl.baselines import POLICIES; print(' '.join(POLICIES['aigc']))")
lb_policies=$(python -c "from edge_rl.baselines import POLICIES; print(' '.join(POLICIES['load-balance']))")
# The checkpoint's greedy action two ways: the argmax of one diffusion chain (the reference's
# evaluation) and of the probabilities averaged over 32 chains (README, "Evaluating policies").
edge-rl evaluate --checkpoint "$out/adsac" --act-by argmax mean-probs:32 --policy $aigc_policies \
  --seeds 0 1 2 3 4 --json "$out/aigc-adsac-paper.json" --plot "$out/aigc-adsac-paper.png"
edge-rl evaluate --env load-balance --preset park --policy $lb_policies \
  --seeds $(seq 0 19) --json "$out/load-balance-park.json" --plot "$out/load-balance-park.png"
echo "results in $out/"
