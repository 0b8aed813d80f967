"""Typed settings loaded from one TOML file, validated at start-up.

Every key has a default except the WeCom credentials; an unknown key or a bad value raises
ConfigError naming the file, the key and the reason. Secrets are SecretStr: they print as
'**********' and never reach logs or error messages.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from crm import placeholders

DEFAULT_PATH = "config.toml"
ENV_VAR = "MOMBOT_CONFIG"


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class WeComSettings(_Section):
    corp_id: Annotated[str, Field(min_length=1)]
    agent_id: int
    secret: SecretStr
    token: SecretStr
    encoding_aes_key: SecretStr
    api_base: Annotated[str, AfterValidator(_http_url)] = "https://qyapi.weixin.qq.com"
    contact_secret: SecretStr | None = None
    kf_secret: SecretStr | None = None
    kf_open_kfid: str = ""
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    # a callback whose signed timestamp is further than this from now (either way) is refused
    # (403): a replayed old callback does nothing. Generous, for WeCom's retries and clock
    # skew; 0: no limit.
    callback_max_age_seconds: Annotated[int, Field(ge=0)] = 86400

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if len(raw) != 43 or not re.fullmatch(r"[A-Za-z0-9+/]{43}", raw):
            raise ValueError("must be the 43-character EncodingAESKey from the WeCom console")
        return value

    @property
    def contact_secret_value(self) -> str:
        return (self.contact_secret or self.secret).get_secret_value()

    @property
    def kf_secret_value(self) -> str:
        return (self.kf_secret or self.secret).get_secret_value()


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    processes: Annotated[int, Field(ge=0, le=64)] = 0  # 0: one per CPU core
    # a client must send a request's headers (from connecting, or from the previous answer on
    # a kept-alive connection) and its body within this; else it is cut off (body: 408)
    read_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0

    @property
    def process_count(self) -> int:
        return self.processes or os.cpu_count() or 1


class DatabaseSettings(_Section):
    url: str = ""  # empty: SQLite file under data_dir
    sqlite_synchronous: Literal["normal", "full"] = "normal"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value and not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value


class RedisSettings(_Section):
    url: str = ""  # empty: embedded Redis under data_dir

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                "must be empty (embedded Redis) or start with redis://, rediss://, unix://"
            )
        return value


class WorkerSettings(_Section):
    # jobs one worker process carries at once (threads; they mostly wait for WeCom). More
    # throughput: raise this, or run more `mombot worker` processes (on any host).
    concurrency: Annotated[int, Field(ge=1, le=256)] = 16
    processes: Annotated[int, Field(ge=0, le=64)] = 0  # per `mombot worker`; 0: one per CPU core
    max_attempts: Annotated[int, Field(ge=1, le=50)] = 6
    retry_base_seconds: Annotated[float, Field(gt=0)] = 5.0
    job_timeout_seconds: Annotated[int, Field(ge=5, le=3600)] = 60
    lease_seconds: Annotated[int, Field(ge=10)] = 300
    requeue_after_seconds: Annotated[int, Field(ge=10)] = 120
    relay_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0

    @property
    def process_count(self) -> int:
        return self.processes or os.cpu_count() or 1


TagName = Annotated[str, Field(min_length=1, max_length=30)]


class LinkAttachment(_Section):
    type: Literal["link"]
    title: Annotated[str, Field(min_length=1, max_length=128)]
    url: Annotated[str, AfterValidator(_http_url)]
    desc: str = ""
    picurl: str = ""


class MiniprogramAttachment(_Section):
    type: Literal["miniprogram"]
    title: Annotated[str, Field(min_length=1, max_length=64)]
    appid: Annotated[str, Field(min_length=1)]
    page: Annotated[str, Field(min_length=1)]
    pic_path: str  # cover image file, uploaded to WeCom as temporary media when sent


class ImageAttachment(_Section):
    type: Literal["image"]
    path: str = ""  # a local file, uploaded as temporary media when sent
    pic_url: str = ""  # or an image already hosted by WeCom

    @model_validator(mode="after")
    def _one_source(self) -> ImageAttachment:
        if bool(self.path) == bool(self.pic_url):
            raise ValueError("give exactly one of path and pic_url")
        return self


Attachment = Annotated[
    LinkAttachment | MiniprogramAttachment | ImageAttachment, Field(discriminator="type")
]


def _placeholders(allowed: tuple[str, ...]):
    """A validator: the text's placeholders are among `allowed` (crm.placeholders)."""

    def check(value: str) -> str:
        problem = placeholders.problem(value, allowed)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


WelcomeText = Annotated[str, _placeholders(placeholders.WELCOME)]


_CODE = r"^[A-Za-z0-9_.-]+$"  # a channel code, WeCom's contact way state (≤ 30 characters)


class ChannelSettings(_Section):
    """A channel code (渠道活码): one QR code, its tags, and who it routes to."""

    code: Annotated[str, Field(min_length=1, max_length=30, pattern=_CODE)]
    name: Annotated[str, Field(min_length=1, max_length=30)]
    tags: list[TagName] = []
    welcome: WelcomeText = ""  # empty: [welcome] default
    advisors: list[Annotated[str, Field(min_length=1)]] = []
    attachments: Annotated[list[Attachment], Field(max_length=8)] = []
    skip_verify: bool = True


class WelcomeSettings(_Section):
    """The first message after she adds an advisor. {name}: her WeChat name; {advisor}: the
    advisor's name."""

    default: WelcomeText = (
        "你好{name}，我是{advisor}，你的专属育儿顾问，很高兴认识你！"
        "孕育路上有任何问题都可以随时问我。"
    )
    # When [wecom] kf_open_kfid is set, a link to the welcome bot is attached with this title.
    kf_invite: Annotated[str, Field(max_length=128)] = "告诉我预产期或宝宝生日，领取专属孕育指南"


class TagSettings(_Section):
    channel_group: TagName = "渠道来源"  # the WeCom tag group for channel tags
    unknown_channel: TagName = "未知渠道"  # given when the State matches no channel


class StageSettings(_Section):
    """Lifecycle stage boundaries and the WeCom tag group that shows them."""

    tag_group: TagName = "孕育阶段"
    mid_pregnancy_week: Annotated[int, Field(ge=8, le=20)] = 13  # 孕中期 from this week
    late_pregnancy_week: Annotated[int, Field(ge=21, le=34)] = 28  # 孕晚期 from this week
    newborn_days: Annotated[int, Field(ge=7, le=60)] = 28  # 新生儿期 up to this age in days
    infant_months: Annotated[int, Field(ge=6, le=18)] = 12  # 婴儿期 up to this age in months
    toddler_years: Annotated[int, Field(ge=2, le=6)] = 3  # 幼儿期 up to this age in years
    overdue_days: Annotated[int, Field(ge=1, le=42)] = 14  # then ask whether the baby came
    refresh_at: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "00:30"


_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class SopSettings(_Section):
    playbooks: str = ""  # a folder of playbook *.toml files; empty: the default playbook
    quiet_start: Annotated[str, Field(pattern=_HHMM)] = "21:30"  # nothing goes out from …
    quiet_end: Annotated[str, Field(pattern=_HHMM)] = "08:00"  # … until
    daily_cap: Annotated[int, Field(ge=1, le=20)] = 3  # automated messages per mother per day
    # group mass sends per customer group per day: WeCom lets a group receive about one a day
    # (as many a month as the month has days), so more would starve later days
    group_daily_cap: Annotated[int, Field(ge=1, le=20)] = 1
    tag_group: TagName = "SOP标签"  # the tag group of add_tag / remove_tag steps


class FollowUpSettings(_Section):
    """The follow-up SLA run for every new lead: her advisor is reminded when no follow-up is
    logged after remind_after_minutes; after escalate_after_minutes the team lead is told and,
    with public_pool, the lead goes to the public pool (公海) for another advisor to claim."""

    enabled: bool = True
    remind_after_minutes: Annotated[int, Field(ge=1, le=10080)] = 120
    escalate_after_minutes: Annotated[int, Field(ge=1, le=43200)] = 1440
    team_leads: dict[str, str] = {}  # advisor userid → team lead userid; else [report] managers
    public_pool: bool = False
    pool_advisors: list[str] = []  # told of pooled leads; empty: every channel's advisors
    claim_daily_cap: Annotated[int, Field(ge=0)] = 0  # claims per advisor per day; 0: no cap
    # an advisor who let a lead go (gave her up, or let her time out) may claim her back only
    # this many days later; 0: at once
    reclaim_after_days: Annotated[int, Field(ge=0, le=365)] = 7

    @model_validator(mode="after")
    def _escalate_after_reminding(self) -> FollowUpSettings:
        if self.escalate_after_minutes <= self.remind_after_minutes:
            raise ValueError("escalate_after_minutes must be more than remind_after_minutes")
        return self


LOST_REASONS = ("价格太高", "已在别处购买", "选了其他品牌", "宝宝过敏/不适用", "暂时不需要",
                "联系不上", "其他")  # fmt: skip
STATUS_WORDS = {"新线索": "new", "已沟通": "contacted", "有意向": "interested", "已签约": "signed",
                "已流失": "lost"}  # fmt: skip


def lead_status(value: str) -> str:
    """A lead status by its label (已签约) or its name (signed)."""
    status = STATUS_WORDS.get(value, value)
    if status not in STATUS_WORDS.values():
        raise ValueError(f"{value!r} is no lead status (one of {', '.join(STATUS_WORDS)})")
    return status


class LeadSettings(_Section):
    """The lead funnel: why a lead is lost (an advisor picks one), and WeCom corp tags that
    move her when an advisor gives them (tag name → status, e.g. "已签约" = "已签约")."""

    lost_reasons: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]],
                            Field(min_length=1)] = list(LOST_REASONS)  # fmt: skip
    tag_status: dict[str, Annotated[str, AfterValidator(lead_status)]] = {}
    off_duty: list[str] = []  # advisors away (leave, sick): assignment rules pass them over


_SPAN = r"^(([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d)?$"


class AssignRule(_Section):
    """Who gets a lead that arrives without an advisor (intake, CSV, a mother who talked to
    the bot first): the first rule that matches her (each list empty: any) and has an advisor
    on duty below his daily cap picks one: in turn through the day (round_robin: the one this
    rule gave fewest leads today, the first listed on a tie) or the one with the fewest open
    leads (least_open)."""

    name: Annotated[str, Field(max_length=30)] = ""
    channels: list[str] = []
    cities: list[str] = []
    sources: list[str] = []
    stages: list[str] = []
    advisors: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    method: Literal["round_robin", "least_open"] = "round_robin"
    daily_cap: Annotated[int, Field(ge=0)] = 0  # leads per advisor per day; 0: no cap
    # when its advisors are on duty, e.g. "09:00-21:00" ("22:00-08:00" spans midnight); "": always
    hours: Annotated[str, Field(pattern=_SPAN)] = ""


SIGNALS = ("source", "channel", "complete_form", "told_dates", "replied", "stage", "followed_up",
           "status", "tag", "ordered", "silent")  # fmt: skip
VALUED_SIGNALS = ("source", "channel", "stage", "status", "tag")  # what `values` narrows


class ScoreRule(_Section):
    """Points for a sign of her intent (a signal), e.g. {signal = "stage", values = ["孕晚期"],
    points = 10}. `values` narrow it (source names, channel codes or names, stages, status
    labels, tag names; empty: any); a signal that happens again counts up to `max_count`
    times; with `half_life_days` its points halve every that many days after it happened.

    Signals: source (an intake lead from that source), channel (added through that channel
    code), complete_form (an intake lead with her name, phone and a date), told_dates (she told
    the welcome bot her due date or baby's birthday), replied (she wrote to the bot within
    `days` of being added), stage (she entered that stage), followed_up (her advisor logged a
    follow-up), status (her lead reached that status), tag (she was given that tag), ordered
    (she bought something), silent (no interaction for `days` days — no message from her to
    the bot, no follow-up logged, no order, nothing told: counts once per `days`)."""

    signal: Literal[SIGNALS]  # type: ignore[valid-type]
    values: list[Annotated[str, Field(min_length=1)]] = []
    points: Annotated[int, Field(ge=-100, le=100)]
    name: Annotated[str, Field(max_length=30)] = ""  # how the breakdown names it
    max_count: Annotated[int, Field(ge=1, le=100)] = 1
    half_life_days: Annotated[int, Field(ge=0, le=3650)] = 0  # 0: no decay
    days: Annotated[int, Field(ge=1, le=365)] = 1  # replied: within; silent: for

    @model_validator(mode="after")
    def _sensible(self) -> ScoreRule:
        if self.points == 0:
            raise ValueError("points must not be 0")
        if self.values and self.signal not in VALUED_SIGNALS:
            raise ValueError(f"a {self.signal} signal has no values to narrow it by")
        if self.signal == "status":
            for value in self.values:
                lead_status(value)
        return self


DEFAULT_SCORE_RULES = (
    ScoreRule(signal="complete_form", points=10, name="留资完整"),
    ScoreRule(signal="told_dates", points=5, name="告诉了预产期或宝宝生日"),
    ScoreRule(signal="replied", points=3, days=1, name="一天内回复"),
    ScoreRule(signal="stage", values=["孕晚期"], points=10, name="进入孕晚期"),
    ScoreRule(signal="followed_up", points=8, max_count=3, half_life_days=30, name="顾问跟进"),
    ScoreRule(signal="channel", points=2, name="添加了顾问"),
    ScoreRule(signal="status", values=["有意向"], points=10, name="有意向"),
    ScoreRule(signal="tag", values=["领券", "已领券"], points=5, name="领了优惠券"),
    ScoreRule(signal="ordered", points=5, max_count=3, half_life_days=90, name="下单"),
    ScoreRule(signal="silent", points=-5, days=7, max_count=4, name="7天没有互动"),
)


class ScoringSettings(_Section):
    """Lead scores: the rules' points summed (decayed) for each lead, recounted when something
    happens to her and daily. A lead reaching `threshold` gets the `hot_tag` in WeCom (taken
    away when she falls below) and her advisor is told, once."""

    enabled: bool = True
    threshold: Annotated[int, Field(ge=1)] = 20
    hot_tag: TagName = "高意向"
    tag_group: TagName = "线索评分"
    rules: list[ScoreRule] = list(DEFAULT_SCORE_RULES)


TIERS = ("高价值", "潜力", "流失风险", "待唤醒")


class TierSettings(_Section):
    """Value tiers from her orders (RFM), recounted daily and when an order comes in:
    bought within `recent_days` and valuable (at least `frequent_orders` orders or
    `valuable_amount` 元 within `window_days`) → 高价值; recent, not yet valuable → 潜力;
    valuable but not recent → 流失风险; neither → 待唤醒. The defaults follow 母婴 repeat
    purchases (formula and diapers: about a month). `tag_group` non-empty: her tier is also a
    WeCom tag in that group."""

    recent_days: Annotated[int, Field(ge=1, le=3650)] = 45
    window_days: Annotated[int, Field(ge=1, le=3650)] = 365
    frequent_orders: Annotated[int, Field(ge=1)] = 3
    valuable_amount: Annotated[float, Field(ge=0)] = 2000.0
    tag_group: Annotated[str, Field(max_length=30)] = ""


class ApiSettings(_Section):
    """The JSON API for other systems (a partner's web form, a 门店 tablet): POST /api/leads
    with `Authorization: Bearer <intake_token>`. Empty: the intake API is off."""

    intake_token: SecretStr = SecretStr("")


def _webhook(value: SecretStr) -> SecretStr:
    url = value.get_secret_value()
    if url and not re.fullmatch(r"https?://[^\s/]+/\S*", url):
        raise ValueError("must be a group robot's webhook address (https://…/webhook/send?key=…)")
    return value


class ReportSettings(_Section):
    """Managers' reports: `/report` to the app, and the daily push of yesterday's at daily_at
    to each manager ([report] and [roles] managers), and with webhook_url to a team group
    through its robot (群机器人; the address holds the robot's key: keep it secret)."""

    managers: list[str] = []
    daily_at: Annotated[str, Field(pattern=_HHMM)] = "09:00"
    daily_push: bool = True
    webhook_url: Annotated[SecretStr, AfterValidator(_webhook)] = SecretStr("")


Maskable = Literal["phone", "city", "orders", "notes"]
MASKABLE: tuple[str, ...] = get_args(Maskable)


class RolesSettings(_Section):
    """Who sees whose customers (the sidebar): an advisor his own, a team lead his team's
    (team lead userid → advisors), a manager everyone's ([report] managers are managers too).
    `masked`: what those who may see her but are neither her owner nor a manager (another
    advisor who also has her in WeCom, a team lead) see masked — phone: 138****1234 (in her
    messages and the notes too); city; orders: her orders, the amounts she signed for, her
    value tier and what her orders scored; notes: what others wrote in her follow-ups and
    history."""

    managers: list[str] = []
    team_leads: dict[str, list[str]] = {}
    masked: list[Maskable] = ["phone"]


class SidebarSettings(_Section):
    """The advisors' sidebar (聊天工具栏), GET /sidebar. Its page is opened by WeCom on the
    trusted domain set in the admin console; `public_url` is that address (e.g.
    https://crm.example.com), empty: the address the request came to."""

    public_url: Annotated[str, AfterValidator(lambda v: _http_url(v) if v else v)] = ""
    oauth_base: Annotated[str, AfterValidator(_http_url)] = (
        "https://open.weixin.qq.com/connect/oauth2/authorize"
    )
    session_hours: Annotated[int, Field(ge=1, le=24)] = 8
    # signs the session cookie; empty: derived from the app secret (changing it logs all out)
    session_secret: SecretStr = SecretStr("")

    @field_validator("session_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if 0 < len(value.get_secret_value()) < 32:
            raise ValueError("must be empty (derived from the app secret) or 32+ characters")
        return value

    scripts: str = ""  # a folder of 话术 *.toml files (crm.scripts); empty: the default set


class LoggingSettings(_Section):
    level: str = "INFO"

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return upper


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class Settings(_Section):
    timezone: Annotated[str, AfterValidator(_time_zone)] = "Asia/Shanghai"
    data_dir: str = "./data"
    wecom: WeComSettings
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    worker: WorkerSettings = WorkerSettings()
    channels: list[ChannelSettings] = []
    welcome: WelcomeSettings = WelcomeSettings()
    tags: TagSettings = TagSettings()
    stages: StageSettings = StageSettings()
    sop: SopSettings = SopSettings()
    followup: FollowUpSettings = FollowUpSettings()
    leads: LeadSettings = LeadSettings()
    assign: list[AssignRule] = []
    scoring: ScoringSettings = ScoringSettings()
    tiers: TierSettings = TierSettings()
    api: ApiSettings = ApiSettings()
    report: ReportSettings = ReportSettings()
    roles: RolesSettings = RolesSettings()
    sidebar: SidebarSettings = SidebarSettings()
    logging: LoggingSettings = LoggingSettings()

    @field_validator("channels")
    @classmethod
    def _unique_codes(cls, value: list[ChannelSettings]) -> list[ChannelSettings]:
        seen: set[str] = set()
        for channel in value:
            if channel.code in seen:
                raise ValueError(f"channel code {channel.code!r} appears twice")
            seen.add(channel.code)
        return value

    @property
    def managers(self) -> set[str]:
        """Who sees every customer and every report: [roles] and [report] managers."""
        return set(self.roles.managers) | set(self.report.managers)

    def channel(self, code: str) -> ChannelSettings | None:
        return next((channel for channel in self.channels if channel.code == code), None)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def data_path(self) -> Path:
        """data_dir as a path. `load` makes a relative data_dir absolute against the config
        file's folder; settings made without a file (tests, the demo) resolve it against the
        current directory."""
        return Path(self.data_dir)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.data_path / 'mombot.db'}"


# Values that are no credentials: config.example.toml's, and the usual stand-ins.
EXAMPLE_VALUES = frozenset({
    "ww0000000000000000", "replace-with-the-app-secret", "replace-with-the-callback-token",
    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
})  # fmt: skip
_STAND_IN = re.compile(
    r"replace|change[-_ ]?me|your[-_ ]?|placeholder|example|dummy|todo|fixme|x{4,}|\.\.\.|<.*>"
    r"|abcdefghij|0123456789",
    re.IGNORECASE,
)
_CREDENTIALS = ("corp_id", "secret", "token", "encoding_aes_key", "contact_secret", "kf_secret",
                "kf_open_kfid")  # fmt: skip


def _stand_in(value: str) -> bool:
    """An unedited value: the example's, words like changeme or your-secret, or one character
    repeated (wwxxxxxxxx, ww0000000000000000)."""
    body = value.removeprefix("ww").removeprefix("wk")
    return (value in EXAMPLE_VALUES or bool(_STAND_IN.search(value))
            or (len(body) >= 4 and len(set(body.lower())) == 1))  # fmt: skip


def warnings(settings: Settings) -> list[str]:
    """What a valid file still gets wrong: credentials left empty or as placeholders (each
    named by its key; a secret's value is never shown), and attachments pointing at
    example.com."""
    found: list[str] = []
    wecom = settings.wecom
    for key in _CREDENTIALS:
        value = getattr(wecom, key)
        if value is None:
            continue
        secret = isinstance(value, SecretStr)
        raw = value.get_secret_value() if secret else value
        if not raw.strip():
            if key in ("secret", "token", "corp_id"):
                found.append(f"[wecom] {key} is empty")
            elif key in ("contact_secret", "kf_secret"):
                found.append(f"[wecom] {key} is empty (the app secret is used instead)")
        elif _stand_in(raw):
            shown = "" if secret else f" ({raw!r})"
            found.append(f"[wecom] {key} looks like a placeholder{shown}: put in the real value "
                         "from the WeCom admin console")  # fmt: skip
    token = settings.api.intake_token.get_secret_value()
    if token and (len(token) < 16 or _stand_in(token)):
        found.append("[api] intake_token is short or a placeholder: anyone who guesses it can "
                     "add leads (use 16 or more random characters)")  # fmt: skip
    for channel in settings.channels:
        for n, item in enumerate(channel.attachments):
            url = getattr(item, "url", "") or getattr(item, "pic_url", "") or ""
            if re.match(r"^https?://(www\.)?example\.(com|org|net)(/|$)", url):
                found.append(f"channels[{channel.code}].attachments[{n}] points at {url}")
    return found


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """The config file to use: the given path, else $MOMBOT_CONFIG, else ./config.toml."""
    return Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH)


def _channel(data: dict, index: int) -> str:
    """A [[channels]] entry as operators know it: by its code, or by its index when the code
    is missing, invalid or used twice."""
    entries = data.get("channels")
    entries = entries if isinstance(entries, list) else []
    codes = [entry.get("code") if isinstance(entry, dict) else None for entry in entries]
    code = codes[index] if index < len(codes) else None
    valid = isinstance(code, str) and len(code) <= 30 and re.fullmatch(_CODE, code)
    return code if valid and codes.count(code) == 1 else str(index)


def _describe(error: dict, data: dict | None = None) -> str:
    key = ""
    for i, part in enumerate(error["loc"]):
        if not isinstance(part, int):
            key += f".{part}"
        elif i == 1 and error["loc"][0] == "channels":
            key += f"[{_channel(data or {}, part)}]"
        else:
            key += f"[{part}]"
    key = key.removeprefix(".") or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "missing":
        return f"{key}: required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    return f"{key}: {message}"


def parse(data: dict, source: str = "<config>") -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        # pydantic's own message would echo input values, which may be secrets.
        reasons = "; ".join(_describe(error, data) for error in exc.errors())
        raise ConfigError(f"{source}: {reasons}") from None


def load(path: str | os.PathLike[str] | None = None) -> Settings:
    file = resolve_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: config file not found (copy config.example.toml, or pass --config)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse(_anchored(data, file), str(file))


def _anchored(data: dict, file: Path) -> dict:
    """A relative data_dir (the database, the embedded Redis) is the config file's folder's,
    whatever the current directory of the process reading it."""
    data_dir = data.get("data_dir", Settings.model_fields["data_dir"].default)
    if not isinstance(data_dir, str):
        return data  # validation names it
    path = Path(data_dir).expanduser()
    if not path.is_absolute():
        path = file.resolve().parent / path
    return {**data, "data_dir": str(path)}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):  # inline table
        pairs = [f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None]
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump(data: dict) -> str:
    """TOML text for a config dict (as `parse` takes it): used to write configs for the demo,
    the benchmarks and the tests. None means "the default": the key is left out."""
    if any(value is None for value in data.values()):
        return dump({key: value for key, value in data.items() if value is not None})

    def is_table(value: object) -> bool:
        return isinstance(value, dict) or (
            isinstance(value, list) and bool(value) and isinstance(value[0], dict)
        )

    lines = [f"{key} = {_toml_value(value)}" for key, value in data.items() if not is_table(value)]
    for key, value in data.items():
        if isinstance(value, dict):
            rows = [f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None]
            lines += ["", f"[{key}]", *rows]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for table in value:
                lines += ["", f"[[{key}]]", *(f"{k} = {_toml_value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


def write(path: Path, data: dict) -> Path:
    """Validate a config dict and write it as TOML to path."""
    parse(data, str(path))
    path.write_text(dump(data), encoding="utf-8")
    return path
