"""Horizontal bars: one value per row (`bars`, e.g. new contacts per channel, the stage
distribution) and several stacked (`stacked_bars`, e.g. SOP deliveries per day: 已发送, 跳过,
失败). Rows come in the caller's order; every bar is labelled with its number."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

from charts.canvas import (
    INK,
    MARGIN,
    MUTED,
    SMALL,
    STACK,
    TEAL,
    TEXT,
    WIDTH,
    Heading,
    Page,
    draw_heading,
    draw_legend,
    empty_chart,
    heading_height,
    ink_on,
    legend_height,
    measure,
    png,
    wrap,
)
from charts.labels import number, rate, shorten, value

Items = list[tuple[str, float]]
Series = list[tuple[str, list[int]]]


@dataclass(frozen=True)
class Layout:
    row: int  # px per row
    bar: int  # px thick
    label: int  # font px of names and values


FULL = Layout(row=84, bar=48, label=30)
COMPACT = Layout(row=58, bar=36, label=27)
TIGHTEST_ROW = 42  # px: the least a row gets when a tall page is squeezed


def rows_of(row: int) -> Layout:
    """A layout with rows `row` px apart, between TIGHTEST_ROW and COMPACT's."""
    row = max(TIGHTEST_ROW, min(COMPACT.row, row))
    label = COMPACT.label if row >= 56 else 26 if row >= 48 else 24
    return Layout(row=row, bar=round(row * 0.62), label=label)


NOTE_LINE = 38  # px per line of the note under the bars


def bars(
    heading: Heading, items: Items, *, unit: str = "", percent: bool = False, note: str = ""
) -> bytes:
    """PNG of labelled horizontal bars, in the order given (the caller sorts and folds the
    tail into "其他"); `percent` shows 0.125 as 12.5%, else ints without decimals + `unit`."""
    return png(bars_figure(heading, items, unit=unit, percent=percent, note=note))


def bars_figure(
    heading: Heading, items: Items, *, unit: str = "", percent: bool = False, note: str = ""
) -> Figure:
    if not (items if percent else has_data(items)):  # a rate of 0% is a finding, not a gap
        return empty_chart(heading)
    lines = wrap(note, SMALL, WIDTH - 2 * MARGIN) if note else []
    height = heading_height() + bars_height(items, FULL) + len(lines) * NOTE_LINE + 50
    page = Page(height)
    top = draw_heading(page, heading, 0)
    bottom = draw_bars(page, items, top, FULL, unit=unit, percent=percent)
    for index, line in enumerate(lines):
        y = bottom + 14 + (index + 0.5) * NOTE_LINE
        page.text(MARGIN, y, line, size=SMALL, color=MUTED)
    return page.figure


def stacked_bars(heading: Heading, categories: list[str], series: Series) -> bytes:
    """PNG of one stacked bar per category, a legend on top, each bar's total at its end."""
    return png(stacked_figure(heading, categories, series))


def stacked_figure(heading: Heading, categories: list[str], series: Series) -> Figure:
    for name, counts in series:
        if len(counts) != len(categories):
            raise ValueError(
                f"series {name!r} has {len(counts)} values for {len(categories)} categories"
            )
    if not has_stack(categories, series):
        return empty_chart(heading)
    page = Page(heading_height() + stacked_height(categories, FULL) + 30)
    top = draw_heading(page, heading, 0)
    draw_stacked(page, categories, series, top, FULL)
    return page.figure


def has_data(items: Items) -> bool:
    return any(amount != 0 for _, amount in items)


def has_stack(categories: Sequence[str], series: Series) -> bool:
    return bool(categories) and any(any(counts) for _, counts in series)


def bars_height(items: Items, layout: Layout) -> int:
    return len(items) * layout.row + 10


def draw_bars(
    page: Page,
    items: Items,
    top: float,
    layout: Layout,
    *,
    color: str = TEAL,
    unit: str = "",
    percent: bool = False,
    shares: bool = False,
) -> float:
    """One labelled bar per item from `top`; returns the bottom. With `shares` each value is
    followed by the item's share of the total, in grey: "32  25.0%"."""
    names = [shorten(name) for name, _ in items]
    shown = [value(amount, unit=unit, as_percent=percent) for _, amount in items]
    total = sum(amount for _, amount in items)
    extra = [rate(amount, total) if shares else "" for _, amount in items]
    left = _bar_left(names, layout)
    room = WIDTH - MARGIN - left - 16
    room -= max(_width(text, more, layout) for text, more in zip(shown, extra, strict=True))
    largest = max(max(amount, 0) for _, amount in items) or 1
    for index, (_, amount) in enumerate(items):
        middle = top + (index + 0.5) * layout.row
        width = room * max(amount, 0) / largest
        if amount > 0:
            width = max(width, 6)
            page.box(left, middle - layout.bar / 2, width, layout.bar, color, radius=8)
        page.text(MARGIN, middle, names[index], size=layout.label, color=TEXT)
        x = left + width + 14
        page.text(x, middle, shown[index], size=layout.label, bold=True, color=INK)
        if extra[index]:
            x += measure(shown[index], layout.label, bold=True) + 14
            page.text(x, middle, extra[index], size=layout.label - 2, color=MUTED)
    return top + len(items) * layout.row + 10


def stacked_height(categories: Sequence[str], layout: Layout) -> int:
    return legend_height() + 16 + len(categories) * layout.row + 10


def draw_stacked(
    page: Page, categories: list[str], series: Series, top: float, layout: Layout
) -> float:
    """Legend, then one stacked bar per category from `top`; returns the bottom."""
    colors = [STACK[i % len(STACK)] for i in range(len(series))]
    top = draw_legend(page, [name for name, _ in series], colors, top) + 16
    names = [shorten(name) for name in categories]
    totals = [sum(counts[i] for _, counts in series) for i in range(len(categories))]
    left = _bar_left(names, layout)
    room = WIDTH - MARGIN - left - _widest([number(t) for t in totals], layout) - 16
    largest = max(totals) or 1
    for index, name in enumerate(names):
        middle = top + (index + 0.5) * layout.row
        page.text(MARGIN, middle, name, size=layout.label, color=TEXT)
        x = left
        for (_, counts), color in zip(series, colors, strict=True):
            x += _segment(
                page, x, middle, room * counts[index] / largest, counts[index], color, layout
            )
        page.text(x + 14, middle, number(totals[index]), size=layout.label, bold=True, color=INK)
    return top + len(categories) * layout.row + 10


def _segment(
    page: Page, x: float, middle: float, width: float, count: int, color: str, layout: Layout
) -> float:
    if count <= 0:
        return 0.0
    page.box(x, middle - layout.bar / 2, width, layout.bar, color)
    text = number(count)
    size = layout.label - 4
    if measure(text, size) + 12 <= width:
        page.text(x + width / 2, middle, text, size=size, color=ink_on(color), ha="center")
    return width


def _bar_left(names: Sequence[str], layout: Layout) -> float:
    return MARGIN + _widest(names, layout, bold=False) + 24


def _width(text: str, extra: str, layout: Layout) -> float:
    """How wide a value label is, with its share after it."""
    width = measure(text, layout.label, bold=True)
    return width + (measure(extra, layout.label - 2) + 14 if extra else 0)


def _widest(texts: Sequence[str], layout: Layout, bold: bool = True) -> float:
    return max((measure(text, layout.label, bold) for text in texts), default=0.0)
