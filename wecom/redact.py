"""Keeping secrets out of text: access tokens and secrets in URLs, known secret values, and
mothers' mobile numbers.

One function, a logging filter and a formatter serve the WeCom client (its errors, httpx's
request lines) and mombot's log handlers (every line, tracebacks included, with the configured
secrets)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"
_IN_QUERY = re.compile(r"((?:access_token|corpsecret|secret)=)[^&\s'\"]+")
# a mainland mobile number (optionally +86), not inside a longer number or an id
_PHONE = re.compile(r"(?<![0-9A-Za-z_])((?:\+?86[- ]?)?1[3-9]\d)\d{4}(\d{4})(?!\d)")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    text = _IN_QUERY.sub(rf"\1{MASK}", text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def mask_phones(text: str) -> str:
    """13812341234 → 138****1234."""
    return _PHONE.sub(r"\1****\2", text)


def _usable(secrets: Iterable[str]) -> list[str]:
    # longest first, so that a secret containing another is masked whole; short values
    # would mask ordinary words
    return sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)


class RedactFilter(logging.Filter):
    """Masks secrets in a record's message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = _usable(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message, self._secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class RedactingFormatter(logging.Formatter):
    """Formats a record as its formatter would, then masks secrets and mobile numbers in the
    whole line: the message, an exception's text and its traceback (whose frames may show a
    URL with the access_token, or a secret in a local's repr)."""

    def __init__(self, *args, secrets: Iterable[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._secrets = _usable(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return mask_phones(redact(super().format(record), self._secrets))
