"""Replay of contiguous windows of trials, with the recurrent state the actor carried into them.

RL^2 memory spans a whole trial (thousands of decisions), longer than any training window, so a
window starts from the state the env runner held before its first step (R2D2's stored state,
Kapturowski et al. 2019) instead of from zeros. Records are per observation o_k::

    obs        o_k
    prev_act   a_{k-1}   (-1 at a trial's start)
    reward     r_{k-1}   (received on entering o_k; 0 at a trial's start)
    cont       0 if o_k is the last observation of a terminated trial, else 1
    state      the carried recurrent state before o_k (zeros at a trial's start), float16
    guide      a heuristic's action for o_k (-1: none), only in a buffer made ``with_guide``

Episodes arrive as chunks (an ongoing trial is continued by later chunks); a chunk's first
observation repeats the previous chunk's last one and is not stored twice.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class _Trial:
    obs: list[np.ndarray] = field(default_factory=list)
    prev_act: list[np.ndarray] = field(default_factory=list)
    reward: list[np.ndarray] = field(default_factory=list)
    cont: list[np.ndarray] = field(default_factory=list)
    state: dict[str, list[np.ndarray]] = field(default_factory=dict)
    guide: list[np.ndarray] = field(default_factory=list)
    length: int = 0
    done: bool = False
    # what the next chunk's first record needs from this chunk's last step
    pending: tuple[int, float, dict[str, np.ndarray]] | None = None

    def consolidate(self) -> None:
        if len(self.obs) > 1:
            self.obs = [np.concatenate(self.obs)]
            self.prev_act = [np.concatenate(self.prev_act)]
            self.reward = [np.concatenate(self.reward)]
            self.cont = [np.concatenate(self.cont)]
            self.state = {k: [np.concatenate(v)] for k, v in self.state.items()}
            if self.guide:
                self.guide = [np.concatenate(self.guide)]


class SequenceReplayBuffer:
    """Trials by episode id, evicted oldest-first beyond ``capacity`` records.

    Args:
        capacity: records kept (one per observation).
        state_sizes: names and sizes of the carried state's parts, e.g. {"h": 128, "z": 256}.
        seed: seeds the window sampler.
        with_guide: also store a heuristic's action per observation (``add_chunk``'s
            ``guide_actions``); ``sample`` then returns them as ``guide_actions``.
    """

    def __init__(
        self,
        capacity: int,
        state_sizes: dict[str, int],
        seed: int | None = None,
        with_guide: bool = False,
    ):
        if capacity < 1:
            raise ValueError(f"capacity={capacity}: must be >= 1")
        self.capacity = int(capacity)
        self.with_guide = bool(with_guide)
        self.state_sizes = dict(state_sizes)
        self._trials: OrderedDict[str, _Trial] = OrderedDict()
        self._size = 0
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self._size

    @property
    def num_trials(self) -> int:
        return len(self._trials)

    def add_chunk(
        self,
        episode_id: str,
        observations: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        states_out: dict[str, np.ndarray],
        terminated: bool,
        truncated: bool,
        guide_actions: np.ndarray | None = None,
    ) -> None:
        """Add one chunk: ``observations`` (n+1), ``actions``/``rewards`` (n), ``states_out``
        (n per key: the carried state after each step, as the module returned it),
        ``guide_actions`` (n+1, one per observation, -1 for none; a ``with_guide`` buffer
        only)."""
        n = len(actions)
        if len(observations) != n + 1 or len(rewards) != n:
            raise ValueError(
                f"chunk of {n} actions needs {n + 1} observations and {n} rewards, got "
                f"{len(observations)} and {len(rewards)}"
            )
        if self.with_guide and (guide_actions is None or len(guide_actions) != n + 1):
            got = None if guide_actions is None else len(guide_actions)
            raise ValueError(f"a with_guide buffer needs {n + 1} guide actions, got {got}")
        trial = self._trials.get(episode_id)
        if trial is None:
            trial = _Trial(state={k: [] for k in self.state_sizes})
            self._trials[episode_id] = trial
        if trial.pending is None:  # a trial's first chunk
            prev_a0, r0 = -1, 0.0
            state0 = {k: np.zeros(s, np.float16) for k, s in self.state_sizes.items()}
        else:
            prev_a0, r0, state0 = trial.pending
        done = terminated or truncated
        count = n + 1 if done else n
        obs = np.asarray(observations[:count], np.float32)
        acts = np.asarray(actions, np.int64)
        rews = np.asarray(rewards, np.float32)
        prev_act = np.concatenate([[prev_a0], acts])[:count]
        reward = np.concatenate([[r0], rews])[:count].astype(np.float32)
        cont = np.ones(count, np.float32)
        if terminated:
            cont[-1] = 0.0
        trial.obs.append(obs)
        trial.prev_act.append(prev_act)
        trial.reward.append(reward)
        trial.cont.append(cont)
        if self.with_guide:
            trial.guide.append(np.asarray(guide_actions, np.int64)[:count])
        for key, size in self.state_sizes.items():
            out = np.asarray(states_out[key], np.float16).reshape(n, size)
            trial.state[key].append(np.concatenate([state0[key][None], out])[:count])
        trial.length += count
        self._size += count
        trial.done = done
        if n:
            trial.pending = (
                int(acts[-1]),
                float(rews[-1]),
                {
                    k: np.asarray(states_out[k][-1], np.float16).reshape(-1)
                    for k in self.state_sizes
                },
            )
        self._evict()

    def _evict(self) -> None:
        while self._size > self.capacity and len(self._trials) > 1:
            _, old = self._trials.popitem(last=False)
            self._size -= old.length

    def has_window(self, length: int) -> bool:
        """Whether some stored trial holds ``length`` records (so ``sample`` can draw)."""
        return any(t.length >= length for t in self._trials.values())

    def sample(self, batch_size: int, length: int) -> dict[str, np.ndarray]:
        """``batch_size`` windows of ``length`` records, time-major; states of the first step."""
        ids = [k for k, t in self._trials.items() if t.length >= length]
        if not ids:
            raise ValueError(f"no stored trial has {length} records yet; sample more first")
        weights = np.asarray([self._trials[k].length - length + 1 for k in ids], np.float64)
        picks = self._rng.choice(len(ids), size=batch_size, p=weights / weights.sum())
        columns = ("obs", "prev_actions", "rewards", "continues")
        if self.with_guide:
            columns += ("guide_actions",)
        out: dict[str, list[np.ndarray]] = {k: [] for k in (*columns, *self.state_sizes)}
        for i in picks:
            trial = self._trials[ids[i]]
            trial.consolidate()
            start = int(self._rng.integers(trial.length - length + 1))
            window = slice(start, start + length)
            out["obs"].append(trial.obs[0][window])
            out["prev_actions"].append(trial.prev_act[0][window])
            out["rewards"].append(trial.reward[0][window])
            out["continues"].append(trial.cont[0][window])
            if self.with_guide:
                out["guide_actions"].append(trial.guide[0][window])
            for key in self.state_sizes:
                out[key].append(trial.state[key][0][start].astype(np.float32))
        batch = {k: np.stack(v, axis=1) for k, v in out.items() if k not in self.state_sizes}
        batch.update({k: np.stack(out[k]) for k in self.state_sizes})
        return batch

    # -- checkpoints -----------------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        trials = []
        for key, t in self._trials.items():
            t.consolidate()
            trials.append((key, t))
        return {"trials": trials, "size": self._size, "rng": self._rng.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore; trials stored without guide actions (an unguided run's buffer, or one saved
        before guidance existed) get -1 labels, which the guide loss leaves out."""
        self._trials = OrderedDict(state["trials"])
        for trial in self._trials.values():
            trial.consolidate()
            if not getattr(trial, "guide", None):
                trial.guide = [np.full(trial.length, -1, np.int64)] if self.with_guide else []
        self._size = int(state["size"])
        self._rng.bit_generator.state = state["rng"]
