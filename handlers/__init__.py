"""What happens for each inbound thing. One registry dispatches by (MsgType, Event, ChangeType).

A handler is a plain function `handler(event, ctx) -> None`; it raises to ask for a retry.
Handler modules register themselves when `load()` imports them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from wecom.callbacks import Event

Handler = Callable[[Any, Any], None]

_routes: dict[tuple[str, str, str], Handler] = {}

MODULES = ("handlers.contact", "handlers.kf", "handlers.groups", "handlers.commands")


def on(msg_type: str, event: str = "", change_type: str = "") -> Callable[[Handler], Handler]:
    """Register a handler; an empty change_type matches any ChangeType of that event."""

    def register(handler: Handler) -> Handler:
        key = (msg_type, event, change_type)
        if key in _routes:
            raise ValueError(f"two handlers for {key}")
        _routes[key] = handler
        return handler

    return register


def find(event: Event) -> Handler | None:
    msg_type, name, change_type = event.route
    return _routes.get((msg_type, name, change_type)) or _routes.get((msg_type, name, ""))


def load() -> None:
    for module in MODULES:
        importlib.import_module(module)
