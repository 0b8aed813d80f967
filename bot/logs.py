"""Logging set-up: one line per record, read as a story.

- Every line starts with an ISO timestamp in the configured time zone, with its offset
  (2026-11-23T10:15:02.123+08:00), whatever the machine's zone.
- Secrets never reach the log: the configured secrets, access tokens in URLs and mothers'
  mobile numbers (138****1234) are masked in the whole formatted line, tracebacks included.
- rq's own chatter (Job OK, "realtime: bot.jobs.handle_inbound(…)", scheduler ticks) and
  alembic's ("Context impl SQLiteImpl.", on every start) are DEBUG: shown only at level DEBUG;
  their warnings and errors stay as they are.
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo

from crm.config import Settings
from wecom.redact import RedactingFormatter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CHATTY = ("rq", "alembic")  # loggers whose INFO lines are DEBUG to us


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


class Formatter(RedactingFormatter):
    """ISO timestamps with milliseconds and the zone's offset."""

    def __init__(self, tz: tzinfo, secrets: list[str]) -> None:
        super().__init__(FORMAT, secrets=secrets)
        self._tz = tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, self._tz).isoformat(timespec="milliseconds")


class QuietChatter(logging.Filter):
    """INFO lines of CHATTY loggers become DEBUG lines: dropped unless the level is DEBUG."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self._level = level

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if record.levelno != logging.INFO or not any(
            name == prefix or name.startswith(prefix + ".") for prefix in CHATTY
        ):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self._level <= logging.DEBUG


def handler(settings: Settings, stream=None) -> logging.Handler:
    """The handler every mombot process logs through (stderr unless a stream is given)."""
    level = logging.getLevelName(settings.logging.level)
    out = logging.StreamHandler(stream)
    out.setFormatter(Formatter(settings.tz, secrets_of(settings)))
    out.addFilter(QuietChatter(level))
    return out


def setup(settings: Settings) -> None:
    root = logging.getLogger()
    root.handlers[:] = [handler(settings)]
    root.setLevel(settings.logging.level)
    # httpx logs every request URL, access_token included, at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
