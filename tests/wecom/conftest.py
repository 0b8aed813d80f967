"""The WeCom client's fixtures: a respx-mocked API, its gettoken, and clients on a real Redis."""

from __future__ import annotations

import pytest
import respx

from tests.wecom.test_client import API, CORP, SECRET, TOKEN_1, TOKEN_2, token_ok
from wecom.client import WeComClient


@pytest.fixture
def api():
    with respx.mock(base_url=API, assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def gettoken(api):
    return api.get("/cgi-bin/gettoken").mock(side_effect=[token_ok(TOKEN_1), token_ok(TOKEN_2)])


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(redis, sleeps):
    clients: list[WeComClient] = []

    def make(**overrides) -> WeComClient:
        options = {
            "api_base": API,
            "corp_id": CORP,
            "secret": SECRET,
            "redis": redis,
            "sleep": sleeps.append,
        }
        client = WeComClient(**{**options, **overrides})
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
