"""The lead funnel: centred bars narrowing step by step, each labelled "新线索 120", the rate
from one step to the next between them, and the overall conversion underneath."""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure

from charts.canvas import (
    INDIGO,
    INK,
    MARGIN,
    MUTED,
    ROSE,
    SMALL,
    TINT,
    WIDTH,
    Heading,
    Page,
    draw_heading,
    empty_chart,
    fit,
    heading_height,
    ink_on,
    measure,
    mix,
    png,
)
from charts.labels import number, rate

Steps = list[tuple[str, int]]


@dataclass(frozen=True)
class Layout:
    bar: int  # px tall
    gap: int  # px between bars, where the step rate goes
    label: int  # font px
    rate: int
    footer: int  # px for the overall conversion line


FULL = Layout(bar=96, gap=76, label=32, rate=28, footer=110)
COMPACT = Layout(bar=58, gap=46, label=28, rate=SMALL, footer=70)


def funnel(heading: Heading, steps: Steps) -> bytes:
    """PNG of the funnel; steps like [("新线索", 120), ("已沟通", 80), ("已签约", 12)]."""
    return png(funnel_figure(heading, steps))


def funnel_figure(heading: Heading, steps: Steps) -> Figure:
    if not has_data(steps):
        return empty_chart(heading)
    page = Page(heading_height() + funnel_height(steps, FULL) + 40)
    top = draw_heading(page, heading, 0)
    draw_funnel(page, steps, top + 10, FULL)
    return page.figure


def has_data(steps: Steps) -> bool:
    return any(count > 0 for _, count in steps)


def funnel_height(steps: Steps, layout: Layout) -> int:
    return len(steps) * layout.bar + (len(steps) - 1) * layout.gap + layout.footer


def draw_funnel(page: Page, steps: Steps, top: float, layout: Layout) -> float:
    """Bars, rates and the overall conversion from `top`; returns the bottom."""
    widest = max(max(count, 0) for _, count in steps)
    room = WIDTH - 2 * MARGIN
    y = top
    for index, (name, count) in enumerate(steps):
        share = index / (len(steps) - 1) if len(steps) > 1 else 0.0
        width = max(room * max(count, 0) / widest, 10)
        _bar(page, name, count, y, width, mix(INDIGO, ROSE, share), layout)
        if index + 1 < len(steps):
            following = steps[index + 1][1]
            middle = y + layout.bar + layout.gap / 2
            page.text(
                WIDTH / 2,
                middle,
                f"↓ {rate(following, count)}",
                size=layout.rate,
                color=MUTED,
                ha="center",
            )
        y += layout.bar + layout.gap
    y -= layout.gap
    (first, start), (last, end) = steps[0], steps[-1]
    overall = f"{first}→{last} {rate(end, start)}"
    middle = y + layout.footer / 2 + 8
    width = measure(overall, layout.label, bold=True) + 64
    page.box((WIDTH - width) / 2, middle - layout.label, width, 2 * layout.label, TINT, radius=12)
    page.text(WIDTH / 2, middle, overall, size=layout.label, bold=True, color=INK, ha="center")
    return y + layout.footer


def _bar(
    page: Page, name: str, count: int, y: float, width: float, color: str, layout: Layout
) -> None:
    x = (WIDTH - width) / 2
    page.box(x, y, width, layout.bar, color, radius=12)
    label = f"{name} {number(count)}"
    middle = y + layout.bar / 2
    if measure(label, layout.label, bold=True) + 48 <= width:
        page.text(
            WIDTH / 2, middle, label, size=layout.label, bold=True, color=ink_on(color), ha="center"
        )
        return
    room = WIDTH - MARGIN - (x + width + 16)
    shown = number(count)
    room -= measure(f" {shown}", layout.label, bold=True)
    label = f"{fit(name, layout.label, room, bold=True)} {shown}"
    page.text(x + width + 16, middle, label, size=layout.label, bold=True, color=INK)
