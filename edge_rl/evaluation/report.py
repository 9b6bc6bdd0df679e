"""Evaluation reports: summaries with 95% CIs, a printed table, JSON, and a comparison plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_rl.evaluation.runner import FAMILY_METRICS, EpisodeRecord
from edge_rl.evaluation.stats import mean_ci

#: the metric each family's comparison plot shows, and whether lower is better
HEADLINE: dict[str, tuple[str, bool]] = {
    "aigc": ("return", False),
    "load-balance": ("mean_jct", True),
    "load-balance-trials": ("mean_jct", True),
}


def summarize(records: Sequence[EpisodeRecord]) -> dict[str, dict[str, dict[str, Any]]]:
    """policy -> metric -> {mean, ci95, low, high, std, n} over the given episodes."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name in dict.fromkeys(r.policy for r in records):
        mine = [r for r in records if r.policy == name]
        metrics = dict.fromkeys(k for r in mine for k in r.metrics)
        out[name] = {k: mean_ci([r.metrics[k] for r in mine]).to_dict() for k in metrics}
    return out


def paired_differences(
    records: Sequence[EpisodeRecord], baseline: str
) -> dict[str, dict[str, dict[str, Any]]]:
    """policy -> metric -> the per-episode difference (policy minus ``baseline``) on the same
    (seed, episode): {mean, ci95, low, high, std, n, lower, higher} (``lower``/``higher``: how
    many episodes the policy scored below/above the baseline).

    Every policy meets the same seeds, so pairing removes the between-seed spread that the
    unpaired intervals of ``summarize`` carry: two policies whose 95% CIs overlap can still differ
    clearly on every seed. Raises ``ValueError`` for an unknown baseline or a policy that shares
    no (seed, episode) with it.
    """
    policies = list(dict.fromkeys(r.policy for r in records))
    if baseline not in policies:
        raise ValueError(f"baseline {baseline!r} was not evaluated; choose one of: {policies}")
    base = {(r.seed, r.episode): r.metrics for r in records if r.policy == baseline}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name in policies:
        if name == baseline:
            continue
        pairs = [(r.metrics, base[r.seed, r.episode]) for r in records
                 if r.policy == name and (r.seed, r.episode) in base]  # fmt: skip
        if not pairs:
            raise ValueError(f"{name!r} shares no (seed, episode) with the baseline {baseline!r}")
        metrics = [m for m in pairs[0][0] if all(m in a and m in b for a, b in pairs)]
        out[name] = {}
        for m in metrics:
            diff = [a[m] - b[m] for a, b in pairs]
            out[name][m] = {
                **mean_ci(diff).to_dict(),
                "lower": sum(d < 0 for d in diff),
                "higher": sum(d > 0 for d in diff),
            }
    return out


def format_paired_table(
    env_family: str, paired: dict[str, dict[str, dict[str, Any]]], baseline: str
) -> str:
    """One row per policy: the headline metric's paired difference to ``baseline`` (95% CI),
    on how many episodes the policy was better, and whether the CI excludes zero."""
    metric, lower_better = HEADLINE[env_family]
    header = ["policy", "episodes", f"{metric} - {baseline}", "better on", "verdict"]
    rows = []
    for name, stats in paired.items():
        s = stats.get(metric)
        if s is None:
            continue
        better = s["lower"] if lower_better else s["higher"]
        if s["n"] < 2:
            verdict = "one episode: no interval"
        elif s["low"] > 0 or s["high"] < 0:
            verdict = "better" if (s["mean"] < 0) == lower_better else "worse"
        else:
            verdict = "no significant difference"
        diff = f"{s['mean']:+.4g} ± {s['ci95']:.3g}"
        rows.append([name, str(s["n"]), diff, f"{better}/{s['n']}", verdict])
    return _aligned(header, rows)


def build_report(
    env_family: str,
    preset: str,
    records: Sequence[EpisodeRecord],
    world_seed: int | None = None,
    extra: dict[str, Any] | None = None,
    paired: tuple[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON document of an evaluation.

    ``episodes``: one object per episode (policy, seed, episode, return, length, and the family's
    metrics). ``summary``: metric -> {mean, ci95 (half-width), low, high, std, n} when one policy
    was evaluated; policy -> metric -> ... when several were. ``paired`` (given as
    (baseline, ``paired_differences(records, baseline)``)): {"baseline", "differences"}.
    """
    summary = summarize(records)
    policies = list(summary)
    report: dict[str, Any] = {
        "env": env_family,
        "preset": preset,
        "world_seed": world_seed,
        "policies": policies,
        **(extra or {}),
        "episodes": [r.to_dict() for r in records],
        "summary": summary[policies[0]] if len(policies) == 1 else summary,
    }
    if len(policies) == 1:
        report["policy"] = policies[0]
    if paired is not None:
        report["paired"] = {"baseline": paired[0], "differences": paired[1]}
    return report


def format_table(env_family: str, records: Sequence[EpisodeRecord]) -> str:
    """A readable table: one row per policy, mean ± 95% CI half-width per metric."""
    summary = summarize(records)
    cols = [m for m in FAMILY_METRICS[env_family] if any(m in s for s in summary.values())]
    header = ["policy", "episodes", *cols]
    rows = []
    for name, stats in summary.items():
        n = next(iter(stats.values()))["n"] if stats else 0
        cells = [name, str(n)]
        for m in cols:
            s = stats.get(m)
            cells.append("-" if s is None else f"{s['mean']:.4g} ± {s['ci95']:.3g}")
        rows.append(cells)
    return _aligned(header, rows)


def _aligned(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns: the header, a rule of dashes, one line per row."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(report: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def plot_comparison(
    env_family: str, preset: str, records: Sequence[EpisodeRecord], path: str | Path
) -> Path:
    """Bar chart of the headline metric (mean and 95% CI) per policy, episodes as dots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric, lower_better = HEADLINE[env_family]
    summary = summarize(records)
    names = list(summary)
    means = [summary[n][metric]["mean"] for n in names]
    errs = [summary[n][metric]["ci95"] for n in names]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(names) + 1.5), 4.0))
    xs = range(len(names))
    ax.bar(xs, means, yerr=errs, capsize=4, color="#4c72b0", alpha=0.8)
    for i, n in enumerate(names):
        ys = [r.metrics[metric] for r in records if r.policy == n]
        ax.scatter([i] * len(ys), ys, s=10, color="black", zorder=3)
    ax.set_xticks(list(xs), names, rotation=20, ha="right")
    better = "lower is better" if lower_better else "higher is better"
    ax.set_ylabel(f"{metric} ({better})")
    n_eps = max(summary[n][metric]["n"] for n in names)
    ax.set_title(f"{env_family} / {preset}: mean and 95% CI over {n_eps} episodes")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
