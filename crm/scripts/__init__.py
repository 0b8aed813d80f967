"""The 话术库: replies an advisor sends with one tap from the sidebar, matched to the mother's
stage. TOML files with `[[script]]` blocks (`id`, `title`, `text`, optional `stages`); the
default set is default.toml here, or every *.toml of [sidebar] scripts. Loading checks every
script (ids unique, stages known, placeholders allowed) and names the file and script at
fault."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from crm import placeholders
from crm.config import Settings
from crm.stages import STAGES

DEFAULT = Path(__file__).parent / "default.toml"
ALLOWED = ("name", "advisor", "stage")  # what a script's text may say: filled for her


class ScriptError(Exception):
    """A script file that cannot be used; the message names the file and the script."""


@dataclass(frozen=True)
class Script:
    id: str
    title: str
    text: str
    stages: tuple[str, ...]  # empty: every stage

    def fits(self, stage: str | None) -> bool:
        return not self.stages or stage in self.stages


def configured(settings: Settings) -> tuple[Script, ...]:
    folder = settings.sidebar.scripts
    return load(tuple(sorted(Path(folder).glob("*.toml"))) if folder else (DEFAULT,))


@cache
def load(files: tuple[Path, ...]) -> tuple[Script, ...]:
    found: dict[str, Script] = {}
    if not files:
        raise ScriptError("no *.toml script files found")
    for path in files:
        try:
            blocks = tomllib.loads(path.read_text(encoding="utf-8")).get("script", [])
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ScriptError(f"{path}: {exc}") from None
        for index, block in enumerate(blocks, start=1):
            script = _script(path, index, block)
            if script.id in found:
                raise ScriptError(f"{path}: script {script.id!r} appears twice")
            found[script.id] = script
    return tuple(found.values())


def _script(path: Path, index: int, block: object) -> Script:
    where = f"{path}: script {index}"
    if not isinstance(block, dict):
        raise ScriptError(f"{where}: must be a table")
    unknown = set(block) - {"id", "title", "text", "stages"}
    if unknown:
        raise ScriptError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    values = {key: block.get(key) for key in ("id", "title", "text")}
    for key, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise ScriptError(f"{where}: {key} must be non-empty text")
    where = f"{path}: script {values['id']!r}"
    stages = block.get("stages", [])
    if not isinstance(stages, list) or any(stage not in STAGES for stage in stages):
        raise ScriptError(f"{where}: stages must be a list of {', '.join(STAGES)}")
    problem = placeholders.problem(values["text"], ALLOWED)
    if problem:
        raise ScriptError(f"{where}: {problem}")
    if len(values["text"]) > 2000:
        raise ScriptError(f"{where}: text longer than 2,000 characters")
    return Script(values["id"], values["title"], values["text"], tuple(stages))


def for_her(settings: Settings, stage: str | None, values: dict[str, str]) -> list[dict]:
    """The scripts that fit her stage (hers first, then the general ones), filled in."""
    fitting = [s for s in configured(settings) if s.fits(stage)]
    fitting.sort(key=lambda s: not s.stages)
    return [{"id": s.id, "title": s.title, "text": placeholders.render(s.text, values)}
            for s in fitting]  # fmt: skip
