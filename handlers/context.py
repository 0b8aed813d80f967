"""What a handler gets besides the event: one database session, the clock, settings, WeCom."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from bot.clock import Clock
from bot.config import Settings

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from bot.wecom import WeComClient


@dataclass
class Context:
    """The handler's session commits together with the inbox row being marked done (handlers
    may commit earlier, before a side effect that must not be repeated)."""

    session: Session
    runtime: Runtime
    received_at: datetime | None = None  # when mombot received the callback being handled

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def wecom(self, secret: str = "app") -> WeComClient:
        return self.runtime.wecom(secret)
