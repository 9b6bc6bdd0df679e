"""A Learner mixin that keeps the run's sampled env steps at the current update.

Settings scheduled in env steps outside RLlib's own schedulers (``guide_weight``) read
``self._lifetime_steps``; RLlib hands the count to ``before_gradient_based_update``.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME


class LifetimeStepsMixin:
    """Put before the Learner class in the bases: ``class L(LifetimeStepsMixin, TorchLearner)``."""

    #: env steps sampled over the run's lifetime at the current update
    _lifetime_steps: float = 0.0

    def before_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().before_gradient_based_update(timesteps=timesteps)  # type: ignore[misc]
        self._lifetime_steps = float(timesteps.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0))
