"""The Dice-vs-clicks figure of ``medrl evaluate``: mean Dice per interaction, one line per method,
with its 95% confidence band over cases (no band with a single case)."""

from __future__ import annotations

import os

import numpy as np

from medrl.data.atomic import atomic_path


def plot_dice_curves(summaries: dict[str, dict], path: str | os.PathLike, title: str = "Dice vs clicks") -> None:
    """Write a PNG of mean Dice against interactions k = 0 … K for every method of ``summaries``
    (:func:`medrl.evaluation.summary.summarise`); the ``initial`` baseline is drawn dashed."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend (e.g. a notebook's) stays as it is

    figure = Figure(figsize=(6.5, 4.2))
    axis = figure.subplots()
    for index, (name, summary) in enumerate(summaries.items()):
        colour = f"C{index}"
        clicks = np.arange(len(summary["dice"]))
        mean = np.array([e.mean for e in summary["dice"]])
        low, high = np.array([e.low for e in summary["dice"]]), np.array([e.high for e in summary["dice"]])
        style = "--" if name == "initial" else "o-"
        axis.plot(clicks, mean, style, color=colour, label=f"{name} (n={summary['n_cases']})")
        if np.isfinite(low).all():
            axis.fill_between(clicks, low, high, color=colour, alpha=0.15, linewidth=0)
    axis.set(xlabel="interactions (robot-clinician clicks)", ylabel="mean Dice (band: 95% CI over cases)", title=title)
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
