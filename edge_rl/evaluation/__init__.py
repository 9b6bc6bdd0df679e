"""Evaluation of heuristic and learned policies on the edge simulators (no Ray import)."""

from edge_rl.evaluation.report import (
    build_report,
    format_paired_table,
    format_table,
    paired_differences,
    plot_comparison,
    write_json,
)
from edge_rl.evaluation.runner import (
    ENV_FAMILIES,
    EpisodeRecord,
    check_seeds,
    evaluate,
    family_presets,
    make_env,
    run_episode,
)
from edge_rl.evaluation.stats import MeanCI, mean_ci, t_critical

__all__ = [
    "ENV_FAMILIES",
    "EpisodeRecord",
    "MeanCI",
    "build_report",
    "check_seeds",
    "evaluate",
    "family_presets",
    "format_paired_table",
    "format_table",
    "make_env",
    "mean_ci",
    "paired_differences",
    "plot_comparison",
    "run_episode",
    "t_critical",
    "write_json",
]
