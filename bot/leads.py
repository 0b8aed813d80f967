"""`mombot leads list`: leads as a table or JSON, found with the query language."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TextIO

from sqlalchemy import Engine

from bot.text import table
from crm import lead_query, leads, phones
from crm.config import STATUS_WORDS, Settings
from store import advisors, lead_list


def find(
    settings: Settings,
    engine: Engine,
    now: datetime,
    query: str,
    *,
    status: Sequence[str] = (),
    owner: Sequence[str] = (),
    channel: Sequence[str] = (),
    idle_days: int | None = None,
    due_within: int | None = None,
    min_score: int | None = None,
    limit: int | None = 100,
    reveal_phones: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """The leads that match (newest first, at most `limit`; None: all) and how many match in
    all. Phones are masked (138****1234) unless `reveal_phones`."""
    with engine.connect() as connection:
        names = advisors.names(connection)
        vocabulary = lead_query.Vocabulary.of(settings, lead_list.cities(connection), names)
        filters = lead_query.parse(query, vocabulary, now)
        filters = replace(
            filters,
            statuses=filters.statuses | {STATUS_WORDS.get(s, s) for s in status},
            owners=filters.owners | {vocabulary.advisors.get(o, o) for o in owner},
            channels=filters.channels | {vocabulary.channels.get(c, c) for c in channel},
        )
        if idle_days is not None:
            filters = replace(filters, idle_since=now - timedelta(days=idle_days))
        if due_within is not None:
            today = now.date()
            filters = replace(filters, due_from=today, due_by=today + timedelta(days=due_within))
        if min_score is not None:
            filters = replace(filters, min_score=min_score)
        rows = lead_list.listing(connection, filters, limit)
        total = lead_list.count(connection, filters)
    channels = {c.code: c.name for c in settings.channels}
    return [_lead(row, channels, settings, reveal_phones) for row in rows], total


def _lead(row: Any, channels: dict[str, str], settings: Settings, reveal: bool) -> dict[str, Any]:
    tz = settings.tz

    def moment(value: datetime | None) -> str | None:
        return value.astimezone(tz).isoformat(timespec="seconds") if value else None

    return {
        "id": row.id,
        "name": row.name,
        "phone": row.phone if reveal else phones.mask(row.phone),
        "status": leads.label(row.status),
        "lost_reason": row.lost_reason,
        "owner": row.owner_userid,
        "owner_name": row.owner_name or "",
        "stage": row.stage,
        "channel": row.channel_code,
        "channel_name": channels.get(row.channel_code, ""),
        "city": row.city,
        "source": row.source,
        "due_date": row.due_date.isoformat() if row.due_date else None,
        "baby_birthday": row.baby_birthday.isoformat() if row.baby_birthday else None,
        "added_at": moment(row.added_at or row.created_at),
        "last_followup_at": moment(row.last_followup_at),
        "signed_amount": row.signed_amount_cents / 100 if row.signed_amount_cents else None,
        "score": row.score,
        "tier": row.tier,
    }


def lines(found: list[dict[str, Any]], total: int) -> list[str]:
    """The table people read: names and ids, never bare numbers of ours."""
    rows = [("编号", "客户", "手机", "状态", "阶段", "评分", "渠道", "顾问", "添加", "最近跟进")]
    for lead in found:
        status = lead["status"] + (f"（{lead['lost_reason']}）" if lead["lost_reason"] else "")
        owner = " · ".join(p for p in (lead["owner_name"], lead["owner"]) if p) or "—"
        rows.append((
            str(lead["id"]), lead["name"] or "未命名客户", lead["phone"] or "—", status,
            lead["stage"] or "—", str(lead["score"]),
            lead["channel_name"] or lead["channel"] or "—", owner,
            (lead["added_at"] or "")[:10] or "—", (lead["last_followup_at"] or "")[:10] or "—",
        ))  # fmt: skip
    shown = f"显示 {len(found)} 条" if len(found) < total else ""
    return [*table(rows), f"共 {total} 条线索" + (f"，{shown}" if shown else "")]


EXPORT_COLUMNS = {"id": "编号", "name": "姓名", "phone": "手机", "status": "状态",
                  "lost_reason": "流失原因", "stage": "阶段", "due_date": "预产期",
                  "baby_birthday": "宝宝生日", "channel": "渠道码", "channel_name": "渠道",
                  "owner": "顾问", "owner_name": "顾问姓名", "city": "城市", "source": "来源",
                  "added_at": "添加时间", "last_followup_at": "最近跟进",
                  "signed_amount": "签约金额", "score": "评分", "tier": "价值分层"}  # fmt: skip


def write_csv(found: list[dict[str, Any]], out: TextIO) -> None:
    """The leads as a CSV file Excel opens as it is (UTF-8 with BOM, Chinese headers)."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS.values())
    for lead in found:
        writer.writerow(["" if lead[k] is None else lead[k] for k in EXPORT_COLUMNS])


def profile_lines(found: dict[str, Any]) -> list[str]:
    """One lead as an operator reads her (crm.profile)."""
    owner = " · ".join(p for p in (found["owner_name"], found["owner"]) if p) or "（无）"
    status = found["status"] + (f"（{found['lost_reason']}）" if found["lost_reason"] else "")
    out = [
        f"{found['name'] or '未命名客户'}（编号 {found['id']}）{found['phone']}  {status}",
        f"顾问：{owner}  渠道：{found['channel_name'] or found['channel'] or '—'}"
        + (f"  来源：{found['source']}" if found["source"] else "")
        + (f"  城市：{found['city']}" if found["city"] else ""),
        f"阶段：{found['stage'] or '—'}"
        + (f"（{found['how_far']}）" if found["how_far"] else "")
        + (f"  预产期：{found['due_date']}" if found["due_date"] else "")
        + (f"  宝宝生日：{found['baby_birthday']}" if found["baby_birthday"] else ""),
        f"评分：{found['score']}" + ("（高意向）" if found["hot"] else ""),
    ]
    for item in found["score_breakdown"]:
        points = item["points"]
        shown = int(points) if points == int(points) else points
        out.append(f"  {'+' if points >= 0 else '−'}{abs(shown)}  {item['rule']}"
                   f"  {(item['at'] or '')[:10]}")  # fmt: skip
    if found["tags"]:
        out.append("标签：" + "、".join(found["tags"]))
    if found["orders"]:
        out.append(f"价值分层：{found['tier'] or '—'}  最近订单：")
        out += [f"  {o['ordered_at'][:16].replace('T', ' ')}  {o['amount']:,.2f} 元  "
                f"{o['items'] or o['order_id']}" for o in found["orders"]]  # fmt: skip
    out.append("线索记录：")
    for step in found["history"]:
        move = (f"{step['from']} → {step['to']}" if step["from"] not in (None, step["to"])
                else step["to"])  # fmt: skip
        extra = "；".join(str(x) for x in (step["reason"], step["note"]) if x)
        extra = f"（{extra}）" if extra else ""
        out.append(f"  {step['at'][:16].replace('T', ' ')}  {move}{extra}  "
                   f"{step['actor'] or 'mombot'}")  # fmt: skip
    if found["follow_ups"]:
        out.append("最近跟进：")
        out += [f"  {f['at'][:16].replace('T', ' ')}  {f['by']}  {f['note']}"
                for f in found["follow_ups"]]  # fmt: skip
    return out
