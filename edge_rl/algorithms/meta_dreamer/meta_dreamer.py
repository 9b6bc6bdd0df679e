"""Meta-Dreamer: a DreamerV3-style discrete world model with an RL^2 recurrent policy, on RLlib.

``MetaDreamerConfig`` is a fluent builder; ``MetaDreamer.training_step`` samples trials from the
env runners (each env is a ``MetaTrialEnv``: several episodes of one workload task, the policy's
memory kept across them), stores them as windows with the recurrent state the actor carried
(``SequenceReplayBuffer``), runs world-model + imagination actor-critic updates on the learner
group and syncs the weights back.

Why not RLlib's DreamerV3 class: its actor sees only (h, z), trains on windows that start from
zero state and resets at every episode; RL^2 needs the policy's own memory carried across the
episodes of a trial and windows that start from the stored state. The loss math (symlog,
two-hot, KL balancing with free bits, lambda-returns, return scaling) follows DreamerV3 and
lives in ``edge_rl.models.world_model``.

References: Hafner et al., "Mastering Diverse Domains through World Models" (DreamerV3, arXiv
2301.04104); Duan et al., "RL^2" (arXiv 1611.02779); Redovian, "Meta-Reinforcement Learning with
Discrete World Models for Adaptive Load Balancing" (arXiv 2503.08872).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    TIMERS,
)
from ray.util import log_once

from edge_rl.algorithms.learning_rates import (
    is_non_negative_number,
    is_positive_number,
    learning_rate_error,
    weight_ever_positive,
    weight_schedule_error,
)
from edge_rl.algorithms.meta_dreamer.meta_dreamer_learner import (
    CONTINUES,
    GUIDE_ACTIONS,
    PREV_ACTIONS,
    PREV_REWARDS,
)
from edge_rl.algorithms.meta_dreamer.sequence_replay import SequenceReplayBuffer
from edge_rl.algorithms.replay_algorithm import (
    ReplayAlgorithm,
    async_sampling_error,
)
from edge_rl.envs import LOAD_BALANCE_TRIALS_ENV_ID
from edge_rl.envs.load_balance.trial import guide_labels
from edge_rl.models.world_model import WORLD_MODEL_PRESETS, WorldModelConfig
from edge_rl.models.world_model.functions import TWO_HOT_MEANS

META_DREAMER_STATE = "meta_dreamer"
#: the recurrent state's parts stored with every replay record
STATE_KEYS = ("h", "z", "m")
#: batch columns holding the stored state at a window's start
STATE_COLUMN = "state_in_{}"

SIZE_KEYS = ("deter", "stoch", "classes", "hidden", "layers", "memory")


class MetaDreamerConfig(AlgorithmConfig):
    """Settings of Meta-Dreamer (DreamerV3's values unless noted).

    Model (``training(...)``):
        model_size: "default" (32 x 32 latents, GRU 256), "small" (16 x 16, 128; CPU runs) or
            "debug" (tiny, tests). deter, stoch, classes, hidden, layers, memory override
            single sizes of the preset (None: the preset's). actor_head: "mlp" (DreamerV3's
            actor over features and memory) or "servers" (one shared scorer per server over the
            decoded observation, features and memory as context; see
            edge_rl/models/server_scoring.py). reward_input: "feat" (DreamerV3's reward head
            on [h, z]) or "deter" (on h alone, which must then predict each reward from the
            state and the action; see WorldModelConfig). input_baseline (0: off, DreamerV3;
            K > 0: the actor's advantages subtract an input-dependent baseline, a second critic
            that also reads the next K imagined job sizes, Mao et al. 2019; trial
            observations only; see WorldModelConfig).

    World model: free_bits (1.0 nat), dyn_scale (0.5), rep_scale (0.1), world_model_lr (1e-4).
    Imagination actor-critic: horizon (15), imagine_starts (0: imagine from every real step of
        the batch, B*T = 1024 starts, as DreamerV3; N > 0: from N of them drawn at random,
        which cuts the actor-critic share of an update, most of its CPU time, in proportion),
        gamma (0.997 per job decision), lambda_ (0.95),
        entropy_coeff (3e-4), actor_lr and critic_lr (3e-5), slow_critic_rate (0.02, EMA rate
        of the slow critic per update), slow_critic_reg (1.0), return_decay (0.99),
        replay_value (0: off; > 0 also fits the critic on the replayed real steps toward
        lambda-returns of the real rewards, with this weight; DreamerV3's current public code
        does so with 0.3, see ``replay_value_loss`` in edge_rl/models/world_model/training.py),
        value_mean ("symlog": DreamerV3's symexp of the two-hot mean in symlog space;
        "linear": the mean in the rewards' own units, which weighs a rare huge cost by its
        size; used for the imagined rewards and every critic value, see
        ``two_hot_linear_mean`` in edge_rl/models/world_model/functions.py).
    Every learning rate may also be a schedule in env steps, RLlib's [[0, lr0], [steps, lr1], ...]
        (linear in between, the last value after the last point; see
        edge_rl/algorithms/learning_rates.py).
    Heuristic guidance (off by default): guide_weight (0), a number >= 0 or a schedule of
        [env_steps, weight] points, weighs a cross-entropy of the actor's logits on real replay
        steps toward a heuristic's action for the same observation, given by the env
        (``--set env.guide_policy=size-interval``, see MetaTrialEnv). The agent still acts
        itself and the heuristic only labels the states it visits (DAgger-style, Ross et al.
        2011); decaying the weight to 0 leaves pure reinforcement learning from there on.
    Replay and updates: batch_size_B (16 windows), batch_length_T (64 steps),
        train_ratio (replayed steps per env step; DreamerV3 uses 512 on GPUs, 32 here is a CPU
        budget: one update per B*T/train_ratio env steps), replay_capacity (records),
        num_steps_sampled_before_learning_starts (2000), grad_clip (100, per optimizer),
        checkpoint_replay_buffer (True), async_sampling (False; True: remote env runners
        sample their next fragment while the learner updates, see ReplayAlgorithm).
    Speed: compile_update (False; True: the learner runs the update's losses through
        ``torch.compile``, see MetaDreamerTorchLearner: minutes of compiling in the first
        process on a machine, seconds once Inductor's on-disk cache holds the graph; measured
        in docs/history/load-balance.md, session 33).
    """

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or MetaDreamer)
        self.model_size = "small"
        self.deter: int | None = None
        self.stoch: int | None = None
        self.classes: int | None = None
        self.hidden: int | None = None
        self.layers: int | None = None
        self.memory: int | None = None
        self.actor_head = "mlp"
        self.reward_input = "feat"
        self.input_baseline = 0
        self.free_bits = 1.0
        self.dyn_scale = 0.5
        self.rep_scale = 0.1
        self.world_model_lr = 1e-4
        self.actor_lr = 3e-5
        self.critic_lr = 3e-5
        self.horizon = 15
        self.imagine_starts = 0
        self.gamma = 0.997
        self.lambda_ = 0.95
        self.entropy_coeff = 3e-4
        self.slow_critic_rate = 0.02
        self.slow_critic_reg = 1.0
        self.return_decay = 0.99
        self.replay_value = 0.0
        self.value_mean = "symlog"
        self.guide_weight: float | list = 0.0
        self.batch_size_B = 16
        self.batch_length_T = 64
        self.train_ratio = 32.0
        self.replay_capacity = 200_000
        self.num_steps_sampled_before_learning_starts = 2000
        self.checkpoint_replay_buffer = True
        self.async_sampling = False
        self.compile_update = False
        self.grad_clip = 100.0
        self.grad_clip_by = "global_norm"
        self.lr = None
        self.rollout_fragment_length = 64
        self.gym_env_vectorize_mode = "vector_entry_point"

    @override(AlgorithmConfig)
    def training(
        self,
        *,
        model_size: str = NotProvided,
        deter: int | None = NotProvided,
        stoch: int | None = NotProvided,
        classes: int | None = NotProvided,
        hidden: int | None = NotProvided,
        layers: int | None = NotProvided,
        memory: int | None = NotProvided,
        actor_head: str = NotProvided,
        reward_input: str = NotProvided,
        input_baseline: int = NotProvided,
        free_bits: float = NotProvided,
        dyn_scale: float = NotProvided,
        rep_scale: float = NotProvided,
        world_model_lr: float | list = NotProvided,
        actor_lr: float | list = NotProvided,
        critic_lr: float | list = NotProvided,
        horizon: int = NotProvided,
        imagine_starts: int = NotProvided,
        lambda_: float = NotProvided,
        entropy_coeff: float = NotProvided,
        slow_critic_rate: float = NotProvided,
        slow_critic_reg: float = NotProvided,
        return_decay: float = NotProvided,
        replay_value: float = NotProvided,
        value_mean: str = NotProvided,
        guide_weight: float | list = NotProvided,
        batch_size_B: int = NotProvided,
        batch_length_T: int = NotProvided,
        train_ratio: float = NotProvided,
        replay_capacity: int = NotProvided,
        num_steps_sampled_before_learning_starts: int = NotProvided,
        checkpoint_replay_buffer: bool = NotProvided,
        async_sampling: bool = NotProvided,
        compile_update: bool = NotProvided,
        **kwargs: Any,
    ) -> MetaDreamerConfig:
        """Set Meta-Dreamer's settings (see the class docstring) and AlgorithmConfig's own."""
        super().training(**kwargs)
        for name, value in list(locals().items()):
            if name not in ("self", "kwargs", "__class__") and value is not NotProvided:
                setattr(self, name, value)
        return self

    @property
    def uses_guide(self) -> bool:
        """Whether the guide loss is ever switched on (a non-zero weight at some point)."""
        if weight_schedule_error("guide_weight", self.guide_weight):
            return False  # validate() says what is wrong with it
        return weight_ever_positive(self.guide_weight)

    def world_model_config(self) -> WorldModelConfig:
        """The preset named by ``model_size`` with any single sizes overridden."""
        base = WORLD_MODEL_PRESETS[self.model_size]
        overrides = {k: getattr(self, k) for k in SIZE_KEYS if getattr(self, k) is not None}
        return replace(
            base,
            actor_head=self.actor_head,
            reward_input=self.reward_input,
            input_baseline=self.input_baseline,
            **overrides,
        )

    @property
    @override(AlgorithmConfig)
    def _model_config_auto_includes(self) -> dict[str, Any]:
        sizes = self.world_model_config()
        return super()._model_config_auto_includes | {
            k: getattr(sizes, k)
            for k in (
                *SIZE_KEYS,
                "unimix",
                "num_bins",
                "actor_head",
                "reward_input",
                "input_baseline",
            )
        }

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from edge_rl.algorithms.meta_dreamer.torch.meta_dreamer_torch_rl_module import (
            MetaDreamerTorchRLModule,
        )

        return RLModuleSpec(module_class=MetaDreamerTorchRLModule)

    @override(AlgorithmConfig)
    def get_default_learner_class(self) -> type:
        from edge_rl.algorithms.meta_dreamer.torch.meta_dreamer_torch_learner import (
            MetaDreamerTorchLearner,
        )

        return MetaDreamerTorchLearner

    @override(AlgorithmConfig)
    def validate(self) -> None:
        super().validate()
        self.validate_meta_dreamer()

    def validate_meta_dreamer(self) -> None:
        """Meta-Dreamer's own checks; each error names the setting, its value and the fix."""

        def bad(msg: str) -> None:
            self._value_error(f"meta-dreamer: {msg}")

        if self.model_size not in WORLD_MODEL_PRESETS:
            bad(
                f"model_size={self.model_size!r}: use one of {sorted(WORLD_MODEL_PRESETS)} "
                "(and deter/stoch/classes/hidden/layers/memory for single sizes)"
            )
        try:
            self.world_model_config()
        except ValueError as err:
            bad(f"{err} (a model size override)")
        for name, low in {
            "horizon": 1,
            "imagine_starts": 0,
            "batch_size_B": 1,
            "batch_length_T": 1,
            "replay_capacity": 1,
            "num_steps_sampled_before_learning_starts": 0,
        }.items():
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
                bad(f"{name}={value!r}: must be an integer >= {low}")
        if not is_positive_number(self.train_ratio):
            bad(f"train_ratio={self.train_ratio!r}: must be a positive number")
        for name in ("world_model_lr", "actor_lr", "critic_lr"):
            error = learning_rate_error(name, getattr(self, name))
            if error:
                bad(error)
        for name in ("gamma", "lambda_", "slow_critic_rate"):
            if not 0.0 < getattr(self, name) <= 1.0:
                bad(f"{name}={getattr(self, name)}: must be in (0, 1]")
        if not 0.0 <= self.return_decay < 1.0:
            bad(f"return_decay={self.return_decay}: must be in [0, 1)")
        for name in ("free_bits", "dyn_scale", "rep_scale", "entropy_coeff", "slow_critic_reg"):
            if getattr(self, name) < 0:
                bad(f"{name}={getattr(self, name)}: must be >= 0")
        if not is_non_negative_number(self.replay_value):
            bad(
                f"replay_value={self.replay_value!r}: must be a number >= 0 "
                "(0 = off; DreamerV3's code: 0.3)"
            )
        if not isinstance(self.value_mean, str) or self.value_mean not in TWO_HOT_MEANS:
            bad(
                f"value_mean={self.value_mean!r}: use 'symlog' (DreamerV3) or 'linear' (the "
                "mean in the rewards' own units)"
            )
        error = weight_schedule_error("guide_weight", self.guide_weight)
        if error:
            bad(error)
        if self.uses_guide and not (self.env_config or {}).get("guide_policy"):
            bad(
                f"guide_weight={self.guide_weight!r} needs a heuristic to label the states: "
                "add --set env.guide_policy=size-interval (any load-balancing heuristic's name; "
                "env load-balance-trials) or set guide_weight=0"
            )
        if self.input_baseline and self.env not in (None, LOAD_BALANCE_TRIALS_ENV_ID):
            bad(
                f"input_baseline={self.input_baseline!r} reads the job sizes of load-balancing "
                f"trials; env {self.env!r} has none: use --env load-balance-trials or "
                "input_baseline=0"
            )
        if not isinstance(self.compile_update, bool):
            bad(f"compile_update={self.compile_update!r}: must be true or false")
        error = async_sampling_error(self)
        if error:
            bad(error)
        if self.lr is not None:
            bad("lr is not used: set world_model_lr, actor_lr and critic_lr instead (and lr=None)")


class MetaDreamer(ReplayAlgorithm):
    """Sample trials -> sequence replay -> world model + imagination updates -> sync weights."""

    STATE_KEY = META_DREAMER_STATE

    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> MetaDreamerConfig:
        return MetaDreamerConfig()

    @override(Algorithm)
    def setup(self, config: MetaDreamerConfig) -> None:
        super().setup(config)
        sizes = self.config.world_model_config()
        self.replay = SequenceReplayBuffer(
            capacity=self.config.replay_capacity,
            state_sizes={"h": sizes.deter, "z": sizes.latent, "m": sizes.memory},
            seed=self.config.seed,
            with_guide=self.config.uses_guide,
        )

    @override(ReplayAlgorithm)
    def store_episode(self, episode: Any) -> None:
        states = episode.get_extra_model_outputs(key=Columns.STATE_OUT)
        guide = guide_labels(episode.get_infos()) if self.replay.with_guide else None
        self.replay.add_chunk(
            episode.id_,
            np.asarray(episode.get_observations()),
            np.asarray(episode.get_actions()),
            np.asarray(episode.get_rewards()),
            {k: np.asarray(states[k]) for k in STATE_KEYS},
            episode.is_terminated,
            episode.is_truncated,
            guide_actions=guide,
        )

    @override(ReplayAlgorithm)
    def replay_ready(self) -> bool:
        return self.replay.has_window(self.config.batch_length_T)

    @override(ReplayAlgorithm)
    def updates_earned(self, new_steps: int) -> float:
        """DreamerV3's train ratio: replayed steps (B x T per update) per env step sampled."""
        cfg = self.config
        return new_steps * cfg.train_ratio / (cfg.batch_size_B * cfg.batch_length_T)

    def _run_updates(self, num_updates: int, lifetime: int) -> None:
        """``num_updates`` gradient steps, each on B fresh windows of T steps.

        One learner call per step with the whole batch (RLlib's minibatch iterator slices
        stateful modules' batches by sequence-length columns these windows do not need).
        """
        cfg = self.config
        per_update = cfg.batch_size_B * max(1, cfg.num_learners)
        for _ in range(num_updates):
            data = self.replay.sample(per_update, cfg.batch_length_T)
            # Batch-major rows (one window each); the learner makes them time-major.
            sequences = {
                Columns.OBS: "obs",
                PREV_ACTIONS: "prev_actions",
                PREV_REWARDS: "rewards",
                CONTINUES: "continues",
                GUIDE_ACTIONS: "guide_actions",  # a with_guide buffer's only
            }
            columns = SampleBatch(
                {
                    **{c: np.swapaxes(data[k], 0, 1) for c, k in sequences.items() if k in data},
                    **{STATE_COLUMN.format(k): data[k] for k in STATE_KEYS},
                }
            )
            batch = MultiAgentBatch({DEFAULT_MODULE_ID: columns}, env_steps=len(columns))
            with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
                results = self.learner_group.update(
                    batch=batch,
                    minibatch_size=None,
                    num_epochs=1,
                    timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: lifetime},
                )
            self.metrics.aggregate(results, key=LEARNER_RESULTS)
        self.count_updates(num_updates)


log_once(f"{MetaDreamer.__name__}_on_new_api_stack")
