"""The charts' font has Chinese glyphs (no tofu): every character maps to a real glyph, a render
differs from DejaVu Sans's boxes, every text of every chart resolves to the CJK file; each place
the font is looked for finds it alone; with the font hidden everywhere, FontMissing says what to
install."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from matplotlib import font_manager, ft2font
from matplotlib.text import Text

from charts import fonts
from charts.canvas import BODY, MARGIN, Heading, Page, points
from charts.fonts import FontMissing, cjk_font, face_index
from charts.funnel import funnel
from tests.charts.examples import all_figures

TEXT = "孕晚期新线索已签约渠道"


@pytest.fixture
def fresh_lookup() -> Iterator[None]:
    """The cached lookup forgotten before and after (the test may hide fonts meanwhile)."""
    cjk_font.cache_clear()
    yield
    cjk_font.cache_clear()


def hide(monkeypatch, tmp_path: Path, *, dirs: bool, matplotlib: bool, fontconfig: bool) -> None:
    """Make the CJK fonts invisible to the chosen places the lookup searches."""
    families = {candidate.family for candidate in fonts.CANDIDATES}
    if dirs:
        monkeypatch.setattr(fonts, "FONT_DIRS", (tmp_path,))
    if matplotlib:
        kept = [e for e in font_manager.fontManager.ttflist if e.name not in families]
        monkeypatch.setattr(font_manager.fontManager, "ttflist", kept)
    if fontconfig:  # a fontconfig configuration without a single font folder
        config = tmp_path / "fonts.conf"
        config.write_text(
            '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n'
            f"<fontconfig><cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>\n",
            encoding="utf-8",
        )
        monkeypatch.setenv("FONTCONFIG_FILE", str(config))


def face_of(path: Path, family: str) -> ft2font.FT2Font:
    index = face_index(path, family)
    assert index is not None, f"{path} has no {family} face"
    return ft2font.FT2Font(str(path), face_index=index)


def test_the_font_is_a_cjk_face_holding_every_character():
    face = cjk_font()
    assert face.family in {"Noto Sans CJK SC", "WenQuanYi Micro Hei"}
    assert "DejaVu" not in str(face.regular)
    font = face_of(face.regular, face.family)
    charmap = font.get_charmap()
    missing = [char for char in TEXT if ord(char) not in charmap]
    assert not missing, f"{face.regular} lacks {missing}"


def test_every_character_maps_to_a_real_glyph_not_the_notdef_box():
    face = cjk_font()
    font = face_of(face.regular, face.family)
    font.set_size(48, 72)
    font.load_glyph(0)  # .notdef: what a missing character is drawn as
    notdef = font.get_path()[0]
    for char in TEXT:
        assert font.get_char_index(ord(char)) != 0, char
        font.load_char(ord(char))
        outline = font.get_path()[0]
        assert outline.shape != notdef.shape or not np.allclose(outline, notdef), char


def render(family: str | None) -> np.ndarray:
    """TEXT drawn on a chart page: through the page (the CJK font), or in `family`."""
    page = Page(100)
    if family is None:
        page.text(MARGIN, 50, TEXT, size=BODY)
    else:
        page.ax.text(MARGIN, 50, TEXT, fontfamily=family, fontsize=points(BODY), va="center")
    page.figure.canvas.draw()
    return np.asarray(page.figure.canvas.buffer_rgba())[..., :3].copy()


def test_a_render_differs_from_dejavu_tofu():
    drawn = render(None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tofu = render("DejaVu Sans")
    assert any("missing from font" in str(w.message) for w in caught)  # DejaVu has no Chinese
    assert (drawn < 128).any(), "nothing was drawn"
    assert not np.array_equal(drawn, tofu)


def test_the_chart_family_resolves_to_the_cjk_files():
    face = cjk_font()
    for weight, path in (("regular", face.regular), ("bold", face.bold)):
        props = font_manager.FontProperties(family=face.family, weight=weight)
        found = font_manager.findfont(props, fallback_to_default=False)
        assert Path(found) == path
        assert found.face_index == face_index(path, face.family)


def test_every_text_of_every_chart_is_set_in_the_cjk_font():
    face = cjk_font()
    for name, figure in all_figures().items():
        figure.canvas.draw()
        texts = [t for t in figure.findobj(Text) if t.get_visible() and t.get_text()]
        assert texts, name
        for text in texts:
            found = font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
            assert Path(found) in {face.regular, face.bold}, (name, text.get_text(), found)


@pytest.mark.usefixtures("fresh_lookup")
def test_hidden_everywhere_the_font_is_missing_with_the_install_hint(monkeypatch, tmp_path):
    hide(monkeypatch, tmp_path, dirs=True, matplotlib=True, fontconfig=True)
    with pytest.raises(FontMissing, match="apt-get install fonts-noto-cjk"):
        cjk_font()
    with pytest.raises(FontMissing):  # a chart never falls back to DejaVu Sans
        funnel(Heading("线索漏斗", "2026-11-23"), [("新线索", 3)])
    assert issubclass(FontMissing, RuntimeError)


@pytest.mark.usefixtures("fresh_lookup")
@pytest.mark.parametrize("place", ["dirs", "matplotlib", "fontconfig"])
def test_each_place_alone_finds_the_font(monkeypatch, tmp_path, place):
    if place == "fontconfig" and shutil.which("fc-list") is None:
        pytest.skip("no fontconfig here")
    others = {key: key != place for key in ("dirs", "matplotlib", "fontconfig")}
    hide(monkeypatch, tmp_path, **others)
    face = cjk_font()
    assert face_index(face.regular, face.family) is not None
    assert fonts.covers(face.regular, face.family, TEXT)
