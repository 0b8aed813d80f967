"""Keeping secrets out of text: access tokens and secrets in URLs, and known secret values.

One function and one logging filter serve the WeCom client (its errors, httpx's request lines)
and mombot's log handlers (every record, with the configured secrets)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"
_IN_QUERY = re.compile(r"((?:access_token|corpsecret|secret)=)[^&\s'\"]+")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    text = _IN_QUERY.sub(rf"\1{MASK}", text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class RedactFilter(logging.Filter):
    """Masks secrets in a record's message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # longest first, so that a secret containing another is masked whole; short values
        # would mask ordinary words
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message, self._secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
