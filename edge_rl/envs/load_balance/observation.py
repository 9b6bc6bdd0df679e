"""Observation layouts: Park's raw 11 floats, or a log1p-compressed version for learning.

Both layouts hold, per server, the observed load (queued work in size units plus the remaining
time of the job in service: Park mixes the two units and the "park" layout keeps that), then the
incoming job's size (0 after the last job), each clipped at ``obs_clip``.

- ``"park"``: the raw values, ``Box(0, obs_clip)``.
- ``"scaled"``: ``log1p`` of the raw values, ``Box(0, log1p(obs_clip))``: loads span six orders
  of magnitude under Pareto sizes; the log keeps small differences between light servers visible
  to a network while bounding the heavy tail (DreamerV3's symlog, for non-negative inputs).
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from edge_rl.envs.load_balance.config import LoadBalanceConfig


def observation_high(config: LoadBalanceConfig) -> np.float32:
    """The upper bound of every observation entry under ``config``'s layout."""
    if config.obs_layout == "park":
        return np.float32(config.obs_clip)
    return np.log1p(np.array([config.obs_clip], dtype=np.float64)).astype(np.float32)[0]


def observation_space(config: LoadBalanceConfig) -> spaces.Box:
    """``Box(0, high, (num_servers + 1,), float32)``; every emitted observation lies inside."""
    shape = (config.num_servers + 1,)
    return spaces.Box(0.0, float(observation_high(config)), shape=shape, dtype=np.float32)


def encode_observation(raw: np.ndarray, config: LoadBalanceConfig) -> np.ndarray:
    """Map clipped raw values (any leading batch shape) to ``config``'s layout, as float32."""
    if config.obs_layout == "park":
        return raw.astype(np.float32)
    # Clip after the cast: float32 rounding of log1p could otherwise overshoot the bound by 1 ulp.
    scaled = np.log1p(raw.astype(np.float64)).astype(np.float32)
    return np.minimum(scaled, observation_high(config))


def space_key(config: LoadBalanceConfig) -> tuple[int, str, float]:
    """What fixes the spaces: tasks that share an env must agree on it."""
    return (config.num_servers, config.obs_layout, float(config.obs_clip))
