"""Lead and order files as operators have them: exported from Excel, a partner's system or a
shop's back office, UTF-8 or GBK, comma, tab or semicolon separated, headers in Chinese or
English."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

# header cell (lower case, without spaces, _ or -) → field
ALIASES = {
    "name": ("name", "姓名", "名字", "客户姓名", "客户名称", "客户", "称呼", "宝妈姓名"),
    "phone": ("phone", "mobile", "tel", "telephone", "手机", "手机号", "手机号码", "电话",
              "联系电话", "联系方式", "电话号码"),
    "channel": ("channel", "渠道", "渠道码", "来源渠道", "渠道名称"),
    "city": ("city", "城市", "所在城市", "地区", "所在地"),
    "due_date": ("duedate", "due", "edd", "预产期", "预产日期"),
    "baby_birthday": ("babybirthday", "birthday", "宝宝生日", "宝宝出生日期", "出生日期", "生日"),
    "source": ("source", "来源", "线索来源", "来源机构"),
    "note": ("note", "notes", "remark", "备注", "说明"),
    "external_id": ("externalid", "id", "编号", "外部编号", "客户编号", "线索编号", "档案号"),
    "unionid": ("unionid",),
    "external_userid": ("externaluserid",),
}  # fmt: skip
ORDER_ALIASES = {
    "order_id": ("orderid", "order", "订单号", "订单编号", "订单id", "单号", "交易号"),
    "amount": ("amount", "paid", "金额", "实付金额", "订单金额", "支付金额", "实付", "付款金额",
               "实收金额"),
    "ordered_at": ("orderedat", "time", "date", "下单时间", "付款时间", "支付时间", "成交时间",
                   "订单时间", "日期", "创建时间"),
    "items": ("items", "item", "products", "商品", "商品名称", "商品明细", "宝贝标题", "品名"),
    "source": ("source", "shop", "store", "店铺", "店铺名称", "门店", "来源", "渠道"),
    "phone": (*ALIASES["phone"], "收货人手机", "收货人电话", "买家手机", "会员手机"),
    "name": ("name", "buyer", "收货人", "收货人姓名", "买家", "姓名", "客户姓名", "会员姓名"),
    "unionid": ("unionid",),
    "external_userid": ("externaluserid",),
}  # fmt: skip


class FileProblem(ValueError):
    """The file as a whole cannot be read as leads; the message says why."""


@dataclass(frozen=True)
class LeadFile:
    encoding: str
    ignored: list[str]  # header cells that name no field
    rows: list[tuple[int, dict[str, str]]]  # (row number as a spreadsheet counts, field → cell)


def _key(cell: str) -> str:
    return re.sub(r"[\s_\-（）()]", "", cell.strip().lstrip("\ufeff").lower())


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 (with or without BOM), else GB18030 (GBK's superset, as Excel
    saves CSV on Chinese Windows)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), "utf-8" if encoding == "utf-8-sig" else "gbk"
        except UnicodeDecodeError:
            continue
    raise FileProblem("neither UTF-8 nor GBK text")


def read(data: bytes, aliases: dict[str, tuple[str, ...]] = ALIASES) -> LeadFile:
    """The file's rows as fields (by `aliases`: ALIASES for leads, ORDER_ALIASES for orders);
    FileProblem when the header lacks what tells whose row it is (or, for orders, what the
    order is)."""
    lookup = {alias: field for field, names in aliases.items() for alias in names}
    text, encoding = decode(data)
    if not text.strip():
        raise FileProblem("the file is empty")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], ",\t;|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header = next(reader)
    columns: dict[int, str] = {}
    ignored: list[str] = []
    for index, cell in enumerate(header):
        field = lookup.get(_key(cell))
        if field is None or field in columns.values():
            if cell.strip():
                ignored.append(cell.strip())
            continue
        columns[index] = field
    found = set(columns.values())
    missing = [f for f in ("order_id", "amount", "ordered_at") if f in aliases and f not in found]
    if missing:
        named = "; ".join(f"{f} (e.g. {'、'.join(aliases[f][2:4])})" for f in missing)
        raise FileProblem(f"no column for {named}; the header is: {', '.join(header)}")
    if not {"phone", "external_id", "unionid", "external_userid"} & found:
        known = "、".join(ALIASES["phone"][4:8])
        raise FileProblem(
            f"no phone column (a header such as phone, {known}) nor an "
            f"{'external_userid' if 'order_id' in aliases else 'external_id'} column; "
            f"the header is: {', '.join(header)}"
        )
    rows = []
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines between blocks
        rows.append((number, {field: cells[i] for i, field in columns.items() if i < len(cells)}))
    return LeadFile(encoding, ignored, rows)
