"""RLlib's SAC and DQN with their replay buffer in checkpoints.

On RLlib's current API stack (2.60), ``Algorithm.get_state`` leaves the algorithm's local replay
buffer out of its checkpoints (``store_buffer_in_checkpoints`` belongs to the old stack): a
resumed SAC or DQN run would start from an empty buffer and, its env-step count being past
``num_steps_sampled_before_learning_starts``, train at once on its first few hundred new steps.
edge_rl's own replay-based algorithms (ADSAC, Meta-Dreamer) checkpoint their buffers
(``checkpoint_replay_buffer``, on by default); these subclasses give RLlib's two the same
setting under the same name, off by default for them: RLlib stores whole episodes (every
observation, the policy's outputs and the env's info dicts), about 4.7 KB per env step on
``adsac-paper`` (95 MB after 20k env steps; its buffer holds up to 1e6), and every periodic
checkpoint would write it. With ``--set checkpoint_replay_buffer=true`` (and checkpoints far
enough apart), ``edge-rl train --resume`` continues them with the experience they had.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.algorithms.dqn import DQN
from ray.rllib.algorithms.sac import SAC

#: key of the buffer's state in the algorithm state (algorithm_state.pkl of a checkpoint)
REPLAY_STATE_KEY = "local_replay_buffer"


class ReplayCheckpointing:
    """Mixin for an RLlib Algorithm with a ``local_replay_buffer``: its state goes into
    ``get_state`` when ``config.checkpoint_replay_buffer`` is true, and comes back in
    ``set_state`` (an older checkpoint without it leaves the buffer as it is)."""

    local_replay_buffer: Any
    config: Any

    def get_state(
        self, components: Any = None, *, not_components: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        state = super().get_state(components, not_components=not_components, **kwargs)
        if (
            self.local_replay_buffer is not None
            and getattr(self.config, "checkpoint_replay_buffer", False)
            and self._check_component(REPLAY_STATE_KEY, components, not_components)
        ):
            state[REPLAY_STATE_KEY] = self.local_replay_buffer.get_state()
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        if REPLAY_STATE_KEY in state and self.local_replay_buffer is not None:
            self.local_replay_buffer.set_state(state[REPLAY_STATE_KEY])


class CheckpointedSAC(ReplayCheckpointing, SAC):
    """RLlib's SAC, its replay buffer checkpointed (see the module docstring)."""


class CheckpointedDQN(ReplayCheckpointing, DQN):
    """RLlib's DQN, its replay buffer checkpointed (see the module docstring)."""


def replay_setting_error(config: Any) -> str | None:
    """Why ``config.checkpoint_replay_buffer`` of one of these algorithms is unusable, naming
    the fix (None when fine, or when ``config`` builds another algorithm)."""
    algo_class = getattr(config, "algo_class", None)
    if not (isinstance(algo_class, type) and issubclass(algo_class, ReplayCheckpointing)):
        return None
    value = config.checkpoint_replay_buffer
    if not isinstance(value, bool):
        return f"checkpoint_replay_buffer={value!r}: must be true or false"
    return None


def replay_steps(algo: Any) -> int | None:
    """Env steps held in ``algo``'s local replay buffer; None when it keeps none."""
    buffer = getattr(algo, "local_replay_buffer", None)
    if buffer is None:
        return None
    return int(buffer.get_num_timesteps())


__all__ = [
    "REPLAY_STATE_KEY",
    "CheckpointedDQN",
    "CheckpointedSAC",
    "ReplayCheckpointing",
    "replay_setting_error",
    "replay_steps",
]
