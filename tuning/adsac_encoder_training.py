"""ADSAC: who trains the attention encoder, at which actor rate, at which depth?

Question: the actor's attention encoder can be trained by the actor loss through the diffusion
chain (``shared_encoder=False``, the default) or by the critics' TD loss, the critics' heads
reading the same encoder and the actor reading it detached (``shared_encoder=True``, as SAC-AE
and DrQ train image encoders). On this project's 2-core machine the TD-trained encoder reached
1540 greedy return in 45 minutes on adsac-paper (seed 0, actor lr 1e-4) where the actor-trained
one reached 1429-1442 (docs/history/aigc.md, session 10); this sweep asks whether that holds across
seeds, actor learning rates (3e-5, 1e-4) and depths (1, 2), at equal env steps. 8 grid points x
3 seeds = 24 trials of 100,000 env steps; ASHA (grace 20,000, reduction factor 3) stops the weak
ones early. Each trial: learner (1 CPU) + 2 env runners of 8 envs at 0.5 CPU each = 2 CPUs.

Launch::

    edge-rl sweep tuning/adsac_encoder_training.py --dry-run               # list the 24 trials
    edge-rl sweep tuning/adsac_encoder_training.py --output runs/encoder_training --wandb
    scripts/submit.sh --address http://HEAD:8265 -- sweep tuning/adsac_encoder_training.py \\
        --output /mnt/shared/sweeps/encoder_training --wandb              # on a Ray cluster

Outputs under --output: results.csv (one row per trial), heatmap.png (final return over
shared_encoder x actor_lr, mean over seeds and depths), summary.json, and the trials.
"""

from edge_rl.training.algos import RunSpec
from edge_rl.training.sweeps import Asha, Sweep

SWEEP = Sweep(
    name="adsac_encoder_training",
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
            "updates_per_env_step": 0.25,
        },
    ),
    grid={
        "shared_encoder": [False, True],
        "actor_lr": [3e-5, 1e-4],
        "attention_depth": [1, 2],
    },
    seeds=(0, 1, 2),
    metric="env/episode_return_last100",
    mode="max",
    scheduler=Asha(grace_steps=20_000, reduction_factor=3),
    heatmap=("shared_encoder", "actor_lr"),
    launch="edge-rl sweep tuning/adsac_encoder_training.py --output runs/encoder_training --wandb",
)
