"""Charts for managers' reports, drawn for a phone held upright: plain data in, PNG bytes out.

A leaf layer: it imports nothing else of mombot's (only the standard library and matplotlib),
takes plain values (strings, numbers, dates already in the configured timezone, and the small
dataclasses defined here) and returns PNG bytes about 1080 px wide, each under 1 MB. Figures are
built without pyplot (a `Figure` on an Agg canvas), so no global state is touched and worker
threads may draw at once. Every text is set in a CJK font found explicitly (`fonts`); without
one, `fonts.FontMissing` says what to install rather than drawing tofu boxes.

- `fonts`: `cjk_font()`, the font every text is set in, and `FontMissing`.
- `labels`: how numbers, rates, days ("11-23") and long names read.
- `canvas`: the page in pixels, palette, type sizes, `Heading`, "暂无数据", PNG saving.
- `funnel`: `funnel(heading, steps)`, the lead funnel with step rates and overall conversion.
- `bars`: `bars(heading, items, ...)` and `stacked_bars(heading, categories, series)`.
- `trend`: `trend(heading, days, series)`, one line per series day by day.
- `dashboard`: `dashboard(Dashboard(...))`, the daily push in one tall image, with `Tile`.

Each chart also has a `…_figure` twin returning the matplotlib `Figure`, for inspection."""
