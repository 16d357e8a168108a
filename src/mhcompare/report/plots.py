"""The report's PNG plots (matplotlib, no display). Each returns PNG bytes without metadata, so the
same numbers give the same bytes; a model keeps its colour in every plot."""
import io
import math
import re

from mhcompare.report.curves import Target, curve_points

DPI = 110


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def colours(models: list[str]) -> dict[str, str]:
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    return {model: palette[i % len(palette)] for i, model in enumerate(sorted(models))}


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    pyplot().close(fig)
    return buffer.getvalue()


def seed_band(curves: list[list[dict]], key: str):
    """(steps, mean, low, high, seeds) of one loss across seeds on the union of their steps, each
    curve interpolated inside its own range; None when no curve has the loss."""
    import numpy as np

    series = []
    for curve in curves:
        by_step = dict(curve_points(curve, key))  # a resumed run logs some steps twice: keep the last
        if by_step:
            steps = sorted(by_step)
            series.append((np.array(steps, dtype=float), np.array([by_step[s] for s in steps])))
    if not series:
        return None
    grid = np.unique(np.concatenate([steps for steps, _ in series]))
    stacked = np.vstack([np.interp(grid, steps, losses, left=np.nan, right=np.nan) for steps, losses in series])
    return grid, np.nanmean(stacked, axis=0), np.nanmin(stacked, axis=0), np.nanmax(stacked, axis=0), len(series)


def loss_curves(curves: dict[str, list[list[dict]]], target: Target | None) -> bytes:
    """Training and eval loss per model: the mean across seeds, the band spans the seeds (min-max)."""
    plt = pyplot()
    colour = colours(list(curves))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=DPI)
    for ax, key, title in zip(axes, ("loss", "eval_loss"), ("training loss", "eval loss")):
        for model in sorted(curves):
            band = seed_band(curves[model], key)
            if band is None:
                continue
            steps, mean, low, high, seeds = band
            ax.plot(steps, mean, color=colour[model], marker="o" if len(steps) < 12 else None, markersize=3,
                    label=f"{model} ({seeds} seed{'s' if seeds > 1 else ''})")
            if seeds > 1:
                ax.fill_between(steps, low, high, color=colour[model], alpha=0.18, linewidth=0)
        if target is not None and target.curve == key:
            ax.axhline(target.value, color="#444", linestyle="--", linewidth=1, label=f"target {target.value:.4g}")
        ax.set_title(f"{title} (mean across seeds, band = min-max)", fontsize=10)
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, color="#777")
    fig.tight_layout()
    return png(fig)


def bars(results: list, models: list[str], title: str, confidence: float) -> bytes:
    """One panel per metric: each model's mean with its interval across seeds, n under the name."""
    plt = pyplot()
    colour = colours(models)
    columns = min(3, len(results))
    rows = math.ceil(len(results) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.1 * columns, 3.3 * rows), dpi=DPI, squeeze=False)
    for ax, result in zip(axes.flat, results):
        xs, means, errors, names = [], [], [[], []], []
        for x, model in enumerate(models):
            stats = result.stats.get(model)
            names.append(f"{model}\nn={stats['n'] if stats else 0}")
            if not stats or stats["mean"] is None:
                continue
            xs.append(x)
            means.append(stats["mean"])
            has_interval = stats["ci_low"] is not None
            errors[0].append(stats["mean"] - stats["ci_low"] if has_interval else 0.0)
            errors[1].append(stats["ci_high"] - stats["mean"] if has_interval else 0.0)
        ax.bar(xs, means, yerr=errors, capsize=4, color=[colour[models[x]] for x in xs], alpha=0.85)
        ax.set_xticks(range(len(models)), names, fontsize=8)
        ax.set_title(wrap(f"{result.info.label} ({result.info.better} is better)"), fontsize=9)
        ax.set_ylabel(result.info.unit, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(results):]:
        ax.axis("off")
    fig.suptitle(f"{title}: mean and {confidence:.0%} interval across seeds", fontsize=11)
    fig.tight_layout()
    return png(fig)


def latency_throughput(results: dict, models: list[str], confidence: float) -> bytes | None:
    """Mean latency against output throughput per model, one point per concurrency level, with
    intervals both ways; None without perf results."""
    plt = pyplot()
    colour = colours(models)
    levels = sorted({int(m.group(1)) for name in results
                     if (m := re.fullmatch(r"eval\.perf\.c(\d+)\.latency_s", name))})
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=DPI)
    drawn = False
    for model in models:
        points = []
        for k in levels:
            latency = results.get(f"eval.perf.c{k}.latency_s")
            throughput = results.get(f"eval.perf.c{k}.output_tokens_per_s")
            if latency and throughput and model in latency.stats and model in throughput.stats:
                points.append((k, throughput.stats[model], latency.stats[model]))
        if not points:
            continue
        drawn = True
        xs = [t["mean"] for _, t, _ in points]
        ys = [lat["mean"] for _, _, lat in points]
        ax.errorbar(xs, ys, xerr=interval_errors([t for _, t, _ in points]),
                    yerr=interval_errors([lat for _, _, lat in points]), color=colour[model], marker="o",
                    capsize=3, label=model)
        for (k, _, _), x, y in zip(points, xs, ys):
            ax.annotate(f"c{k}", (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8, color=colour[model])
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("output throughput (tokens/s)")
    ax.set_ylabel("mean latency (s)")
    ax.set_title(f"Latency vs throughput (c<k>: concurrency; bars: {confidence:.0%} interval across seeds)",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)


def interval_errors(stats: list[dict]) -> list[list[float]]:
    low = [s["mean"] - s["ci_low"] if s["ci_low"] is not None else 0.0 for s in stats]
    high = [s["ci_high"] - s["mean"] if s["ci_high"] is not None else 0.0 for s in stats]
    return [low, high]


def wrap(text: str, width: int = 42) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
