"""What every chart shares: the phone-sized page drawn in pixels, the palette and type sizes,
the heading, legend and "暂无数据" blocks, and saving to PNG.

A `Page` is a matplotlib `Figure` (no pyplot, so no global state) 1080 px wide with one
invisible axes spanning it whose data units are pixels, y growing downwards: bars, cards and
labels are placed at exact pixel positions, and every text is set in the CJK font."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyBboxPatch
from matplotlib.text import Text
from matplotlib.textpath import TextToPath
from PIL import Image

from charts.fonts import cjk_font
from charts.labels import ELLIPSIS, NO_DATA

WIDTH = 1080  # px: a phone held upright
DPI = 100
MARGIN = 60  # px left and right

# Palette: calm, warm, readable on white (a mother-and-baby brand).
WHITE = "#FFFFFF"
PAPER = "#F6F3F1"  # the dashboard's page behind its white cards
TINT = "#FBEEF1"  # a light rose behind summary lines
INK = "#2E3440"  # titles, big numbers
TEXT = "#444B59"  # labels
MUTED = "#858C99"  # subtitles, notes, rates
RULE = "#E4E6EA"  # grid and zero lines
ROSE = "#D9738A"
TEAL = "#2A9D8F"
INDIGO = "#5667B5"
SAND = "#DDAE5C"
SAGE = "#86AF86"
LAVENDER = "#9C88C6"
UP = "#2E9E6A"
DOWN = "#D1495B"
SERIES = (TEAL, ROSE, INDIGO, SAND, SAGE, LAVENDER)
STACK = (TEAL, SAND, ROSE, INDIGO, SAGE, LAVENDER)  # 已发送, 跳过, 失败, …

# Type sizes in pixels (a phone shows the 1080 px image about 360 pt wide).
TITLE = 46
SUBTITLE = 28
BODY = 28
SMALL = 26

_MEASURE = TextToPath()


@dataclass(frozen=True)
class Heading:
    title: str  # e.g. "线索漏斗"
    subtitle: str  # the period and the scope, e.g. "2026-11-16 至 2026-11-22 · 张三的团队"


class Page:
    """A figure WIDTH px wide and `height` px tall, drawn in pixel coordinates."""

    def __init__(self, height: float, background: str = WHITE) -> None:
        self.height = round(height)
        self.font = cjk_font()
        self.figure = Figure(figsize=(WIDTH / DPI, self.height / DPI), dpi=DPI)
        self.figure.set_facecolor(background)
        FigureCanvasAgg(self.figure)
        self.ax = self.figure.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, WIDTH)
        self.ax.set_ylim(self.height, 0)
        self.ax.set_axis_off()

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = BODY,
        bold: bool = False,
        color: str = TEXT,
        ha: str = "left",
        va: str = "center",
    ) -> Text:
        return self.ax.text(x, y, text, fontproperties=props(size, bold), color=color, ha=ha, va=va)

    def box(
        self, x: float, y: float, width: float, height: float, color: str, radius: float = 0
    ) -> None:
        radius = min(radius, width / 2, height / 2)
        style = f"round,pad=0,rounding_size={radius}" if radius > 0 else "square,pad=0"
        patch = FancyBboxPatch(
            (x, y), width, height, boxstyle=style, facecolor=color, edgecolor="none"
        )
        # add_artist, not add_patch: the limits are fixed, and add_patch would spend time
        # finding each rounded box's bezier extrema to widen them
        self.ax.add_artist(patch)

    def axes(self, left: float, top: float, width: float, height: float) -> Axes:
        """A real axes (for lines) over the pixel box; its texts use the CJK font."""
        box = (left / WIDTH, 1 - (top + height) / self.height, width / WIDTH, height / self.height)
        ax = self.figure.add_axes(box)
        ax.set_facecolor("none")
        ax.tick_params(labelfontfamily=self.font.family)
        return ax


def props(size: float, bold: bool = False) -> FontProperties:
    """The CJK font at `size` px."""
    weight = "bold" if bold else "regular"
    return FontProperties(family=cjk_font().family, weight=weight, size=points(size))


def measure(text: str, size: float, bold: bool = False) -> float:
    """How wide `text` is drawn, in px."""
    width, _, _ = _MEASURE.get_text_width_height_descent(text, props(size, bold), ismath=False)
    return width * DPI / 72


def fit(text: str, size: float, room: float, bold: bool = False) -> str:
    """`text`, cut with "…" until it is at most `room` px wide."""
    if measure(text, size, bold) <= room:
        return text
    while text and measure(text + ELLIPSIS, size, bold) > room:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def wrap(text: str, size: float, room: float) -> list[str]:
    """`text` broken into lines at most `room` px wide (anywhere: Chinese has no spaces)."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        line = ""
        for char in paragraph:
            if line and measure(line + char, size) > room:
                lines.append(line)
                line = "" if char == " " else char
            else:
                line += char
        lines.append(line)
    return lines


def points(px: float) -> float:
    return px * 72 / DPI


def mix(color: str, other: str, share: float) -> str:
    """`share` of the way from `color` to `other`."""
    a, b = to_rgb(color), to_rgb(other)
    return to_hex(tuple(x + (y - x) * share for x, y in zip(a, b, strict=True)))


def ink_on(color: str) -> str:
    """White text on a dark fill, dark text on a light one."""
    r, g, b = to_rgb(color)
    return INK if 0.299 * r + 0.587 * g + 0.114 * b > 0.72 else WHITE


def heading_height(compact: bool = False) -> int:
    return 170 if compact else 190


def draw_heading(page: Page, heading: Heading, top: float, compact: bool = False) -> float:
    """Title and subtitle from `top`; returns where the content starts."""
    room = WIDTH - 2 * MARGIN
    title = fit(heading.title, TITLE, room, bold=True)
    page.text(MARGIN, top + 86, title, size=TITLE, bold=True, color=INK, va="baseline")
    subtitle = fit(heading.subtitle, SUBTITLE, room)
    page.text(MARGIN, top + 136, subtitle, size=SUBTITLE, color=MUTED, va="baseline")
    return top + heading_height(compact)


def legend_height() -> int:
    return 56


def draw_legend(page: Page, names: Sequence[str], colors: Sequence[str], top: float) -> float:
    """One row of colour swatches and names from `top`; returns the row's bottom."""
    x, y = MARGIN, top + 20
    for name, color in zip(names, colors, strict=False):
        page.box(x, y - 11, 22, 22, color, radius=5)
        label = page.text(x + 32, y, name, size=SMALL, color=TEXT)
        x += 32 + measure(label.get_text(), SMALL) + 36
    return top + legend_height()


def draw_no_data(page: Page, top: float, height: float) -> None:
    page.text(WIDTH / 2, top + height / 2, NO_DATA, size=36, color=MUTED, ha="center")


def empty_chart(heading: Heading) -> Figure:
    page = Page(heading_height() + 260)
    bottom = draw_heading(page, heading, 0)
    draw_no_data(page, bottom, 220)
    return page.figure


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes at its own size (no cropping).

    Every page is opaque, so it is written as RGB: the alpha channel would only add a quarter
    more bytes to filter and compress (about 20 ms of a tall dashboard)."""
    canvas = figure.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        canvas = FigureCanvasAgg(figure)
    canvas.draw()
    size = canvas.get_width_height()
    image = Image.frombuffer("RGBA", size, canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    # zlib level 3: half the time of the default 6 for a few % more bytes
    image.convert("RGB").save(buffer, format="png", compress_level=3)
    return buffer.getvalue()
