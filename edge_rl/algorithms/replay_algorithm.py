"""What edge_rl's replay-based RLlib algorithms (ADSAC, Meta-Dreamer) share.

Each samples episode chunks from its env runners, stores them in its own replay buffer, earns
gradient updates in proportion to the env steps sampled (a fractional credit carried between
iterations), and checkpoints its update counters and (optionally) the filled replay buffer under
its own key of the algorithm state. ``ReplayAlgorithm.training_step`` is that loop; a subclass
says how to store an episode chunk, when its buffer can serve a batch, how many updates an env
step earns, and how to make the updates.

Sampling is synchronous by default (the env runners sample, then the learner updates). With
``async_sampling`` on, each remote env runner is always sampling its next fragment: the
algorithm collects the fragments that are done, sends each runner its next request at once,
and updates the learner while they run. The policy that samples is then one iteration behind
the learner (off-policy replay does not mind), and sampling no longer waits for the learner.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)

#: tag of the env runners' in-flight sample requests with ``async_sampling``
SAMPLE_TAG = "edge_rl_sample"

#: metric keys the algorithms log themselves (slash-free keys; RLlib nests them)
REPLAY_SIZE = "replay_buffer_size"
NUM_GRADIENT_UPDATES_LIFETIME = "num_gradient_updates_lifetime"
#: this iteration's own wall-clock seconds spent sampling and in learner updates (not smoothed)
ITERATION_SAMPLE_S = "iteration_sample_s"
ITERATION_LEARN_S = "iteration_learn_s"


class ReplayAlgorithm(Algorithm):
    """Base of a replay-based algorithm; subclasses set ``replay`` in ``setup``, name the key
    of their checkpointed state in ``STATE_KEY``, and implement ``store_episode``,
    ``replay_ready``, ``updates_earned`` and ``_run_updates``. ``SYNC_INFERENCE_ONLY``: the env
    runners hold an inference-only module (the learner's weights without its training-only
    parts)."""

    STATE_KEY = "replay_algorithm"
    SYNC_INFERENCE_ONLY = False
    replay: Any

    @override(Algorithm)
    def setup(self, config: Any) -> None:
        super().setup(config)
        self._update_credit = 0.0
        self._num_updates = 0

    @override(Algorithm)
    def training_step(self) -> None:
        """Sample -> replay buffer -> the gradient updates earned -> sync weights to the env
        runners. Learning starts after ``num_steps_sampled_before_learning_starts`` env steps,
        once the buffer can serve a batch."""
        new_steps = 0
        for episode in self.sample_episodes():
            new_steps += len(episode)
            self.store_episode(episode)
        self.metrics.log_value(REPLAY_SIZE, len(self.replay), window=1)

        lifetime = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), 0)
        started = lifetime >= self.config.num_steps_sampled_before_learning_starts
        if started and self.replay_ready():
            num_updates = self.earn_updates(self.updates_earned(new_steps))
            self.update_learner(num_updates, lifetime)

        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            self.env_runner_group.sync_weights(
                from_worker_or_learner_group=self.learner_group,
                inference_only=self.SYNC_INFERENCE_ONLY,
            )

    def store_episode(self, episode: Any) -> None:
        """Add one sampled episode chunk to ``replay``."""
        raise NotImplementedError

    def replay_ready(self) -> bool:
        """Whether ``replay`` holds enough to sample the updates' batches."""
        raise NotImplementedError

    def updates_earned(self, new_steps: int) -> float:
        """The (fractional) gradient updates that ``new_steps`` new env steps earn."""
        raise NotImplementedError

    def sample_episodes(self) -> list[Any]:
        """One round of sampling from the env runners (metrics aggregated): synchronous, or
        with ``async_sampling`` the fragments the runners finished while the learner worked."""
        start = time.perf_counter()
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            if self.config.async_sampling:
                episodes, runner_metrics = self._collect_async_samples()
            else:
                episodes, runner_metrics = synchronous_parallel_sample(
                    worker_set=self.env_runner_group,
                    concat=True,
                    sample_timeout_s=self.config.sample_timeout_s,
                    _uses_new_env_runners=True,
                    _return_metrics=True,
                )
        if runner_metrics:
            self.metrics.aggregate(runner_metrics, key=ENV_RUNNER_RESULTS)
        self.metrics.log_value(ITERATION_SAMPLE_S, time.perf_counter() - start, window=1)
        return episodes

    def update_learner(self, num_updates: int, lifetime: int) -> None:
        """Make the ``num_updates`` updates earned (``_run_updates``, each algorithm's own) and
        log the seconds they took; 0 updates log 0 s (learning has started)."""
        start = time.perf_counter()
        if num_updates:
            self._run_updates(num_updates, lifetime)
        self.metrics.log_value(ITERATION_LEARN_S, time.perf_counter() - start, window=1)

    def _run_updates(self, num_updates: int, lifetime: int) -> None:
        raise NotImplementedError

    def _collect_async_samples(self) -> tuple[list[Any], list[Any]]:
        """Wait for the env runners' in-flight fragments, then send each its next request;
        returns the fragments' episodes and the runners' metrics.

        Each runner has at most one sample request in flight, so weights synced after the
        update queue behind it and reach the runner before its next fragment.
        """
        group = self.env_runner_group
        if not group.num_in_flight_async_reqs(SAMPLE_TAG):  # first call, or runners lost
            group.foreach_env_runner_async(_sample_with_metrics, tag=SAMPLE_TAG)
        results = group.foreach_env_runner_async_fetch_ready(
            _sample_with_metrics, tag=SAMPLE_TAG, timeout_seconds=self.config.sample_timeout_s
        )
        episodes = [episode for fragment, _ in results for episode in fragment]
        return episodes, [metrics for _, metrics in results]

    def earn_updates(self, credit: float) -> int:
        """Add ``credit`` (updates earned by new env steps); return the whole updates due."""
        self._update_credit += credit
        num_updates = int(self._update_credit)
        self._update_credit -= num_updates
        return num_updates

    def count_updates(self, num_updates: int) -> None:
        self._num_updates += num_updates
        self.metrics.log_value(NUM_GRADIENT_UPDATES_LIFETIME, self._num_updates, window=1)

    @override(Algorithm)
    def get_state(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        state = super().get_state(*args, **kwargs)
        own: dict[str, Any] = {
            "num_updates": self._num_updates,
            "update_credit": self._update_credit,
        }
        if self.config.checkpoint_replay_buffer:
            own["replay"] = self.replay.get_state()
        state[self.STATE_KEY] = own
        return state

    @override(Algorithm)
    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        own = state.get(self.STATE_KEY)
        if own:
            self._num_updates = int(own["num_updates"])
            self._update_credit = float(own["update_credit"])
            if "replay" in own:
                self.replay.set_state(own["replay"])


def _sample_with_metrics(env_runner: Any) -> tuple[list[Any], Any]:
    """One fragment of an env runner and its metrics (the remote call of async sampling)."""
    return env_runner.sample(), env_runner.get_metrics()


def async_sampling_error(config: Any) -> str | None:
    """Why ``config.async_sampling`` cannot be used as set, naming the fix (None when fine)."""
    value = config.async_sampling
    if not isinstance(value, bool):
        return f"async_sampling={value!r}: must be true or false"
    # (the evaluation copy of a config samples synchronously with its own runner count)
    if value and not config.in_evaluation and config.num_env_runners < 1:
        return (
            "async_sampling=True needs remote env runners to sample while the learner updates; "
            "add --num-env-runners 1 (or more), or leave async_sampling false"
        )
    return None


def read_replay_state(checkpoint: Path, algo_class: type) -> dict[str, Any]:
    """The replay buffer saved in ``checkpoint`` (an algorithm checkpoint directory) by an
    algorithm of ``algo_class``, for a new run that keeps the old task's experience
    (``edge-rl train --init-from CHECKPOINT --init-replay``).

    Raises ValueError, naming the fix, when the algorithm keeps no replay or the checkpoint
    holds none.
    """
    if not (isinstance(algo_class, type) and issubclass(algo_class, ReplayAlgorithm)):
        name = getattr(algo_class, "__name__", algo_class)
        raise ValueError(
            f"{name} keeps no replay buffer; --init-replay works with the replay-based "
            "algorithms (adsac, d2sac, meta-dreamer)"
        )
    path = Path(checkpoint) / f"{Algorithm.STATE_FILE_NAME}.pkl"
    if not path.is_file():
        raise ValueError(f"{checkpoint} has no {path.name}: not an algorithm checkpoint")
    with path.open("rb") as f:
        state = pickle.load(f)
    replay = (state.get(algo_class.STATE_KEY) or {}).get("replay")
    if replay is None:
        raise ValueError(
            f"{checkpoint} holds no replay buffer (its run had checkpoint_replay_buffer=false, "
            "or was of another algorithm); drop --init-replay or pick a checkpoint that has one"
        )
    return replay
