"""Value tiers (RFM) from her orders ([tiers]): how recently she bought, how often and how much
within the window. Counted when an order comes in and daily (time alone moves her from 高价值
to 流失风险). A lead entering a tier is handed to a worker (an event of mombot's own in the
inbox, written with her new tier): it starts the playbooks' tier_entered SOPs and, with
[tiers] tag_group, shows the tier as a WeCom tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from crm.config import Settings, TierSettings
from store import inbox, orders
from store.orders import Spending

ENTERED = "mombot_tier_entered"  # the inbox event for leads that entered a tier


def tier_of(rules: TierSettings, spent: Spending, now: datetime) -> str:
    recent = now - spent.last_at <= timedelta(days=rules.recent_days)
    valuable = (spent.orders >= rules.frequent_orders
                or spent.cents >= round(rules.valuable_amount * 100))  # fmt: skip
    if recent:
        return "高价值" if valuable else "潜力"
    return "流失风险" if valuable else "待唤醒"


def update(
    connection: Connection, settings: Settings, contact_ids: Sequence[int], now: datetime
) -> dict[int, str]:
    """Recount these leads' tiers, in the caller's transaction; the tiers that changed."""
    if not contact_ids:
        return {}
    since = now - timedelta(days=settings.tiers.window_days)
    return _keep(connection, settings, orders.spending(connection, since, list(contact_ids)), now)


def refresh(engine: Engine, settings: Settings, now: datetime) -> int:
    """Recount every buyer's tier; how many changed."""
    since = now - timedelta(days=settings.tiers.window_days)
    with engine.begin() as connection:
        return len(_keep(connection, settings, orders.spending(connection, since), now))


def _keep(
    connection: Connection, settings: Settings, spent: list[Spending], now: datetime
) -> dict[int, str]:
    changed = {s.contact_id: tier for s in spent
               if (tier := tier_of(settings.tiers, s, now)) != s.tier}  # fmt: skip
    orders.save_tiers(connection, dict(changed), now.astimezone(settings.tz).date())
    ids = sorted(changed)
    inbox.announce(connection, ENTERED, ids, [changed[i] for i in ids], now)
    return changed
