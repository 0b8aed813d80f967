"""Tables. Every change to them ships with a migration in store/migrations/versions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from store.types import UTCDateTime


def _at(nullable: bool = True, index: bool = False):
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class InboxStatus(StrEnum):
    RECEIVED = "received"  # stored, not (successfully) handed to the queue yet
    QUEUED = "queued"  # a job for it is in Redis
    PROCESSING = "processing"  # a worker claimed it until lease_until
    RETRY = "retry"  # the handler failed; due again at next_attempt_at
    DONE = "done"
    UNHANDLED = "unhandled"  # no handler knows this kind of callback; kept and logged
    FAILED = "failed"  # gave up after max_attempts; needs a person


class InboundEvent(SQLModel, table=True):
    """The durable inbox: one row per distinct callback, whatever WeCom retries."""

    __tablename__ = "inbound_events"
    __table_args__ = (Index("ix_inbound_events_status_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=1024, unique=True)
    source: str = Field(default="callback", max_length=32)
    msg_type: str = Field(max_length=64)
    event: str = Field(default="", max_length=64)
    change_type: str = Field(default="", max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=InboxStatus.RECEIVED, max_length=16)
    attempts: int = 0
    job_id: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    received_at: datetime = _at(nullable=False)
    enqueued_at: datetime | None = _at()
    next_attempt_at: datetime | None = _at()
    lease_until: datetime | None = _at()
    finished_at: datetime | None = _at()


class ContactStatus(StrEnum):
    """The lead funnel (DESIGN.md §5)."""

    NEW = "new"  # 新线索
    CONTACTED = "contacted"  # 已沟通
    INTERESTED = "interested"  # 有意向
    SIGNED = "signed"  # 已签约
    LOST = "lost"  # 已流失


class Contact(SQLModel, table=True):
    """An external contact (a mother) and the advisor who owns her."""

    __tablename__ = "contacts"

    id: int | None = Field(default=None, primary_key=True)
    external_userid: str = Field(max_length=64, unique=True)
    name: str = Field(default="", max_length=128)
    avatar: str = Field(default="", max_length=512)
    gender: int = 0  # WeCom's: 0 unknown, 1 male, 2 female
    unionid: str = Field(default="", max_length=64)
    owner_userid: str = Field(default="", max_length=64, index=True)
    channel_code: str = Field(default="", max_length=30, index=True)
    status: str = Field(default=ContactStatus.NEW, max_length=16, index=True)
    lost_reason: str | None = Field(default=None, max_length=64)
    added_at: datetime | None = _at()
    lost_at: datetime | None = _at()
    created_at: datetime = _at(nullable=False)
    updated_at: datetime = _at(nullable=False)
