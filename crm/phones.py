"""Mainland China mobile numbers: one form to store and match (13812341234), one to show
(138****1234)."""

from __future__ import annotations

import re

_MOBILE = re.compile(r"1[3-9]\d{9}")
_NOISE = re.compile(r"[\s\-()（）.]")


def normalise(text: str) -> str:
    """'+86 138-1234-1234', '0086 13812341234', '138 1234 1234' → '13812341234'; ValueError
    if it is no mainland mobile number."""
    digits = _NOISE.sub("", text.strip())
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    if not _MOBILE.fullmatch(digits):
        raise ValueError("not a mainland China mobile number (11 digits, 13x–19x)")
    return digits


def mask(phone: str) -> str:
    """138****1234; '' stays ''."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else ("*" * len(phone))
