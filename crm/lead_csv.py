"""Lead files as operators have them: exported from Excel or a partner's system, UTF-8 or GBK,
comma, tab or semicolon separated, headers in Chinese or English."""

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
_LOOKUP = {alias: field for field, aliases in ALIASES.items() for alias in aliases}


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


def read(data: bytes) -> LeadFile:
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
        field = _LOOKUP.get(_key(cell))
        if field is None or field in columns.values():
            if cell.strip():
                ignored.append(cell.strip())
            continue
        columns[index] = field
    if not {"phone", "external_id", "unionid", "external_userid"} & set(columns.values()):
        known = "、".join(ALIASES["phone"][4:8])
        raise FileProblem(
            f"no phone column (a header such as phone, {known}) nor an external_id column; "
            f"the header is: {', '.join(header)}"
        )
    rows = []
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines between blocks
        rows.append((number, {field: cells[i] for i, field in columns.items() if i < len(cells)}))
    return LeadFile(encoding, ignored, rows)
