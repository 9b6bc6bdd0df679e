"""A fast n-step transition replay buffer (plain numpy; no Ray import).

RLlib's ``EpisodeReplayBuffer`` rebuilds episode objects for every sampled item, which costs more
than ADSAC's own update on 2 CPU cores. This buffer turns each incoming episode *chunk* into
n-step transitions once, with vectorised numpy, and stores them in flat ring arrays, so sampling
a batch of 512 is one fancy-indexing call per column.

Chunks of one episode arrive in order (an env runner's rollout fragments, linked by episode id):
the last ``n - 1`` transitions of an unfinished chunk wait until the next chunk brings the rewards
they need. A transition stores ``(obs, action, R, next_obs, discount)`` with
``R = sum_{j<k} gamma^j r_{t+j}``, ``next_obs = o_{t+k}``, ``discount = gamma^k`` (0 when the
window ends on a terminal state), where ``k = n`` or fewer at an episode's end.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class _Pending:
    obs: np.ndarray  # (P, *obs_shape) start observations of the waiting transitions
    actions: np.ndarray  # (P,)
    rewards: np.ndarray  # (P,)


def n_step_windows(
    obs_L1: np.ndarray,
    actions_L: np.ndarray,
    rewards_L: np.ndarray,
    n_step: int,
    gamma: float,
    terminated: bool,
    finished: bool,
) -> tuple[dict[str, np.ndarray], int]:
    """n-step transitions of a contiguous stretch of one episode.

    Args:
        obs_L1: L + 1 observations (the last is the one after the last action).
        actions_L, rewards_L: the L actions and rewards.
        n_step: the return horizon n (>= 1).
        gamma: discount per step.
        terminated: the stretch ends on a terminal state (no bootstrap past it).
        finished: the stretch ends the episode (terminated or truncated): every transition is
            complete. Otherwise only transitions with n rewards ahead are.

    Returns:
        (columns of the complete transitions, number of complete transitions c); transitions
        c..L-1 are incomplete and must wait for the episode's next chunk.
    """
    length = len(actions_L)
    complete = length if finished else max(0, length - n_step + 1)
    t = np.arange(complete)
    k = np.minimum(n_step, length - t)  # steps actually summed
    ret = np.zeros(complete, dtype=np.float64)
    for j in range(n_step):
        idx = t + j
        ok = j < k
        ret[ok] += (gamma**j) * rewards_L[idx[ok]]
    discount = gamma ** k.astype(np.float64)
    if terminated:
        discount[t + k == length] = 0.0
    cols = {
        "obs": obs_L1[t],
        "actions": actions_L[t],
        "rewards": ret.astype(np.float32),
        "next_obs": obs_L1[t + k],
        "discounts": discount.astype(np.float32),
    }
    return cols, complete


class NStepReplayBuffer:
    """Ring buffer of n-step transitions built from episode chunks.

    Args:
        capacity: most transitions kept (oldest overwritten first).
        obs_shape: shape of one observation.
        n_step: return horizon (reference 3).
        gamma: discount (reference 0.95).
        seed: seed of the sampling generator.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        n_step: int,
        gamma: float,
        seed: int | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity={capacity}: must be >= 1")
        if n_step < 1:
            raise ValueError(f"n_step={n_step}: must be >= 1")
        self.capacity = int(capacity)
        self.n_step = int(n_step)
        self.gamma = float(gamma)
        self.obs_shape = tuple(obs_shape)
        self._cols = {
            "obs": np.zeros((self.capacity, *self.obs_shape), np.float32),
            "actions": np.zeros(self.capacity, np.int64),
            "rewards": np.zeros(self.capacity, np.float32),
            "next_obs": np.zeros((self.capacity, *self.obs_shape), np.float32),
            "discounts": np.zeros(self.capacity, np.float32),
        }
        self._next = 0
        self._size = 0
        self._pending: dict[Hashable, _Pending] = {}
        self._rng = np.random.default_rng(seed)
        self.added_total = 0

    def __len__(self) -> int:
        return self._size

    def add_chunk(
        self,
        episode_id: Hashable,
        obs_L1: np.ndarray,
        actions_L: np.ndarray,
        rewards_L: np.ndarray,
        terminated: bool,
        truncated: bool,
    ) -> int:
        """Add one chunk of an episode; returns how many transitions became complete."""
        obs_L1 = np.asarray(obs_L1, np.float32)
        actions_L = np.asarray(actions_L).reshape(-1)
        rewards_L = np.asarray(rewards_L, np.float64).reshape(-1)
        if obs_L1.shape[1:] != self.obs_shape or len(obs_L1) != len(actions_L) + 1:
            raise ValueError(
                f"chunk shapes obs {obs_L1.shape}, actions {actions_L.shape}: expected "
                f"(L+1, {self.obs_shape}) observations for L actions"
            )
        pending = self._pending.pop(episode_id, None)
        if pending is not None:
            obs_L1 = np.concatenate([pending.obs, obs_L1])
            actions_L = np.concatenate([pending.actions, actions_L])
            rewards_L = np.concatenate([pending.rewards, rewards_L])
        finished = bool(terminated or truncated)
        cols, complete = n_step_windows(
            obs_L1, actions_L, rewards_L, self.n_step, self.gamma, bool(terminated), finished
        )
        if not finished and complete < len(actions_L):
            self._pending[episode_id] = _Pending(
                obs_L1[complete:-1].copy(), actions_L[complete:].copy(), rewards_L[complete:].copy()
            )
        self._write(cols, complete)
        return complete

    def _write(self, cols: dict[str, np.ndarray], count: int) -> None:
        if count == 0:
            return
        self.added_total += count
        if count > self.capacity:  # keep only the newest
            cols = {k: v[-self.capacity :] for k, v in cols.items()}
            count = self.capacity
        idx = (self._next + np.arange(count)) % self.capacity
        for key, value in cols.items():
            self._cols[key][idx] = value
        self._next = int((self._next + count) % self.capacity)
        self._size = min(self.capacity, self._size + count)

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """A uniform batch (with replacement) of complete transitions."""
        if self._size == 0:
            raise ValueError("the replay buffer is empty; sample after adding transitions")
        idx = self._rng.integers(0, self._size, size=batch_size)
        return {key: col[idx] for key, col in self._cols.items()}

    @property
    def num_pending_episodes(self) -> int:
        return len(self._pending)

    def drop_pending(self, keep: set[Hashable]) -> None:
        """Forget waiting tails of episodes not in ``keep`` (e.g. after an env runner restart)."""
        for key in list(self._pending):
            if key not in keep:
                del self._pending[key]

    def nbytes(self) -> int:
        return sum(v.nbytes for v in self._cols.values())

    def get_state(self) -> dict[str, Any]:
        """The filled part of the buffer, its ring position, sampling RNG and waiting tails."""
        return {
            "columns": {k: v[: self._size].copy() for k, v in self._cols.items()},
            "next": self._next,
            "size": self._size,
            "added_total": self.added_total,
            "pending": {k: (p.obs, p.actions, p.rewards) for k, p in self._pending.items()},
            "rng": self._rng.bit_generator.state,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore ``get_state``'s output into a buffer of the same capacity and shapes."""
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(
                f"the saved buffer holds {size} transitions, more than this buffer's capacity "
                f"{self.capacity}; resume with replay_capacity >= {size}"
            )
        for key, value in state["columns"].items():
            self._cols[key][:size] = value
        self._size, self._next = size, int(state["next"]) % self.capacity
        self.added_total = int(state["added_total"])
        self._pending = {k: _Pending(*v) for k, v in state["pending"].items()}
        self._rng.bit_generator.state = state["rng"]
