"""The lead funnel as advisors use it: 新线索 → 已沟通 → 有意向 → 已签约, or 已流失 with a reason.

Who may move a lead, which lost reasons count, what a signed amount looks like, and which
WeCom tags move her ([leads] tag_status). Each move is kept as a step (store.leads).
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from crm import scoring
from crm.config import STATUS_WORDS
from store import leads
from store.models import Contact, ContactStatus, LeadEvent, LeadSource

if TYPE_CHECKING:
    from crm.context import Context

LABELS = {status: label for label, status in STATUS_WORDS.items()}
# the lost reasons of a WeCom friendship that ended: she deleted her advisor, or he her
CUSTOMER_DELETED, ADVISOR_DELETED = "客户删除", "顾问删除"
MAX_AMOUNT = Decimal("100000000")  # 1亿: more is a typo


class Refused(ValueError):
    """The move cannot be made; the message says why, in words for the advisor."""


def label(status: str) -> str:
    """新线索, 已沟通, 有意向, 已签约 or 已流失."""
    return LABELS.get(status, status)


def lost_reason(ctx: Context, text: str) -> str:
    """The configured lost reason the words name (an exact one, or the one they are closest
    to: 价格高 → 价格太高); Refused with the list if none."""
    reasons = ctx.settings.leads.lost_reasons
    text = text.strip()
    if text in reasons:
        return text
    close = difflib.get_close_matches(text, reasons, n=1, cutoff=0.5) if text else []
    if close:
        return close[0]
    listed = "、".join(reasons)
    if not text:
        raise Refused(f"标记流失需要写明原因，可选：{listed}")
    raise Refused(f"「{text}」不是可选的流失原因，可选：{listed}")


def amount_cents(text: str) -> int:
    """A signed amount in 元 as advisors write it (3980, 3,980元, ¥3980.5, 三千九百八十)
    → fen; Refused if it is none."""
    cleaned = re.sub(r"[,，\s¥￥]|元$|块$|rmb$", "", text.strip(), flags=re.IGNORECASE)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        import cn2an  # only for amounts in words: it takes 0.1 s to import, which every
        # command that lists leads would pay

        try:
            value = Decimal(str(cn2an.cn2an(cleaned, "smart")))
        except (ValueError, KeyError, TypeError):
            raise Refused(f"「{text}」不是金额，请写数字，例如：3980") from None
    if not value.is_finite() or value < 0 or value >= MAX_AMOUNT:
        raise Refused(f"「{text}」不是有效金额")
    return int((value * 100).quantize(Decimal(1)))


def may_move(ctx: Context, userid: str, contact: Contact) -> bool:
    """Her advisor and the managers may move a lead."""
    return userid == contact.owner_userid or userid in ctx.settings.report.managers


def move(
    ctx: Context,
    contact: Contact,
    to: ContactStatus,
    *,
    source: LeadSource,
    actor: str = "",
    reason: str = "",
    note: str = "",
    amount: int | None = None,
) -> LeadEvent | None:
    """Move her (a step kept with who, when, why); 已流失 needs a configured reason. None if
    she is there already."""
    lost = lost_reason(ctx, reason) if to == ContactStatus.LOST else None
    step = leads.change(
        ctx.session, contact, to, ctx.clock.now(), source=source, actor=actor, reason=lost,
        note=note, amount_cents=amount,
    )  # fmt: skip
    if step is not None:
        scoring.recount(ctx.session, ctx.settings, [contact.id], ctx.clock.now())
    return step


def from_tags(ctx: Context, contact: Contact, names: list[str]) -> LeadEvent | None:
    """Tags just given to her in WeCom that [leads] tag_status maps to a status move her
    (the last of them, if several); by her advisor, who tags her."""
    mapping = ctx.settings.leads.tag_status
    statuses = [ContactStatus(mapping[name]) for name in names if name in mapping]
    if not statuses:
        return None
    to = statuses[-1]
    tag = next(name for name in reversed(names) if mapping.get(name) == to)
    reason = ctx.settings.leads.lost_reasons[-1] if to == ContactStatus.LOST else ""
    return move(ctx, contact, to, source=LeadSource.TAG, actor=contact.owner_userid,
                reason=reason, note=f"标签「{tag}」")  # fmt: skip
