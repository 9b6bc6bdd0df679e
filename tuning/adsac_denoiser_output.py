"""ADSAC and D2SAC with and without the Tanh on the diffusion chain's epsilon output.

Question: the reference's epsilon network ends in a Tanh (|eps| <= 1), which cannot cancel the
chain's starting noise (README, "What caps ADSAC"). On this project's 2-core machine, masked
one-step ADSAC (``action_masking=true``, ``n_step=1``) scored 1978.8 over three 45-minute seeds
with ``denoiser_output=linear`` against 1960.5 with the Tanh (every linear run above every Tanh
run, exact permutation p = 0.10, the floor for 3 vs 3), while D2SAC (depth 0) lost with the same
change (1921.6 against 1967.1, one run of three flat at ~1870 from 30k env steps):
docs/history/aigc.md, sessions 23-24. Three runs per arm cannot give a smaller p; this sweep
repeats the four arms (output x attention depth) on ten seeds at the runs' ~100,000 env steps,
every trial to the full budget (no early stopping: the question is the final policy). Depth 0
is D2SAC on ADSAC's recipe here (same width, critic-trained encoder); the sessions' D2SAC runs
used ``--algo d2sac`` with its own defaults. 4 grid points x 10 seeds = 40 trials. Each trial:
learner (1 CPU) + 2 env runners of 8 envs at 0.5 CPU each = 2 CPUs.

Launch::

    edge-rl sweep tuning/adsac_denoiser_output.py --dry-run                # list the 40 trials
    edge-rl sweep tuning/adsac_denoiser_output.py --output runs/denoiser_output --wandb
    scripts/submit.sh --address http://HEAD:8265 -- sweep tuning/adsac_denoiser_output.py \\
        --output /mnt/shared/sweeps/denoiser_output --wandb               # on a Ray cluster

Outputs under --output: results.csv (one row per trial), heatmap.png (final training return over
denoiser_output x attention_depth, mean over seeds), summary.json, and the trials. The training
return is the exploring policy's; judge the arms by their checkpoints' greedy policy: ``edge-rl
evaluate --checkpoint TRIAL --policy prophet --seeds $(seq 0 19) --act-by mean-probs:128
--paired-against prophet --json ...`` per trial, then ``scripts/compare_reports.py ... --average
... --run-level A B`` over the trials of two arms.
"""

from edge_rl.training.algos import RunSpec
from edge_rl.training.sweeps import Sweep

SWEEP = Sweep(
    name="adsac_denoiser_output",
    run=RunSpec(
        algo="adsac",
        env="aigc",
        preset="adsac-paper",
        world_seed=0,
        timesteps=100_000,
        num_env_runners=2,
        envs_per_runner=8,
        cpus_per_env_runner=0.5,
        settings={
            "attention_width": 64,
            "attention_dropout": 0.0,
            "shared_encoder": True,
            "updates_per_env_step": 0.25,
            "action_masking": True,
            "n_step": 1,
        },
    ),
    grid={"denoiser_output": ["tanh", "linear"], "attention_depth": [0, 1]},
    seeds=tuple(range(10)),
    metric="env/episode_return_last100",
    mode="max",
    scheduler=None,
    heatmap=("denoiser_output", "attention_depth"),
    launch="edge-rl sweep tuning/adsac_denoiser_output.py --output runs/denoiser_output --wandb",
)
