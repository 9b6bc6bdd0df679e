"""Observation layouts of the AIGC edge simulator, shared by the scalar and the vector env.

Three layouts (``AIGCConfig.observation``); E servers, M models each, K task types, A = E * M,
T = number of demand choices, t_max / cap_max = the largest demand / capacity choice:

================  =====================  ==================================================
layout            shape (float32)        contents
================  =====================  ==================================================
``paper-adsac``   (K + 2 + 3E,)          [one_hot(k), t/t_max, rt(t)/rt(t_max)], then per
                                         server [capacity/cap_max, free/capacity, M]
                                         (the constant M, 4.0 in the paper, is kept;
                                         declared within [0, M])
``paper-agod``    (2E + 2,)              per server [capacity/cap_max, free/capacity], then
                                         [t/t_max, rt(t)/rt(t_max)]
``tokens``        (1 + A, K + 12)        row 0: task token; row 1 + a: the token of action
                                         a = e * M + m (see ``TOKEN_FEATURES``)
================  =====================  ==================================================

Token columns (``token_layout(config)`` returns them as slices/indices for model code):

====================  ===========================================================
column                meaning
====================  ===========================================================
[0:K]                 task row: one_hot(k); 0 in server-model rows
K                     task row: t / t_max
K + 1                 task row: runtime(t) / runtime(t_max)
K + 2   capacity      capacity_e / cap_max                     (0 in the task row,
K + 3   free          free_e / capacity_e                       as are all columns
K + 4   busy          fraction of server e's models running     from K + 2 on)
                      at least one task
K + 5   load          demand running on model (e, m) / capacity_e
K + 6   baseline      capability b[e, m, k] for the current task's type k
                      (0 with ``reward="q"``)
K + 7   ax            ax / t_max  (same scale as the task's t / t_max)
K + 8   ay            ay
K + 9   bx            bx / t_max
K + 10  by            by
K + 11  feasible      1.0 if t <= free_e (no crash), else 0.0
====================  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from edge_rl.envs.aigc.config import AIGCConfig
from edge_rl.envs.aigc.world import World, runtime

#: Server-model token features, in column order from K + 2.
TOKEN_FEATURES: tuple[str, ...] = (
    "capacity",
    "free",
    "busy",
    "load",
    "baseline",
    "ax",
    "ay",
    "bx",
    "by",
    "feasible",
)


@dataclass(frozen=True)
class TokenLayout:
    """Column positions of the ``tokens`` layout (see the module docstring).

    Attributes:
        num_tokens: 1 + E * M rows; row 0 is the task, row 1 + a the (server, model) of action a.
        num_features: F = K + 12 columns.
        task_type: columns of the task's one-hot type.
        task_demand: column of t / t_max.
        task_runtime: column of runtime(t) / runtime(t_max).
        task: all task columns, ``slice(0, K + 2)``.
        server: all server-model columns, ``slice(K + 2, K + 12)``.
        feature: server-model feature name -> column index.
    """

    num_tokens: int
    num_features: int
    task_type: slice
    task_demand: int
    task_runtime: int
    task: slice
    server: slice
    feature: dict[str, int]


def token_layout(config: AIGCConfig) -> TokenLayout:
    """The column layout of ``config``'s ``tokens`` observation (valid for any layout knob)."""
    k = config.num_task_types
    return TokenLayout(
        num_tokens=1 + config.num_actions,
        num_features=k + 2 + len(TOKEN_FEATURES),
        task_type=slice(0, k),
        task_demand=k,
        task_runtime=k + 1,
        task=slice(0, k + 2),
        server=slice(k + 2, k + 2 + len(TOKEN_FEATURES)),
        feature={name: k + 2 + i for i, name in enumerate(TOKEN_FEATURES)},
    )


def normalisers(config: AIGCConfig) -> tuple[float, float]:
    """(t_max, cap_max): the largest demand and capacity choices, by which the paper layouts
    divide t and capacity (model code needs them to read t <= free back from an observation)."""
    return float(config.choices("demand_range")[-1]), float(config.choices("capacity_range")[-1])


def feasibility_settings(config: AIGCConfig) -> dict[str, float | int]:
    """What model code needs to read "t <= free" back from this config's observations
    (``edge_rl.models.masking.FeasibilityConfig`` minus the layout)."""
    t_max, cap_max = normalisers(config)
    return {"t_max": t_max, "cap_max": cap_max, "num_servers": config.num_servers}


class ObservationBuilder:
    """Builds batches of observations of one layout from simulator state arrays.

    ``set_world(lanes, world)`` stores the static per-world features of ``lanes``;
    ``build(...)`` writes the dynamic ones and returns a fresh (B, ...) float32 array.

    Args:
        config: the simulator settings (layout, sizes, normalisers).
        num_envs: batch size B (1 for the scalar env).
    """

    def __init__(self, config: AIGCConfig, num_envs: int) -> None:
        self.config = config
        self.layout = config.observation
        num_e, num_m, num_k = config.num_servers, config.models_per_server, config.num_task_types
        self._e, self._m, self._k = num_e, num_m, num_k
        demand = config.choices("demand_range")
        self.t_max, self.cap_max = normalisers(config)
        # Task features per (type, demand index) row k * T + i: one_hot(k), t/t_max, rt/rt_max.
        num_t = len(demand)
        table = np.zeros((num_k * num_t, num_k + 2))
        types = np.repeat(np.arange(num_k), num_t)
        table[np.arange(num_k * num_t), types] = 1.0
        table[:, num_k] = np.tile(demand / demand[-1], num_k)
        table[:, num_k + 1] = np.tile(runtime(demand) / runtime(demand[-1]), num_k)
        self.task_table = table.astype(np.float32)
        self.space = self._space()
        if self.layout == "tokens":
            self._tok = token_layout(config)
            # Feature-major (B, F, 1 + A): every per-step write is contiguous and build()
            # returns one transposed copy; writing single columns of a (B, 1 + A, F) array
            # (one float per 64-byte token) measured slower.
            shape = (num_envs, self._tok.num_features, self._tok.num_tokens)
            self._buf = np.zeros(shape, dtype=np.float32)
        else:
            self._buf = np.zeros((num_envs, *self.space.shape), dtype=np.float32)
        self._cap = np.ones((num_envs, num_e))  # capacity per lane, float64
        self._cap_a = np.ones((num_envs, num_e * num_m))  # ... repeated per model
        self._base = np.zeros((num_envs, num_k, num_e * num_m), dtype=np.float32)

    def _space(self) -> gym.spaces.Box:
        cfg, num_e, num_m, num_k = self.config, self._e, self._m, self._k
        if self.layout == "paper-adsac":
            low = np.zeros(num_k + 2 + 3 * num_e, dtype=np.float32)
            high = np.ones_like(low)
            # The paper's constant M, declared within [0, M] (the env checker warns about a
            # Box whose low equals its high).
            high[num_k + 4 :: 3] = num_m
        elif self.layout == "paper-agod":
            low = np.zeros(2 * num_e + 2, dtype=np.float32)
            high = np.ones_like(low)
        else:
            lay = token_layout(cfg)
            low = np.zeros((lay.num_tokens, lay.num_features), dtype=np.float32)
            high = np.ones_like(low)
            col = lay.feature
            high[:, col["baseline"]] = cfg.choices("baseline_range")[-1]
            high[:, col["ax"]] = cfg.choices("ax_range")[-1] / self.t_max
            high[:, col["ay"]] = cfg.choices("ay_range")[-1]
            high[:, col["bx"]] = cfg.choices("bx_range")[-1] / self.t_max
            high[:, col["by"]] = cfg.choices("by_range")[-1]
        return gym.spaces.Box(low=low, high=np.maximum(high, low), dtype=np.float32)

    def set_world(self, lanes: int | np.ndarray | slice, world: World) -> None:
        """Store the static features of ``world`` for ``lanes``."""
        cfg, num_k = self.config, self._k
        self._cap[lanes] = world.capacity
        self._cap_a[lanes] = np.repeat(world.capacity, self._m)
        cap_norm = (world.capacity / self.cap_max).astype(np.float32)
        if self.layout == "paper-adsac":
            self._buf[lanes, num_k + 2 :: 3] = cap_norm
            self._buf[lanes, num_k + 4 :: 3] = self._m
        elif self.layout == "paper-agod":
            self._buf[lanes, 0 : 2 * self._e : 2] = cap_norm
        else:
            col, buf = self._tok.feature, self._buf
            buf[lanes, col["capacity"], 1:] = np.repeat(cap_norm, self._m)
            buf[lanes, col["ax"], 1:] = world.ax.reshape(-1) / self.t_max
            buf[lanes, col["ay"], 1:] = world.ay.reshape(-1)
            buf[lanes, col["bx"], 1:] = world.bx.reshape(-1) / self.t_max
            buf[lanes, col["by"], 1:] = world.by.reshape(-1)
            self._base[lanes] = world.effective_baseline(cfg).T

    def build(
        self,
        task_code: np.ndarray,
        task_type: np.ndarray,
        demand: np.ndarray,
        used: np.ndarray,
        load: np.ndarray,
    ) -> np.ndarray:
        """Observations of all lanes: (B, *space.shape) float32, a new array.

        Args:
            task_code: (B,) row k * T + i of the current task in ``task_table``.
            task_type: (B,) type k of the current task.
            demand: (B,) demand t of the current task.
            used: (B, E) capacity in use per server.
            load: (B, A) demand running per (server, model).
        """
        buf, num_k, num_e = self._buf, self._k, self._e
        free_frac = (self._cap - used) / self._cap  # (B, E)
        if self.layout == "paper-adsac":
            buf[:, : num_k + 2] = self.task_table[task_code]
            buf[:, num_k + 3 :: 3] = free_frac
        elif self.layout == "paper-agod":
            buf[:, 1 : 2 * num_e : 2] = free_frac
            buf[:, 2 * num_e :] = self.task_table[task_code, num_k:]
        else:
            col, num_m = self._tok.feature, self._m
            batch = buf.shape[0]
            buf[:, : num_k + 2, 0] = self.task_table[task_code]
            free = self._cap - used
            buf[:, col["free"], 1:] = np.repeat(free_frac, num_m, axis=1)
            load_em = load.reshape(batch, num_e, num_m)
            busy = (load_em[:, :, 0] > 0).astype(np.float32)
            for model in range(1, num_m):  # faster than a bool mean over a short axis
                busy += load_em[:, :, model] > 0
            buf[:, col["busy"], 1:] = np.repeat(busy / num_m, num_m, axis=1)
            np.divide(load, self._cap_a, out=buf[:, col["load"], 1:], casting="unsafe")
            buf[:, col["baseline"], 1:] = self._base[np.arange(batch), task_type]
            feasible = (demand[:, None] <= free).astype(np.float32)
            buf[:, col["feasible"], 1:] = np.repeat(feasible, num_m, axis=1)
            return np.ascontiguousarray(buf.transpose(0, 2, 1))
        return buf.copy()


__all__ = [
    "TOKEN_FEATURES",
    "ObservationBuilder",
    "TokenLayout",
    "feasibility_settings",
    "normalisers",
    "token_layout",
]
