"""ADSAC (attention-diffusion soft actor-critic) on RLlib's current API stack.

``ADSACConfig`` is a fluent builder; ``ADSAC.training_step`` samples from the env runners into an
n-step replay buffer, runs gradient updates on the learner group and syncs the inference-only
actor back to the env runners. D2SAC is the same algorithm with ``attention_depth=0``.

References: Du et al., "Diffusion-based Reinforcement Learning for Edge-enabled AI-Generated
Content Services" (D2SAC, IEEE TMC 2024); "Towards Multi-Task Generative-AI Edge Services with an
Attention-based Diffusion DRL Approach" (ADSAC, arXiv 2405.08328).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env import INPUT_ENV_SINGLE_SPACES
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    TIMERS,
)
from ray.util import log_once

from edge_rl.algorithms.adsac.adsac_learner import DISCOUNTS, UPDATE_ORDERS
from edge_rl.algorithms.adsac.replay import NStepReplayBuffer
from edge_rl.algorithms.learning_rates import is_positive_number, learning_rate_error
from edge_rl.algorithms.replay_algorithm import (
    ReplayAlgorithm,
    async_sampling_error,
)
from edge_rl.models.categorical import ACTOR_HEADS
from edge_rl.models.diffusion import BETA_SCHEDULES, DENOISER_OUTPUTS
from edge_rl.models.tokenizers import ACTION_HEAD_MODES

#: key of ADSAC's own part of the algorithm state (update counters, replay buffer)
ADSAC_STATE = "adsac"


class ADSACConfig(AlgorithmConfig):
    """Settings of ADSAC. Defaults are the reference's (adsac-algorithm.md) unless noted.

    Model (``training(...)``):
        attention_depth: transformer layers over the state's tokens; 0 = no attention (D2SAC).
            1-2 is sensible; cost grows linearly.
        attention_heads: heads per layer; must divide ``attention_width``.
        attention_width: token width D (reference 256; 64 is ~4x cheaper on CPU).
        attention_dropout: dropout inside attention layers (reference 0.4).
        attention_raw_state: on the paper layouts the actor's denoiser also sees the raw
            observation next to the attention embedding, as the reference ADSAC's does (True;
            False feeds it the attention embedding alone, which learned worse than random in
            the runs measured so far).
        actor_head: "diffusion" (the reference: a DDPM over the action logits) or "softmax"
            (the ablation: logits straight from an MLP on the same encoding, discrete SAC's
            actor; ``edge_rl.models.categorical``). With "softmax" the diffusion settings
            are unused except ``denoiser`` (the head's form) and ``denoiser_hidden`` (its width).
        diffusion_steps: denoising steps N of the actor's DDPM (reference 5; 1-20 sensible).
        beta_schedule: "vp" (reference), "linear" or "cosine".
        critic_attention_depth: attention layers of the critics' own encoders; None = 0 on the
            paper layouts (the reference critic is an MLP on the flat state) and
            ``attention_depth`` on the "tokens" layout.
        denoiser: the actor's epsilon network: "mlp" (the reference: one MLP over the whole
            logit vector) or "per-action" (one shared MLP per action logit that reads the
            action's own token after attention, so what it learns about one server carries to
            the others); None = the layout's default ("mlp" on the paper layouts, "per-action"
            on "tokens").
        critic_head: the same choice for the critics' Q heads ("mlp", "per-action", None).
        denoiser_output: "tanh" (the reference: |eps| <= 1, which caps how much of its noise the
            chain can cancel, so softmax(x_0) keeps depending on the noise) or "linear" (an
            unbounded eps; see ``edge_rl.models.diffusion``).
        shared_encoder: False (default): the actor's attention encoder is trained by the actor
            loss through the diffusion chain and the critics have their own encoders. True:
            one encoder, the actor's, whose features both the actor and the critics' heads read;
            only the critics' TD loss trains it (the actor reads it detached), as SAC-AE and
            DrQ do with image encoders. Its rate is ``encoder_lr``, or ``critic_lr`` when that
            is None (on the "regions" preset the critics' 1e-3 diverged after ~36k env steps
            and ``encoder_lr=1e-4`` held; see the README). Cannot be combined with
            ``critic_attention_depth``.

    Losses and updates:
        gamma (0.95), n_step (3, the reference; 1 learned better here: masked ADSAC on
        adsac-paper, 45 minutes, three seeds each, 1960.5 with n_step=1 against 1938.3 with 3,
        every n_step=1 run above every n_step=3 run, see docs/history/aigc.md session 20),
        tau (0.005, Polyak rate of target actor and critics),
        actor_lr (1e-4, the reference; with attention 3e-5 learned where 1e-4 did not, see
        docs/history/aigc.md), encoder_lr (None = actor_lr, or critic_lr with
        ``shared_encoder``: the learning rate of the actor's attention encoder alone, so that
        the denoiser can learn at D2SAC's rate while attention moves slower), critic_lr
        (1e-3); every learning rate may also be a schedule in env steps, RLlib's [[0, lr0],
        [steps, lr1], ...] (linear in between; see edge_rl/algorithms/learning_rates.py),
        weight_decay (1e-4, Adam's L2 term),
        initial_alpha (0.05; the fixed temperature when ``learn_alpha`` is False),
        learn_alpha (False), alpha_lr (3e-4), target_entropy_fraction (0.6: target entropy =
        fraction * log|A| when alpha is learned), entropy_in_target (False: the reference's critic
        target has no entropy term), train_batch_size_per_learner (512),
        replay_capacity (1e6 transitions), updates_per_env_step (reference 1.0; 0.25 is the
        measured CPU budget setting), num_steps_sampled_before_learning_starts (1000),
        checkpoint_replay_buffer (True: checkpoints carry the filled part of the replay buffer,
        so ``--resume`` continues exactly; ~300 MB per million paper-layout transitions),
        update_order ("joint": one backward pass over both losses, the actor seeing the critic
        from before the step, as RLlib's SAC does; "critic_first", the reference's order: the
        critic steps, then the actor's loss is taken against the updated critic. Measured on
        adsac-paper, seed 0, 46k env steps: ADSAC greedy return 1207 joint vs 833 critic_first
        at actor lr 3e-5, 830 vs 155 at 1e-4; D2SAC 1510 vs 1509 after 45 minutes),
        async_sampling (False: the env runners sample, then the learner updates; True: the
        remote env runners sample their next fragment while the learner updates, one
        iteration's weights behind; needs num_env_runners >= 1).

    Action masking:
        action_masking: False (the reference): the policy may pick a (server, model) whose
            server lacks the free capacity for the task, and learns from the crash penalty not
            to. True: such actions get probability zero in exploration, evaluation and every
            loss (``edge_rl.models.masking``); feasibility is read from the observation (t and
            each server's free capacity are in every layout), so the policy sees nothing new.
            With no feasible action at all the policy acts unmasked.
    """

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or ADSAC)
        # model
        self.attention_depth = 1
        self.attention_heads = 1
        self.attention_width = 256
        self.attention_dropout = 0.4
        self.attention_ff_mult = 2
        self.attention_raw_state = True
        self.actor_head = "diffusion"
        self.diffusion_steps = 5
        self.beta_schedule = "vp"
        self.denoiser_hidden = 256
        self.critic_hidden = 256
        self.critic_attention_depth: int | None = None
        self.denoiser: str | None = None
        self.denoiser_output = "tanh"
        self.critic_head: str | None = None
        self.shared_encoder = False
        self.observation_layout: str | None = None  # derived from the env when None
        # losses and optimisation
        self.gamma = 0.95
        self.n_step = 3
        self.tau = 0.005
        self.actor_lr = 1e-4
        self.encoder_lr: float | None = None
        self.critic_lr = 1e-3
        self.alpha_lr = 3e-4
        self.weight_decay = 1e-4
        self.initial_alpha = 0.05
        self.learn_alpha = False
        self.target_entropy_fraction = 0.6
        self.entropy_in_target = False
        self.lr = None  # per-network rates above
        self.train_batch_size_per_learner = 512
        self.replay_capacity = 1_000_000
        self.updates_per_env_step = 1.0
        self.num_steps_sampled_before_learning_starts = 1000
        self.checkpoint_replay_buffer = True
        self.update_order = "joint"
        self.async_sampling = False
        self.action_masking = False
        # sampling: fragments of 32 steps per env keep per-iteration overhead low
        self.rollout_fragment_length = 32
        self.gym_env_vectorize_mode = "vector_entry_point"

    @override(AlgorithmConfig)
    def training(
        self,
        *,
        attention_depth: int = NotProvided,
        attention_heads: int = NotProvided,
        attention_width: int = NotProvided,
        attention_dropout: float = NotProvided,
        attention_ff_mult: int = NotProvided,
        attention_raw_state: bool = NotProvided,
        actor_head: str = NotProvided,
        diffusion_steps: int = NotProvided,
        beta_schedule: str = NotProvided,
        denoiser_hidden: int = NotProvided,
        critic_hidden: int = NotProvided,
        critic_attention_depth: int | None = NotProvided,
        denoiser: str | None = NotProvided,
        denoiser_output: str = NotProvided,
        critic_head: str | None = NotProvided,
        shared_encoder: bool = NotProvided,
        observation_layout: str | None = NotProvided,
        n_step: int = NotProvided,
        tau: float = NotProvided,
        actor_lr: float | list = NotProvided,
        encoder_lr: float | list | None = NotProvided,
        critic_lr: float | list = NotProvided,
        alpha_lr: float | list = NotProvided,
        weight_decay: float = NotProvided,
        initial_alpha: float = NotProvided,
        learn_alpha: bool = NotProvided,
        target_entropy_fraction: float = NotProvided,
        entropy_in_target: bool = NotProvided,
        replay_capacity: int = NotProvided,
        updates_per_env_step: float = NotProvided,
        num_steps_sampled_before_learning_starts: int = NotProvided,
        checkpoint_replay_buffer: bool = NotProvided,
        update_order: str = NotProvided,
        async_sampling: bool = NotProvided,
        action_masking: bool = NotProvided,
        **kwargs: Any,
    ) -> ADSACConfig:
        """Set ADSAC's settings (see the class docstring) and AlgorithmConfig's own."""
        super().training(**kwargs)
        for name, value in list(locals().items()):
            if name not in ("self", "kwargs", "__class__") and value is not NotProvided:
                setattr(self, name, value)
        return self

    @property
    def keys_of_model(self) -> tuple[str, ...]:
        return (
            "attention_depth",
            "attention_heads",
            "attention_width",
            "attention_dropout",
            "attention_ff_mult",
            "attention_raw_state",
            "actor_head",
            "diffusion_steps",
            "beta_schedule",
            "denoiser_hidden",
            "critic_hidden",
            "critic_attention_depth",
            "denoiser",
            "denoiser_output",
            "critic_head",
            "shared_encoder",
            "observation_layout",
            "initial_alpha",
            "learn_alpha",
            "action_masking",
        )

    def feasibility_settings(self) -> dict[str, Any] | None:
        """With ``action_masking``: the env's normalisers the RLModule needs to read "t <= free"
        from a paper-layout observation (from ``env_config``); else None. A ValueError when
        ``env_config`` is not a valid AIGC env config."""
        if not self.action_masking:
            return None
        from edge_rl.envs.aigc.env import config_of_env_kwargs
        from edge_rl.envs.aigc.observation import feasibility_settings

        return feasibility_settings(config_of_env_kwargs(dict(self.env_config or {})))

    @property
    @override(AlgorithmConfig)
    def _model_config_auto_includes(self) -> dict[str, Any]:
        return super()._model_config_auto_includes | {
            **{k: getattr(self, k) for k in self.keys_of_model},
            "feasibility": self.feasibility_settings(),
        }

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from edge_rl.algorithms.adsac.torch.adsac_torch_rl_module import ADSACTorchRLModule

        return RLModuleSpec(module_class=ADSACTorchRLModule)

    @override(AlgorithmConfig)
    def get_default_learner_class(self) -> type:
        from edge_rl.algorithms.adsac.torch.adsac_torch_learner import ADSACTorchLearner

        return ADSACTorchLearner

    @override(AlgorithmConfig)
    def validate(self) -> None:
        super().validate()
        self.validate_adsac()

    def validate_adsac(self) -> None:
        """ADSAC's own checks; each error names the setting, its value and the fix."""

        def bad(msg: str) -> None:
            self._value_error(f"ADSAC: {msg}")

        ints_at_least = {
            "attention_depth": 0,
            "attention_heads": 1,
            "attention_width": 1,
            "attention_ff_mult": 0,
            "diffusion_steps": 1,
            "denoiser_hidden": 1,
            "critic_hidden": 1,
            "n_step": 1,
            "train_batch_size_per_learner": 1,
            "replay_capacity": 1,
            "num_steps_sampled_before_learning_starts": 0,
        }
        for name, low in ints_at_least.items():
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
                bad(f"{name}={value!r}: must be an integer >= {low}")
        if self.attention_width % self.attention_heads:
            bad(
                f"attention_heads={self.attention_heads} must divide attention_width="
                f"{self.attention_width}; pick e.g. attention_heads=1, 2 or 4 with width 64"
            )
        if self.critic_attention_depth is not None and self.critic_attention_depth < 0:
            bad(f"critic_attention_depth={self.critic_attention_depth}: must be >= 0 or None")
        if not isinstance(self.shared_encoder, bool):
            bad(f"shared_encoder={self.shared_encoder!r}: must be true or false")
        if self.shared_encoder and self.critic_attention_depth is not None:
            bad(
                f"shared_encoder=True with critic_attention_depth={self.critic_attention_depth}"
                ": the critics read the actor's encoder then; leave critic_attention_depth None"
            )
        if self.shared_encoder and self.critic_head == "per-action" and self.denoiser == "mlp":
            bad(
                "shared_encoder=True with critic_head='per-action' and denoiser='mlp': the "
                "shared encoder yields per-action tokens only for a per-action denoiser; set "
                "denoiser='per-action' or critic_head='mlp'"
            )
        for name in ("denoiser", "critic_head"):
            value = getattr(self, name)
            if value is not None and value not in ACTION_HEAD_MODES:
                bad(
                    f"{name}={value!r}: use 'mlp' (the reference), 'per-action' (one shared "
                    "MLP per action, reading its token) or None (the layout's default)"
                )
        if self.actor_head not in ACTOR_HEADS:
            bad(
                f"actor_head={self.actor_head!r}: use 'diffusion' (the reference's DDPM over "
                "logits) or 'softmax' (an MLP's logits on the same encoder: the ablation)"
            )
        if self.denoiser_output not in DENOISER_OUTPUTS:
            bad(
                f"denoiser_output={self.denoiser_output!r}: use 'tanh' (the reference) or "
                "'linear' (an unbounded epsilon network output)"
            )
        if self.beta_schedule not in BETA_SCHEDULES:
            bad(f"beta_schedule={self.beta_schedule!r}: use one of {sorted(BETA_SCHEDULES)}")
        if not 0.0 <= self.attention_dropout < 1.0:
            bad(f"attention_dropout={self.attention_dropout}: must be in [0, 1)")
        if not 0.0 < self.gamma <= 1.0:
            bad(f"gamma={self.gamma}: must be in (0, 1]")
        if not 0.0 < self.tau <= 1.0:
            bad(f"tau={self.tau}: must be in (0, 1] (reference 0.005)")
        if not is_positive_number(self.initial_alpha):
            bad(f"initial_alpha={self.initial_alpha!r}: must be a positive number")
        for name in ("actor_lr", "critic_lr", "alpha_lr", "encoder_lr"):
            value = getattr(self, name)
            if name == "encoder_lr" and value is None:
                continue  # = actor_lr
            error = learning_rate_error(name, value)
            if error:
                bad(error + (" (or None = actor_lr)" if name == "encoder_lr" else ""))
        if self.weight_decay < 0:
            bad(f"weight_decay={self.weight_decay}: must be >= 0")
        if not 0.0 < self.target_entropy_fraction <= 1.0:
            bad(f"target_entropy_fraction={self.target_entropy_fraction}: must be in (0, 1]")
        if not self.updates_per_env_step > 0:
            bad(f"updates_per_env_step={self.updates_per_env_step}: must be > 0 (reference 1.0)")
        if self.update_order not in UPDATE_ORDERS:
            bad(
                f"update_order={self.update_order!r}: use 'critic_first' (the reference: critic "
                "step, then actor step against the updated critic) or 'joint' (one backward pass)"
            )
        error = async_sampling_error(self)
        if error:
            bad(error)
        if self.lr is not None:
            bad("lr is not used: set actor_lr, critic_lr and alpha_lr instead (and lr=None)")
        if not isinstance(self.action_masking, bool):
            bad(f"action_masking={self.action_masking!r}: must be true or false")
        try:
            self.feasibility_settings()
        except (TypeError, ValueError) as err:
            bad(f"action_masking=True needs an AIGC env config: {err}")
        if self.observation_layout not in (None, "paper-adsac", "paper-agod", "tokens"):
            bad(
                f"observation_layout={self.observation_layout!r}: use None (from the env), "
                "'paper-adsac', 'paper-agod' or 'tokens'"
            )


class ADSAC(ReplayAlgorithm):
    """The ADSAC algorithm: replay-based off-policy training of the diffusion actor."""

    STATE_KEY = ADSAC_STATE
    SYNC_INFERENCE_ONLY = True  # the env runners' module has no critics

    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> ADSACConfig:
        return ADSACConfig()

    @override(Algorithm)
    def setup(self, config: ADSACConfig) -> None:
        super().setup(config)
        obs_space, _ = self.env_runner_group.get_spaces()[INPUT_ENV_SINGLE_SPACES]
        self.replay = NStepReplayBuffer(
            capacity=self.config.replay_capacity,
            obs_shape=tuple(obs_space.shape),
            n_step=self.config.n_step,
            gamma=self.config.gamma,
            seed=self.config.seed,
        )

    @override(ReplayAlgorithm)
    def store_episode(self, episode: Any) -> None:
        self.replay.add_chunk(
            episode.id_,
            np.asarray(episode.get_observations()),
            np.asarray(episode.get_actions()),
            np.asarray(episode.get_rewards()),
            episode.is_terminated,
            episode.is_truncated,
        )

    @override(ReplayAlgorithm)
    def replay_ready(self) -> bool:
        # After a resume without the buffer, refill it a little before sampling from it.
        starts = self.config.num_steps_sampled_before_learning_starts
        return len(self.replay) >= max(1, min(starts, self.config.train_batch_size_per_learner))

    @override(ReplayAlgorithm)
    def updates_earned(self, new_steps: int) -> float:
        return new_steps * self.config.updates_per_env_step

    def _run_updates(self, num_updates: int, lifetime: int) -> None:
        """``num_updates`` gradient steps of one minibatch each, in a single learner call."""
        batch_size = self.config.train_batch_size_per_learner * max(1, self.config.num_learners)
        data = self.replay.sample(batch_size * num_updates)
        columns = SampleBatch(
            {
                Columns.OBS: data["obs"],
                Columns.ACTIONS: data["actions"],
                Columns.REWARDS: data["rewards"],
                Columns.NEXT_OBS: data["next_obs"],
                DISCOUNTS: data["discounts"],
            }
        )
        # A MultiAgentBatch of numpy arrays: the learner moves it to its device as tensors.
        batch = MultiAgentBatch({DEFAULT_MODULE_ID: columns}, env_steps=len(columns))
        with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
            results = self.learner_group.update(
                batch=batch,
                minibatch_size=self.config.train_batch_size_per_learner,
                num_epochs=1,
                timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: lifetime},
            )
        self.metrics.aggregate(results, key=LEARNER_RESULTS)
        self.count_updates(num_updates)


# RLlib warns once per algorithm that it runs "on the new API stack" as if that were a change of
# behaviour; ADSAC exists only there, so the warning would only be noise.
log_once(f"{ADSAC.__name__}_on_new_api_stack")
