"""SOP playbooks: TOML files that say what to send whom, when, and when to stop.

A playbook file holds `[[sop]]` blocks; each has a target (1:1 contacts or customer groups), a
trigger, conditions that skip a target, exit rules that cancel what is left, and steps (a day
offset and a time of day, or immediately) with one action each. A step says what it sends in
`text`, or in `texts`: several texts taken in turn, one a day (`Step.text_on`), e.g. a daily
tip that is not the same every day. Texts may use the placeholders of their SOP's target
(crm.placeholders): {name}, {advisor}, {stage}, {no} for contacts; {group}, {newcomers},
{advisor} for groups. Loading validates everything, placeholders included, and names the
file, the SOP and the step at fault.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from crm import placeholders
from crm.config import TIERS, FollowUpSettings, Settings
from crm.stages import STAGES

DEFAULT_DIR = Path(__file__).parent / "default"


class PlaybookError(Exception):
    """A playbook that cannot be used; the message names file, SOP and step."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Model):
    type: Literal[
        "contact_added",
        "stage_entered",
        "tag_added",
        "anchor",
        "group_member_joined",
        "schedule",
        "tier_entered",
    ]
    channel: str = ""  # contact_added: only from this channel code
    stage: str = ""  # stage_entered
    tag: str = ""  # tag_added
    tier: str = ""  # tier_entered: 高价值, 潜力, 流失风险 or 待唤醒 ([tiers])
    anchor: Literal["", "due_date", "baby_birthday"] = ""  # anchor: plus offset_days
    offset_days: int = 0
    every: Literal["", "day", "week"] = ""  # schedule (groups)
    weekday: Annotated[int, Field(ge=0, le=7)] = 0  # schedule every week: 1 = Monday

    @model_validator(mode="after")
    def _complete(self) -> Trigger:
        needs = {"stage_entered": "stage", "tag_added": "tag", "anchor": "anchor",
                 "schedule": "every", "tier_entered": "tier"}  # fmt: skip
        field = needs.get(self.type)
        if field and not getattr(self, field):
            raise ValueError(f"a {self.type} trigger needs {field}")
        if self.type == "stage_entered" and self.stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}")
        if self.type == "tier_entered" and self.tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(TIERS)}")
        if self.every == "week" and not self.weekday:
            raise ValueError("a weekly schedule needs weekday (1 = Monday … 7 = Sunday)")
        return self


class Conditions(_Model):
    """Targets to skip when a step is due."""

    skip_statuses: list[Literal["new", "contacted", "interested", "signed", "lost"]] = [
        "signed",
        "lost",
    ]
    skip_opted_out: bool = True
    skip_tags: list[str] = []  # she has any of these tags (names)
    skip_followed_up: bool = False  # her advisor logged a follow-up since she was added


class ExitRules(_Model):
    """What cancels the steps still to come."""

    stage_changed: bool = True
    status_changed: bool = False
    contact_deleted: bool = True
    opted_out: bool = True


Action = Literal[
    "send_text", "send_link", "send_image", "send_miniprogram", "advisor_task", "add_tag",
    "remove_tag", "mass_send", "appchat_post", "escalate",
]  # fmt: skip
GROUP_ACTIONS = {"mass_send", "advisor_task", "appchat_post"}
# minutes count from the moment of these triggers
MOMENT_TRIGGERS = {"contact_added", "tag_added", "group_member_joined", "tier_entered"}
# Fields sent as written (never filled in), by the actions that send them.
SENT_AS_WRITTEN = {"send_link": ("title", "desc"), "send_image": ("title",),
                   "send_miniprogram": ("title",)}  # fmt: skip


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


class Step(_Model):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
    day: Annotated[int, Field(ge=0, le=1100)] = 0  # days after the trigger
    at: str = ""  # "HH:MM" in the configured time zone; empty with immediate or minutes
    immediate: bool = False
    minutes: Annotated[int, Field(ge=1, le=525600)] | None = None  # after the trigger moment
    action: Action
    text: str = ""
    # or several texts, one a day in turn (text_on); give text or texts, not both
    texts: (
        Annotated[list[Annotated[str, AfterValidator(_not_blank)]], Field(min_length=1)] | None
    ) = None
    title: str = ""
    url: str = ""
    desc: str = ""
    image: str = ""  # a file path or a WeCom pic_url
    appid: str = ""
    page: str = ""
    tag: str = ""
    chat: str = ""  # appchat_post: the internal group chat's chatid (appchat/create)

    @model_validator(mode="after")
    def _complete(self) -> Step:
        if [bool(self.at), self.immediate, self.minutes is not None].count(True) != 1:
            raise ValueError('give one of at = "HH:MM", immediate = true or minutes = N')
        if self.at and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", self.at):
            raise ValueError(f"at must be HH:MM, not {self.at!r}")
        required = {
            "send_text": ("text",), "advisor_task": ("text",), "mass_send": ("text",),
            "appchat_post": ("chat", "text"), "escalate": (), "send_link": ("title", "url"),
            "send_image": ("image",),
            "send_miniprogram": ("title", "appid", "page", "image"), "add_tag": ("tag",),
            "remove_tag": ("tag",),
        }[self.action]  # fmt: skip
        if self.text and self.texts:
            raise ValueError("give text or texts, not both")
        missing = [name for name in required if not getattr(self, name)
                   and not (name == "text" and self.texts)]  # fmt: skip
        if missing:
            names = ("text or texts" if name == "text" else name for name in missing)
            raise ValueError(f"{self.action} needs {', '.join(names)}")
        return self

    def text_on(self, day: date) -> str:
        """What the step says when it is due on `day`: its text, or one of its texts in turn
        (the day's ordinal modulo their number), so that consecutive days differ and every
        attempt on the same day sends the same one."""
        if not self.texts:
            return self.text
        return self.texts[day.toordinal() % len(self.texts)]

    def due_day(self, trigger_at: datetime, tz: tzinfo) -> date:
        """The day the step falls due for a trigger at trigger_at (as the planner times it),
        whatever retries, quiet hours or the daily cap did to its task since."""
        if self.minutes is not None:
            return (trigger_at + timedelta(minutes=self.minutes)).astimezone(tz).date()
        return trigger_at.astimezone(tz).date() + timedelta(days=self.day)


class GroupFilter(_Model):
    """Which customer groups a group SOP is for (default: all of them)."""

    name_contains: list[str] = []  # any of these in the group's name
    owners: list[str] = []  # owned by one of these userids

    def matches(self, name: str, owner: str) -> bool:
        named = not self.name_contains or any(part in name for part in self.name_contains)
        return named and (not self.owners or owner in self.owners)


class Sop(_Model):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,60}$")]
    name: Annotated[str, Field(min_length=1)]
    target: Literal["contact", "group"]
    trigger: Trigger
    conditions: Conditions = Conditions()
    exit: ExitRules = ExitRules()
    steps: Annotated[list[Step], Field(min_length=1)]
    groups: GroupFilter = GroupFilter()
    enabled: bool = True

    @model_validator(mode="after")
    def _fits_target(self) -> Sop:
        group_triggers = {"group_member_joined", "schedule"}
        if (self.target == "group") != (self.trigger.type in group_triggers):
            raise ValueError(f"a {self.trigger.type} trigger does not fit target {self.target}")
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} appears twice")
            seen.add(step.id)
            if self.target == "group" and step.action not in GROUP_ACTIONS:
                raise ValueError(f"step {step.id}: a group SOP can only "
                                 + ", ".join(sorted(GROUP_ACTIONS)))  # fmt: skip
            if step.minutes is not None and self.trigger.type not in MOMENT_TRIGGERS:
                raise ValueError(f"step {step.id}: minutes only count from "
                                 + ", ".join(sorted(MOMENT_TRIGGERS)))  # fmt: skip
            if self.trigger.type == "schedule" and not step.at:
                raise ValueError(f'step {step.id}: a scheduled step needs at = "HH:MM"')
        return self

    @model_validator(mode="after")
    def _placeholders_fit(self) -> Sop:
        """Every placeholder a step sends is one its SOP's target is filled in with; titles and
        descriptions are sent as written. Errors name the step (and the field, unless text)."""
        allowed = placeholders.CONTACT if self.target == "contact" else placeholders.GROUP
        errors: list[InitErrorDetails] = []

        def refuse(loc: tuple, reason: str, value: str) -> None:
            kind = PydanticCustomError("placeholder", "{reason}", {"reason": reason})
            errors.append(InitErrorDetails(type=kind, loc=loc, input=value))

        for i, step in enumerate(self.steps):
            texts = [(("steps", i), step.text)]
            texts += [(("steps", i, "texts", j), text) for j, text in enumerate(step.texts or [])]
            for loc, text in texts:
                problem = placeholders.problem(text, allowed)
                if problem:
                    refuse(loc, problem, text)
            for field in SENT_AS_WRITTEN.get(step.action, ()):
                value = getattr(step, field)
                bad = placeholders.unknown(value, ())
                if bad:
                    refuse(("steps", i, field), f"placeholder {', '.join(bad)} is not filled in "
                           f"here: {field} is sent as written", value)  # fmt: skip
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self


def _where(loc: tuple, data: dict) -> str:
    """'sop "x" step "y" field' from a pydantic error location."""
    parts: list[str] = []
    sops = data.get("sop", [])
    if len(loc) >= 2 and loc[0] == "sop" and isinstance(loc[1], int) and loc[1] < len(sops):
        parts.append(f'sop "{sops[loc[1]].get("id", loc[1])}"')
        rest = loc[2:]
        if len(rest) >= 2 and rest[0] == "steps" and isinstance(rest[1], int):
            steps = sops[loc[1]].get("steps", [])
            step_id = steps[rest[1]].get("id", rest[1]) if rest[1] < len(steps) else rest[1]
            parts.append(f'step "{step_id}"')
            rest = rest[2:]
        if rest:
            parts.append(_dotted(rest))
    else:
        parts.append(_dotted(loc))
    return " ".join(parts)


def _dotted(loc: tuple) -> str:
    """('texts', 2) → texts[2]"""
    return "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc
    ).removeprefix(".")


class _File(_Model):
    sop: list[Sop] = []


def load_file(path: Path) -> list[Sop]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PlaybookError(f"{path}: cannot read: {exc}") from None
    try:
        return _File.model_validate(data).sop
    except ValidationError as exc:
        reasons = "; ".join(
            f"{_where(error['loc'], data)}: {error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        raise PlaybookError(f"{path}: {reasons}") from None


_loaded: dict[Path, tuple[tuple, tuple[Sop, ...]]] = {}  # folder → (files' stamps, its SOPs)


def load(directory: Path | None = None) -> list[Sop]:
    """Every SOP in the *.toml files of a directory (default: the shipped playbook). The files
    are read again only when one of them changed (name, size or modification time), so every
    event and job can ask for the playbook and still see an edit at its next use."""
    folder = directory or DEFAULT_DIR
    if not folder.is_dir():
        raise PlaybookError(f"{folder}: playbook directory not found")
    paths = sorted(folder.glob("*.toml"))
    stamps = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    cached = _loaded.get(folder)
    if cached is not None and cached[0] == stamps:
        return list(cached[1])
    sops = _read(folder, paths)
    _loaded[folder] = (stamps, tuple(sops))
    return sops


def _read(folder: Path, paths: list[Path]) -> list[Sop]:
    sops: list[Sop] = []
    errors: list[str] = []
    for path in paths:
        try:
            sops += load_file(path)
        except PlaybookError as exc:
            errors.append(str(exc))
    ids = [sop.id for sop in sops]
    errors += [
        f"{folder}: sop id {i!r} is used twice"
        for i in sorted({i for i in ids if ids.count(i) > 1})
    ]
    if errors:
        raise PlaybookError("\n".join(errors))
    return sops


def configured(settings: Settings) -> list[Sop]:
    """The SOPs of [sop] playbooks (or the default playbook), plus the follow-up SLA of
    [followup]. An edited playbook counts from its next use (see `load`)."""
    folder = settings.sop.playbooks
    sops = load(Path(folder) if folder else None)
    if not settings.followup.enabled:
        return sops
    if any(sop.id == FOLLOWUP_SLA for sop in sops):
        raise PlaybookError(f"sop id {FOLLOWUP_SLA!r} is mombot's follow-up SLA ([followup])")
    return [*sops, followup_sla(settings.followup)]


FOLLOWUP_SLA = "followup-sla"


def names(settings: Settings) -> dict[str, str]:
    """The configured SOPs' names by id, as reports show them."""
    return {sop.id: sop.name for sop in configured(settings)}


def followup_sla(rules: FollowUpSettings) -> Sop:
    """The follow-up SLA as a SOP: remind her advisor, then escalate, unless a follow-up was
    logged (or her status moved on) meanwhile."""
    remind = (
        "新线索「{name}」已等待{minutes}分钟，还没有跟进记录。\n"
        "跟进后回复「跟进 {no} 备注」记录，例如：跟进 {no} 已电话沟通"
    )
    return Sop(
        id=FOLLOWUP_SLA, name="新线索跟进时效", target="contact",
        trigger=Trigger(type="contact_added"),
        conditions=Conditions(skip_statuses=["contacted", "interested", "signed", "lost"],
                              skip_followed_up=True),
        exit=ExitRules(stage_changed=False, status_changed=True),
        steps=[
            Step(id="remind", minutes=rules.remind_after_minutes, action="advisor_task",
                 text=remind.replace("{minutes}", str(rules.remind_after_minutes))),
            Step(id="escalate", minutes=rules.escalate_after_minutes, action="escalate"),
        ],
    )  # fmt: skip
