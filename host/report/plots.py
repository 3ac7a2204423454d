"""The report's figures: matplotlib (Agg, no display), each returned as an inline PNG data URI."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from host.report.sections import Distortions, Staircase, TransferMatrix, precision_of

# One colour per backend kind, the same in every figure; others take the remaining ones.
COLOURS = {"float": "#1f77b4", "int16": "#2ca02c", "int8": "#ff7f0e", "device": "#d62728"}
OTHERS = ["#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
DPI = 110
MARKERS = ["o", "^", "v", "P", "X", "*"]  # the board: squares; the paper: diamonds


def colour(name: str, others: dict[str, str]) -> str:
    """The colour of a backend: device-* red, TFLite Micro's answer (tflm-* or engine-*) orange
    for int8 and green for int16, float blue."""
    if name.startswith("device-"):
        return COLOURS["device"]
    runtime, _, precision = name.rpartition("-")
    if runtime in ("", "tflm", "engine") and precision in ("float", "int8", "int16"):
        return COLOURS[precision]
    return others.setdefault(name, OTHERS[len(others) % len(OTHERS)])


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _style(axes: Axes) -> None:
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(True, color="#e5e5e5", linewidth=0.8)
    axes.set_axisbelow(True)


def data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def staircase(stairs: Staircase) -> str:
    """Accuracy against eps, one line per backend, the paper's points as open markers, and a
    top axis in int8 input steps with half a step marked."""
    figure = _figure(7.5, 4.2)
    axes = figure.add_subplot()
    _style(axes)
    others: dict[str, str] = {}
    last = len(stairs.curves) - 1
    for order, curve in enumerate(stairs.curves):
        device = curve.label.startswith("device-")
        axes.plot(  # drawn widest first, so a backend hidden under an identical one shows
            curve.eps,
            curve.accuracy,
            marker="s" if device else MARKERS[order % len(MARKERS)],
            markersize=8 if device else 6,
            markerfacecolor="white" if device else None,
            linestyle="--" if device else "-",
            linewidth=1.4 + 2.0 * (last - order) if not device else 2.0,
            color=colour(curve.label, others),
            label=curve.label,
            zorder=20 if device else 2 + order,
        )
    for curve in stairs.paper:
        axes.scatter(
            curve.eps,
            curve.accuracy,
            marker="D",
            s=46,
            facecolors="none",
            edgecolors=colour(curve.precision, others),
            linewidths=1.6,
            label=curve.label,
            zorder=4,
        )
    axes.set_xlabel("eps ([0,1] units; 0 = clean)")
    axes.set_ylabel("accuracy %")
    axes.set_ylim(-3, 103)
    axes.set_title(f"{stairs.title}, n={stairs.n}", fontsize=10)
    if stairs.int8_step:
        step = stairs.int8_step

        def to_steps(eps: ArrayLike) -> ArrayLike:
            return np.asarray(eps) / step

        def to_eps(steps: ArrayLike) -> ArrayLike:
            return np.asarray(steps) * step

        top = axes.secondary_xaxis("top", functions=(to_steps, to_eps))
        top.set_xlabel("int8 input steps")
        axes.axvline(step / 2, color="#999999", linestyle=":", linewidth=1.2)
        axes.annotate(
            "½ int8 step",
            (step / 2, 2),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=8,
            color="#666666",
        )
    axes.legend(fontsize=8, frameon=False, loc="best")
    return data_uri(figure)


def transfer(matrix: TransferMatrix) -> str:
    """A heatmap: rows crafted on the oracle (attack, eps), columns evaluating backends."""
    values = np.array([[np.nan if v is None else v for v in row] for row in matrix.success])
    width = max(4.5, 2.6 + 1.1 * len(matrix.columns))
    figure = _figure(width, 1.2 + 0.32 * len(matrix.rows))
    axes = figure.add_subplot()
    image = axes.imshow(values, cmap="Reds", vmin=0, vmax=100, aspect="auto")
    axes.set_xticks(range(len(matrix.columns)), matrix.columns, fontsize=8)
    axes.set_yticks(range(len(matrix.rows)), matrix.rows, fontsize=8)
    axes.xaxis.tick_top()
    for (i, j), value in np.ndenumerate(values):
        text = "-" if np.isnan(value) else f"{value:.0f}"
        ink = "white" if not np.isnan(value) and value > 60 else "black"
        axes.text(j, i, text, ha="center", va="center", fontsize=8, color=ink)
    figure.colorbar(image, ax=axes, label="attack success %", shrink=0.8)
    return data_uri(figure)


def _histograms(
    axes: Axes, series: Mapping[str, Sequence[float]], xlabel: str, integer: bool
) -> None:
    """Overlaid outlines; integer values (up to 30) as side-by-side bars, one per series."""
    _style(axes)
    others: dict[str, str] = {}
    values = [v for vs in series.values() for v in vs]
    top = int(max(values, default=0))
    if integer and top <= 30:
        width = 0.8 / max(1, len(series))
        for number, (label, data) in enumerate(series.items()):
            counts = np.bincount(np.asarray(data, dtype=int), minlength=top + 1)
            offsets = np.arange(top + 1) - 0.4 + width * (number + 0.5)
            axes.bar(offsets, counts, width, color=colour(label, others), label=label)
        axes.set_xticks(range(top + 1))
    else:
        bins = np.histogram_bin_edges(values, bins=20).tolist()
        for label, data in series.items():
            axes.hist(
                data,
                bins=bins,
                histtype="step",
                linewidth=1.8,
                linestyle="--" if label.startswith("device-") else "-",
                color=colour(label, others),
                label=label,
            )
    axes.set_xlabel(xlabel)
    axes.set_ylabel("inputs")
    axes.legend(fontsize=7, frameon=False)


def distortion_float(found: Distortions) -> str:
    figure = _figure(8.5, 3.2)
    left, right = figure.subplots(1, 2)
    _histograms(left, found.float_l2, "L2 ([0,1] units)", integer=False)
    _histograms(right, found.float_linf, "Linf ([0,1] units)", integer=False)
    return data_uri(figure)


def distortion_steps(found: Distortions) -> str:
    """One row per integer precision (int8 and int16 steps differ 128-fold): Linf and L2."""
    precisions = sorted({precision_of(name) for name in found.steps_linf}, reverse=True)
    figure = _figure(8.5, 0.4 + 2.8 * len(precisions))
    for row, precision in enumerate(precisions):
        names = [name for name in found.steps_linf if precision_of(name) == precision]
        left = figure.add_subplot(len(precisions), 2, 2 * row + 1)
        right = figure.add_subplot(len(precisions), 2, 2 * row + 2)
        linf = {name: found.steps_linf[name] for name in names}
        l2 = {name: found.steps_l2[name] for name in names}
        _histograms(left, linf, f"Linf ({precision} input steps)", integer=True)
        _histograms(right, l2, f"L2 ({precision} input steps)", integer=False)
    return data_uri(figure)
