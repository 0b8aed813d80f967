"""Logging set-up. Secrets never reach the log: known secret values and access tokens in URLs
are masked by a filter on every handler."""

from __future__ import annotations

import logging

from crm.config import Settings
from wecom.redact import RedactFilter


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
    handler.addFilter(RedactFilter(secrets_of(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.logging.level)
    # httpx logs every request URL, access_token included, at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
