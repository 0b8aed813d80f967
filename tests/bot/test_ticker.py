"""The worker's ticker: duties done once across workers."""

from datetime import datetime

from bot.ticker import queue_daily_refresh
from tests.support import TZ


def test_the_worker_queues_the_refresh_once_a_day(runtime, clock):
    clock.set(datetime(2026, 11, 22, 0, 10, tzinfo=TZ))
    assert not queue_daily_refresh(runtime)  # before refresh_at (00:30)
    clock.set(datetime(2026, 11, 22, 0, 31, tzinfo=TZ))
    assert queue_daily_refresh(runtime)
    assert not queue_daily_refresh(runtime)
    clock.advance(days=1)
    assert queue_daily_refresh(runtime)
    assert runtime.queue("bulk").count == 2
