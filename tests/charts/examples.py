"""Realistic report data for the chart tests, and every chart drawn from it.

`python -m tests.charts.examples` writes one PNG of each to artefacts/charts/ (gitignored)
and prints how long each took."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from matplotlib.figure import Figure

from charts.bars import bars_figure, stacked_figure
from charts.canvas import Heading, png
from charts.dashboard import Dashboard, Tile, dashboard_figure
from charts.fonts import cjk_font
from charts.funnel import funnel_figure
from charts.trend import trend_figure

WEEK = "2026-11-17 至 2026-11-23 · 全部顾问"
DAYS = [date(2026, 11, 17) + timedelta(days=i) for i in range(7)]
STEPS = [("新线索", 120), ("已沟通", 80), ("有意向", 30), ("已签约", 12)]
CHANNELS = [
    ("门店海报", 46),
    ("小红书", 38),
    ("医院合作", 27),
    ("朋友推荐", 19),
    ("抖音直播间", 11),
    ("社区妈妈群线下活动推广渠道", 6),
    ("其他", 4),
]
STAGES = [
    ("备孕", 18),
    ("孕早期", 26),
    ("孕中期", 41),
    ("孕晚期", 37),
    ("新生儿期", 22),
    ("婴儿期", 15),
    ("幼儿期", 9),
]
TREND = [("新增", [18, 22, 15, 30, 26, 12, 24]), ("净增", [15, 19, 11, 27, 20, -3, 21])]
SOP_DAYS = [f"{d.month:02d}-{d.day:02d}" for d in DAYS]
SOP = [
    ("已发送", [52, 61, 48, 70, 66, 30, 58]),
    ("跳过", [6, 4, 9, 3, 5, 12, 4]),
    ("失败", [1, 0, 2, 0, 1, 3, 0]),
]
MONTH = (
    [date(2026, 10, 25) + timedelta(days=i) for i in range(30)],
    [
        ("新增", [10 + (i * 7) % 23 for i in range(30)]),
        ("净增", [2 + (i * 5) % 19 for i in range(30)]),
    ],
)
RATES = [("王芳", 0.182), ("李静", 0.125), ("张敏", 0.094), ("陈丽", 0.0)]
TILES = [
    Tile("新增客户", "128", "+12%"),
    Tile("净增客户", "117", "+9%"),
    Tile("流失客户", "11", "−3"),
    Tile("新签约", "12", "+2"),
    Tile("待跟进线索", "46", "-5"),
    Tile("SOP 发送", "385"),
    Tile("平均响应", "3.5 分钟", "−0.8"),
    Tile("本月签约额", "¥86,400", "+18%"),
]
DASHBOARD = Dashboard(
    heading=Heading("每日经营简报", "2026-11-23 · 全部顾问"),
    tiles=TILES,
    funnel=STEPS,
    channels=CHANNELS,
    trend_days=DAYS,
    trend=TREND,
    stages=STAGES,
    footer="mombot · 生成于 2026-11-24 09:00",
)
EMPTY_DASHBOARD = Dashboard(Heading("每日经营简报", "2026-11-23 · 张三"), [], [], [], [], [], [])


def builders() -> dict[str, Callable[[], Figure]]:
    return {
        "funnel": lambda: funnel_figure(Heading("线索漏斗", WEEK), STEPS),
        "bars-channels": lambda: bars_figure(
            Heading("渠道新增", WEEK), CHANNELS, unit="人", note="其他 = 其余 5 个渠道合计"
        ),
        "bars-percent": lambda: bars_figure(Heading("顾问签约率", WEEK), RATES, percent=True),
        "stacked-sop": lambda: stacked_figure(Heading("SOP 发送情况", WEEK), SOP_DAYS, SOP),
        "trend": lambda: trend_figure(Heading("客户新增趋势", WEEK), DAYS, TREND),
        "trend-30-days": lambda: trend_figure(
            Heading("客户新增趋势", "近 30 天 · 全部顾问"), *MONTH
        ),
        "dashboard": lambda: dashboard_figure(DASHBOARD),
        "empty-funnel": lambda: funnel_figure(Heading("线索漏斗", WEEK), []),
        "empty-dashboard": lambda: dashboard_figure(EMPTY_DASHBOARD),
    }


def all_figures() -> dict[str, Figure]:
    return {name: build() for name, build in builders().items()}


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    face = cjk_font()
    print(f"font: {face} ({(time.perf_counter() - started) * 1000:.0f} ms)")
    for name, build in builders().items():
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            data = png(build())
            timings.append((time.perf_counter() - started) * 1000)
        (folder / f"{name}.png").write_bytes(data)
        first, median = timings[0], sorted(timings)[2]
        print(
            f"{name:16} {len(data) / 1024:5.0f} KB  first {first:4.0f} ms  median {median:4.0f} ms"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("artefacts/charts"))
