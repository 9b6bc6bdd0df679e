#!/usr/bin/env bash
# The main job on the embedded default: set up .venv, then evaluate every AIGC heuristic on the
# reference setting (adsac-paper, world seed 0, five episode seeds) and every load-balancing
# heuristic on Park's default workload, with JSON reports and comparison plots under results/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export WANDB_MODE=${WANDB_MODE:-offline} RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
out=${1:-results/main}
mkdir -p "$out"
aigc_policies=$(python -c "from edge_rl.baselines import POLICIES; print(' '.join(POLICIES['aigc']))")
lb_policies=$(python -c "from edge_rl.baselines import POLICIES; print(' '.join(POLICIES['load-balance']))")
edge-rl evaluate --env aigc --preset adsac-paper --world-seed 0 --policy $aigc_policies \
  --seeds 0 1 2 3 4 --json "$out/aigc-adsac-paper.json" --plot "$out/aigc-adsac-paper.png"
edge-rl evaluate --env load-balance --preset park --policy $lb_policies \
  --seeds $(seq 0 19) --json "$out/load-balance-park.json" --plot "$out/load-balance-park.png"
echo "results in $out/"
