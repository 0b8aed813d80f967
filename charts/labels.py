"""How numbers, rates, days and long names read on a chart (pure string functions)."""

from __future__ import annotations

import unicodedata
from datetime import date

NO_DATA = "暂无数据"
DASH = "—"
ELLIPSIS = "…"
MINUS = "−"


def number(value: float) -> str:
    """120 → "120", 12345 → "12,345", 3.25 → "3.25", 3.5 → "3.5", -3 → "−3" (a true minus)."""
    if value < 0:
        return MINUS + number(-value)
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def percent(share: float) -> str:
    """0.125 → "12.5%"; a share too small to show as 0.1% is "<0.1%", not "0.0%"."""
    if 0 < share < 0.0005:
        return "<0.1%"
    return f"{share * 100:.1f}%"


def value(amount: float, *, unit: str = "", as_percent: bool = False) -> str:
    return percent(amount) if as_percent else f"{number(amount)}{unit}"


def rate(later: float, earlier: float) -> str:
    """later / earlier as a percent; "—" when there was nothing before."""
    return DASH if earlier == 0 else percent(later / earlier)


def day(when: date) -> str:
    """2026-11-23 → "11-23"."""
    return f"{when.month:02d}-{when.day:02d}"


def shorten(name: str, limit: int = 10) -> str:
    """At most `limit` Chinese characters wide (a Latin letter counts half); else cut with "…"."""
    if _units(name) <= 2 * limit:
        return name
    kept, units = [], 0
    for char in name:
        units += _units(char)
        if units > 2 * limit - 2:
            break
        kept.append(char)
    return "".join(kept).rstrip() + ELLIPSIS


def _units(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
