#!/usr/bin/env bash
# The meta-RL load-balancing study of the roadmap: train, then the standard, adaptation and
# forgetting evaluations, with JSON reports and plots under $OUT.
#
#   scripts/meta_rl_study.sh [train|evaluate|forgetting|compare|all]      (default: all)
#
# compare: only the comparison over training runs (TRAIN_SEEDS, below) from $OUT/standard.json.
#
# Environment knobs (defaults are the CPU-sized ones used for the figures in the README):
#   MINUTES=35        wall-clock budget per training run (--max-minutes)
#   STEPS=            an env-step budget instead (--timesteps STEPS, no clock): every agent gets
#                     the same number of samples, e.g. STEPS=54000 (meta-dreamer's 35 minutes on
#                     2 cores) with CHECKPOINT_EVERY=2 for a2c; the forgetting study keeps MINUTES
#   CHECKPOINT_EVERY=20  iterations between checkpoints (the validation pick's candidates)
#   FORGET_MINUTES=12 budget of each phase of the forgetting study (task A, then task B)
#   SEEDS=20          evaluation seeds (0 .. SEEDS-1)
#   RUNS=runs/meta    run directories;  OUT=results/meta  reports and plots
#   ALGOS="meta-dreamer rl2-ppo a2c"
#   TRAIN_SEEDS=0     training seeds: one run per algorithm and seed (seed 0 in $RUNS/ALGO, seed S
#                     in $RUNS/ALGO-sS). With two or more, the evaluate stage also compares the
#                     agents over their runs ($OUT/runs.json: each algorithm's runs averaged per
#                     episode, and meta-dreamer against each other agent with two or more runs
#                     at the level of runs: Welch interval, exact permutation test and rank
#                     statistics, `scripts/compare_reports.py --run-level`, one entry of the
#                     JSON's run_level list per pair); one run per agent says nothing about the
#                     spread between training runs
#   JOBS=1            training runs at once (train stage). With JOBS > 1 each run writes its
#                     output to $RUNS/<run>.log and runs with OMP_NUM_THREADS=1 (unless set), and
#                     the runs go seed by seed (every algorithm of a seed, then the next seed), so
#                     the agents of one seed train side by side under the same load. The README's
#                     runs went two at a time on 2 cores; give each job a core
#   EDGE_RL=edge-rl   the command that trains and evaluates (a wrapper, or a test's stand-in)
#   GPUS=             e.g. GPUS=1 to put the learners on a GPU
#   HEAD=servers      policy head: "servers" (one shared scorer per server: meta-dreamer's
#                     actor_head=servers, a2c/rl2-ppo's policy_net=server-scoring) or "mlp"
#   FORGET_ALGO=meta-dreamer   the agent of the forgetting study
#   FORGET_B_FLAGS    extra flags of phase B (task B from A's checkpoint); for meta-dreamer by
#                     default DreamerV3's learning rates "--set world_model_lr=1e-4 --set
#                     actor_lr=3e-5 --set critic_lr=3e-5": fine-tuning a trained model at the
#                     recipe's rates destabilises it (docs/history/load-balance.md, forgetting)
#   FORGET_REPLAY=0   1: phase B also starts from A's replay buffer (--init-replay: rehearsal,
#                     B's updates keep replaying A's experience; replay-based agents only)
#   PICK=validation   which checkpoint of a run the evaluations use: "validation" (the best on
#                     park over validation seeds 100 .. 100+VAL_SEEDS-1, never the test seeds;
#                     training on the family is unstable, finals are often collapsed) or "final"
#   VAL_SEEDS=10
#   MD_FLAGS="--set env.reward_mode=jct --set reward_input=deter
#             --set world_model_lr=[[0,6e-4],[40000,6e-4],[52000,2.5e-4],[64000,1e-4]]
#             --set actor_lr=[[0,1e-3],[40000,1e-3],[52000,2e-4],[64000,3e-5]]
#             --set critic_lr=[[0,3e-4],[40000,3e-4],[52000,1e-4],[64000,3e-5]]
#             --set imagine_starts=256"
#                     meta-dreamer's CPU recipe (README, Meta-RL; docs/history/load-balance.md):
#                     DreamerV3's learning rates assume ~1e5 updates, a CPU run makes ~4e3, so
#                     the rates start higher and decay to DreamerV3's between 40k and 64k env
#                     steps (session 30); imagining from 256 of a batch's 1,024 steps makes an
#                     update 2.9x cheaper (sessions 29-30); set MD_FLAGS= for the plain
#                     DreamerV3 values
set -euo pipefail
set -f  # no pathname globbing: flag lists (MD_FLAGS, FORGET_B_FLAGS) are split on spaces and
        # carry learning-rate schedules in brackets, which must reach edge-rl as written
cd "$(dirname "$0")/.."
[ -d .venv ] && source .venv/bin/activate

STAGE=${1:-all}
case $STAGE in
    train | evaluate | forgetting | compare | all) ;;
    *) echo "error: unknown stage '$STAGE'; choose train, evaluate, forgetting, compare or all" >&2
       exit 2 ;;
esac
MINUTES=${MINUTES:-35}
STEPS=${STEPS:-}
if [[ -n $STEPS ]] && ! [[ $STEPS =~ ^[1-9][0-9]*$ ]]; then
    echo "error: STEPS=$STEPS: give a whole number of env steps per run (or leave it unset)" >&2
    exit 2
fi
CHECKPOINT_EVERY=${CHECKPOINT_EVERY:-20}
if ! [[ $CHECKPOINT_EVERY =~ ^[1-9][0-9]*$ ]]; then
    echo "error: CHECKPOINT_EVERY=$CHECKPOINT_EVERY: give a whole number of iterations, 1 or more" >&2
    exit 2
fi
FORGET_MINUTES=${FORGET_MINUTES:-12}
SEEDS=${SEEDS:-20}
RUNS=${RUNS:-runs/meta}
OUT=${OUT:-results/meta}
ALGOS=${ALGOS:-"meta-dreamer rl2-ppo a2c"}
SEED_LIST=$(seq 0 $((SEEDS - 1)))
TRAIN_SEEDS=${TRAIN_SEEDS:-0}
JOBS=${JOBS:-1}
if ! [[ $JOBS =~ ^[1-9][0-9]*$ ]]; then
    echo "error: JOBS=$JOBS: give a whole number of training runs at once, 1 or more" >&2
    exit 2
fi
EDGE_RL=${EDGE_RL:-edge-rl}
GPU_FLAGS=()
[ -n "${GPUS:-}" ] && GPU_FLAGS=(--gpus-per-learner "$GPUS")
HEAD=${HEAD:-servers}
FORGET_ALGO=${FORGET_ALGO:-meta-dreamer}
FORGET_REPLAY=${FORGET_REPLAY:-0}
if [[ $FORGET_ALGO == meta-dreamer ]]; then
    FORGET_B_FLAGS=${FORGET_B_FLAGS-"--set world_model_lr=1e-4 --set actor_lr=3e-5 --set critic_lr=3e-5"}
fi
FORGET_B_FLAGS=${FORGET_B_FLAGS:-}
PICK=${PICK:-validation}
VAL_SEEDS=${VAL_SEEDS:-10}
MD_FLAGS=${MD_FLAGS-"--set env.reward_mode=jct --set reward_input=deter \
--set world_model_lr=[[0,6e-4],[40000,6e-4],[52000,2.5e-4],[64000,1e-4]] \
--set actor_lr=[[0,1e-3],[40000,1e-3],[52000,2e-4],[64000,3e-5]] \
--set critic_lr=[[0,3e-4],[40000,3e-4],[52000,1e-4],[64000,3e-5]] --set imagine_starts=256"}
HEURISTICS="size-interval shortest-expected-delay least-observed-load least-work-left shortest-processing-time power-of-two-choices random"
mkdir -p "$RUNS" "$OUT"

head_flags() {  # the --set flags of ALGO: HEAD's policy network, meta-dreamer's MD_FLAGS
    [[ $1 == meta-dreamer ]] && echo "$MD_FLAGS"
    [[ $HEAD == servers ]] || return 0
    case $1 in
        meta-dreamer) echo --set actor_head=servers ;;
        a2c|ppo|rl2-ppo) echo --set policy_net=server-scoring ;;
    esac
}

train() {  # train ALGO DIR [extra flags...]: trials drawn from the task family's train split
    # (seed 0 unless the extra flags name another: argparse keeps the last --seed)
    local algo=$1 dir=$2 budget=(--max-minutes "$MINUTES" --timesteps 100000000)
    shift 2
    [[ -n $STEPS ]] && budget=(--timesteps "$STEPS")
    [ -f "$dir/run.json" ] && { echo "exists: $dir (remove it to retrain)"; return 0; }
    # shellcheck disable=SC2046
    "$EDGE_RL" train --algo "$algo" --env load-balance-trials "${budget[@]}" \
        --envs-per-runner 4 --set env.episodes_per_trial=2 --seed 0 \
        --checkpoint-every "$CHECKPOINT_EVERY" --keep-checkpoints 0 $(head_flags "$algo") \
        "${GPU_FLAGS[@]}" --output "$dir" "$@"
}

run_dir() {  # run_dir ALGO SEED: where that training run lives
    if [[ $2 == 0 ]]; then echo "$RUNS/$1"; else echo "$RUNS/$1-s$2"; fi
}

runs() {  # every trained run of ALGOS x TRAIN_SEEDS, or of ALGO alone
    local a s
    for a in ${1:-$ALGOS}; do
        for s in $TRAIN_SEEDS; do
            [ -d "$(run_dir "$a" "$s")" ] && run_dir "$a" "$s"
        done
    done
    return 0
}

compare_runs() {  # the agents over their training runs, from $OUT/standard.json
    local a r names mine averages=() have=()
    for a in $ALGOS; do
        mine=($(runs "$a"))
        [[ ${#mine[@]} -ge 2 ]] || continue
        # evaluate names a policy "ALGO:RUN-DIR" when several checkpoints share ALGO
        names=$(for r in "${mine[@]}"; do printf '%s:%s,' "$a" "$(basename "$r")"; done)
        averages+=("$a-runs=${names%,}")
        have+=("$a")
    done
    [[ ${#averages[@]} -ge 1 ]] || return 0
    local level=()  # meta-dreamer against every other agent with two or more runs
    if [[ " ${have[*]} " == *" meta-dreamer "* ]]; then
        for a in "${have[@]}"; do
            [[ $a == meta-dreamer ]] || level+=(--run-level meta-dreamer-runs "$a-runs")
        done
    fi
    python scripts/compare_reports.py "$OUT/standard.json" --average "${averages[@]}" \
        --paired-against least-observed-load "${level[@]}" --json "$OUT/runs.json"
}

best_of() {  # best_of JSON: each run's best checkpoint in an eval_checkpoints.py report
    python - "$1" <<'PY'
import json, sys
for curve in json.load(open(sys.argv[1]))["curves"]:
    print(f"{curve['run']}/checkpoints/{curve['best']}")
PY
}

checkpoints() {  # what the evaluations load: each run, or its validation-picked checkpoint
    if [[ $PICK == final ]]; then runs; return; fi
    best_of "$OUT/validation.json"
}

pick() {  # pick RUN PRESET NAME: RUN's checkpoint best on PRESET's validation seeds (or RUN)
    if [[ $PICK == final ]]; then echo "$1"; return; fi
    python scripts/eval_checkpoints.py "$1" --seeds $(seq 100 $((99 + VAL_SEEDS))) \
        --preset "$2" --env-set episodes_per_trial=1 --json "$OUT/$3.json" >&2
    best_of "$OUT/$3.json"
}

train_all() {  # every ALGOS x TRAIN_SEEDS run, JOBS at a time; fails if any run failed
    local seed algo dir pids=() names=() failed=() i
    if [[ $JOBS == 1 ]]; then
        for seed in $TRAIN_SEEDS; do
            for algo in $ALGOS; do train "$algo" "$(run_dir "$algo" "$seed")" --seed "$seed"; done
        done
        return 0
    fi
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
    for seed in $TRAIN_SEEDS; do
        for algo in $ALGOS; do
            while [[ $(jobs -rp | wc -l) -ge $JOBS ]]; do wait -n || true; done
            dir=$(run_dir "$algo" "$seed")
            echo "training $algo seed $seed -> $dir (log: $dir.log)"
            train "$algo" "$dir" --seed "$seed" > "$dir.log" 2>&1 &
            pids+=($!)
            names+=("$algo seed $seed ($dir.log)")
        done
    done
    for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed+=("${names[$i]}"); done
    if [[ ${#failed[@]} -gt 0 ]]; then
        printf 'error: training failed: %s\n' "${failed[@]}" >&2
        return 1
    fi
}

if [[ $STAGE == train || $STAGE == all ]]; then train_all; fi

if [[ $STAGE == evaluate || $STAGE == all ]]; then
    if [[ $PICK == validation ]]; then
        # shellcheck disable=SC2046
        python scripts/eval_checkpoints.py $(runs) --seeds $(seq 100 $((99 + VAL_SEEDS))) \
            --preset park --env-set episodes_per_trial=1 \
            --json "$OUT/validation.json" --png "$OUT/validation.png"
    fi
    # Standard: the default Park workload, one episode per seed.
    "$EDGE_RL" evaluate --schedule park:1 --seeds $SEED_LIST --policy $HEURISTICS \
        --checkpoint $(checkpoints) --json "$OUT/standard.json" --plot "$OUT/standard.png"
    compare_runs
    # Adaptation: a switch between trained-on tasks, and a switch to held-out tasks (never
    # drawn in training); memory kept, no gradient steps.
    "$EDGE_RL" evaluate --schedule "pareto-55:2,uniform-100:3" --seeds $SEED_LIST \
        --policy $HEURISTICS --checkpoint $(checkpoints) \
        --json "$OUT/adapt_switch.json" --plot "$OUT/adapt_switch.png"
    "$EDGE_RL" evaluate --schedule "park:2,sample-held-out:3" --seeds $SEED_LIST \
        --policy $HEURISTICS --checkpoint $(checkpoints) \
        --json "$OUT/adapt_held_out.json" --plot "$OUT/adapt_held_out.png"
fi

if [[ $STAGE == compare ]]; then compare_runs; fi

if [[ $STAGE == forgetting || $STAGE == all ]]; then
    # Forgetting: train on A, then on B starting from A's weights; evaluate both on A (and B).
    # With PICK=validation, A's checkpoint is the best on A's validation seeds (B starts from
    # it) and AB's the best on B's: the model one would deploy after each phase.
    STEPS='' MINUTES=$FORGET_MINUTES train "$FORGET_ALGO" "$RUNS/forget-A" --preset pareto-55
    A_CKPT=$(pick "$RUNS/forget-A" pareto-55 forget_val_A)
    REPLAY_FLAG=()
    [[ $FORGET_REPLAY == 1 ]] && REPLAY_FLAG=(--init-replay)
    # shellcheck disable=SC2086
    STEPS='' MINUTES=$FORGET_MINUTES train "$FORGET_ALGO" "$RUNS/forget-AB" --preset uniform-100 \
        --init-from "$A_CKPT" "${REPLAY_FLAG[@]}" $FORGET_B_FLAGS
    AB_CKPT=$(pick "$RUNS/forget-AB" uniform-100 forget_val_AB)
    "$EDGE_RL" evaluate --schedule pareto-55:2 --seeds $SEED_LIST \
        --checkpoint "$A_CKPT" "$AB_CKPT" --policy shortest-expected-delay least-observed-load \
        --paired-against "$FORGET_ALGO:forget-A" --json "$OUT/forgetting_on_A.json"
    "$EDGE_RL" evaluate --schedule uniform-100:2 --seeds $SEED_LIST \
        --checkpoint "$A_CKPT" "$AB_CKPT" --policy shortest-expected-delay least-observed-load \
        --paired-against "$FORGET_ALGO:forget-A" --json "$OUT/forgetting_on_B.json"
fi
