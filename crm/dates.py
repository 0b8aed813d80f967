"""Understanding the due date (预产期) or baby birthday a mother writes, in her own words.

`parse(text, today)` says whether the text gives a due date, a birthday or neither, the date,
and whether it is approximate (a week count, "下个月", "8个月了" …). Chinese numerals are turned
into digits (cn2an, run by run); jieba's words decide what the text is about, so that 生 in
医生 or 号 in 3号楼 are not taken for a birth or a day. Implausible answers are refused: a due
date more than 300 days ahead or more than 14 days past, a birthday in the future or more than
six years back.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

import cn2an
import jieba

from crm.stages import TERM_DAYS, add_months

DUE, BIRTHDAY, NONE = "due_date", "birthday", "none"
MAX_AHEAD, MAX_PAST_DUE = timedelta(days=300), timedelta(days=14)
MAX_BABY_AGE_YEARS = 6

DUE_WORDS = {"预产期", "怀孕", "孕", "预计", "待产", "快生", "要生", "生产", "分娩", "怀着", "孕期"}
BIRTH_WORDS = {"出生", "生日", "满月", "出生日期", "刚生", "生完", "出世", "已经生", "生了"}
BABY_WORDS = {"宝宝", "娃", "孩子", "女儿", "儿子", "宝", "闺女", "小孩", "baby", "他", "她"}
PART_OF_MONTH = {"初": 5, "上旬": 5, "月初": 5, "中旬": 15, "中": 15, "月中": 15, "下旬": 25,
                 "底": 28, "末": 28, "月底": 28, "月末": 28}  # fmt: skip
WEEKDAYS = {"1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6, "日": 6, "天": 6}

_NUMERALS = re.compile(r"[零〇一二两三四五六七八九十百千]+")
_NOT_A_DAY = "楼层栋室房号线路床位单元店门院区"  # 3号楼, 15号线: addresses, not dates
_MEASURE = r"(?!\d)(?!\s*(?:公斤|斤|千克|kg|KG|克|g|cm|厘米|毫米|米|元|块|罐|个|袋|瓶|岁|%))"


@dataclass(frozen=True)
class Parsed:
    kind: str
    date: date | None = None
    approximate: bool = False
    # a pregnancy month (孕6个月) spans several weeks: worth asking for the week instead
    vague_months: bool = False

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "date": self.date.isoformat() if self.date else None,
            "approximate": self.approximate,
        }


NOTHING = Parsed(NONE)
_jieba_lock = threading.Lock()
_jieba_ready = False


def initialise() -> None:
    """Load jieba's dictionary (about a second): once per process, before the first parse."""
    global _jieba_ready
    with _jieba_lock:
        if not _jieba_ready:
            jieba.setLogLevel(60)
            jieba.initialize()
            for word in ("预产期", "刚满月", "二宝", "大宝", "孕周", "中旬", "上旬", "下旬"):
                jieba.add_word(word)
            _jieba_ready = True


def digits(text: str) -> str:
    """全角 → 半角, and Chinese numerals → Arabic digits, run by run."""
    text = unicodedata.normalize("NFKC", text)

    def convert(match: re.Match) -> str:
        run = match.group(0)
        core = run.lstrip("零〇") or run
        try:
            value = cn2an.cn2an(core, "smart")
        except (ValueError, KeyError):
            return run
        prefix = "零" if core != run else ""  # keep 零 as the separator in 20周零5天
        return f"{prefix}{int(value)}"

    return _NUMERALS.sub(convert, text)


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse(text: str, today: date, expect: str | None = None) -> Parsed:
    """What the text gives; `expect` (DUE or BIRTHDAY) is what she was just asked for, and
    decides for words that say nothing themselves ("是3月20号")."""
    initialise()
    words = set(jieba.lcut(unicodedata.normalize("NFKC", text)))
    normal = digits(text).replace(" ", "")
    due_cue = bool(words & DUE_WORDS) or bool(re.search(r"孕\d", normal))
    birth_cue = (
        bool(words & BIRTH_WORDS)
        or "生的" in normal
        or bool(re.search(r"(?<!医)(?<!先)生(的|了|啦)", normal))
    )
    baby_cue = bool(words & BABY_WORDS)
    future_cue = bool(re.search(r"预计|预产|还有|将|要生|快生|下个?月生|会生", normal))
    if expect == DUE and not birth_cue:
        due_cue = True
    elif expect == BIRTHDAY and not due_cue:
        birth_cue = True
    if "备孕" in normal and not re.search(r"\d", normal):
        return NOTHING
    for rule in _RULES:
        found = rule(normal, today, due_cue, birth_cue and not future_cue, baby_cue)
        if found is not None:
            return _plausible(found, today)
    return NOTHING


def _plausible(found: Parsed, today: date) -> Parsed:
    if found.date is None:
        return NOTHING
    if found.kind == DUE and not (today - MAX_PAST_DUE <= found.date <= today + MAX_AHEAD):
        return NOTHING
    if found.kind == BIRTHDAY:
        oldest = add_months(today, -12 * MAX_BABY_AGE_YEARS)
        if not (oldest <= found.date <= today):
            return NOTHING
    return found


# --- rules, tried in order; each returns a Parsed or None -------------------------------------


def _gestational_weeks(text: str, today: date, due_cue: bool, *_: bool) -> Parsed | None:
    match = re.search(r"(?:怀孕|孕)(?:期|周)?(\d{1,2})周(?:[+＋又零]?(\d)天)?", text) or re.search(
        r"(?:怀孕|孕)(?:期|周)?(\d{1,2})\+(\d)(?:天|周)?", text
    )
    if match is None and due_cue:
        match = re.search(r"(?<!\d)(\d{1,2})周(?:[+＋又零]?(\d)天)?了?(?!.*[生出])", text)
    if match is None:
        return None
    weeks, days = int(match.group(1)), match.group(2)
    if not 1 <= weeks <= 42:
        return None
    age = weeks * 7 + int(days or 0)
    return Parsed(DUE, today + timedelta(days=TERM_DAYS - age), approximate=days is None)


def _pregnancy_months(text: str, today: date, *_: bool) -> Parsed | None:
    match = re.search(r"(?:怀孕|孕)(\d{1,2})个?(多|半)?月", text)
    if match is None:
        return None
    months = int(match.group(1))
    if not 1 <= months <= 10:
        return None
    weeks = months * 4 + (2 if match.group(2) else 0)
    return Parsed(
        DUE, today + timedelta(days=TERM_DAYS - weeks * 7), approximate=True, vague_months=True
    )


def _countdown(text: str, today: date, *_: bool) -> Parsed | None:
    match = re.search(r"还有(?:不到|大概|差不多)?(\d{1,3})(天|周|个?星期|个?礼拜|个月)", text)
    if match is None:
        return None
    n, unit = int(match.group(1)), match.group(2)
    if unit == "天":
        return Parsed(DUE, today + timedelta(days=n), approximate=True)
    if unit == "个月":
        return Parsed(DUE, add_months(today, n), approximate=True)
    return Parsed(DUE, today + timedelta(weeks=n), approximate=True)


def _full_date(text: str, today: date, due_cue: bool, birth_cue: bool, *_: bool) -> Parsed | None:
    match = re.search(
        r"(?<!\d)(20\d{2})\s*(?:年|[./-])\s*(\d{1,2})\s*(?:月|[./-])\s*(\d{1,2})(?!\d)(?![号]["
        + _NOT_A_DAY
        + "])",
        text,
    ) or re.search(r"(?<!\d)(20\d{2})(\d{2})(\d{2})(?!\d)", text)
    if match is None:
        return None
    found = _valid(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    if found is None:
        return None
    return Parsed(_kind_of(found, today, due_cue, birth_cue), found)


def _kind_of(found: date, today: date, due_cue: bool, birth_cue: bool) -> str:
    if due_cue and not birth_cue:
        return DUE
    if birth_cue and not due_cue:
        return BIRTHDAY
    return DUE if found > today else BIRTHDAY


_YEAR_WORDS = {"今年": 0, "明年": 1, "去年": -1, "前年": -2, "后年": 2}


def _month_day(text: str, today: date, due_cue: bool, birth_cue: bool, *_: bool) -> Parsed | None:
    match = re.search(
        r"(今年|明年|去年|前年|后年)?的?(?<![\d./-])(\d{1,2})(?:月|[./-])(\d{1,2})(?:日|号)?"
        + _MEASURE
        + r"(?!["
        + _NOT_A_DAY
        + "])",
        text,
    )
    if match is None or not (due_cue or birth_cue):
        return None
    month, day = int(match.group(2)), int(match.group(3))
    if match.group(1):
        found = _valid(today.year + _YEAR_WORDS[match.group(1)], month, day)
        return Parsed(_kind_of(found, today, due_cue, birth_cue), found) if found else None
    kind = DUE if due_cue and not birth_cue else BIRTHDAY
    return Parsed(kind, _resolve_year(month, day, today, kind))


def _resolve_year(
    month: int, day: int, today: date, kind: str, *, past_grace: int = 14
) -> date | None:
    """A date without a year: the next one for a due date, the last one for a birthday."""
    for year in (today.year - 1, today.year, today.year + 1):
        found = _valid(year, month, day)
        if found is None:
            continue
        if kind == DUE and today - timedelta(days=past_grace) <= found <= today + MAX_AHEAD:
            return found
        if (
            kind == BIRTHDAY
            and found <= today
            and _valid(year + 1, month, day)
            and (_valid(year + 1, month, day) > today)
        ):
            return found
    return None


def _day_of_month(
    text: str, today: date, due_cue: bool, birth_cue: bool, *_: bool
) -> Parsed | None:
    """下个月10号, 这个月20号, or just 20号: a day in this, the next or the last month."""
    not_an_address = r"[号日](?![" + _NOT_A_DAY + "])"
    match = re.search(r"(下个?月|这个?月|本月|上个?月)的?(\d{1,2})" + not_an_address, text) or (
        re.search(r"()(?<![\d月./-])(\d{1,2})" + not_an_address, text)
    )
    if match is None or not (due_cue or birth_cue):
        return None
    kind = DUE if due_cue and not birth_cue else BIRTHDAY
    shift = {"下": 1, "上": -1}.get((match.group(1) or " ")[0], 0)
    month_start = add_months(today.replace(day=1), shift)
    found = _valid(month_start.year, month_start.month, int(match.group(2)))
    if found and not match.group(1):  # bare 20号: the coming one for a due date, else the last
        if kind == DUE and found < today:
            found = add_months(found, 1)
        elif kind == BIRTHDAY and found > today:
            found = add_months(found, -1)
    return Parsed(kind, found) if found else None


def _month_part(text: str, today: date, due_cue: bool, birth_cue: bool, *_: bool) -> Parsed | None:
    next_month = re.search(r"下个?月(初|上旬|中旬|下旬|底|末|中)?", text)
    if next_month and (due_cue or "生" in text):
        day = PART_OF_MONTH.get(next_month.group(1) or "", 15)
        return Parsed(DUE, add_months(today.replace(day=1), 1).replace(day=day), approximate=True)
    year_month = re.search(r"(20\d{2})年(\d{1,2})月(份)?(初|上旬|中旬|下旬|底|末|中)?", text)
    if year_month and (due_cue or birth_cue):
        day = PART_OF_MONTH.get(year_month.group(4) or "", 15)
        found = _valid(int(year_month.group(1)), int(year_month.group(2)), day)
        return Parsed(_kind_of(found, today, due_cue, birth_cue), found, True) if found else None
    match = re.search(
        r"(今年|明年|去年)?的?(?<![\d.])(\d{1,2})月(份)?(初|上旬|中旬|下旬|底|末|中)?(?!\d)", text
    )
    if match is None or not (due_cue or birth_cue):
        return None
    month = int(match.group(2))
    if not 1 <= month <= 12:
        return None
    day = PART_OF_MONTH.get(match.group(4) or "", 15)
    kind = DUE if due_cue and not birth_cue else BIRTHDAY
    if match.group(1):
        found = _valid(today.year + _YEAR_WORDS[match.group(1)], month, day)
    else:
        found = _resolve_year(month, day, today, kind, past_grace=31)
    return Parsed(kind, found, approximate=True) if found else None


def _baby_age(text: str, today: date, _due: bool, birth_cue: bool, baby_cue: bool) -> Parsed | None:
    if not (baby_cue or birth_cue):
        return None
    if re.search(r"刚?满月", text):
        return Parsed(BIRTHDAY, today - timedelta(days=30), approximate=True)
    if "半岁" in text and not re.search(r"\d岁半", text):
        return Parsed(BIRTHDAY, add_months(today, -6), approximate=True)
    half = re.search(r"(\d{1,2})个半月", text)
    if half:
        born = add_months(today, -int(half.group(1))) - timedelta(days=15)
        return Parsed(BIRTHDAY, born, approximate=True)
    match = re.search(r"(\d{1,2})岁(半)?(?:零?(\d{1,2})个?月)?", text)
    if match:
        months = int(match.group(1)) * 12 + (6 if match.group(2) else int(match.group(3) or 0))
        return Parsed(BIRTHDAY, add_months(today, -months), approximate=True)
    match = re.search(r"(\d{1,2})个(多)?月(?:零?(\d{1,2})天)?", text)
    if match:
        born = add_months(today, -int(match.group(1)))
        days = int(match.group(3) or (15 if match.group(2) else 0))
        return Parsed(BIRTHDAY, born - timedelta(days=days), approximate=True)
    match = re.search(r"(\d{1,3})(天|周)(?!.*[还预])", text)
    if match:
        days = int(match.group(1)) * (7 if match.group(2) == "周" else 1)
        return Parsed(BIRTHDAY, today - timedelta(days=days), approximate=True)
    if re.search(r"刚(出生|生)", text):
        return Parsed(BIRTHDAY, today, approximate=True)
    return None


_DAY_WORDS = {"大前天": -3, "前天": -2, "昨天": -1, "今天": 0, "明天": 1, "后天": 2, "大后天": 3}
_WEEK_WORDS = {"上上": -2, "上": -1, "这": 0, "本": 0, "下": 1, "下下": 2}


def _relative_day(
    text: str, today: date, due_cue: bool, birth_cue: bool, *_: bool
) -> Parsed | None:
    """昨天, 上周五 (a birth) or 明天, 下周三 (a due date)."""
    if not (due_cue or birth_cue):
        return None
    kind = BIRTHDAY if birth_cue else DUE
    for word, offset in sorted(_DAY_WORDS.items(), key=lambda item: -len(item[0])):
        if word in text and (offset <= 0) == (kind == BIRTHDAY):
            return Parsed(kind, today + timedelta(days=offset))
    match = re.search(r"(上上|下下|上|下|这|本)(?:个)?(?:周|星期|礼拜)([1-7日天])", text)
    if match:
        monday = (
            today - timedelta(days=today.weekday()) + timedelta(weeks=_WEEK_WORDS[match.group(1)])
        )
        found = monday + timedelta(days=WEEKDAYS[match.group(2)])
        if (found <= today) == (kind == BIRTHDAY):
            return Parsed(kind, found)
    return None


_RULES = (
    _gestational_weeks,
    _pregnancy_months,
    _countdown,
    _full_date,
    _month_day,
    _day_of_month,
    _month_part,
    _relative_day,
    _baby_age,
)
