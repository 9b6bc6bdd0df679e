#!/usr/bin/env bash
# Submit an edge-rl training or sweep to a Ray cluster with `ray job submit`, stream its logs,
# and say where its results land.
#
#   scripts/submit.sh [--address ADDR] [--runtime-env FILE] [--job-id ID] [--no-wait] \
#       -- train|sweep|evaluate ARGS...
#
#   scripts/submit.sh --address http://HEAD:8265 -- train --algo adsac --timesteps 200000 \
#       --num-env-runners 8 --env-runner-resource rollout=1 --output /mnt/shared/runs/adsac
#   scripts/submit.sh --address http://HEAD:8265 -- sweep tuning/adsac_steps_x_depth.py \
#       --output /mnt/shared/sweeps/steps_x_depth --wandb
#
# --address: the cluster's dashboard (job submission) address; default $RAY_ADDRESS, else
#   http://127.0.0.1:8265 (e.g. after `ray dashboard cluster/edge-rl-aws.yaml` or a port-forward
#   of the KubeRay head service).
# --runtime-env: default cluster/runtime_env.yaml (uploads this checkout as the working dir, so
#   the job runs this code; the nodes provide Python and the dependencies).
# --no-wait: submit and return; follow with `ray job logs --follow ID`.
# The job runs `python -m edge_rl.cli ARGS...` on the head node. Its --output must be absolute
# (a path on the head node or shared storage), since the job's working dir is a temporary copy.
# Never pass WANDB_API_KEY here: Ray records runtime envs; give it to the cluster as a secret
# (see cluster/README.md). Token auth: RAY_AUTH_MODE=token, plus RAY_AUTH_TOKEN(_PATH) when the
# cluster's token is not ~/.ray/auth_token.
set -euo pipefail
cd "$(dirname "$0")/.."

address=${RAY_ADDRESS:-http://127.0.0.1:8265}
runtime_env=cluster/runtime_env.yaml
job_id=""
wait_flag=()
while [ $# -gt 0 ]; do
  case "$1" in
    --address) address=$2; shift 2 ;;
    --runtime-env) runtime_env=$2; shift 2 ;;
    --job-id) job_id=$2; shift 2 ;;
    --no-wait) wait_flag=(--no-wait); shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "submit.sh: unknown option $1 (the edge-rl command goes after --)" >&2; exit 2 ;;
  esac
done
if [ $# -eq 0 ]; then
  echo "submit.sh: give the edge-rl command after --, e.g. -- train --algo adsac --output /abs/dir" >&2
  exit 2
fi
command=$1
case "$command" in
  train|sweep|evaluate) ;;
  *) echo "submit.sh: command $command: use train, sweep or evaluate" >&2; exit 2 ;;
esac
if [ ! -f "$runtime_env" ]; then
  echo "submit.sh: --runtime-env $runtime_env: no such file" >&2
  exit 2
fi

# Where the results land: the value of --output (or --resume), which must be absolute.
output=""
prev=""
for arg in "$@"; do
  case "$prev" in --output|--resume|--storage-path) output=$arg ;; esac
  case "$arg" in --output=*|--resume=*) output=${arg#*=} ;; esac
  prev=$arg
done
if [ -n "$output" ] && [[ "$output" != /* ]] && [[ "$output" != *://* ]]; then
  echo "submit.sh: --output $output: give an absolute path (or a URI) on the cluster; a" \
    "relative one would land in the job's temporary working dir" >&2
  exit 2
fi

job_id=${job_id:-edge-rl-$command-$(date +%Y%m%d-%H%M%S)-$$}
echo "submitting job $job_id to $address: edge-rl $*"
status=0
ray job submit --address "$address" --submission-id "$job_id" --runtime-env "$runtime_env" \
  "${wait_flag[@]}" -- python -m edge_rl.cli "$@" || status=$?
if [ ${#wait_flag[@]} -eq 0 ]; then
  ray job status --address "$address" "$job_id" || true
fi
echo "job: $job_id (ray job logs --address $address $job_id)"
if [ -n "$output" ]; then
  echo "results: $output on the cluster (the head node's disk, or the shared storage it names)"
fi
exit $status
