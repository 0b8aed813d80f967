"""A small synchronous client for the WeCom (企业微信) server API, on httpx.

Every call goes to `{api_base}/cgi-bin/{path}` with the access_token as a query parameter.
The token comes from `gettoken` and is cached in Redis under a key made of the corp_id and a
sha256 digest of the secret, for `expires_in` less a safety margin. One process at a time
refreshes it, holding a Redis lock; the others poll the cache until the new token appears.
The app's JS-SDK tickets (`ticket`) are cached the same way, beside its token.

Failures (WeCom's error codes):
- errcode 40014 / 42001: the cached token is dropped (only if it is still the one that failed),
  fetched again, and the call retried once; a second token error raises WeComTokenError.
- errcode -1 (busy), 45009 / 45033 (rate limits), network errors and HTTP 5xx: retried with
  exponential backoff (1 s, 2 s, 4 s, ...) up to `max_busy_retries` times, then raised.
- any other non-zero errcode raises WeComError at once.

A caller with a deadline (a welcome has 20 s) wraps its calls in `deadline(seconds)`: every
call made by that thread inside gives up with WeComUnavailable rather than run past it, each
attempt's timeout cut to what is left and no backoff outlasting it.

The secret and the access_token never appear in exceptions, reprs or log lines: our own logs
name the path only, and a filter on the "httpx" logger masks them in its request lines.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import redis

from wecom.redact import RedactFilter, redact

log = logging.getLogger(__name__)

TOKEN_ERRCODES = frozenset({40014, 42001})  # invalid / expired access_token
BUSY_ERRCODE = -1
RATE_LIMIT_ERRCODES = frozenset({45009, 45033})

TOKEN_MARGIN = 300  # seconds before expires_in that the cached token is dropped
MIN_TOKEN_TTL = 60
BACKOFF_BASE = 1.0  # seconds; doubled on each retry
MEMO_SECONDS = 30.0  # how long a process reuses the cached token without asking Redis
POLL_INTERVAL = 0.05  # seconds between looks at the cache while another process refreshes

_COMPARE_AND_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class WeComError(Exception):
    """WeCom answered with a non-zero errcode (or, for subclasses, not at all)."""

    def __init__(self, errcode: int | None, errmsg: str, path: str) -> None:
        super().__init__(errcode, errmsg, path)
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path

    def __str__(self) -> str:
        return f"WeCom {self.path}: errcode {self.errcode}: {self.errmsg}"


class WeComBusy(WeComError):
    """errcode -1: the system is busy; try again later."""


class WeComRateLimited(WeComError):
    """errcode 45009 / 45033: an API frequency or concurrency limit was hit."""


class WeComTokenError(WeComError):
    """The access_token was rejected twice, or gettoken failed (e.g. 40001, a wrong secret)."""


class WeComUnavailable(WeComError):
    """No usable answer: network errors or HTTP 5xx after retries (errcode is None)."""


def is_transient(exc: BaseException) -> bool:
    """True when the same call may well succeed later (busy, rate-limited, unreachable)."""
    return isinstance(exc, WeComBusy | WeComRateLimited | WeComUnavailable)


def _error_for(errcode: int, errmsg: str, path: str) -> WeComError:
    if errcode == BUSY_ERRCODE:
        return WeComBusy(errcode, errmsg, path)
    if errcode in RATE_LIMIT_ERRCODES:
        return WeComRateLimited(errcode, errmsg, path)
    if errcode in TOKEN_ERRCODES:
        return WeComTokenError(errcode, errmsg, path)
    return WeComError(errcode, errmsg, path)


_local = threading.local()  # .deadline: time.monotonic() by which this thread's calls must end


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Calls made by this thread inside end within `seconds` (or an enclosing deadline)."""
    previous = getattr(_local, "deadline", None)
    ends = time.monotonic() + max(seconds, 0.0)
    _local.deadline = ends if previous is None else min(previous, ends)
    try:
        yield
    finally:
        _local.deadline = previous


def _time_left() -> float | None:
    ends = getattr(_local, "deadline", None)
    return None if ends is None else ends - time.monotonic()


def _install_log_redaction() -> None:
    """httpx logs every request URL, access_token included."""
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, RedactFilter) for f in httpx_log.filters):
        httpx_log.addFilter(RedactFilter())


_install_log_redaction()


TICKETS = {"corp": ("get_jsapi_ticket", {}), "agent": ("ticket/get", {"type": "agent_config"})}


def _cache_ttl(expires_in: int) -> int:
    """Seconds to cache a token that WeCom says lasts expires_in seconds (0: do not cache)."""
    return max(expires_in - TOKEN_MARGIN, min(MIN_TOKEN_TTL, expires_in // 2), 0)


class WeComClient:
    def __init__(
        self,
        *,
        api_base: str,
        corp_id: str,
        secret: str,
        redis: redis.Redis,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 10.0,
        max_busy_retries: int = 3,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.corp_id = corp_id
        self._secret = secret
        self._redis = redis
        self._own_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)
        self._sleep = sleep
        self._timeout = timeout
        self._max_busy_retries = max_busy_retries
        digest = hashlib.sha256(secret.encode()).hexdigest()[:16]
        self._token_key = f"mombot:wecom:token:{corp_id}:{digest}"
        self._lock_key = f"{self._token_key}:lock"
        self._compare_and_delete = redis.register_script(_COMPARE_AND_DELETE)
        self._memo: dict[str, tuple[str, float]] = {}  # key → value, until when (monotonic)
        # Hold the refresh lock for as long as one gettoken with all its retries can take.
        backoff_total = sum(BACKOFF_BASE * 2**i for i in range(max_busy_retries))
        self._lock_seconds = timeout * (max_busy_retries + 1) + backoff_total + 5

    def __repr__(self) -> str:
        return f"WeComClient(api_base={self.api_base!r}, corp_id={self.corp_id!r})"

    def __enter__(self) -> WeComClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._own_http:
            self._http.close()

    # Public calls ----------------------------------------------------------------------

    def get(self, path: str, /, **params: Any) -> dict:
        """GET cgi-bin/{path}?access_token=…&params; the decoded answer (errcode 0)."""
        return self._call("GET", path, params)

    def post(self, path: str, /, json: dict, **params: Any) -> dict:
        """POST a JSON body to cgi-bin/{path}?access_token=…&params."""
        return self._call("POST", path, params, json=json)

    def upload(self, path: str, /, *, files: Any, **params: Any) -> dict:
        """POST multipart files (httpx `files=`), e.g. upload("media/upload", type="image",
        files={"media": ("chart.png", data, "image/png")}). Pass bytes, not open files,
        so that a retry sends the same content again."""
        return self._call("POST", path, params, files=files)

    # Token -------------------------------------------------------------------------------

    def access_token(self) -> str:
        """The cached access_token, fetched once across processes when there is none."""
        return self._shared(self._token_key, self._lock_key, self._refresh_token, "gettoken")

    def ticket(self, kind: str) -> str:
        """A JS-SDK ticket of this secret's app, cached across processes like the token (WeCom
        allows a few hundred fetches an hour): "corp" (get_jsapi_ticket, for wx.config) or
        "agent" (ticket/get?type=agent_config, for ww.register / wx.agentConfig)."""
        path, params = TICKETS[kind]
        key = f"{self._token_key}:ticket:{kind}"

        def fetch() -> str:
            data = self.get(path, **params)
            ticket = data.get("ticket")
            if not isinstance(ticket, str) or not ticket:
                raise WeComError(None, "no ticket in the answer", path)
            return self._keep(key, ticket, int(data.get("expires_in", 7200)))

        return self._shared(key, f"{key}:lock", fetch, path)

    def _shared(self, key: str, lock_key: str, refresh: Callable[[], str], path: str) -> str:
        """The value cached under `key`; when there is none, one process (holding the lock)
        calls `refresh` while the others poll the cache for what it stores."""
        value = self._cached(key)
        if value:
            return value
        lock_value = secrets.token_hex(16)
        polls = int(self._lock_seconds / POLL_INTERVAL) + 1
        for _ in range(polls):
            if self._redis.set(lock_key, lock_value, nx=True, px=int(self._lock_seconds * 1000)):
                try:
                    return self._cached(key) or refresh()
                finally:
                    self._compare_and_delete(keys=[lock_key], args=[lock_value])
            self._sleep(POLL_INTERVAL)
            value = self._cached(key)
            if value:
                return value
        raise WeComUnavailable(None, "timed out waiting for another process to refresh", path)

    def _cached(self, key: str) -> str | None:
        """The value in Redis, remembered here for a while (within its time to live there):
        a call then costs no round trip to Redis for it."""
        memo = self._memo.get(key)
        if memo is not None and time.monotonic() < memo[1]:
            return memo[0]
        with self._redis.pipeline(transaction=False) as pipe:
            value, ttl_ms = pipe.get(key).pttl(key).execute()
        if not value:
            return None
        found = value.decode() if isinstance(value, bytes) else value
        if ttl_ms > 0:
            self._memo[key] = (found, time.monotonic() + min(MEMO_SECONDS, ttl_ms / 1000))
        return found

    def _keep(self, key: str, value: str, expires_in: int) -> str:
        """Cache a value WeCom says lasts expires_in seconds; the value."""
        ttl = _cache_ttl(expires_in)
        if ttl > 0:
            self._redis.set(key, value, ex=ttl)
            self._memo[key] = (value, time.monotonic() + min(MEMO_SECONDS, ttl))
        return value

    def _refresh_token(self) -> str:
        params = {"corpid": self.corp_id, "corpsecret": self._secret}
        try:
            data = self._send("GET", "gettoken", params)
        except WeComError as exc:
            if is_transient(exc):
                raise
            raise WeComTokenError(exc.errcode, exc.errmsg, exc.path) from None
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise WeComTokenError(None, "gettoken returned no access_token", "gettoken")
        expires_in = int(data.get("expires_in", 7200))
        self._keep(self._token_key, token, expires_in)
        log.info(
            "WeCom access_token refreshed for corp %s (expires in %d s)", self.corp_id, expires_in
        )
        return token

    def _invalidate(self, token: str) -> None:
        """Drop the cached token, unless another process has already replaced it."""
        self._memo.pop(self._token_key, None)
        self._compare_and_delete(keys=[self._token_key], args=[token])

    def _scrub(self, text: str) -> str:
        return redact(text, [self._secret] if self._secret else [])

    # Transport ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, params: dict[str, Any], **body: Any) -> dict:
        token = self.access_token()
        try:
            return self._send(method, path, {**params, "access_token": token}, **body)
        except WeComTokenError as exc:
            log.warning(
                "WeCom %s: access_token rejected (errcode %s); refreshing once", path, exc.errcode
            )
            self._invalidate(token)
            token = self.access_token()
            try:
                return self._send(method, path, {**params, "access_token": token}, **body)
            except WeComTokenError:
                self._invalidate(token)  # so that the next call starts with a fresh token
                raise

    def _send(self, method: str, path: str, params: dict[str, Any], **body: Any) -> dict:
        """One call, retried with backoff while WeCom is busy, rate-limiting or unreachable."""
        url = f"{self.api_base}/cgi-bin/{path.lstrip('/')}"
        retries = 0
        while True:
            result = self._attempt(method, url, path, params, body)
            if isinstance(result, dict):
                return result
            delay = BACKOFF_BASE * 2**retries
            left = _time_left()
            if retries >= self._max_busy_retries or (left is not None and delay >= left):
                raise result
            retries += 1
            log.warning(
                "WeCom %s: %s; retry %d/%d in %.0f s",
                path,
                result.errmsg,
                retries,
                self._max_busy_retries,
                delay,
            )
            self._sleep(delay)

    def _attempt(
        self, method: str, url: str, path: str, params: dict[str, Any], body: dict[str, Any]
    ) -> dict | WeComError:
        """The decoded answer, or a retryable error; raises errors that are not retryable."""
        timeout, left = self._timeout, _time_left()
        if left is not None:
            if left <= 0:
                raise WeComUnavailable(None, "out of time (the caller's deadline passed)", path)
            timeout = min(timeout, left)
        try:
            response = self._http.request(method, url, params=params, timeout=timeout, **body)
        except httpx.TransportError as exc:
            return WeComUnavailable(None, self._scrub(f"{type(exc).__name__}: {exc}"), path)
        if response.status_code >= 500:
            return WeComUnavailable(None, f"HTTP {response.status_code}", path)
        if response.status_code != 200:
            raise WeComError(None, f"HTTP {response.status_code}", path)
        try:
            data = response.json()
        except ValueError:
            raise WeComError(None, "answer is not JSON", path) from None
        if not isinstance(data, dict):
            raise WeComError(None, "answer is not a JSON object", path)
        errcode = data.get("errcode", 0)
        if errcode == 0:
            return data
        error = _error_for(errcode, self._scrub(str(data.get("errmsg", ""))), path)
        if isinstance(error, WeComBusy | WeComRateLimited):
            return error
        raise error
