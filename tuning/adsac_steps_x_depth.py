"""ADSAC: diffusion steps x attention depth on the reference AIGC setting (adsac-paper, world 0).

Question: how much do the actor's denoising steps (1, 3, 5, 10) and the attention encoder's depth
(0 = D2SAC, 1, 2, 4) buy in return, at equal env steps? 16 grid points x 3 seeds = 48 trials of
50,000 env steps; ASHA (on env steps: grace 10,000, reduction factor 3) stops the weak ones
early. Metric: ``env/episode_return_last100`` (mean return of the last 100 finished episodes,
across iterations; an episode is ~1,500 tasks). Each trial: the Algorithm with its learner
(1 CPU) + 2 env runners of 8 envs at 0.5 CPU each = 2 CPUs, so a 64-CPU cluster runs 32 trials at
once.

Launch::

    edge-rl sweep tuning/adsac_steps_x_depth.py --dry-run                  # list the 48 trials
    edge-rl sweep tuning/adsac_steps_x_depth.py --output runs/steps_x_depth --wandb
    scripts/submit.sh --address http://HEAD:8265 -- sweep tuning/adsac_steps_x_depth.py \\
        --output /mnt/shared/sweeps/steps_x_depth --wandb                 # on a Ray cluster

Smoke run (2 tiny trials, about a minute)::

    edge-rl sweep tuning/adsac_steps_x_depth.py --variant debug --output /tmp/sweep-debug

Outputs under --output: results.csv (one row per trial), heatmap.png (final return over
diffusion steps x attention depth, mean over seeds), summary.json (best checkpoint), and the
trials themselves (Tune folders with progress.csv, TensorBoard events, checkpoints, wandb runs).
"""

from dataclasses import replace

from edge_rl.training.algos import RunSpec
from edge_rl.training.sweeps import Asha, Sweep

SWEEP = Sweep(
    name="adsac_steps_x_depth",
    run=RunSpec(
        algo="adsac",
        env="aigc",
        preset="adsac-paper",
        world_seed=0,
        timesteps=50_000,
        num_env_runners=2,
        envs_per_runner=8,
        cpus_per_env_runner=0.5,  # numpy vector envs are cheap: two runners per core
        settings={"attention_width": 64, "updates_per_env_step": 0.25},
    ),
    grid={"diffusion_steps": [1, 3, 5, 10], "attention_depth": [0, 1, 2, 4]},
    seeds=(0, 1, 2),
    metric="env/episode_return_last100",
    mode="max",
    scheduler=Asha(grace_steps=10_000, reduction_factor=3),
    heatmap=("diffusion_steps", "attention_depth"),
    launch="edge-rl sweep tuning/adsac_steps_x_depth.py --output runs/steps_x_depth --wandb",
)

VARIANTS = {
    # Two tiny trials that finish episodes quickly (short horizon): a smoke test of the whole
    # path (Tune, ASHA, metrics, checkpoints, table, heatmap) in about a minute on 2 cores.
    "debug": replace(
        SWEEP,
        name="adsac_steps_x_depth_debug",
        run=replace(
            SWEEP.run,
            timesteps=96,
            num_env_runners=0,  # sample in the trial's own process: one actor per trial
            envs_per_runner=2,
            env_overrides={"horizon": 20_000},  # ~30 tasks per episode
            settings={
                "attention_width": 16,
                "denoiser_hidden": 32,
                "critic_hidden": 32,
                "train_batch_size_per_learner": 32,
                "num_steps_sampled_before_learning_starts": 16,
                "rollout_fragment_length": 16,
                "updates_per_env_step": 0.25,
            },
        ),
        grid={"diffusion_steps": [1, 2], "attention_depth": [1]},
        seeds=(0,),
        scheduler=Asha(grace_steps=64, reduction_factor=2),
        launch="edge-rl sweep tuning/adsac_steps_x_depth.py --variant debug --output /tmp/sweep",
    ),
}
