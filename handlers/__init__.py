"""What happens for each inbound thing. One registry dispatches by (MsgType, Event, ChangeType).

A handler is a plain function `handler(event, ctx) -> None`; it raises to ask for a retry.
Handler modules register themselves when `load()` imports them.

A handler may also have a deadline part (`@first`): what must happen within seconds of the
event or not at all (a welcome's WelcomeCode lives 20 s). The worker runs that part as soon
as the event is taken from the realtime queue, and the whole handler afterwards, on the
inbound queue, behind every other deadline part. The whole handler is complete on its own
(the deadline part is only what goes first): whatever the deadline part sent, the outbox's
ledger keeps from being sent again.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from wecom.callbacks import Event

Handler = Callable[[Any, Any], None]
Route = tuple[str, str, str]

_routes: dict[Route, Handler] = {}
_firsts: dict[Route, Handler] = {}

MODULES = ("handlers.contact", "handlers.kf", "handlers.groups", "handlers.commands",
           "handlers.leads", "handlers.tiers", "handlers.stages")  # fmt: skip


def _register(table: dict[Route, Handler], key: Route) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if key in table:
            raise ValueError(f"two handlers for {key}")
        table[key] = handler
        return handler

    return register


def on(msg_type: str, event: str = "", change_type: str = "") -> Callable[[Handler], Handler]:
    """Register a handler; an empty change_type matches any ChangeType of that event."""
    return _register(_routes, (msg_type, event, change_type))


def first(msg_type: str, event: str, change_type: str) -> Callable[[Handler], Handler]:
    """Register the deadline part of the handler of exactly this route."""
    return _register(_firsts, (msg_type, event, change_type))


def find(event: Event) -> Handler | None:
    msg_type, name, change_type = event.route
    return _routes.get((msg_type, name, change_type)) or _routes.get((msg_type, name, ""))


def find_first(event: Event) -> Handler | None:
    return _firsts.get(event.route)


def load() -> None:
    for module in MODULES:
        importlib.import_module(module)
