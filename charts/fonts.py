"""The CJK font every chart text is drawn in, found explicitly and registered with matplotlib.

Looked for in order: Noto Sans CJK (the SC face), then WenQuanYi Micro Hei; for each, first in
the usual font folders, then among the fonts matplotlib's font manager knows, then through
fontconfig (`fc-list`). A file counts only if it holds a face of that family whose character
map covers a sample of Chinese. No fallback to DejaVu Sans (it has no Chinese: tofu boxes);
`FontMissing` says what to install instead."""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from matplotlib import font_manager, ft2font

INSTALL_HINT = "apt-get install fonts-noto-cjk"
SAMPLE = "孕晚期新线索已签约渠道暂无数据"

FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/opentype/noto"),  # Debian, Ubuntu: fonts-noto-cjk
    Path("/usr/share/fonts/noto-cjk"),  # Arch: noto-fonts-cjk
    Path("/usr/share/fonts/google-noto-cjk"),  # Fedora: google-noto-sans-cjk-fonts
    Path("/usr/share/fonts/truetype/wqy"),  # Debian, Ubuntu: fonts-wqy-microhei
    Path("/usr/share/fonts/wqy-microhei"),  # Fedora
    Path("/usr/share/fonts/wenquanyi/wqy-microhei"),  # Arch
)


class FontMissing(RuntimeError):
    """No font with Chinese glyphs is installed; charts would show tofu boxes."""


@dataclass(frozen=True)
class FontFace:
    regular: Path
    bold: Path  # the regular file again when the family has no bold
    family: str  # what matplotlib knows the face as, e.g. "Noto Sans CJK SC"


@dataclass(frozen=True)
class _Candidate:
    family: str
    regular: tuple[str, ...]  # file names in FONT_DIRS
    bold: tuple[str, ...]


CANDIDATES = (
    _Candidate(
        "Noto Sans CJK SC",
        regular=("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf"),
        bold=("NotoSansCJK-Bold.ttc", "NotoSansCJKsc-Bold.otf"),
    ),
    _Candidate("WenQuanYi Micro Hei", regular=("wqy-microhei.ttc",), bold=()),
)

_LOCK = threading.Lock()


@functools.cache
def cjk_font() -> FontFace:
    """The chart font, registered with matplotlib's font manager; `FontMissing` if none."""
    with _LOCK:
        for candidate in CANDIDATES:
            face = _find(candidate)
            if face is not None:
                _register(face)
                return face
    tried = ", ".join(c.family for c in CANDIDATES)
    raise FontMissing(
        f"No CJK font for the charts (tried {tried} in {', '.join(map(str, FONT_DIRS))}, "
        f"matplotlib's font list and fontconfig): install one with `{INSTALL_HINT}` "
        "(or fonts-wqy-microhei)."
    )


def face_index(path: Path, family: str) -> int | None:
    """Which face of the file (a .ttc holds several) is `family`; None if none is."""
    try:
        faces = ft2font.FT2Font(str(path)).num_faces
        for index in range(faces):
            if ft2font.FT2Font(str(path), face_index=index).family_name == family:
                return index
    except (OSError, RuntimeError):
        return None
    return None


def covers(path: Path, family: str, text: str = SAMPLE) -> bool:
    """The file has a `family` face whose character map holds every character of `text`."""
    index = face_index(path, family)
    if index is None:
        return False
    charmap = ft2font.FT2Font(str(path), face_index=index).get_charmap()
    return all(ord(char) in charmap for char in text)


def _find(candidate: _Candidate) -> FontFace | None:
    for lookup in (_in_dirs, _in_matplotlib, _in_fontconfig):
        regular, bold = lookup(candidate)
        if regular is not None and covers(regular, candidate.family):
            if bold is None or face_index(bold, candidate.family) is None:
                bold = regular
            return FontFace(regular=regular, bold=bold, family=candidate.family)
    return None


def _in_dirs(candidate: _Candidate) -> tuple[Path | None, Path | None]:
    def first(names: tuple[str, ...]) -> Path | None:
        paths = (folder / name for folder in FONT_DIRS for name in names)
        return next((path for path in paths if path.is_file()), None)

    return first(candidate.regular), first(candidate.bold)


def _in_matplotlib(candidate: _Candidate) -> tuple[Path | None, Path | None]:
    entries = [e for e in font_manager.fontManager.ttflist if e.name == candidate.family]
    entries = [e for e in entries if Path(e.fname).is_file()]
    regular = min(entries, key=lambda e: abs(_weight(e.weight) - 400), default=None)
    bold = max(entries, key=lambda e: _weight(e.weight), default=None)
    if bold is not None and _weight(bold.weight) < 600:
        bold = None
    return (
        Path(regular.fname) if regular else None,
        Path(bold.fname) if bold else None,
    )


def _weight(weight: int | str) -> int:
    if isinstance(weight, str):
        return int(font_manager.weight_dict.get(weight, 400))
    return int(weight)


def _in_fontconfig(candidate: _Candidate) -> tuple[Path | None, Path | None]:
    # fontconfig weights: 80 regular, 200 bold
    return _fc_list(candidate.family, 80), _fc_list(candidate.family, 200)


def _fc_list(family: str, weight: int) -> Path | None:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    pattern = f":family={family}:weight={weight}"
    try:
        result = subprocess.run(
            [fc_list, "--format", "%{file}\n", pattern],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(line for line in result.stdout.splitlines() if line.strip())
    return Path(files[0]) if files else None


def _register(face: FontFace) -> None:
    known = {Path(e.fname) for e in font_manager.fontManager.ttflist}
    for path in dict.fromkeys((face.regular, face.bold)):
        if path not in known:
            font_manager.fontManager.addfont(path)
