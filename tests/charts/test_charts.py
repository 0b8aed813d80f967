"""Every chart is a PNG about 1080 px wide and under 1 MB, empty data included ("暂无数据");
every bar, funnel step and point carries its number; days read "11-23"."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Annotation, Text
from PIL import Image

from charts.bars import bars, bars_figure, stacked_bars, stacked_figure
from charts.canvas import DOWN, MUTED, UP, WIDTH, Heading
from charts.dashboard import Dashboard, Tile, dashboard, dashboard_figure, tone
from charts.funnel import funnel, funnel_figure
from charts.labels import NO_DATA
from charts.trend import trend, trend_figure
from tests.charts import examples as ex

HEADING = Heading("线索漏斗", "2026-11-16 至 2026-11-22 · 张三的团队")

RENDERS = {
    "funnel": lambda: funnel(HEADING, ex.STEPS),
    "funnel-empty": lambda: funnel(HEADING, []),
    "funnel-all-zero": lambda: funnel(HEADING, [("新线索", 0), ("已签约", 0)]),
    "bars": lambda: bars(HEADING, ex.CHANNELS, unit="人", note="其他 = 其余渠道合计"),
    "bars-percent": lambda: bars(HEADING, ex.RATES, percent=True),
    "bars-empty": lambda: bars(HEADING, []),
    "stacked": lambda: stacked_bars(HEADING, ex.SOP_DAYS, ex.SOP),
    "stacked-empty": lambda: stacked_bars(HEADING, [], []),
    "trend": lambda: trend(HEADING, ex.DAYS, ex.TREND),
    "trend-30-days": lambda: trend(HEADING, *ex.MONTH),
    "trend-empty": lambda: trend(HEADING, [], []),
    "dashboard": lambda: dashboard(ex.DASHBOARD),
    "dashboard-empty": lambda: dashboard(ex.EMPTY_DASHBOARD),
}


def texts(figure: Figure) -> list[str]:
    figure.canvas.draw()  # lays out tick labels too
    return [t.get_text() for t in figure.findobj(Text) if t.get_visible() and t.get_text()]


def words(figure: Figure) -> set[str]:
    """Every label split at spaces: "新线索 120" gives "新线索" and "120"."""
    return {word for text in texts(figure) for word in text.split()}


@pytest.mark.parametrize("name", list(RENDERS))
def test_each_chart_is_a_phone_sized_png_under_1_mb(name):
    data = RENDERS[name]()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) < 1_000_000
    width, height = Image.open(io.BytesIO(data)).size
    assert abs(width - WIDTH) <= 2
    assert 300 <= height <= 3100


@pytest.mark.parametrize(
    "figure",
    [
        lambda: funnel_figure(HEADING, []),
        lambda: funnel_figure(HEADING, [("新线索", 0)]),
        lambda: bars_figure(HEADING, []),
        lambda: bars_figure(HEADING, [("门店海报", 0)]),
        lambda: stacked_figure(HEADING, ["11-23"], [("已发送", [0])]),
        lambda: trend_figure(HEADING, [], []),
    ],
    ids=["funnel", "funnel-zero", "bars", "bars-zero", "stacked-zero", "trend"],
)
def test_empty_data_says_so_under_the_heading(figure):
    shown = texts(figure())
    assert NO_DATA in shown
    assert HEADING.title in shown and HEADING.subtitle in shown


def test_rates_of_zero_are_drawn_as_rates_not_as_no_data():
    shown = texts(bars_figure(HEADING, [("门店海报", 0.0)], percent=True))
    assert NO_DATA not in shown and "0.0%" in shown


def test_the_funnel_labels_each_step_each_rate_and_the_overall_conversion():
    shown = words(funnel_figure(HEADING, ex.STEPS))
    assert {"新线索", "120", "已沟通", "80", "有意向", "30", "已签约", "12"} <= shown
    assert {"66.7%", "37.5%", "40.0%"} <= shown  # later / earlier
    assert {"新线索→已签约", "10.0%"} <= shown


def test_a_step_after_nothing_has_no_rate():
    shown = words(funnel_figure(HEADING, [("新线索", 0), ("已沟通", 4), ("已签约", 1)]))
    assert "—" in shown and "25.0%" in shown
    assert "新线索→已签约" in shown


def test_bars_label_values_without_decimals_with_the_unit_and_shorten_long_names():
    figure = bars_figure(HEADING, [*ex.CHANNELS, ("均值", 3.5)], unit="人", note="按新增排序")
    shown = texts(figure)
    assert {"门店海报", "46人", "小红书", "38人", "4人", "3.5人", "按新增排序"} <= set(shown)
    assert "社区妈妈群线下活动…" in shown
    assert "社区妈妈群线下活动推广渠道" not in shown
    assert "46.0人" not in shown


def test_bars_in_percent():
    shown = texts(bars_figure(HEADING, [("王芳", 0.125), ("李静", 0.0)], percent=True))
    assert {"12.5%", "0.0%"} <= set(shown)


def test_stacked_bars_have_a_legend_and_totals():
    shown = texts(stacked_figure(HEADING, ex.SOP_DAYS, ex.SOP))
    assert {"已发送", "跳过", "失败"} <= set(shown)
    assert {"11-17", "59", "11-22", "45", "52"} <= set(shown)  # days, totals, a wide segment


def test_stacked_bars_refuse_series_of_the_wrong_length():
    with pytest.raises(ValueError, match="失败"):
        stacked_figure(HEADING, ["11-22", "11-23"], [("已发送", [1, 2]), ("失败", [1])])


def test_the_trend_labels_days_and_points_and_draws_a_zero_line_under_negatives():
    figure = trend_figure(HEADING, ex.DAYS, ex.TREND)
    shown = texts(figure)
    assert {"11-17", "11-20", "11-23"} <= set(shown)
    assert {"18", "30", "24", "15", "27", "−3", "21"} <= set(shown)  # every point
    zero = [line for line in figure.axes[1].lines if list(line.get_ydata()) == [0, 0]]
    assert zero and zero[0].get_color() == MUTED
    for side in ("top", "right"):
        assert not figure.axes[1].spines[side].get_visible()


def test_a_long_trend_has_a_scale_instead_of_point_labels_and_thinned_days():
    figure = trend_figure(HEADING, *ex.MONTH)
    shown = texts(figure)
    dates = [text for text in shown if len(text) == 5 and text[2] == "-"]
    assert "11-23" in dates and 5 <= len(dates) < 30
    assert not figure.findobj(Annotation)  # no point labels
    assert figure.axes[1].get_yticks().size > 0
    assert len(trend_figure(HEADING, ex.DAYS, ex.TREND).findobj(Annotation)) == 2 * 7


def test_trend_refuses_series_of_the_wrong_length():
    with pytest.raises(ValueError, match="新增"):
        trend_figure(HEADING, ex.DAYS, [("新增", [1, 2])])


def test_the_dashboard_holds_tiles_and_every_panel_with_its_numbers():
    figure = dashboard_figure(ex.DASHBOARD)
    width, height = figure.get_size_inches() * figure.dpi
    assert round(width) == WIDTH and height <= 3000
    shown = texts(figure)
    assert {"每日经营简报", "线索漏斗", "渠道新增", "每日趋势", "阶段分布"} <= set(shown)
    assert {"新增客户", "128", "+12%", "¥86,400", "−0.8"} <= set(shown)  # tiles
    assert {"新线索 120", "↓ 66.7%", "新线索→已签约 10.0%"} <= set(shown)  # funnel
    assert {"门店海报", "46", "小红书", "38"} <= set(shown)  # channels
    assert {"11-23", "24", "−3"} <= set(shown)  # trend
    assert {"孕中期", "41", "24.4%"} <= set(shown)  # stages: count and share
    assert "mombot · 生成于 2026-11-24 09:00" in shown


def test_an_empty_dashboard_says_so_in_every_panel():
    shown = texts(dashboard_figure(ex.EMPTY_DASHBOARD))
    assert shown.count(NO_DATA) == 5  # the tiles and four panels


def height(figure: Figure) -> float:
    return figure.get_size_inches()[1] * figure.dpi


def test_a_full_dashboard_tightens_its_bar_rows_to_stay_within_3000_px():
    steps = ex.STEPS
    channels = [(f"渠道{i}", 100 - i) for i in range(12)]
    days = [date(2026, 11, 10) + timedelta(days=i) for i in range(14)]
    full = Dashboard(ex.DASHBOARD.heading, ex.TILES, steps, channels, days,
                     [("新增", list(range(14)))], ex.STAGES, "mombot")  # fmt: skip
    figure = dashboard_figure(full)
    assert height(figure) <= 3000
    assert {"渠道11", "89", "幼儿期", "9", "已签约 12"} <= set(texts(figure))
    roomier = Dashboard(ex.DASHBOARD.heading, ex.TILES, steps, channels[:6], days,
                        [("新增", list(range(14)))], ex.STAGES, "mombot")  # fmt: skip
    assert height(dashboard_figure(roomier)) < height(figure)


def test_an_overfull_dashboard_grows_rather_than_shrinking_its_text():
    many = [(f"阶段{i}", i + 1) for i in range(12)]
    overfull = Dashboard(ex.DASHBOARD.heading, ex.TILES, ex.STEPS, many, ex.DAYS, ex.TREND,
                         many, "mombot")  # fmt: skip
    figure = dashboard_figure(overfull)
    assert 3000 < height(figure) <= 3500
    sizes = {round(t.get_fontsize()) for t in figure.findobj(Text) if t.get_text() == "阶段11"}
    assert min(sizes) >= 17  # points: 24 px


@pytest.mark.parametrize(
    ("change", "color"),
    [("+12%", UP), ("−3", DOWN), ("-3", DOWN), ("0", MUTED), ("", MUTED)],
)
def test_a_tile_change_is_coloured_by_its_sign(change, color):
    assert tone(change) == color
    if change:
        tiles = [Tile("新增客户", "128", change)]
        figure = dashboard_figure(Dashboard(HEADING, tiles, [], [], [], [], []))
        drawn = [t for t in figure.findobj(Text) if t.get_text() == change]
        assert [t.get_color() for t in drawn] == [color]


def test_worker_threads_can_draw_at_once():
    jobs = [RENDERS["funnel"], RENDERS["trend"], RENDERS["stacked"], RENDERS["bars"]] * 4
    alone = [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda job: job(), jobs))
    assert together == alone
