"""RLlib callbacks that report the simulators' episode summaries (crash rate, JCT, ...)."""

from __future__ import annotations

from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback

#: summary keys reported per episode, as ``env_runners/<key>`` (mean over the window)
SUMMARY_KEYS = ("utility", "crash_events", "tasks_killed", "crash_rate", "mean_jct")


class EpisodeSummaryCallback(RLlibCallback):
    """Log ``info["summary"]`` of every finished episode (the envs put it on the last step)."""

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        if metrics_logger is None:
            return
        info = episode.get_infos(-1) or {}
        summary = info.get("summary") if isinstance(info, dict) else None
        if not summary:
            return
        for key in SUMMARY_KEYS:
            if key in summary:
                metrics_logger.log_value(f"episode_{key}", float(summary[key]), window=100)
