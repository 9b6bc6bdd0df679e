"""Learning rates of edge_rl's algorithms: a fixed number or a schedule in env steps.

Every ``*_lr`` setting of ADSAC and Meta-Dreamer takes either a positive number or RLlib's
schedule format, a list of ``[env_steps, lr]`` points starting at step 0::

    actor_lr = [[0, 1e-4], [200_000, 3e-5]]   # linear from 1e-4 to 3e-5, then 3e-5

The learner interpolates linearly between points in the env steps sampled over the run's
lifetime (``num_env_steps_sampled_lifetime``; a resumed run goes on where it stopped) and keeps
the last value after the last point. RLlib's ``Learner.register_optimizer`` takes the value as
it is and does the updating; this module only checks it before any Ray work starts, so that a
bad one gets an error that says how to write it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SCHEDULE_EXAMPLE = "[[0, 1e-4], [200000, 3e-5]]"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_positive_number(value: Any) -> bool:
    """A finite number > 0 (not a bool): what a fixed rate, temperature or ratio must be."""
    return _number(value) and value > 0


def is_non_negative_number(value: Any) -> bool:
    """A finite number >= 0 (not a bool): what a fixed loss weight must be."""
    return _number(value) and value >= 0


def learning_rate_error(name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid learning rate or schedule for setting ``name``; None if it is.

    Valid: a positive finite number, or a list of at least two ``[env_steps, lr]`` pairs whose
    first step is 0, whose steps are whole numbers (2e5 is fine) that strictly increase and
    whose rates are positive finite numbers.
    """
    if is_positive_number(value):
        return None
    how = f"a positive number (e.g. 3e-5) or a schedule of [env_steps, lr] points, e.g. {name}="
    return _schedule_error(
        name, value, how + SCHEDULE_EXAMPLE, f"{name}={SCHEDULE_EXAMPLE}",
        ("lr", "the rate", "a positive number"), is_positive_number,
    )  # fmt: skip


def weight_schedule_error(name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid loss weight for setting ``name``; None if it is.

    Valid: a finite number >= 0, or a schedule in the learning rates' format whose weights are
    finite numbers >= 0 (so a weight may decay to 0, which switches its loss off).
    """
    if is_non_negative_number(value):
        return None
    example = f"{name}=[[0, 1.0], [20000, 1.0], [30000, 0.0]]"
    how = "a number >= 0 (0 switches it off) or a schedule of [env_steps, weight] points, e.g. "
    return _schedule_error(
        name, value, how + example, example, ("weight", "the weight", "a number >= 0"),
        lambda w: _number(w) and w >= 0,
    )  # fmt: skip


def _schedule_error(
    name: str,
    value: Any,
    how: str,
    example: str,
    words: tuple[str, str, str],
    valid: Any,
) -> str | None:
    """The checks a schedule of ``[env_steps, x]`` points shares (``words``: the points' second
    entry, how a message names one, what it must be; ``valid``: its check)."""
    key, the, must = words
    if not isinstance(value, list | tuple):
        return f"{name}={value!r}: must be {how}"
    if len(value) < 2:
        return f"{name}={value!r}: a schedule needs at least two points; use {how}"
    previous = -1
    for point in value:
        if not isinstance(point, list | tuple) or len(point) != 2:
            return f"{name}={value!r}: every point must be a pair [env_steps, {key}], e.g. {how}"
        step, x = point
        if not _number(step) or step < 0 or step != int(step):
            return f"{name}={value!r}: env_steps {step!r} must be a whole number >= 0; use {how}"
        if step <= previous:
            return f"{name}={value!r}: env_steps must strictly increase ({previous} then {step})"
        if not valid(x):
            return f"{name}={value!r}: {the} {x!r} at step {step} must be {must}"
        previous = step
    if value[0][0] != 0:
        return f"{name}={value!r}: a schedule starts at env step 0, e.g. {example}"
    return None


def weight_ever_positive(value: float | list) -> bool:
    """Whether a valid weight (``weight_schedule_error`` is None) is > 0 at some point."""
    if isinstance(value, list | tuple):
        return any(point[1] > 0 for point in value)
    return value > 0


def schedule_value(value: float | list, step: float) -> float:
    """A fixed number as it is; a schedule's value at ``step`` (linear between its points, the
    first value before the first point and the last after the last)."""
    if not isinstance(value, list | tuple):
        return float(value)
    steps = [float(s) for s, _ in value]
    values = [float(v) for _, v in value]
    return float(np.interp(step, steps, values))
