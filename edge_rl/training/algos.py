"""Which RLlib algorithm configs ``edge-rl train --algo NAME`` builds, and how.

- ``adsac``: ADSAC (attention over state tokens + diffusion actor), edge_rl's own algorithm.
- ``d2sac``: the same with ``attention_depth=0`` (D2SAC).
- ``sac``, ``ppo``, ``dqn``: RLlib's built-ins on the same env, at RLlib's defaults except
  the discount (the reference's 0.95) and CPU-sized batches.
- ``a2c``: PPO configured as A2C (one epoch, one minibatch, no clipping, no KL term).
- ``meta-dreamer``: discrete world model + RL^2 recurrent policy, edge_rl's own (load balancing
  trials).
- ``rl2-ppo``: RL^2 with PPO: an LSTM policy over trials (RLlib's PPO with ``use_lstm``); the
  trial env puts the previous action, reward and new-episode flag in the observation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

from edge_rl.algorithms.meta_dreamer.meta_dreamer_learner import GUIDE_WEIGHT_KEY
from edge_rl.algorithms.registry import RLLIB_ENV_NAMES
from edge_rl.algorithms.server_scoring_module import POLICY_NET_KEY, POLICY_NETS
from edge_rl.training.callbacks import EpisodeSummaryCallback


def _adsac() -> AlgorithmConfig:
    from edge_rl.algorithms.adsac.adsac import ADSACConfig

    return ADSACConfig()


def _d2sac() -> AlgorithmConfig:
    from edge_rl.algorithms.adsac.adsac import ADSACConfig

    return ADSACConfig().training(attention_depth=0)


def _sac() -> AlgorithmConfig:
    from ray.rllib.algorithms.sac import SACConfig

    from edge_rl.algorithms.replay_checkpointing import CheckpointedSAC

    return _off_policy_builtin(SACConfig(algo_class=CheckpointedSAC))


def _ppo() -> AlgorithmConfig:
    from ray.rllib.algorithms.ppo import PPOConfig

    return PPOConfig().training(gamma=0.95, train_batch_size_per_learner=2048)


def _dqn() -> AlgorithmConfig:
    from ray.rllib.algorithms.dqn import DQNConfig

    from edge_rl.algorithms.replay_checkpointing import CheckpointedDQN

    return _off_policy_builtin(DQNConfig(algo_class=CheckpointedDQN))


def _off_policy_builtin(config: AlgorithmConfig) -> AlgorithmConfig:
    """RLlib's SAC/DQN as edge_rl runs them: ADSAC's discount (0.95) and 3-step targets, and the
    replay buffer left out of checkpoints unless asked (~4.7 KB per stored env step, README)."""
    config.checkpoint_replay_buffer = False
    return config.training(gamma=0.95, n_step=3, train_batch_size_per_learner=256)


A2C_TRAIN_BATCH = 2000


def _a2c() -> AlgorithmConfig:
    """A2C as PPO with one epoch over one minibatch (RLlib removed A2C after 2.10).

    With a single gradient step on freshly sampled data the probability ratio is exactly 1, so
    the clipped surrogate's gradient is the advantage-weighted policy gradient (clip and KL terms
    switched off for clarity): synchronous advantage actor-critic with GAE.
    """
    from ray.rllib.algorithms.ppo import PPOConfig

    return PPOConfig().training(
        gamma=0.99,
        lambda_=0.95,
        train_batch_size_per_learner=A2C_TRAIN_BATCH,
        minibatch_size=A2C_TRAIN_BATCH,
        num_epochs=1,
        shuffle_batch_per_epoch=False,
        use_kl_loss=False,
        kl_coeff=0.0,
        clip_param=1e9,
        vf_clip_param=float("inf"),
        entropy_coeff=0.01,
        lr=7e-4,
    )


def _meta_dreamer() -> AlgorithmConfig:
    from edge_rl.algorithms.meta_dreamer.meta_dreamer import MetaDreamerConfig

    return MetaDreamerConfig()


RL2_MAX_SEQ_LEN = 64


def _rl2_ppo() -> AlgorithmConfig:
    """PPO with an LSTM (memory carried through a whole trial while sampling; truncated BPTT
    over ``max_seq_len`` steps starting from the stored state when training)."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    return (
        PPOConfig()
        .training(
            gamma=0.99,
            lambda_=0.95,
            train_batch_size_per_learner=4096,
            minibatch_size=1024,
            num_epochs=4,
            lr=3e-4,
            entropy_coeff=0.01,
            vf_clip_param=float("inf"),
        )
        .rl_module(
            model_config=DefaultModelConfig(
                use_lstm=True,
                lstm_cell_size=128,
                max_seq_len=RL2_MAX_SEQ_LEN,
                fcnet_hiddens=[128],
                lstm_use_prev_action=False,  # the trial env's observation already holds both
                lstm_use_prev_reward=False,
            )
        )
    )


#: algo name -> builder of its base config
ALGORITHMS: dict[str, Callable[[], AlgorithmConfig]] = {
    "adsac": _adsac,
    "d2sac": _d2sac,
    "sac": _sac,
    "ppo": _ppo,
    "dqn": _dqn,
    "a2c": _a2c,
    "meta-dreamer": _meta_dreamer,
    "rl2-ppo": _rl2_ppo,
}

#: env families each algorithm supports
ALGO_ENVS: dict[str, tuple[str, ...]] = {
    "adsac": ("aigc",),
    "d2sac": ("aigc",),
    "sac": ("aigc", "load-balance", "load-balance-trials"),
    "ppo": ("aigc", "load-balance", "load-balance-trials"),
    "dqn": ("aigc", "load-balance", "load-balance-trials"),
    "a2c": ("aigc", "load-balance", "load-balance-trials"),
    "meta-dreamer": ("load-balance-trials",),
    "rl2-ppo": ("load-balance-trials",),
}

#: env family -> its default preset
DEFAULT_PRESETS: dict[str, str] = {
    "aigc": "adsac-paper",
    "load-balance": "park",
    "load-balance-trials": "family",
}


def _flatten_observations(env: Any = None, spaces: Any = None, device: Any = None) -> Any:
    from ray.rllib.connectors.env_to_module import FlattenObservations

    return FlattenObservations()


def default_gpus_per_learner() -> float:
    """1 when this machine has a CUDA GPU, else 0 (asking for a GPU without one fails)."""
    return 1.0 if torch.cuda.is_available() else 0.0


@dataclass
class RunSpec:
    """Everything that defines a training run (saved as run.json next to its checkpoints).

    Placement (see ``edge_rl.training.resources``): ``cpus_per_env_runner`` and
    ``cpus_per_learner`` (None: RLlib's auto, 1 without a GPU) are the CPUs each actor
    reserves; ``cpus_for_main_process`` is the Algorithm actor's under Tune;
    ``env_runner_resources`` / ``learner_resources`` are custom Ray resources (e.g.
    ``{"rollout": 1}`` / ``{"learner": 1}``) that pin env runners to CPU nodes and learners to
    GPU nodes. ``max_env_runner_restarts``: how often a lost env runner is restarted before the
    run fails.
    """

    algo: str
    env: str = "aigc"
    preset: str = "adsac-paper"
    world_seed: int | None = 0
    timesteps: int = 100_000
    num_env_runners: int = 0
    envs_per_runner: int = 8
    num_learners: int = 0
    gpus_per_learner: float | None = None
    seed: int = 0
    env_overrides: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    cpus_per_env_runner: float = 1.0
    cpus_per_learner: float | None = None
    cpus_for_main_process: float = 1.0
    env_runner_resources: dict[str, float] = field(default_factory=dict)
    learner_resources: dict[str, float] = field(default_factory=dict)
    max_env_runner_restarts: int = 1000


def env_config_of(spec: RunSpec) -> dict[str, Any]:
    env_config: dict[str, Any] = {"preset": spec.preset, **spec.env_overrides}
    if spec.env == "aigc" and spec.world_seed is not None:
        env_config["world_seed"] = spec.world_seed
    return env_config


def build_config(spec: RunSpec) -> AlgorithmConfig:
    """The full AlgorithmConfig of a run; unknown ``settings`` keys are errors."""
    if spec.algo not in ALGORITHMS:
        raise ValueError(f"unknown algo {spec.algo!r}; choose one of: {', '.join(ALGORITHMS)}")
    if spec.env not in ALGO_ENVS[spec.algo]:
        raise ValueError(
            f"--algo {spec.algo} does not run on --env {spec.env}; it runs on: "
            f"{', '.join(ALGO_ENVS[spec.algo])}"
        )
    config = ALGORITHMS[spec.algo]()
    gpus = default_gpus_per_learner() if spec.gpus_per_learner is None else spec.gpus_per_learner
    if gpus > 0 and not torch.cuda.is_available() and spec.num_learners == 0:
        raise ValueError(
            f"--gpus-per-learner {gpus}: this machine has no CUDA GPU; use 0 here, or give "
            "--num-learners >= 1 so learners run as Ray actors on a cluster's GPU nodes"
        )
    config = (
        config.environment(RLLIB_ENV_NAMES[spec.env], env_config=env_config_of(spec))
        .env_runners(
            num_env_runners=spec.num_env_runners,
            num_envs_per_env_runner=spec.envs_per_runner,
            gym_env_vectorize_mode="vector_entry_point",
            num_cpus_per_env_runner=spec.cpus_per_env_runner,
            custom_resources_per_env_runner=dict(spec.env_runner_resources),
        )
        .learners(
            num_learners=spec.num_learners,
            num_gpus_per_learner=gpus,
            num_cpus_per_learner="auto" if spec.cpus_per_learner is None else spec.cpus_per_learner,
            custom_resources_per_learner=dict(spec.learner_resources),
        )
        .resources(num_cpus_for_main_process=spec.cpus_for_main_process)
        # A lost rollout actor (preempted node, OOM kill) is restarted as an identical copy and
        # the run goes on; sampling skips it meanwhile.
        .fault_tolerance(
            restart_failed_env_runners=True,
            max_num_env_runner_restarts=spec.max_env_runner_restarts,
        )
        .callbacks(EpisodeSummaryCallback)
        .debugging(seed=spec.seed)
    )
    if spec.algo not in ("adsac", "d2sac", "meta-dreamer"):
        # RLlib's default encoders take flat vectors; the "tokens" layout is (1 + E*M, F).
        config.env_runners(env_to_module_connector=_flatten_observations)
    settings = dict(spec.settings)
    policy_net = settings.pop(POLICY_NET_KEY, "mlp")
    # ADSAC/D2SAC have action_masking as a config field; RLlib's built-ins get masked modules
    masking = settings.pop(MASKING_KEY, False) if spec.algo in MASKED_MODULE_ALGOS else False
    # Meta-Dreamer has guide_weight as a config field; A2C/PPO get a guided learner
    guide_weight = settings.pop(GUIDE_KEY, 0.0) if spec.algo in GUIDED_PPO_ALGOS else 0.0
    unknown = [k for k in settings if not hasattr(config, k)]
    if unknown:
        raise ValueError(
            f"unknown setting(s) {unknown} for --algo {spec.algo}; "
            f"see `edge-rl train --algo {spec.algo} --show-config` for the valid keys"
        )
    config.update_from_dict(settings)
    from edge_rl.algorithms.replay_checkpointing import replay_setting_error

    if (error := replay_setting_error(config)) is not None:
        raise ValueError(error)
    _apply_policy_net(config, spec, policy_net)
    _apply_guidance(config, spec, guide_weight)
    _apply_action_masking(config, spec, masking)
    model = config.model_config if isinstance(config.model_config, dict) else {}
    minibatch = getattr(config, "minibatch_size", None)
    if (model.get("use_lstm") or model.get("memory")) and minibatch is not None:
        seq = model.get("max_seq_len", RL2_MAX_SEQ_LEN)
        if minibatch < 2 * seq:
            # RLlib slices a recurrent policy's minibatches in whole sequences; smaller ones
            # come out empty and fail deep inside the learner.
            raise ValueError(
                f"minibatch_size={minibatch} is too small for a recurrent policy with "
                f"max_seq_len={seq}: use minibatch_size >= {2 * seq}"
            )
    return config


#: algorithms whose policy network ``--set policy_net=...`` can swap, and the envs it reads
POLICY_NET_ALGOS = ("a2c", "ppo", "rl2-ppo")
SERVER_SCORING_ENVS = ("load-balance-trials",)
#: sizes of the server-scoring policy: feed-forward for a2c/ppo, GRU memory for rl2-ppo
SERVER_SCORING_HIDDEN = 64
SERVER_SCORING_MEMORY = 128


def _apply_policy_net(config: AlgorithmConfig, spec: RunSpec, policy_net: Any) -> None:
    """``policy_net=server-scoring``: the shared per-server scorer instead of RLlib's MLP/LSTM."""
    if policy_net not in POLICY_NETS:
        raise ValueError(f"policy_net={policy_net!r}: choose one of {', '.join(POLICY_NETS)}")
    if policy_net == "mlp":
        return
    if spec.algo not in POLICY_NET_ALGOS or spec.env not in SERVER_SCORING_ENVS:
        raise ValueError(
            f"policy_net={policy_net} works with --algo {'/'.join(POLICY_NET_ALGOS)} on "
            f"--env {'/'.join(SERVER_SCORING_ENVS)}; got --algo {spec.algo} --env {spec.env}"
        )
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from edge_rl.algorithms.server_scoring_module import ServerScoringTorchRLModule

    # Shared token encoder for policy and value: one seed each on family trials, A2C's best
    # checkpoint scored 945 shared vs 2575 with a separate value encoder (park, seeds 0-19).
    model = {"hidden": SERVER_SCORING_HIDDEN, "memory": 0, "separate_value": False}
    if spec.algo == "rl2-ppo":
        model.update(memory=SERVER_SCORING_MEMORY, max_seq_len=RL2_MAX_SEQ_LEN)
    config.rl_module(
        model_config=model,
        rl_module_spec=RLModuleSpec(module_class=ServerScoringTorchRLModule, model_config=model),
    )


#: the pseudo-setting that guides RLlib's PPO/A2C toward a heuristic (``guided_ppo``); it
#: goes to ``learner_config_dict`` under the same name
GUIDE_KEY = GUIDE_WEIGHT_KEY
GUIDED_PPO_ALGOS = ("a2c", "ppo")


def _apply_guidance(config: AlgorithmConfig, spec: RunSpec, weight: Any) -> None:
    """``guide_weight=W`` for a2c/ppo: PPO's loss plus W x the cross-entropy toward the
    heuristic that ``env.guide_policy`` names (a number or an env-step schedule; see
    ``edge_rl/algorithms/guided_ppo.py``)."""
    from edge_rl.algorithms.learning_rates import weight_ever_positive, weight_schedule_error

    error = weight_schedule_error(GUIDE_KEY, weight)
    if error:
        raise ValueError(error)
    if not weight_ever_positive(weight):
        return
    if spec.env != "load-balance-trials" or not spec.env_overrides.get("guide_policy"):
        raise ValueError(
            f"guide_weight={weight!r} needs a heuristic to label the states: use --env "
            "load-balance-trials with --set env.guide_policy=size-interval (any load-balancing "
            "heuristic's name), or set guide_weight=0"
        )
    from edge_rl.algorithms.guided_ppo import GuidedPPOTorchLearner, guide_connector

    config.training(
        learner_class=GuidedPPOTorchLearner,
        learner_connector=guide_connector,
        learner_config_dict={**config.learner_config_dict, GUIDE_KEY: weight},
    )


#: the pseudo-setting that masks RLlib's built-ins (``edge_rl.algorithms.masked_modules``)
MASKING_KEY = "action_masking"
MASKED_MODULE_ALGOS = ("ppo", "a2c", "dqn", "sac")


def _apply_action_masking(config: AlgorithmConfig, spec: RunSpec, masking: Any) -> None:
    """``action_masking=true`` for ppo/a2c/dqn/sac: RLlib's module with infeasible AIGC actions
    masked, reading feasibility from the observation as masked ADSAC does."""
    if not isinstance(masking, bool):
        raise ValueError(f"action_masking={masking!r}: must be true or false")
    if not masking:
        return
    if spec.env != "aigc":
        raise ValueError(
            f"action_masking masks (server, model) picks that would crash a server: it needs "
            f"--env aigc, got --env {spec.env}"
        )
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from edge_rl.algorithms.masked_modules import (
        MASK_KEY,
        MASKED_MODULES,
        check_num_atoms,
        mask_settings,
    )

    check_num_atoms(getattr(config, "num_atoms", 1))  # here, before Ray builds the modules
    model = dict(config.model_config)
    model[MASK_KEY] = mask_settings(config.env_config)
    config.rl_module(
        model_config=model,
        rl_module_spec=RLModuleSpec(module_class=MASKED_MODULES[spec.algo], model_config=model),
    )


def config_summary(config: AlgorithmConfig) -> dict[str, Any]:
    """The config as plain JSON-able values (for run.json, wandb, --show-config)."""
    return plain_config_values(config.to_dict())


def plain_config_values(config_dict: Mapping[str, Any]) -> dict[str, Any]:
    """A config dict's plain values (scalars, lists of scalars, the env/model config and custom
    resources as dicts of scalars); callbacks, classes and spaces are left out."""
    out: dict[str, Any] = {}
    for key, value in sorted(config_dict.items()):
        if isinstance(value, bool | int | float | str) or value is None:
            out[key] = value
        elif isinstance(value, list | tuple) and all(
            isinstance(v, bool | int | float | str) for v in value
        ):
            out[key] = list(value)
        elif isinstance(value, dict) and (
            key in ("env_config", "model_config") or key.startswith("custom_resources")
        ):
            out[key] = {k: v for k, v in value.items() if isinstance(v, bool | int | float | str)}
    return out
