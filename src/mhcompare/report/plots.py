"""PNG plots for the report (matplotlib, no display needed)."""
from pathlib import Path

import pandas as pd


def plot_loss_curves(histories: dict[str, list[pd.DataFrame]], path: Path) -> None:
    """Training loss per model: the mean across seeds, with the min-max band of the seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for model, frames in sorted(histories.items()):
        curves = pd.concat([f.set_index("step")["loss"].rename(i) for i, f in enumerate(frames)], axis=1)
        curves = curves.sort_index().interpolate(limit_area="inside")
        mean = curves.mean(axis=1)
        ax.plot(mean.index, mean.values, label=f"{model} (n={len(frames)} seeds)")
        if len(frames) > 1:
            ax.fill_between(curves.index, curves.min(axis=1), curves.max(axis=1), alpha=0.2)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title("Training loss (mean across seeds, band = min-max)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)
