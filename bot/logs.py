"""Logging set-up. Secrets never reach the log: known secret values and access tokens in URLs
are masked by a filter on every handler."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from bot.config import Settings

_TOKEN_IN_URL = re.compile(r"((?:access_token|corpsecret|secret)=)[^&\s'\"]+")
MASK = "***"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKEN_IN_URL.sub(rf"\1{MASK}", message)
        for secret in self._secrets:
            redacted = redacted.replace(secret, MASK)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def secrets_of(settings: Settings) -> list[str]:
    wecom = settings.wecom
    values = [
        wecom.secret,
        wecom.token,
        wecom.encoding_aes_key,
        wecom.contact_secret,
        wecom.kf_secret,
    ]
    return [value.get_secret_value() for value in values if value is not None]


def setup(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.logging.level)
    # httpx logs every request URL, access_token included, at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
