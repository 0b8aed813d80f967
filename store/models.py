"""Tables. Every change to them ships with a migration in store/migrations/versions."""

from __future__ import annotations

from datetime import date, datetime
from enum import IntEnum, StrEnum

from sqlalchemy import Column, Index, Text, text
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
    # handled, but an optional part of it failed (e.g. the welcome went out without its link)
    warning: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    received_at: datetime = _at(nullable=False)
    enqueued_at: datetime | None = _at()
    next_attempt_at: datetime | None = _at()
    lease_until: datetime | None = _at()
    finished_at: datetime | None = _at()


class ContactStatus(StrEnum):
    """The lead funnel: 新线索 → 已沟通 → 有意向 → 已签约, or 已流失."""

    NEW = "new"  # 新线索
    CONTACTED = "contacted"  # 已沟通
    INTERESTED = "interested"  # 有意向
    SIGNED = "signed"  # 已签约
    LOST = "lost"  # 已流失


class Contact(SQLModel, table=True):
    """An external contact (a mother) and the advisor who owns her."""

    __tablename__ = "contacts"
    __table_args__ = (  # for the reports
        Index("ix_contacts_stage_status", "stage", "status"),
        Index("ix_contacts_added_at", "added_at", "channel_code", "owner_userid"),
        # when she was given to her advisor: by an [[assign]] rule, else by adding him
        Index("ix_contacts_given_at", text("coalesce(assigned_at, added_at)")),
    )

    id: int | None = Field(default=None, primary_key=True)
    # None for a lead who is no advisor's WeCom customer yet (from intake or a CSV import)
    external_userid: str | None = Field(default=None, max_length=64, unique=True)
    name: str = Field(default="", max_length=128)
    avatar: str = Field(default="", max_length=512)
    gender: int = 0  # WeCom's: 0 unknown, 1 male, 2 female
    unionid: str = Field(default="", max_length=64, index=True)
    phone: str = Field(default="", max_length=20, index=True)  # 13812341234 (crm.phones)
    city: str = Field(default="", max_length=32, index=True)
    owner_userid: str = Field(default="", max_length=64, index=True)
    channel_code: str = Field(default="", max_length=30, index=True)
    source: str = Field(default="", max_length=32)  # where an intake lead came from (协和医院)
    status: str = Field(default=ContactStatus.NEW, max_length=16, index=True)
    lost_reason: str | None = Field(default=None, max_length=64)  # e.g. 价格太高, 客户删除
    stage: str | None = Field(default=None, max_length=16, index=True)  # e.g. 孕中期
    stage_since: date | None = None
    stage_tag_id: str | None = Field(default=None, max_length=64)  # the stage tag she has in WeCom
    due_date: date | None = None  # the pregnancy she is in now
    baby_birthday: date | None = None  # her youngest baby
    trying_to_conceive: bool = False  # 备孕
    opted_out: bool = False  # 退订: no automated messages
    added_at: datetime | None = _at()  # she added her advisor in WeCom
    lost_at: datetime | None = _at()
    signed_at: datetime | None = _at()
    last_followup_at: datetime | None = _at(index=True)  # her advisor's latest logged follow-up
    signed_amount_cents: int | None = None  # what she signed for, in fen (分)
    transfer_fail_reason: str | None = Field(default=None, max_length=64)
    transfer_failed_at: datetime | None = _at()
    assigned_at: datetime | None = _at(index=True)  # given to her owner by an [[assign]] rule
    pooled_at: datetime | None = _at()  # in the public pool (公海) since, for anyone to claim
    # claimed from this advisor; she still has her in WeCom until the transfer completes
    handover_userid: str | None = Field(default=None, max_length=64)
    tags_read_at: datetime | None = _at()  # her tags were first read from WeCom (contact_tags)
    told_dates_at: datetime | None = _at()  # she first told the welcome bot a date of hers
    score: int = Field(default=0, index=True)  # her lead score (crm.scoring) when last counted
    tier: str | None = Field(default=None, max_length=8, index=True)  # 高价值 … (crm.tiers)
    tier_since: date | None = None
    created_at: datetime = _at(nullable=False)
    updated_at: datetime = _at(nullable=False)


class ChannelWay(SQLModel, table=True):
    """The WeCom contact way (QR code) made for a channel code by `mombot channels sync`."""

    __tablename__ = "channel_ways"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=30, unique=True)
    config_id: str = Field(max_length=64)  # needed to update or delete the contact way
    qr_code: str = Field(default="", max_length=512)
    fingerprint: str = Field(max_length=64)  # of what WeCom holds: advisors, skip_verify
    created_at: datetime = _at(nullable=False)
    updated_at: datetime = _at(nullable=False)


class CorpTag(SQLModel, table=True):
    """A corp tag (企业客户标签) and its WeCom id, cached from get_corp_tag_list/add_corp_tag."""

    __tablename__ = "corp_tags"
    __table_args__ = (Index("ux_corp_tags_group_name", "group_name", "name", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    group_name: str = Field(max_length=30)
    name: str = Field(max_length=30)
    group_id: str = Field(max_length=64)
    tag_id: str = Field(max_length=64, unique=True)


class Advisor(SQLModel, table=True):
    """A staff member's display name (user/get), for messages that mention her advisor."""

    __tablename__ = "advisors"

    id: int | None = Field(default=None, primary_key=True)
    userid: str = Field(max_length=64, unique=True)
    name: str = Field(default="", max_length=64)
    updated_at: datetime = _at(nullable=False)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # about to be sent; if the worker died here it is never sent again
    SENT = "sent"
    SKIPPED = "skipped"  # not sent on purpose (too late, nothing to send with)
    FAILED = "failed"


class Delivery(SQLModel, table=True):
    """The ledger of one-off sends (welcomes, notices): a key is sent at most once."""

    __tablename__ = "deliveries"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    kind: str = Field(max_length=32, index=True)
    target: str = Field(default="", max_length=128)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    detail: str = Field(default="", max_length=512)
    created_at: datetime = _at(nullable=False)
    finished_at: datetime | None = _at()


class StageEvent(SQLModel, table=True):
    """A contact entered a lifecycle stage on a day: the history of her stages."""

    __tablename__ = "stage_events"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    stage: str = Field(max_length=16, index=True)
    previous: str | None = Field(default=None, max_length=16)
    entered_on: date
    created_at: datetime = _at(nullable=False)


class KfCursor(SQLModel, table=True):
    """Where kf/sync_msg left off, per 微信客服 account."""

    __tablename__ = "kf_cursors"

    open_kfid: str = Field(max_length=64, primary_key=True)
    cursor: str = Field(default="", max_length=128)
    updated_at: datetime = _at(nullable=False)


class KfOrigin(IntEnum):
    """Who a 微信客服 message is from: WeCom's `origin` of a synced message, or mombot's own."""

    CUSTOMER = 3  # she wrote it
    EVENT = 4  # a system event (enter_session, msg_send_fail …)
    SERVICER = 5  # a servicer wrote it in the WeCom client
    BOT = -1  # mombot sent it: sync_msg never returns what the API sent, so mombot keeps it


class KfMessage(SQLModel, table=True):
    """A 微信客服 message: synced from WeCom (a message or event, handled once by msgid), or
    sent by the bot (origin BOT)."""

    __tablename__ = "kf_messages"

    id: int | None = Field(default=None, primary_key=True)
    msgid: str = Field(max_length=128, unique=True)
    external_userid: str = Field(default="", max_length=64, index=True)
    origin: int = 0
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    sent_at: datetime = _at(nullable=False, index=True)  # reports: her answers in a period


class Dialog(SQLModel, table=True):
    """The welcome bot's conversation with one mother, resumable after a restart."""

    __tablename__ = "dialogs"

    id: int | None = Field(default=None, primary_key=True)
    external_userid: str = Field(max_length=64, unique=True)
    open_kfid: str = Field(default="", max_length=64)
    state: str = Field(default="new", max_length=16)
    pending_kind: str | None = Field(default=None, max_length=16)
    pending_date: date | None = None
    failures: int = 0
    last_customer_at: datetime | None = _at()  # opens the 48 h window
    replies_in_window: int = 0  # at most 5 per customer message
    updated_at: datetime = _at(nullable=False)


class TaskStatus(StrEnum):
    PENDING = "pending"  # waiting for due_at
    QUEUED = "queued"  # handed to the bulk queue by the tick
    SENT = "sent"
    SKIPPED = "skipped"  # a condition said no (signed, lost, opted out, tagged …)
    CANCELLED = "cancelled"  # an exit rule ended the sequence
    FAILED = "failed"


class SopTask(SQLModel, table=True):
    """One step of one SOP for one target, due at a moment: planned once, sent at most once."""

    __tablename__ = "sop_tasks"
    __table_args__ = (
        Index("ux_sop_tasks_once", "sop_id", "step_id", "target", "trigger_key", unique=True),
        Index("ix_sop_tasks_due", "status", "due_at"),
        Index("ix_sop_tasks_target", "target", "status"),  # exit rules, the daily cap
        # reports: the steps done in a period. SQLite skip-scans sop_id to range over
        # updated_at and groups in the index's order (a covering index would cost every send
        # a wider entry to rewrite); PostgreSQL 15 cannot skip-scan (led by status and sop_id
        # it would read every step ever done), so there it ranges over updated_at for each
        # status and holds what the reports read.
        Index("ix_sop_tasks_done", "status", "sop_id", "updated_at").ddl_if(dialect="sqlite"),
        Index(
            "ix_sop_tasks_done_at",
            *("status", "updated_at"),
            postgresql_include=["sop_id", "detail", "msgid", "mass_result", "target"],
        ).ddl_if(dialect="postgresql"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sop_id: str = Field(max_length=60, index=True)
    step_id: str = Field(max_length=40)
    target: str = Field(max_length=80)  # "c:<contact id>" or "g:<chat id>"
    trigger_key: str = Field(max_length=80)  # which occurrence of the trigger
    trigger_at: datetime | None = _at()  # the moment the steps count from
    due_at: datetime = _at(nullable=False)
    status: str = Field(default=TaskStatus.PENDING, max_length=16)
    attempts: int = 0
    detail: str = Field(default="", max_length=512)
    # a mass send (add_msg_template) her advisor confirms: its msgid, and where it got to as
    # WeCom last said (wecom.externalcontact.MASS_RESULTS: unsent, sent, not_friend, limit)
    msgid: str | None = Field(default=None, max_length=64, index=True)
    mass_result: str | None = Field(default=None, max_length=16)
    created_at: datetime = _at(nullable=False)
    updated_at: datetime = _at(nullable=False)


class CustomerGroup(SQLModel, table=True):
    """A customer group (客户群) the app can see, kept from change_external_chat and
    groupchat/get."""

    __tablename__ = "customer_groups"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(max_length=64, unique=True)
    name: str = Field(default="", max_length=128)
    owner_userid: str = Field(default="", max_length=64, index=True)
    dismissed: bool = False
    members: int = 0
    customers: int = 0  # external members
    created_in_wecom: datetime | None = _at()
    synced_at: datetime = _at(nullable=False)


class GroupMember(SQLModel, table=True):
    """Someone in a customer group: staff (type 1) or a customer (type 2)."""

    __tablename__ = "group_members"
    __table_args__ = (Index("ux_group_members", "chat_id", "member_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(max_length=64)
    member_id: str = Field(max_length=64)  # userid or external_userid
    type: int = 2
    name: str = Field(default="", max_length=128)
    join_scene: int = 0
    joined_at: datetime | None = _at()
    left_at: datetime | None = _at()  # None while she is in the group


class ContactTag(SQLModel, table=True):
    """A corp tag her owner sees on her in WeCom, as last read (externalcontact/get) or set."""

    __tablename__ = "contact_tags"
    __table_args__ = (Index("ux_contact_tags", "contact_id", "tag_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id")
    tag_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=30, index=True)
    group_name: str = Field(default="", max_length=30)
    added_at: datetime = _at(nullable=False)


class FollowUp(SQLModel, table=True):
    """An advisor's logged follow-up with a contact (a call, a chat, a visit)."""

    __tablename__ = "follow_ups"
    __table_args__ = (  # for the reports: a period's follow-ups, and her first since a moment
        Index("ix_follow_ups_created_at", "created_at", "contact_id", "userid"),
        Index("ix_follow_ups_contact_created", "contact_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id")
    userid: str = Field(max_length=64, index=True)
    note: str = Field(default="", max_length=1000)
    created_at: datetime = _at(nullable=False)


class LeadEvent(SQLModel, table=True):
    """One step of a lead through the funnel: who moved her, when, from what to what, why."""

    __tablename__ = "lead_events"
    __table_args__ = (  # for the reports: who became a lead in a period, who moved where
        Index("ix_lead_events_became", "from_status", "at", "contact_id"),
        Index("ix_lead_events_moves", "to_status", "at", "contact_id"),
        Index("ix_lead_events_contact_at", "contact_id", "at", "to_status"),  # her steps
    )

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id")
    at: datetime = _at(nullable=False, index=True)
    actor: str = Field(default="", max_length=64)  # a staff userid; "" for mombot itself
    source: str = Field(max_length=16)  # LeadSource
    from_status: str = Field(default="", max_length=16)  # "" when she became a lead
    to_status: str = Field(max_length=16, index=True)
    reason: str | None = Field(default=None, max_length=64)  # why she was lost
    note: str = Field(default="", max_length=1000)
    amount_cents: int | None = None  # signed for, in fen


class LeadSource(StrEnum):
    """What moved a lead."""

    WECOM = "wecom"  # a WeCom event: she added or deleted an advisor
    APP = "app"  # a command in the app chat
    SIDEBAR = "sidebar"
    TAG = "tag"  # a WeCom tag mapped to a status ([leads] tag_status)
    INTAKE = "intake"
    RULE = "rule"
    ADMIN = "admin"  # an operator's command


class ContactFollow(SQLModel, table=True):
    """An advisor who has the contact in WeCom (a mother can follow several), as WeCom last
    said: externalcontact/get's follow_user, or batch/get_by_user's follow_info."""

    __tablename__ = "contact_follows"
    __table_args__ = (Index("ux_contact_follows", "contact_id", "userid", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id")
    userid: str = Field(max_length=64, index=True)
    remark: str = Field(default="", max_length=256)
    state: str = Field(default="", max_length=30)  # the contact way's state she added through
    added_at: datetime | None = _at()
    updated_at: datetime = _at(nullable=False)


class IdentityKind(StrEnum):
    """What identifies one person across sources (lead_identities)."""

    EXTERNAL_USERID = "external_userid"
    UNIONID = "unionid"
    PHONE = "phone"  # a normalised CN mobile (crm.phones)
    SOURCE_ID = "source_id"  # "<source>|<the source's own id>"


class LeadIdentity(SQLModel, table=True):
    """A key that identifies a lead: every phone, unionid and source id she came with, so a
    lead from any source finds her (one person, one lead). Unique per key, so two sources
    sending her at once cannot make two people of her."""

    __tablename__ = "lead_identities"
    __table_args__ = (Index("ux_lead_identities", "kind", "value", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    kind: str = Field(max_length=16)
    value: str = Field(max_length=128)
    created_at: datetime = _at(nullable=False)


class LeadIntake(SQLModel, table=True):
    """A lead as one source sent her (the intake API, a CSV row, the bot): what was received,
    whether she was created or merged, and the values that disagreed with what was known."""

    __tablename__ = "lead_intakes"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    at: datetime = _at(nullable=False)
    via: str = Field(max_length=16)  # api, csv
    source: str = Field(default="", max_length=32)
    outcome: str = Field(max_length=16)  # created, merged
    # the intake API's Idempotency-Key, with a hash of the body it came with
    idempotency_key: str | None = Field(default=None, max_length=255, unique=True)
    request_hash: str = Field(default="", max_length=64)
    fields: str = Field(sa_column=Column(Text, nullable=False))  # JSON: field → value received
    # JSON: field → [value kept, value offered] where they differ
    conflicts: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class ContactMerge(SQLModel, table=True):
    """A lead merged into another (the same person found twice): her row as it was, and where
    she went, so her old id still finds her."""

    __tablename__ = "contact_merges"

    id: int | None = Field(default=None, primary_key=True)
    gone_id: int = Field(unique=True)
    into_id: int = Field(foreign_key="contacts.id", index=True)
    at: datetime = _at(nullable=False)
    snapshot: str = Field(sa_column=Column(Text, nullable=False))  # JSON of her contacts row


class AssignCount(SQLModel, table=True):
    """How many leads an [[assign]] rule gave an advisor on a day: the turns of round_robin,
    the daily caps. Counted here rather than over contacts, so a busy day costs nothing."""

    __tablename__ = "assign_counts"

    day: date = Field(primary_key=True)
    rule: str = Field(max_length=64, primary_key=True)
    userid: str = Field(max_length=64, primary_key=True)
    assigned: int = 0


class LeadNotice(SQLModel, table=True):
    """A lead given to an advisor that he has not been told of yet. The relay turns each
    advisor's waiting notices into one message, at most one every few seconds (WeCom drops an
    app's messages beyond 30 a minute to one member), and deletes them."""

    __tablename__ = "lead_notices"

    id: int | None = Field(default=None, primary_key=True)
    userid: str = Field(max_length=64)
    contact_id: int = Field(foreign_key="contacts.id")
    created_at: datetime = _at(nullable=False)


class PoolEvent(SQLModel, table=True):
    """A lead going into the public pool (公海) and why, or taken out of it by a claim."""

    __tablename__ = "pool_events"
    __table_args__ = (
        Index("ix_pool_events_userid_kind_at", "userid", "kind", "at"),
        Index("ix_pool_events_at", "at"),  # reports: a period's returns and claims
    )

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contacts.id", index=True)
    at: datetime = _at(nullable=False)
    kind: str = Field(max_length=16)  # pooled, claimed
    userid: str = Field(default="", max_length=64)  # who released her, or who claimed her
    reason: str = Field(default="", max_length=32)  # 超时回收, 主动放弃, 离职, 管理员 …


class AuditEntry(SQLModel, table=True):
    """Something done with mothers' data that must be answerable later (an export)."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _at(nullable=False, index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=32, index=True)  # leads.export, sidebar.view …
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    rows: int = 0
    contact_id: int | None = Field(default=None, index=True)  # whose data, when one person's


class Order(SQLModel, table=True):
    """A purchase from the brand's shop (an e-commerce order, a 门店 till), hers by any of her
    keys; kept once per order id."""

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_contact_id_ordered_at", "contact_id", "ordered_at"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(max_length=64, unique=True)  # the shop's own
    contact_id: int = Field(foreign_key="contacts.id")
    amount_cents: int  # paid, in fen
    ordered_at: datetime = _at(nullable=False, index=True)
    items: str = Field(default="", max_length=1000)
    source: str = Field(default="", max_length=32)  # the shop: 天猫旗舰店, 门店 …
    created_at: datetime = _at(nullable=False)


class ScriptUse(SQLModel, table=True):
    """An advisor put a script (话术) into a chat from the sidebar."""

    __tablename__ = "script_uses"

    id: int | None = Field(default=None, primary_key=True)
    script_id: str = Field(max_length=40, index=True)
    userid: str = Field(max_length=64)
    contact_id: int = Field(foreign_key="contacts.id")
    at: datetime = _at(nullable=False, index=True)
