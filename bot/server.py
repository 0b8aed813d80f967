"""The HTTP side: WeCom callbacks (verify, decrypt, store, ack, queue) and health."""

from __future__ import annotations

import asyncio
import errno
import gc
import hmac
import json
import logging
import os
import re
import socket
import time
from functools import partial

from aiohttp import web

from bot import heartbeat, private, processes, redis_conn, sidebar
from bot import runtime as runtime_module
from bot.ingest import Ingestor
from bot.intake import IntakeWriter
from bot.runtime import Runtime
from crm import dates
from crm.config import Settings
from handlers import intake as intake_view
from handlers import orders as orders_view
from store import db, inbox
from store.inbox import NewEvent
from wecom.callbacks import dedupe_key, encrypted_part, parse_xml, to_event
from wecom.crypto import CallbackError, WeComCrypto

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
HEALTH_TIMEOUT = 2.5  # seconds for each of /healthz's checks (Redis's own timeout is 2 s)
SUPERVISE_SECONDS = 5.0  # how often serve checks that the embedded Redis is there
RUNTIME = web.AppKey("runtime", Runtime)
CRYPTO = web.AppKey("crypto", WeComCrypto)
INGESTOR = web.AppKey("ingestor", Ingestor)
INTAKE = web.AppKey("intake", IntakeWriter)

_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class ServeError(Exception):
    """`mombot serve` cannot listen where it is told to; the message says why."""


class PortBusy(ServeError):
    """Another process (another `mombot serve`, say) is listening on the port."""


class StaleCallback(CallbackError):
    status = 403


def _signed_params(request: web.Request, *extra: str) -> list[str]:
    names = ("msg_signature", "timestamp", "nonce", *extra)
    missing = [name for name in names if not request.query.get(name)]
    if missing:
        raise CallbackError(f"missing query parameter(s): {', '.join(missing)}")
    return [request.query[name] for name in names]


def _check_fresh(runtime: Runtime, timestamp: str) -> None:
    """The signed timestamp is a number of seconds within callback_max_age_seconds of now."""
    if not _TIMESTAMP.fullmatch(timestamp):
        raise CallbackError("timestamp is not a number of seconds")
    max_age = runtime.settings.wecom.callback_max_age_seconds
    off = int(timestamp) - runtime.clock.now().timestamp()
    if max_age and abs(off) > max_age:
        when = "old" if off < 0 else "in the future"
        raise StaleCallback(
            f"timestamp is {abs(off):.0f} s {when}; more than callback_max_age_seconds "
            f"({max_age}) allows"
        )


class _Quieted:
    """Log a warning at most once per `interval` seconds; the ones in between are counted and
    told with the next, so a flood of bad requests cannot flood the log."""

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self._next = 0.0
        self._held = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return
        if self._held:
            message += " (and %d more like it in the last %.0f s)"
            args = (*args, self._held, self._interval)
        log.warning(message, *args)
        self._next, self._held = now + self._interval, 0


_refusals = _Quieted()


def _refuse(request: web.Request, error: CallbackError) -> web.Response:
    _refusals.warning("refused %s callback from %s: %s", request.method, request.remote, error)
    return web.Response(status=error.status, text=f"{error}\n")


async def verify_url(request: web.Request) -> web.Response:
    """WeCom's URL check: answer the decrypted echostr as the plain body."""
    try:
        signature, timestamp, nonce, echostr = _signed_params(request, "echostr")
        plain = request.app[CRYPTO].verify_and_decrypt(signature, timestamp, nonce, echostr)
    except CallbackError as error:
        return _refuse(request, error)
    return web.Response(text=plain)


async def receive(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        signature, timestamp, nonce = _signed_params(request)
        _check_fresh(runtime, timestamp)
        if (request.content_length or 0) > MAX_BODY:  # said so: no need to read it
            raise web.HTTPRequestEntityTooLarge(MAX_BODY, request.content_length or 0)
        try:
            async with asyncio.timeout(runtime.settings.server.read_timeout_seconds):
                body = await request.read()
        except TimeoutError:
            return await _too_slow(request)
        # the signature first, over the cheaply found <Encrypt>: nothing unsigned is parsed
        encrypted = encrypted_part(body)
        plain = request.app[CRYPTO].verify_and_decrypt(signature, timestamp, nonce, encrypted)
        event = to_event(parse_xml(plain))
    except CallbackError as error:
        return _refuse(request, error)
    try:
        stored = await request.app[INGESTOR].submit(
            NewEvent(dedupe_key(event), event.msg_type, event.event, event.change_type, plain)
        )
    except Exception:
        # Not the sender's fault: a non-200 makes WeCom deliver it again.
        return web.Response(status=503, text="temporarily unable to store the callback\n")
    if not stored.new:
        log.info("duplicate callback %s (inbox %d) acknowledged", event.route, stored.id)
    return web.Response(status=200)


async def _too_slow(request: web.Request) -> web.Response:
    """408, then hang up: the rest of a body that is this slow is not waited for."""
    _refusals.warning("callback body from %s not complete in time: 408", request.remote)
    response = web.Response(status=408, text="request body not received in time\n")
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if request.transport is not None:
        request.transport.close()
    return response


async def post_lead(request: web.Request) -> web.Response:
    """POST /api/leads: a lead from another system, read here and written with the others
    waiting (bot.intake)."""
    body = await _api_body(request)
    if isinstance(body, web.Response):
        return body
    runtime = request.app[RUNTIME]
    today = runtime.clock.now().astimezone(runtime.settings.tz).date()
    sent = intake_view.read(body, request.headers.get("Idempotency-Key"), runtime.settings, today)
    if isinstance(sent, intake_view.Reply):
        return _reply(sent)
    try:
        reply = await request.app[INTAKE].submit(sent)
    except Exception:
        log.exception("lead intake failed")
        return web.json_response({"error": "could not store the lead; try again"}, status=503)
    return _reply(reply)


async def post_orders(request: web.Request) -> web.Response:
    """POST /api/orders: orders from a shop (see handlers.orders), on a worker thread."""
    body = await _api_body(request)
    if isinstance(body, web.Response):
        return body
    runtime = request.app[RUNTIME]

    def take() -> intake_view.Reply:
        with runtime.context() as ctx:
            return orders_view.post_orders(body, ctx)

    try:
        reply = await asyncio.get_running_loop().run_in_executor(None, take)
    except Exception:
        log.exception("order intake failed")
        return web.json_response({"error": "could not store the order; try again"}, status=503)
    return _reply(reply)


async def _api_body(request: web.Request) -> bytes | web.Response:
    """The JSON API's door: the [api] token, the body's size and pace; the body, else the
    answer that refuses it."""
    runtime = request.app[RUNTIME]
    token = runtime.settings.api.intake_token.get_secret_value()
    if not token:
        return web.json_response(
            {"error": "the intake API is off ([api] intake_token)"}, status=404
        )
    given = request.headers.get("Authorization", "")
    scheme, _, credentials = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(),
                                                             token.encode()):  # fmt: skip
        _refusals.warning("refused POST %s from %s: wrong or no token", request.path,
                          request.remote)  # fmt: skip
        return web.json_response({"error": "a valid Authorization: Bearer token is required"},
                                 status=401, headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    if (request.content_length or 0) > MAX_BODY:
        return web.json_response({"error": f"body larger than {MAX_BODY} bytes"}, status=413)
    try:
        async with asyncio.timeout(runtime.settings.server.read_timeout_seconds):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return web.json_response({"error": f"body larger than {MAX_BODY} bytes"}, status=413)
    except TimeoutError:
        return await _too_slow(request)


def _reply(reply: intake_view.Reply) -> web.Response:
    return web.json_response(reply.body, status=reply.status, dumps=_json)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


async def healthz(request: web.Request) -> web.Response:
    """The database, Redis and live workers (their heartbeats); 503 if any is missing.

    Each check runs in a thread with a deadline, so a stalled store makes this slower by
    HEALTH_TIMEOUT at most, never stuck.
    """
    runtime = request.app[RUNTIME]
    database, workers = await asyncio.gather(
        _check(_inbox_counts, runtime), _check(_live_workers, runtime)
    )
    report: dict[str, object] = {}
    if isinstance(database, Exception):
        report["database"] = f"unreachable: {type(database).__name__}"
    else:
        report["inbox"], report["database"] = database, "ok"
    if isinstance(workers, Exception):
        report["redis"] = f"unreachable: {type(workers).__name__}"
        report["workers"] = None  # unknown: their heartbeats are in Redis
    else:
        report["redis"], report["workers"] = "ok", workers
    healthy = report["database"] == "ok" and report["redis"] == "ok" and bool(workers)
    report["status"] = "ok" if healthy else "degraded"
    return web.json_response(report, status=200 if healthy else 503)


async def _check(function, runtime: Runtime):
    """function(runtime) in a thread within HEALTH_TIMEOUT; its exception is returned."""
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(loop.run_in_executor(None, function, runtime), HEALTH_TIMEOUT)
    except Exception as exc:
        return exc


def _inbox_counts(runtime: Runtime) -> dict[str, int]:
    with runtime.engine.connect() as connection:
        return inbox.counts_by_status(connection)


def _live_workers(runtime: Runtime) -> int:
    runtime.redis.ping()  # one round trip that fails fast before the scan
    return len(heartbeat.alive(runtime.redis))


# Processes ----------------------------------------------------------------------------------


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the HTTP server in [server] processes processes sharing one port (SO_REUSEPORT).

    Raises ServeError (PortBusy when another process listens there) before anything starts
    if the address cannot be listened on. The schema is migrated and the embedded Redis
    started once, before forking; each process then builds its own runtime (connections are
    never shared across a fork). A child dies with the parent (SIGTERM), so a killed serve
    leaves nothing listening behind it.
    """
    check_address(host, port)
    private.secure(settings.data_path)
    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    engine.dispose()
    redis_conn.connect(settings.redis.url, settings.data_path).close()
    children = processes.fork(
        settings.server.process_count - 1, partial(_serve_one, settings, host, port)
    )
    try:
        _serve_one(settings, host, port)
    finally:
        processes.stop(children)


def check_address(host: str, port: int) -> None:
    """Listen on host:port the way serve will, once, without SO_REUSEPORT: this fails while
    anyone else listens there, even another serve (whose processes would share the port)."""
    if not 0 <= port <= 65535:
        raise ServeError(f"port {port} is not a port number (0-65535)")
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ServeError(f"cannot listen on host {host!r}: {reason}") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
                probe.listen()
            except OSError as exc:
                raise _listen_error(exc, host, port) from None


def _listen_error(exc: OSError, host: str, port: int) -> ServeError:
    if exc.errno == errno.EADDRINUSE:
        return PortBusy(f"port {port} on {host} is already in use")
    if exc.errno == errno.EACCES:
        return ServeError(f"not allowed to listen on port {port} on {host}")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ServeError(f"{host} is not an address of this machine")
    return ServeError(f"cannot listen on port {port} on {host}: {exc.strerror}")


def _serve_one(settings: Settings, host: str, port: int) -> None:
    runtime = runtime_module.build(settings, migrate=False)
    dates.initialise()  # the intake API reads dates in words: jieba's dictionary, once, now
    # Everything built so far (jieba's dictionary, most of it) lives as long as the process:
    # out of the collector's sight, a full collection takes milliseconds, not a 0.2 s pause.
    gc.freeze()
    log.info("serving on %s:%d (pid %d)", host, port, os.getpid())
    web.run_app(
        create_app(runtime),
        host=host,
        port=port,
        reuse_port=True,
        print=None,
        access_log=None,
        **handler_options(settings),
    )


def handler_options(settings: Settings) -> dict[str, float]:
    """The connection handling aiohttp is run with: a connection that has not sent a whole
    request's headers within read_timeout_seconds (from connecting, or from the previous
    answer) is closed, which cuts off idle and trickling (slowloris) clients alike."""
    return {"keepalive_timeout": settings.server.read_timeout_seconds}


async def _supervise_redis(runtime: Runtime) -> None:
    """Every SUPERVISE_SECONDS: restart the embedded Redis if it is gone."""
    settings = runtime.settings
    loop = asyncio.get_running_loop()
    failing = False
    while True:
        await asyncio.sleep(SUPERVISE_SECONDS)
        try:
            if await loop.run_in_executor(
                None, redis_conn.supervise, settings.redis.url, settings.data_path
            ):
                log.warning("embedded Redis restarted")
            failing = False
        except Exception:
            if not failing:  # the first failure, not one every few seconds
                log.exception("could not restart the embedded Redis; will keep trying")
            failing = True


def create_app(runtime: Runtime) -> web.Application:
    wecom = runtime.settings.wecom
    app = web.Application(client_max_size=MAX_BODY)
    app[RUNTIME] = runtime
    app[CRYPTO] = WeComCrypto(
        wecom.token.get_secret_value(), wecom.encoding_aes_key.get_secret_value(), wecom.corp_id
    )
    app[INGESTOR] = Ingestor(runtime)
    app[INTAKE] = IntakeWriter(runtime)

    async def lifecycle(app: web.Application):
        app[INGESTOR].start()
        supervisor = None
        if not runtime.settings.redis.url:
            supervisor = asyncio.get_running_loop().create_task(_supervise_redis(runtime))
        yield
        if supervisor:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        await app[INTAKE].stop()
        await app[INGESTOR].stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/wecom/callback", verify_url)
    app.router.add_post("/wecom/callback", receive)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/leads", post_lead)
    app.router.add_post("/api/orders", post_orders)
    sidebar.add_routes(app, runtime)
    return app
