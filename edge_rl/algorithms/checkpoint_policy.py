"""Greedy policies from training checkpoints, usable wherever a heuristic is (no Ray runtime).

``edge-rl evaluate --checkpoint DIR`` loads the trained RLModule from a checkpoint written by
``edge-rl train`` and acts with the deterministic version of its action distribution (argmax), so
learned and heuristic policies share one report.

How a checkpoint picks its greedy action (``act_by``, ``edge-rl evaluate --act-by``):

- ``argmax``: the argmax of one forward pass (the reference's evaluation; for a diffusion actor
  one denoising chain from one noise draw, so the "greedy" action still depends on the noise).
- ``mean-probs:K``: the argmax of the action probabilities averaged over K passes (K chains from
  independent noise): the mode of the diffusion policy's marginal pi(a|s) = E_noise[softmax(x_0)]
  rather than of one sample of it. Stateless modules only.
- ``critic``: the argmax of min(Q1, Q2)(s, .) of the checkpoint's twin critics (ADSAC, D2SAC),
  ignoring the actor (but not its feasibility mask, where it has one): a diagnostic of how far
  the actor lags the critic it is trained against.
- ``rollout[:samples=S,horizon=H,crash_weight=W,switch_z=Z]``: decision-time planning over the
  trained policy (AIGC env, stateless modules): ``edge_rl.baselines.aigc.RolloutPlanner`` with
  the checkpoint's argmax policy as the base policy of the rollouts, on the known simulator
  (defaults: 16 samples, 40 future tasks, crash weight 0, switch_z 0). Where fewer than two
  servers have room, the policy's own action. It reads what Prophet reads (the utility table,
  the running tasks), so it is a planner over a learned policy, not the learned policy itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from edge_rl.baselines.aigc import RolloutObserver, RolloutPlanner, RolloutStep
from edge_rl.baselines.base import Policy
from edge_rl.models import mean_probs_action

MODULE_SUBPATH = Path("learner_group/learner/rl_module/default_policy")

#: the forms of ``act_by`` (K a whole number >= 2)
ACT_BY_FORMS = ("argmax", "mean-probs:K", "critic", "rollout[:KEY=VALUE,...]")

#: ``rollout`` settings: name -> (type, default)
ROLLOUT_SETTINGS: dict[str, tuple[type, float]] = {
    "samples": (int, 16),
    "horizon": (int, 40),
    "crash_weight": (float, 0.0),
    "switch_z": (float, 0.0),
}


def parse_act_by(text: str) -> tuple[str, int]:
    """``argmax`` | ``critic`` | ``mean-probs:K`` | ``rollout[:...]`` -> (mode, passes: K, or
    the rollout's samples); a ValueError says what to write instead."""
    if text in ("argmax", "critic"):
        return text, 1
    mode, _, count = text.partition(":")
    if mode == "mean-probs" and count.isdigit() and int(count) >= 2:
        return mode, int(count)
    if mode == "rollout":
        return mode, int(rollout_settings(text)["samples"])
    raise ValueError(
        f"--act-by {text!r}: write one of {', '.join(ACT_BY_FORMS)} (K a whole number >= 2, "
        "e.g. mean-probs:8; rollout settings e.g. rollout:samples=32,crash_weight=30)"
    )


def rollout_settings(text: str) -> dict[str, float]:
    """The planner settings of ``rollout[:KEY=VALUE,...]`` (defaults filled in, values checked
    by ``RolloutPlanner``); a ValueError names the bad part and the valid settings."""
    _, _, body = text.partition(":")
    settings = {key: kind(default) for key, (kind, default) in ROLLOUT_SETTINGS.items()}
    for item in filter(None, body.split(",")):
        key, eq, value = item.partition("=")
        if key not in ROLLOUT_SETTINGS or not eq:
            raise ValueError(
                f"--act-by {text!r}: {item!r} is not a rollout setting; write KEY=VALUE with KEY "
                f"one of {', '.join(ROLLOUT_SETTINGS)} (e.g. rollout:samples=32,crash_weight=30)"
            )
        kind = ROLLOUT_SETTINGS[key][0]
        try:
            settings[key] = kind(value)
        except ValueError:
            word = "an integer" if kind is int else "a number"
            raise ValueError(f"--act-by {text!r}: {key}={value!r} is not {word}") from None
    try:
        RolloutPlanner(np.random.default_rng(0), **settings)  # type: ignore[arg-type]
    except ValueError as err:
        raise ValueError(f"--act-by {text!r}: {err}") from None
    return settings


def resolve_checkpoint(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """(checkpoint dir, run spec) for a run directory or one of its checkpoints.

    Raises FileNotFoundError with what to pass instead when ``path`` is neither.
    """
    path = Path(path).resolve()  # RLlib reads checkpoints through pyarrow: absolute paths
    if (path / "run.json").is_file():  # a run directory: take its newest checkpoint
        from edge_rl.training.loop import latest_checkpoint

        ckpt = latest_checkpoint(path)
        if ckpt is None:
            raise FileNotFoundError(f"run directory {path} has no checkpoints yet")
        run_dir = path
    else:
        ckpt = path
        run_dir = path.parent.parent
    if not (ckpt / MODULE_SUBPATH).is_dir():
        raise FileNotFoundError(
            f"{path} is not an edge-rl checkpoint (no {MODULE_SUBPATH}); pass a run directory "
            "(--output of `edge-rl train`) or its checkpoints/final"
        )
    spec: dict[str, Any] = {}
    if (run_dir / "run.json").is_file():
        spec = json.loads((run_dir / "run.json").read_text())["spec"]
    return ckpt, spec


def default_policy_name(spec: dict[str, Any]) -> str:
    """The name a run's policy has in reports: its algorithm, with "-softmax" for an ADSAC or
    D2SAC run whose actor is the softmax ablation (``--set actor_head=softmax``)."""
    algo = str(spec.get("algo", "checkpoint"))
    if (spec.get("settings") or {}).get("actor_head") == "softmax":
        return f"{algo}-softmax"
    return algo


class CheckpointPolicy(Policy):
    """The greedy (argmax) policy of a trained RLModule.

    Args:
        checkpoint: a checkpoint directory (or a run directory: its newest checkpoint).
        seed: seeds torch's RNG (the diffusion actor draws noise even when greedy).
        name: the name reports use (default: ``default_policy_name`` of the run).
        sample: act by sampling the exploration distribution instead of greedily.
        act_by: how the greedy action is picked (module docstring): ``argmax``,
            ``mean-probs:K`` or ``critic``.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        seed: int | None = None,
        name: str | None = None,
        sample: bool = False,
        act_by: str = "argmax",
    ):
        super().__init__(seed)
        from ray.rllib.core.rl_module.rl_module import RLModule

        self.checkpoint, self.spec = resolve_checkpoint(checkpoint)
        self.module = RLModule.from_checkpoint(str(self.checkpoint / MODULE_SUBPATH))
        if isinstance(self.module, torch.nn.Module):
            self.module.eval()
        self.name = name or default_policy_name(self.spec)
        # ``sample``: act with the exploration distribution (as during training) instead of its
        # argmax; near-uniform policies collapse onto one action under argmax.
        self.sample = bool(sample)
        self._dist_cls = (
            self.module.get_exploration_action_dist_cls()
            if self.sample
            else self.module.get_inference_action_dist_cls()
        )
        # Recurrent policies (RL^2: meta-dreamer, rl2-ppo) carry a state from step to step;
        # it starts from the module's initial state at every ``reset`` (a new trial).
        self.stateful = bool(self.module.is_stateful())
        self._state: Any = None
        self.act_mode, self.passes = self.check_act_by(act_by)
        self._planner: RolloutPlanner | None = None
        self._sim: gym.Env | None = None  # the episode's env the planner was reset for
        self._observer: RolloutObserver | None = None
        if self.act_mode == "rollout":
            self._planner = RolloutPlanner(
                self.rng, base=self._rollout_pick, **rollout_settings(act_by)
            )
        if seed is not None:
            torch.manual_seed(seed)

    def check_act_by(self, act_by: str) -> tuple[str, int]:
        """(mode, passes) of ``act_by``; a ValueError when this checkpoint cannot act that way
        (or the text is malformed), saying what to change."""
        mode, passes = parse_act_by(act_by)
        algo = self.spec.get("algo", "this checkpoint")
        if mode != "argmax" and self.sample:
            raise ValueError(f"--act-by {mode} picks a greedy action; drop --sample-actions")
        if mode == "critic" and not hasattr(self.module, "q_values"):
            raise ValueError(
                f"--act-by critic needs a checkpoint with twin critics (adsac, d2sac); "
                f"{algo} at {self.checkpoint} has none"
            )
        if mode in ("mean-probs", "rollout") and self.stateful:
            why = "K times per step" if mode == "mean-probs" else "once per simulated step"
            raise ValueError(
                f"--act-by {mode} needs a stateless policy; {algo} is recurrent (its memory "
                f"would advance {why})"
            )
        if mode == "rollout" and self.spec.get("env", "aigc") != "aigc":
            raise ValueError(
                f"--act-by rollout plans on the AIGC simulator; {algo} at {self.checkpoint} was "
                f"trained on {self.spec.get('env')}"
            )
        return mode, passes

    def reset(self, env: gym.Env) -> None:
        if self._planner is not None:
            self._planner.reset(env)
            self._sim = env  # the world (capacities, profiles) may change per episode
            self._observer = RolloutObserver(env)
        if self.stateful:
            initial = self.module.get_initial_state()
            self._state = {
                k: torch.as_tensor(np.asarray(v, np.float32)).unsqueeze(0)
                for k, v in initial.items()
            }

    def act(self, obs: np.ndarray, env: gym.Env) -> int:
        obs = self._as_module_input(np.asarray(obs, np.float32)[None])[0]
        if self._planner is not None:
            if self._sim is not env:
                self.reset(env)
            return self._planner.plan(env, int(self._greedy_actions(obs[None])[0]))
        with torch.no_grad():
            obs_t = torch.as_tensor(obs).unsqueeze(0)
            if self.act_mode == "critic":
                q1_BA, q2_BA = self.module.q_values(obs_t)
                # a masked policy's critics never learned the values of infeasible actions
                q_BA = self.module.actor.mask_logits(obs_t, torch.minimum(q1_BA, q2_BA))
                return int(q_BA[0].argmax())
            if self.act_mode == "mean-probs":
                # K rows of the same state: one batched pass, independent noise per row
                obs_KF = obs_t.expand(self.passes, *obs_t.shape[1:])
                logits_KA = self.module.forward_inference({"obs": obs_KF})["action_dist_inputs"]
                return mean_probs_action(logits_KA.reshape(self.passes, -1))
            if self.stateful:
                if self._state is None:
                    self.reset(env)
                # (B=1, T=1, ...) as RLlib's env runners feed stateful modules
                batch = {"obs": obs_t.unsqueeze(1), "state_in": self._state}
            else:
                batch = {"obs": obs_t}
            forward = (
                self.module.forward_exploration if self.sample else self.module.forward_inference
            )
            out = forward(batch)
            if self.stateful:
                self._state = out["state_out"]
            if "actions" in out:
                return int(np.asarray(out["actions"]).reshape(-1)[0])
            logits = out["action_dist_inputs"].reshape(1, -1)
            dist = self._dist_cls.from_logits(logits)
            if not self.sample:
                dist = dist.to_deterministic()
            return int(dist.sample()[0])

    def _greedy_actions(self, obs_B: np.ndarray) -> np.ndarray:
        """The argmax actions of a batch of observations, (B,) (stateless modules)."""
        with torch.no_grad():
            out = self.module.forward_inference({"obs": torch.as_tensor(obs_B)})
        if "actions" in out:
            return np.asarray(out["actions"]).reshape(len(obs_B))
        logits_BA = out["action_dist_inputs"].reshape(len(obs_B), -1)
        return logits_BA.argmax(dim=1).numpy()

    def _rollout_pick(self, step: RolloutStep) -> np.ndarray:
        """The policy's argmax on a batch of simulated decisions (the rollouts' base policy)."""
        return self._greedy_actions(self._as_module_input(self._observer(step)))

    def _as_module_input(self, obs_B: np.ndarray) -> np.ndarray:
        """A batch of observations as the module was trained on them: RLlib's built-ins were
        trained on flattened token arrays."""
        shape = getattr(self.module.observation_space, "shape", None)
        if shape is not None and len(shape) == 1 and obs_B.ndim > 2:
            return obs_B.reshape(len(obs_B), -1)
        return obs_B
