"""Laying out text that mixes Chinese and Latin in a terminal."""

import unicodedata


def display_width(text: str) -> int:
    """Columns a terminal gives the text: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as aligned lines (CJK-aware); the last column is not padded."""
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([*(pad(row[i], width) for i, width in enumerate(widths)), row[-1]])
            for row in rows]  # fmt: skip
