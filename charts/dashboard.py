"""The daily push: one tall image for a phone (1080 px wide, at most about 3000 px) with the
title, a 2-column grid of headline numbers, then white panels for the funnel, new contacts per
channel, the day-by-day trend and the stage distribution, each with its own small heading.

When the content would pass 3000 px the bar panels tighten their rows, down to 42 px a row;
past that (many channels and many stages at once) the image grows rather than the text shrinks."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial

from matplotlib.figure import Figure

from charts import bars as bar_charts
from charts import funnel as funnel_chart
from charts import trend as trend_chart
from charts.canvas import (
    DOWN,
    INK,
    MARGIN,
    MUTED,
    PAPER,
    ROSE,
    SMALL,
    TEAL,
    UP,
    WHITE,
    WIDTH,
    Heading,
    Page,
    draw_heading,
    draw_no_data,
    fit,
    heading_height,
    measure,
    png,
)

MAX_HEIGHT = 3000  # px; to stay under it the bar panels tighten their rows (not below 42 px)
CARD_X = 30  # px: cards span CARD_X … WIDTH - CARD_X, their content MARGIN … WIDTH - MARGIN
GAP = 18  # px between cards
TILE_HEIGHT = 120
PANEL_TOP = 20  # px from a card's top to its heading
PANEL_HEADING = 58  # px from a card's heading to its content
PANEL_BOTTOM = 18
EMPTY_PANEL = 120  # px of content for "暂无数据"
FOOTER = 70


@dataclass(frozen=True)
class Tile:
    label: str  # "新增客户"
    value: str  # "128" (already formatted by the caller)
    change: str = ""  # "+12%" / "−3" / "": green when it starts with "+", red with "−" or "-"


@dataclass(frozen=True)
class Dashboard:
    heading: Heading
    tiles: list[Tile]  # 4–8 headline numbers
    funnel: list[tuple[str, int]]  # as funnel()
    channels: list[tuple[str, float]]  # new contacts per channel, as bars()
    trend_days: list[date]
    trend: list[tuple[str, list[int]]]  # as trend()
    stages: list[tuple[str, float]]  # contacts per stage; labelled with counts and shares
    footer: str = ""  # e.g. "mombot · 生成于 2026-11-24 09:00"


@dataclass(frozen=True)
class _Panel:
    title: str
    height: int  # px of content
    draw: Callable[..., object] = field(repr=False)  # draw(page, top=y)


def dashboard(d: Dashboard) -> bytes:
    """PNG of the whole daily report."""
    return png(dashboard_figure(d))


def dashboard_figure(d: Dashboard) -> Figure:
    panels = _panels(d, bar_charts.COMPACT)
    excess = _height(d, panels) - MAX_HEIGHT
    rows = len(d.channels) + len(d.stages)
    if excess > 0 and rows:
        squeezed = bar_charts.COMPACT.row - math.ceil(excess / rows)
        panels = _panels(d, bar_charts.rows_of(squeezed))
    page = Page(_height(d, panels), background=PAPER)
    y = draw_heading(page, d.heading, 0, compact=True)
    y = _draw_tiles(page, d.tiles, y) + GAP
    for panel in panels:
        y = _draw_panel(page, panel, y) + GAP
    if d.footer:
        page.text(
            WIDTH / 2,
            y + FOOTER / 2 - 10,
            fit(d.footer, SMALL, WIDTH - 2 * MARGIN),
            size=SMALL,
            color=MUTED,
            ha="center",
        )
    return page.figure


def tone(change: str) -> str:
    """The colour of a tile's change: up green, down red, else grey."""
    if change.startswith("+"):
        return UP
    if change.startswith(("−", "-")):
        return DOWN
    return MUTED


def _panels(d: Dashboard, rows: bar_charts.Layout) -> list[_Panel]:
    return [
        _funnel_panel(d.funnel),
        _bars_panel("渠道新增", d.channels, rows, TEAL, shares=False),
        _trend_panel(d.trend_days, d.trend),
        _bars_panel("阶段分布", d.stages, rows, ROSE, shares=True),
    ]


def _funnel_panel(steps: list[tuple[str, int]]) -> _Panel:
    if not funnel_chart.has_data(steps):
        return _empty_panel("线索漏斗")
    layout = funnel_chart.COMPACT
    draw = partial(funnel_chart.draw_funnel, steps=steps, layout=layout)
    return _Panel("线索漏斗", funnel_chart.funnel_height(steps, layout), draw)


def _bars_panel(
    title: str, items: list[tuple[str, float]], rows: bar_charts.Layout, color: str, shares: bool
) -> _Panel:
    if not bar_charts.has_data(items):
        return _empty_panel(title)
    draw = partial(bar_charts.draw_bars, items=items, layout=rows, color=color, shares=shares)
    return _Panel(title, bar_charts.bars_height(items, rows), draw)


def _trend_panel(days: list[date], series: list[tuple[str, list[int]]]) -> _Panel:
    if not trend_chart.has_data(days, series):
        return _empty_panel("每日趋势")
    layout = trend_chart.COMPACT
    draw = partial(trend_chart.draw_trend, days=days, series=series, layout=layout)
    return _Panel("每日趋势", trend_chart.trend_height(layout), draw)


def _empty_panel(title: str) -> _Panel:
    return _Panel(title, EMPTY_PANEL, partial(draw_no_data, height=EMPTY_PANEL))


def _height(d: Dashboard, panels: list[_Panel]) -> int:
    height = heading_height(compact=True) + _tiles_height(d.tiles) + GAP
    height += sum(PANEL_TOP + PANEL_HEADING + p.height + PANEL_BOTTOM + GAP for p in panels)
    return height + (FOOTER if d.footer else 10)


def _tiles_height(tiles: list[Tile]) -> int:
    rows = max(1, (len(tiles) + 1) // 2)
    return rows * TILE_HEIGHT + (rows - 1) * GAP


def _draw_tiles(page: Page, tiles: list[Tile], top: float) -> float:
    if not tiles:
        page.box(CARD_X, top, WIDTH - 2 * CARD_X, TILE_HEIGHT, WHITE, radius=20)
        draw_no_data(page, top, TILE_HEIGHT)
        return top + TILE_HEIGHT
    width = (WIDTH - 2 * CARD_X - GAP) / 2
    for index, tile in enumerate(tiles):
        row, column = divmod(index, 2)
        x = CARD_X + column * (width + GAP)
        _draw_tile(page, tile, x, top + row * (TILE_HEIGHT + GAP), width)
    return top + _tiles_height(tiles)


def _draw_tile(page: Page, tile: Tile, x: float, y: float, width: float) -> None:
    page.box(x, y, width, TILE_HEIGHT, WHITE, radius=20)
    room = width - 56
    page.text(x + 28, y + 34, fit(tile.label, 26, room), size=26, color=MUTED)
    change_width = measure(tile.change, 28, bold=True) + 16 if tile.change else 0
    size = 52
    while size > 32 and measure(tile.value, size, bold=True) > room - change_width:
        size -= 2
    value = fit(tile.value, size, room - change_width, bold=True)
    page.text(x + 28, y + 98, value, size=size, bold=True, color=INK, va="baseline")
    if tile.change:
        page.text(
            x + width - 28,
            y + 96,
            tile.change,
            size=28,
            bold=True,
            color=tone(tile.change),
            ha="right",
            va="baseline",
        )


def _draw_panel(page: Page, panel: _Panel, top: float) -> float:
    height = PANEL_TOP + PANEL_HEADING + panel.height + PANEL_BOTTOM
    page.box(CARD_X, top, WIDTH - 2 * CARD_X, height, WHITE, radius=24)
    y = top + PANEL_TOP
    page.box(MARGIN, y + 4, 8, 32, ROSE, radius=4)
    page.text(MARGIN + 22, y + 20, panel.title, size=32, bold=True, color=INK)
    panel.draw(page, top=y + PANEL_HEADING)
    return top + height
