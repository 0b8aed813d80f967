"""Log lines read like a story: ISO timestamps in the configured zone, rq's chatter only at
DEBUG, and no secret or mobile number in any line, tracebacks included."""

import io
import logging
import time
from datetime import datetime

import pytest

from bot import logs
from tests.support import APP_SECRET, TOKEN, make_settings
from wecom.redact import mask_phones

TOUCHED: list[tuple[logging.Logger, list, int, bool]] = []


@pytest.fixture(autouse=True)
def _restore_loggers():
    yield
    while TOUCHED:
        logger, handlers, level, propagate = TOUCHED.pop()
        logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


def capture(tmp_path, level="INFO", name="mombot.test"):
    settings = make_settings(tmp_path, logging={"level": level})
    stream = io.StringIO()
    logger = logging.getLogger(name)
    TOUCHED.append((logger, logger.handlers[:], logger.level, logger.propagate))
    logger.handlers[:] = [logs.handler(settings, stream)]
    logger.setLevel(logging.DEBUG)  # what is shown is the handler's decision
    logger.propagate = False
    return logger, stream


@pytest.fixture(autouse=True)
def _machine_in_new_york(monkeypatch):
    """The machine's zone is not the configured one (Asia/Shanghai)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_timestamps_are_iso_in_the_configured_zone_with_its_offset(tmp_path):
    logger, stream = capture(tmp_path)
    record = logger.makeRecord("mombot.test", logging.INFO, __file__, 1, "hello %s", ("小雨",),
                               None)  # fmt: skip
    record.created = datetime.fromisoformat("2026-11-23T02:15:02.123+00:00").timestamp()
    logger.handle(record)
    assert stream.getvalue() == "2026-11-23T10:15:02.123+08:00 INFO mombot.test: hello 小雨\n"


@pytest.mark.parametrize(
    "name", ["rq.worker", "rq.queue", "rq.scheduler", "rq.job", "alembic.runtime.migration"]
)
def test_rq_chatter_is_debug(tmp_path, name):
    logger, stream = capture(tmp_path, "INFO", name)
    logger.info("realtime: bot.jobs.handle_inbound(1) (abc)")
    logger.info("Job OK (abc)")
    logger.warning("Moving job to FailedJobRegistry (abc)")
    assert stream.getvalue().count("\n") == 1
    assert f" WARNING {name}: Moving job" in stream.getvalue()

    logger, stream = capture(tmp_path, "DEBUG", name)
    logger.info("Job OK (abc)")
    assert f" DEBUG {name}: Job OK (abc)" in stream.getvalue()


def test_our_own_info_lines_stay(tmp_path):
    logger, stream = capture(tmp_path, "INFO", "bot.jobs")
    logger.info("inbox 1 event/change_external_contact: done")
    assert " INFO bot.jobs: inbox 1" in stream.getvalue()


def test_tracebacks_are_redacted_too(tmp_path):
    logger, stream = capture(tmp_path)
    url = f"https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=ww1&corpsecret={APP_SECRET}"
    try:
        raise RuntimeError(f"failed {url} with token {TOKEN} for 13812341234")
    except RuntimeError:
        logger.exception("call failed for mother 13912345678")
    out = stream.getvalue()
    assert "Traceback (most recent call last)" in out and "RuntimeError: failed" in out
    assert APP_SECRET not in out and TOKEN not in out
    assert "13812341234" not in out and "13912345678" not in out
    assert "corpsecret=***" in out and "138****1234" in out and "139****5678" in out


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("她的电话13812341234，请回电", "她的电话138****1234，请回电"),
        ("tel +86 13812341234.", "tel +86 138****1234."),
        ("+8613812341234", "+86138****1234"),
        ("18600001111 and 15912345678", "186****1111 and 159****5678"),
        ("msgid 7413812341234567 ts 1763776800123", "msgid 7413812341234567 ts 1763776800123"),
        ("wm13812341234 12812341234 1381234123", "wm13812341234 12812341234 1381234123"),
    ],
)
def test_mobile_numbers_are_masked(text, masked):
    assert mask_phones(text) == masked
