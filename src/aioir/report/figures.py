"""The report's figures, drawn with matplotlib (a core dependency, imported only where a figure is drawn).

Each ``*_figure`` function takes plain data (series, images, numbers) and returns a
``matplotlib.figure.Figure`` built with the object-oriented API (no pyplot, no global backend
change); :func:`save_png` writes it. matplotlib is imported inside these functions only;
:func:`matplotlib_missing` says why figures cannot be drawn, or ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .curves import Series, mean_over_runs, moving_average

__all__ = [
    "matplotlib_missing",
    "save_png",
    "panels_figure",
    "lines_figure",
    "image_grid_figure",
    "uncertainty_maps_figure",
    "histograms_figure",
    "SMOOTH",
]

#: trailing moving-average window (logged points) of the solid lines of noisy training curves
SMOOTH = 5
_PANEL = (4.2, 2.9)


def matplotlib_missing() -> str | None:
    """Why figures cannot be drawn (matplotlib not importable), or ``None``."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install
        return (f"matplotlib is not available ({exc}); it is a dependency of aioir: reinstall "
                "with pip install -e . in the aioir clone")
    return None


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: str | Path, dpi: int = 90) -> Path:
    """Write ``fig`` as a PNG file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return path


def _grid_shape(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def panels_figure(
    panels: Mapping[str, Mapping[str, Sequence[Series]]],
    *,
    ylabel: str,
    smooth: int = 0,
    log_y: bool = False,
    markers: bool = False,
    sharey: bool = True,
    references: Mapping[str, tuple[str, float]] | None = None,
    xmax: float | None = None,
):
    """One panel per key of ``panels``; in each, one line per label (mean over the label's runs
    at the steps they share, a band of +/- one std when there are several).

    ``smooth`` > 1 draws the raw mean faintly and its trailing moving average solid.
    ``references[panel] = (name, value)`` draws a dashed horizontal line; ``xmax`` fixes the
    step axis to ``[0, xmax]``.
    """
    rows, cols = _grid_shape(len(panels))
    fig = _figure(_PANEL[0] * cols, _PANEL[1] * rows + 0.4)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=sharey, squeeze=False)).ravel()
    colors = _colors(sorted({label for lines in panels.values() for label in lines}))
    for ax, (title, lines) in zip(axes, panels.items()):
        for label, runs in lines.items():
            steps, mean, std = mean_over_runs(runs)
            if steps.size == 0:
                continue
            color = colors[label]
            style = {"marker": "o", "markersize": 3} if markers else {}
            if smooth > 1 and steps.size > smooth:
                ax.plot(steps, mean, color=color, alpha=0.25, linewidth=0.8)
                ax.plot(steps, moving_average(mean, smooth), color=color, label=label,
                        linewidth=1.4)
            else:
                ax.plot(steps, mean, color=color, label=label, linewidth=1.4, **style)
            if len([r for r in runs if r]) > 1:
                ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.15,
                                linewidth=0)
        if references and title in references:
            name, value = references[title]
            ax.axhline(value, color="0.4", linestyle="--", linewidth=1.0, label=name)
        if xmax:
            ax.set_xlim(0, xmax * 1.03)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        if log_y:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2 if len(lines) > 4 else 1)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return fig


def lines_figure(lines: Mapping[str, Sequence[Series]], *, ylabel: str, title: str = "",
                 log_y: bool = False):
    """One panel, one line per label (mean over its runs)."""
    return panels_figure({title: lines}, ylabel=ylabel, log_y=log_y)


def _colors(labels: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {label: cmap(i % 10) for i, label in enumerate(labels)}


def _show(ax: Any, img: np.ndarray, title: str = "", caption: str = "") -> None:
    ax.imshow(np.clip(img, 0.0, 1.0), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if caption:
        ax.set_xlabel(caption, fontsize=8)


def image_grid_figure(
    rows: Sequence[Sequence[np.ndarray]],
    *,
    column_titles: Sequence[str],
    row_titles: Sequence[str],
    captions: Sequence[Sequence[str]] | None = None,
    boxes: Sequence[tuple[int, int, int] | None] | None = None,
    tile: float | None = None,
    dpi: int = 90,
):
    """Images in a grid: ``rows[i][j]`` under ``column_titles[j]``, row ``i`` named
    ``row_titles[i]``; ``captions[i][j]`` below each image; ``boxes[i]`` = ``(top, left,
    size)`` draws a square on every image of row ``i``. ``tile`` (inches): default, the width
    that shows the first image at its own resolution at ``dpi`` (between 1.5 and 3 inches)."""
    from matplotlib.patches import Rectangle

    nrow, ncol = len(rows), len(column_titles)
    aspect = rows[0][0].shape[0] / rows[0][0].shape[1] if rows else 1.0
    if tile is None:
        tile = min(max(rows[0][0].shape[1] / dpi, 1.5), 3.0) if rows else 1.9
    fig = _figure(tile * ncol + 0.4, tile * aspect * nrow + 0.35 * nrow + 0.3)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            ax = axes[i][j]
            _show(ax, img, column_titles[j] if i == 0 else "",
                  captions[i][j] if captions else "")
            box = boxes[i] if boxes else None
            if box is not None:
                top, left, size = box
                ax.add_patch(Rectangle((left - 0.5, top - 0.5), size, size, fill=False,
                                       edgecolor="#ffcc00", linewidth=1.2))
        axes[i][0].set_ylabel(row_titles[i], fontsize=9)
    return fig


def uncertainty_maps_figure(
    inputs: Sequence[np.ndarray],
    maps: Mapping[str, Sequence[np.ndarray]],
    errors: Mapping[str, Sequence[np.ndarray]],
    row_titles: Sequence[str],
):
    """Per row (task): the degraded input, then for each run its uncertainty map and its
    absolute error (mean over channels); one colour scale per run for its maps (1st-99th
    percentile of all its values), one for its errors."""
    labels = list(maps)
    ncol = 1 + 2 * len(labels)
    nrow = len(inputs)
    aspect = inputs[0].shape[0] / inputs[0].shape[1]
    fig = _figure(1.9 * ncol + 0.6, 1.9 * aspect * nrow + 0.9)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for i, img in enumerate(inputs):
        _show(axes[i][0], img, "degraded input" if i == 0 else "")
        axes[i][0].set_ylabel(row_titles[i], fontsize=9)
    for k, label in enumerate(labels):
        for which, values, cmap, name in (
            (0, maps[label], "viridis", f"{label}: uncertainty"),
            (1, errors[label], "magma", f"{label}: |error|"),
        ):
            flat = np.concatenate([v.ravel() for v in values])
            vmin, vmax = np.percentile(flat, [1, 99])
            if vmax <= vmin:
                vmax = vmin + 1e-12
            col = 1 + 2 * k + which
            image = None
            for i, v in enumerate(values):
                ax = axes[i][col]
                image = ax.imshow(v, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(name, fontsize=9)
            if image is not None:
                fig.colorbar(image, ax=[axes[i][col] for i in range(nrow)], location="bottom",
                             shrink=0.9, pad=0.01)
    return fig


def histograms_figure(values: Mapping[str, Mapping[str, np.ndarray]], *, xlabel: str):
    """One panel per run (``values[run][task]``): each task's distribution as a step
    histogram (density), on log-spaced bins when the values span more than 20x."""
    rows, cols = _grid_shape(len(values), 2)
    fig = _figure(5.0 * cols, 3.4 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (label, per_task) in zip(axes, values.items()):
        flat = np.concatenate([v.ravel() for v in per_task.values()])
        lo, hi = np.percentile(flat, [0.5, 99.5])
        hi = max(hi, lo * (1 + 1e-6) + 1e-12)
        log = lo > 0 and hi / lo > 20
        bins = np.geomspace(lo, hi, 50) if log else np.linspace(lo, hi, 50)
        colors = _colors(list(per_task))
        for task, v in per_task.items():
            ax.hist(v.ravel(), bins=bins, density=True, histtype="step", linewidth=1.3,
                    color=colors[task], label=f"{task} (mean {float(np.mean(v)):.3g})")
        if log:
            ax.set_xscale("log")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(values):]:
        ax.set_visible(False)
    return fig
