"""Mainland China mobile numbers: as written anywhere (+86 138-1234-1234, １３８…) → 13812341234,
and as people see them: 138****1234."""

from __future__ import annotations

import re
import unicodedata

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_SEPARATORS = re.compile(r"[\s\-–—()（）.]")


def normalise(text: str) -> str | None:
    """The 11-digit mobile number written in `text`, or None if it is none."""
    plain = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    plain = re.sub(r"^(\+|00)?86(?=1[3-9][0-9]{9}$)", "", plain)
    return plain if _MOBILE.fullmatch(plain) else None


def mask(phone: str) -> str:
    """138****1234; an empty phone stays empty."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 8 else "*" * len(phone)
