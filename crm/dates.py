"""Understanding the due date (预产期) or baby birthday a mother writes, in her own words.

`parse(text, today)` says whether the text gives a due date, a birthday or neither, the date,
and whether it is approximate (a week count, "下个月", "8个月了", "元旦前后" …). The text is
first made plain: 全角 → 半角, traditional characters → simplified (OpenCC), lower case, the
typos mothers make put right (TYPOS), holidays written as their day (元旦 → 1月1日, 中秋 →
农历8月15日, HOLIDAYS) and English dates as Chinese ones ("Oct 3rd" → 10月3日). Chinese numerals
are turned into digits (cn2an, run by run); jieba's words decide what the text is about, so that
生 in 医生 or 号 in 3号楼 are not taken for a birth or a day. Lunar (农历) days become Gregorian
ones (borax); when the lunar month she names comes twice that year (闰月) and either could be
meant, the answer is none, flagged `ambiguous`, for the caller to ask. Implausible answers are
refused: a due date more than 300 days ahead or more than 14 days past, a birthday in the future
or more than six years back.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

import cn2an
import jieba
import opencc
from borax.calendars.lunardate import InvalidLunarDateError, LCalendars, LunarDate

from crm.stages import MAX_DUE_AHEAD, MAX_DUE_PAST, TERM_DAYS, add_months, implausible

DUE, BIRTHDAY, NONE = "due_date", "birthday", "none"

DUE_WORDS = {"预产期", "怀孕", "孕", "预计", "待产", "快生", "要生", "生产", "分娩", "怀着", "孕期",
             "due", "edd"}  # fmt: skip
BIRTH_WORDS = {"出生", "生日", "满月", "出生日期", "刚生", "生完", "出世", "已经生", "生了",
               "born", "birthday", "bday"}  # fmt: skip
BABY_WORDS = {"宝宝", "宝贝", "小宝贝", "娃", "娃娃", "孩子", "女儿", "儿子", "宝", "闺女", "小孩",
              "baby", "bb", "他", "她"}  # fmt: skip
PART_OF_MONTH = {"初": 5, "上旬": 5, "月初": 5, "中旬": 15, "中": 15, "月中": 15, "下旬": 25,
                 "底": 28, "末": 28, "月底": 28, "月末": 28}  # fmt: skip
WEEKDAYS = {"1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6, "日": 6, "天": 6}
# What she typed → what she meant: homophones that pinyin input offers, and look-alikes.
TYPOS = {
    "预产其": "预产期", "预产日期": "预产期", "预产日": "预产期", "预产是": "预产期是",
    "怀运": "怀孕", "坏孕": "怀孕", "岀": "出", "生曰": "生日",
    **{f"润{month}月": f"闰{month}月"  # 润六月 is a leap month (but 润肤 is no typo)
       for month in (*"正二三四五六七八九十冬腊", "十一", "十二", *map(str, range(1, 13)))},
}  # fmt: skip
# Days named by their holiday: Gregorian ones, and lunar ones (农历 …) for the lunar rule.
HOLIDAYS = {
    "元旦": "1月1日", "情人节": "2月14日", "妇女节": "3月8日", "五一劳动节": "5月1日",
    "劳动节": "5月1日", "五一": "5月1日", "六一儿童节": "6月1日", "儿童节": "6月1日",
    "六一": "6月1日", "教师节": "9月10日", "十一国庆": "10月1日", "国庆": "10月1日",
    "双十一": "11月11日", "光棍节": "11月11日", "双十二": "12月12日", "平安夜": "12月24日",
    "圣诞": "12月25日",
    "春节": "农历1月1日", "大年初一": "农历1月1日", "元宵": "农历1月15日", "端午": "农历5月5日",
    "七夕": "农历7月7日", "中秋": "农历8月15日", "重阳": "农历9月9日", "腊八": "农历12月8日",
    "除夕": "农历12月30日", "大年三十": "农历12月30日",
}  # fmt: skip
LUNAR_MONTHS = {"正": 1, "冬": 11, "腊": 12}
ENGLISH_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun",
                  "jul", "aug", "sep", "oct", "nov", "dec")  # fmt: skip

_NUMERAL = "零〇一二两三四五六七八九十百千"
_NUMERALS = re.compile(f"[{_NUMERAL}]+")
_NOT_A_DAY = "楼层栋室房号线路床位单元店门院区"  # 3号楼, 15号线: addresses, not dates
_MEASURE = r"(?!\d)(?!\s*(?:公斤|斤|千克|kg|克|g|cm|厘米|毫米|米|元|块|罐|个|袋|瓶|岁|%))"
_AROUND = re.compile(r"[日号]?(?:前后|左右|附近)")  # 元旦前后, 3月15号左右: a day, roughly
_TO_SIMPLIFIED = opencc.OpenCC("t2s")  # about 20 ms, once, at import
_traditional = re.compile("(?!)")  # what _TO_SIMPLIFIED changes: listed by initialise()
_TYPO = re.compile("|".join(map(re.escape, sorted(TYPOS, key=len, reverse=True))))
_HOLIDAY = re.compile(  # not the 五一 in 五一个 (nor, see _holiday, in 二十五一)
    rf"({'|'.join(sorted(HOLIDAYS, key=len, reverse=True))})节?(?![{_NUMERAL}\d月号日个])"
)
_ENGLISH_DATE = re.compile(  # oct 3rd, 20th of march, sept 5 2027, march 2027
    r"(?:(?<!\d)(?P<before>\d{1,2})(?:st|nd|rd|th)?\s*(?:of\s*)?)?(?<![a-z])"
    r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?(?![a-z])"
    r"(?:\s*(?P<after>\d{1,2})(?:st|nd|rd|th)?(?!\d))?(?:\s*,?\s*(?P<year>20\d{2})(?!\d))?"
)
# English words by hand, not jieba's: it keeps bb3 whole, and the bb of bb霜 (a cream) is no baby
_LATIN_WORD = re.compile(r"[a-z]+(?![a-z霜])")
_LATIN = re.compile("[a-z]")


@dataclass(frozen=True)
class Parsed:
    kind: str
    date: date | None = None
    approximate: bool = False
    # a pregnancy month (孕6个月) spans several weeks: worth asking for the week instead
    vague_months: bool = False
    # kind none because a lunar day could be in the regular or the leap month (闰): ask which
    ambiguous: bool = False

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "date": self.date.isoformat() if self.date else None,
            "approximate": self.approximate,
        }


NOTHING = Parsed(NONE)
_lock = threading.Lock()
_ready = False


def initialise() -> None:
    """Load jieba's dictionary (about a second) and list the traditional characters (0.1 s):
    once per process, before the first parse."""
    global _ready, _traditional
    with _lock:
        if not _ready:
            jieba.setLogLevel(60)
            jieba.initialize()
            for word in ("预产期", "刚满月", "二宝", "大宝", "孕周", "中旬", "上旬", "下旬"):
                jieba.add_word(word)
            cjk = map(chr, range(0x3400, 0xA000))  # CJK Unified Ideographs and Extension A
            _traditional = re.compile(
                "[" + "".join(c for c in cjk if _TO_SIMPLIFIED.convert(c) != c) + "]"
            )
            _ready = True


def digits(text: str) -> str:
    """全角 → 半角, and Chinese numerals (廿 and 卅 too) → Arabic digits, run by run."""
    text = unicodedata.normalize("NFKC", text).replace("廿", "二十").replace("卅", "三十")

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
    text = _plain(text)
    words = {word for word in jieba.lcut(text) if not word.isascii()}
    words |= set(_LATIN_WORD.findall(text))
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


def _plain(text: str) -> str:
    """The text as the rules read it: 全角 → 半角, simplified characters, lower case, typos put
    right, holidays as their day (国庆 → 10月1日) and English dates as Chinese ones."""
    text = unicodedata.normalize("NFKC", text).lower()
    if _traditional.search(text):  # OpenCC only when it has work: a call costs ~10 µs in a parse
        text = _TO_SIMPLIFIED.convert(text)
    text = _TYPO.sub(lambda match: TYPOS[match.group(0)], text)
    text = _HOLIDAY.sub(_holiday, text)
    return _ENGLISH_DATE.sub(_english_date, text) if _LATIN.search(text) else text


def _holiday(match: re.Match) -> str:
    """国庆 → 10月1日, 中秋 → 农历8月15日; but not the 五一 that ends 二十五一 (checked here, as
    a look-behind would slow the search down)."""
    before = match.string[match.start() - 1] if match.start() else ""
    if before and (before in _NUMERAL or before.isdigit()):
        return match.group(0)
    return HOLIDAYS[match.group(1)]


def _english_date(match: re.Match) -> str:
    """oct 3rd → 10月3日, 20 march 2027 → 2027年3月20日, march → 3月; "may" alone is the month
    only after "in"."""
    day, year = match["after"] or match["before"], match["year"]
    if match["month"] == "may" and not (
        day or year or match.string[: match.start()].endswith("in ")
    ):
        return match.group(0)
    month = ENGLISH_MONTHS.index(match["month"][:3]) + 1
    return (f"{year}年" if year else "") + f"{month}月" + (f"{day}日" if day else "")


def _plausible(found: Parsed, today: date) -> Parsed:
    if found.date is None:
        return found if found.ambiguous else NOTHING
    return NOTHING if implausible(found.kind, found.date, today) else found


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
    return Parsed(_kind_of(found, today, due_cue, birth_cue), found, _around(text, match.end()))


def _around(text: str, end: int) -> bool:
    """Whether the day that ends at `end` is followed by 前后, 左右 or 附近."""
    return _AROUND.match(text, end) is not None


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
    around = _around(text, match.end())
    if match.group(1):
        found = _valid(today.year + _YEAR_WORDS[match.group(1)], month, day)
        return Parsed(_kind_of(found, today, due_cue, birth_cue), found, around) if found else None
    kind = DUE if due_cue and not birth_cue else BIRTHDAY
    return Parsed(kind, _resolve_year(month, day, today, kind), around)


def _resolve_year(
    month: int, day: int, today: date, kind: str, *, past_grace: int = 14
) -> date | None:
    """A date without a year: the next one for a due date, the last one for a birthday."""
    for year in (today.year - 1, today.year, today.year + 1):
        found = _valid(year, month, day)
        if found is None:
            continue
        if kind == DUE and today - timedelta(days=past_grace) <= found <= today + MAX_DUE_AHEAD:
            return found
        if (
            kind == BIRTHDAY
            and found <= today
            and _valid(year + 1, month, day)
            and (_valid(year + 1, month, day) > today)
        ):
            return found
    return None


_YEAR_SAID = r"20\d{2}年|今年|明年|去年|前年|后年"
_LUNAR_CUE = re.compile("农历|阴历|旧历|老历|闰|[正冬腊]月")
_LUNAR = re.compile(
    rf"(?P<year>{_YEAR_SAID})?的?(?P<marker>(?:农历|阴历|旧历|老历)[^\d闰公阳新]{{0,4}}?)?"
    rf"(?P<later_year>{_YEAR_SAID})?的?"  # 农历生日是明年的…
    r"(?P<leap>闰)?(?P<month>\d{1,2}|[正冬腊])月份?"
    r"(?:初?(?P<day>\d{1,2})(?:日|号)?|(?P<part>上旬|中旬|下旬|初|中|底|末))?"
)


def _lunar(text: str, today: date, due_cue: bool, birth_cue: bool, *_: bool) -> Parsed | None:
    """农历八月十五, 阴历3月初八, 明年农历正月: a lunar day (a rough one for a bare month or 月初,
    中旬 …), in the lunar year she names, or else the next one for a due date and the last one for
    a birthday."""
    match = _lunar_match(text)
    if match is None or not (due_cue or birth_cue):
        return None
    month = LUNAR_MONTHS.get(match["month"]) or int(match["month"])
    day = int(match["day"]) if match["day"] else PART_OF_MONTH.get(match["part"] or "", 15)
    said = match["year"] or match["later_year"]
    years = [_year_said(said, today)] if said else [today.year + shift for shift in (-1, 0, 1)]
    options = {
        (year, leap): found
        for year in years
        for leap, found in _lunar_days(year, month, day, bool(match["leap"])).items()
    }
    if not options:
        return NOTHING  # no such lunar day: not a Gregorian one either
    if said:
        kind = _kind_of(next(iter(options.values())), today, due_cue, birth_cue)
    else:
        kind = DUE if due_cue and not birth_cue else BIRTHDAY
    grace = MAX_DUE_PAST.days if match["day"] else 31
    fitting = {key: found for key, found in options.items() if _fits(found, today, kind, grace)}
    if not fitting:
        return NOTHING
    year, leap = (max if kind == BIRTHDAY else min)(fitting, key=fitting.__getitem__)
    if (year, not leap) in fitting:  # that day in the leap month would do as well: ask
        return Parsed(NONE, ambiguous=True)
    approximate = not match["day"] or _around(text, match.end())
    return Parsed(kind, fitting[year, leap], approximate)


def _lunar_match(text: str) -> re.Match | None:
    """The first day named as a lunar one: after 农历 (阴历 …), in a leap month (闰), or in 正月,
    冬月 or 腊月, which only the lunar calendar has."""
    if not _LUNAR_CUE.search(text):  # the quick answer for nearly every text
        return None
    for match in _LUNAR.finditer(text):
        if match["marker"] or match["leap"] or not match["month"].isdigit():
            return match
    return None


def _year_said(said: str, today: date) -> int:
    return int(said[:4]) if said[0].isdigit() else today.year + _YEAR_WORDS[said]


def _lunar_days(year: int, month: int, day: int, leap_said: bool) -> dict[bool, date]:
    """The Gregorian days of a lunar one in a lunar year, by whether its month is the leap one:
    only the leap month when she said 闰, else the regular one and the leap one if there is one."""
    try:
        months = _lunar_months(year)
    except InvalidLunarDateError:  # outside 1900-2100
        return {}
    found = {}
    for leap in (True,) if leap_said else (False, True):
        if (month, leap) not in months:
            continue
        first, length = months[month, leap]
        # 腊月三十 is 除夕, the year's last day, even when that 腊月 has 29 days
        nth = length if (month, day) == (12, 30) else day
        if 1 <= nth <= length:
            found[leap] = first + timedelta(days=nth - 1)
    return found


@functools.lru_cache(maxsize=32)
def _lunar_months(year: int) -> dict[tuple[int, bool], tuple[date, int]]:
    """The months of a lunar year, (month, leap) → (its first Gregorian day, its length)."""
    first = LunarDate(year, 1, 1).to_solar_date()
    months = {}
    for month, length, leap in LCalendars.iter_year_month(year):
        months[month, bool(leap)] = (first, length)
        first += timedelta(days=length)
    return months


def _fits(found: date, today: date, kind: str, past_grace: int) -> bool:
    """Whether a day could be the one she means: a due date ahead, a birthday behind."""
    if kind == DUE:
        return today - timedelta(days=past_grace) <= found <= today + MAX_DUE_AHEAD
    return found <= today


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
    return Parsed(kind, found, _around(text, match.end())) if found else None


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
    _lunar,
    _full_date,
    _month_day,
    _day_of_month,
    _month_part,
    _relative_day,
    _baby_age,
)
