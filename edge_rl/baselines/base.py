"""The interface every heuristic (and, later, every learned policy) implements for evaluation."""

from __future__ import annotations

from abc import ABC, abstractmethod

import gymnasium as gym
import numpy as np


class Policy(ABC):
    """A scalar-env policy: ``reset`` at the start of each episode, then ``act`` once per step.

    Heuristics may read the simulator's state through the *unwrapped* env's public read-only
    accessors (the reference heuristics, e.g. Prophet, see more than the observation). Every
    random draw comes from ``self.rng``, seeded by the caller.
    """

    #: Lower-case hyphenated name used on the command line, e.g. ``"crash-avoid"``.
    name: str = ""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def reset(self, env: gym.Env) -> None:  # noqa: B027 - optional hook
        """Called right after ``env.reset(...)``; ``env`` is the unwrapped simulator."""

    @abstractmethod
    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        """Return the action for the current decision; ``env`` is the unwrapped simulator."""
