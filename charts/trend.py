"""Day-by-day lines (e.g. 新增 and 净增): one line per series, days labelled "11-23", every
point labelled with its value when there are at most two weeks, a zero line under negatives."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from charts.canvas import (
    INK,
    MARGIN,
    MUTED,
    RULE,
    SERIES,
    SMALL,
    TEXT,
    WHITE,
    WIDTH,
    Heading,
    Page,
    draw_heading,
    draw_legend,
    empty_chart,
    heading_height,
    legend_height,
    measure,
    mix,
    png,
    points,
    props,
)
from charts.labels import day, number

Series = list[tuple[str, list[int]]]
LABELLED_DAYS = 14  # label every point up to two weeks
MIN_LABEL = 20  # px: point labels shrink this far before every other one is dropped
HALO = [patheffects.withStroke(linewidth=6, foreground=WHITE)]  # keeps labels off the lines


@dataclass(frozen=True)
class Layout:
    plot: int  # px tall, the lines' area
    axis: int  # px under it for the day labels
    label: int  # font px of the point labels
    line: float  # px wide


FULL = Layout(plot=560, axis=60, label=26, line=4.5)
COMPACT = Layout(plot=360, axis=54, label=24, line=4.0)


def trend(heading: Heading, days: list[date], series: Series) -> bytes:
    """PNG of one line per series over `days` (already in the configured timezone)."""
    return png(trend_figure(heading, days, series))


def trend_figure(heading: Heading, days: list[date], series: Series) -> Figure:
    for name, counts in series:
        if len(counts) != len(days):
            raise ValueError(f"series {name!r} has {len(counts)} values for {len(days)} days")
    if not has_data(days, series):
        return empty_chart(heading)
    page = Page(heading_height() + trend_height(FULL) + 30)
    top = draw_heading(page, heading, 0)
    draw_trend(page, days, series, top, FULL)
    return page.figure


def has_data(days: list[date], series: Series) -> bool:
    return bool(days) and bool(series)


def trend_height(layout: Layout) -> int:
    return legend_height() + 10 + layout.plot + layout.axis


def draw_trend(page: Page, days: list[date], series: Series, top: float, layout: Layout) -> float:
    """Legend, lines and day labels from `top`; returns the bottom."""
    colors = [SERIES[i % len(SERIES)] for i in range(len(series))]
    top = draw_legend(page, [name for name, _ in series], colors, top) + 10
    labelled = len(days) <= LABELLED_DAYS
    left = MARGIN if labelled else MARGIN + _scale_width(series) + 16
    ax = page.axes(left, top, WIDTH - MARGIN - left, layout.plot)
    marker = 3 * layout.line if labelled else 2 * layout.line
    for (_, counts), color in zip(series, colors, strict=True):
        ax.plot(
            range(len(days)),
            counts,
            color=color,
            linewidth=layout.line,
            marker="o" if len(days) <= 2 * LABELLED_DAYS + 3 else "",
            markersize=marker,
            markerfacecolor=WHITE,
            markeredgewidth=layout.line * 0.8,
            solid_capstyle="round",
            clip_on=False,
            zorder=3,
        )
    if labelled:
        _label_points(ax, series, colors, layout)
    _style(ax, days, series, labelled)
    return top + layout.plot + layout.axis


def _scale_width(series: Series) -> float:
    """Room for the value scale, shown instead of point labels on long periods."""
    values = [abs(v) for _, counts in series for v in counts]
    return measure("−" + number(max(values, default=0)), SMALL)


def _label_points(ax: Axes, series: Series, colors: list[str], layout: Layout) -> None:
    """Each day's highest value labelled above its point, the others below; smaller type, then
    every other day (the latest always), when the labels would touch."""
    size, step = _point_labels(ax, series, layout)
    days = len(series[0][1])
    for index in range(days - 1, -1, -step):
        highest = max(range(len(series)), key=lambda s: series[s][1][index])
        for which, ((_, counts), color) in enumerate(zip(series, colors, strict=True)):
            above = which == highest
            ax.annotate(
                number(counts[index]),
                (index, counts[index]),
                xytext=(0, 16 if above else -18),
                textcoords="offset pixels",
                ha="center",
                va="bottom" if above else "top",
                color=mix(color, INK, 0.3),
                fontproperties=props(size, bold=True),
                path_effects=HALO,
                zorder=4,
                annotation_clip=False,
            )


def _point_labels(ax: Axes, series: Series, layout: Layout) -> tuple[int, int]:
    """The point labels' type size and how many days apart they go."""
    days = len(series[0][1])
    spacing = ax.get_position().width * WIDTH / days
    longest = max((number(v) for _, counts in series for v in counts), key=len)
    for size in range(layout.label, MIN_LABEL - 1, -2):
        if measure(longest, size, bold=True) + 8 <= spacing:
            return size, 1
    return layout.label, 2


def _style(ax: Axes, days: list[date], series: Series, labelled: bool) -> None:
    values = [v for _, counts in series for v in counts]
    low, high = min(0, *values), max(0, *values)
    span = (high - low) or 1
    below = (labelled and len(series) > 1) or low < 0
    bottom = low - (0.16 if below else 0.04) * span
    ax.set_ylim(bottom, high + (0.18 if labelled else 0.06) * span)
    ax.set_xlim(-0.5, len(days) - 0.5)
    ax.axhline(0, color=MUTED if low < 0 else RULE, linewidth=2, zorder=1)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    _day_ticks(ax, days)
    if labelled:
        ax.set_yticks([])
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.grid(axis="y", color=RULE, linewidth=1.2)
        ax.set_axisbelow(True)
        ax.tick_params(axis="y", length=0, labelsize=points(SMALL), labelcolor=MUTED, pad=8)


def _day_ticks(ax: Axes, days: list[date]) -> None:
    """Day labels, thinned so they never touch; the latest day always labelled."""
    ax_width = ax.get_position().width * WIDTH
    label_width = measure("00-00", SMALL) + 24
    step = max(1, math.ceil(len(days) * label_width / ax_width))
    ticks = list(range(len(days) - 1, -1, -step))[::-1]
    ax.set_xticks(ticks, [day(days[i]) for i in ticks], fontproperties=props(SMALL))
    ax.tick_params(axis="x", length=0, labelcolor=TEXT, pad=14)
