"""Class names in scripts OpenCV's own font lacks (Chinese, Greek...) drawn whole with a font of the computer's."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from desktop.overlay import HudInfo, hud_lines
from detector import Detections, label_fonts
from detector.annotate import class_color, draw_detections, text_panel_rect
from detector.frame_text import class_label, find_label_fonts, tag_text

CHINESE = ("标志", "路牌")  # "sign", "street sign"
GREEK = "λέων"  # "lion"
NO_FONT_REASON = "no font on this computer draws {}: on Debian, apt install fonts-wqy-microhei (CI installs it)"


def forget_fonts() -> None:
    label_fonts._font_for.cache_clear()
    label_fonts._load.cache_clear()
    label_fonts.draws.cache_clear()
    label_fonts._FOUND.clear()
    label_fonts._fontconfig_failed = False


@pytest.fixture(autouse=True)
def no_remembered_fonts():
    """Each test looks for fonts afresh, as a new process would."""
    forget_fonts()
    yield
    forget_fonts()


def needs_font(text: str) -> str:
    face = label_fonts.font_for(text) if label_fonts.can_load_fonts() else None
    if face is None:
        pytest.skip(NO_FONT_REASON.format(text) if label_fonts.can_load_fonts() else
                    "this OpenCV (before 5) cannot draw with a font file")
    return face.getName()


def one_box(name: str, score: float = 0.5) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A grey frame with one box of class ``name`` drawn; and where its tag is (above the box)."""
    frame = np.full((240, 320, 3), 90, np.uint8)
    detections = Detections(boxes=np.array([[40, 80, 200, 220]], np.float32), scores=np.array([score], np.float32),
                            class_ids=np.array([0]), class_names=(name,))
    return draw_detections(frame, detections), (36, 40, 320, 77)  # clear of the box's smoothed top edge


def tag_ink(image: np.ndarray, area: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = area
    return image[y0:y1, x0:x1]


def test_a_chinese_class_name_is_drawn_whole_on_its_box(monkeypatch):
    """Without such a font a Chinese name was drawn as its class number ("#0 0.50"); with one, as itself."""
    needs_font("".join(CHINESE))
    assert tag_text(CHINESE[0], 0, 0.5) == "标志 0.50"
    sign, area = one_box(CHINESE[0])
    street_sign, _ = one_box(CHINESE[1])
    assert not np.array_equal(tag_ink(sign, area), tag_ink(street_sign, area))  # two names, two drawings

    monkeypatch.setattr(label_fonts, "font_for", lambda characters: None)  # a computer with no such font
    assert tag_text(CHINESE[0], 0, 0.5) == "#0 0.50"
    numbered, _ = one_box(CHINESE[0])
    assert not np.array_equal(tag_ink(sign, area), tag_ink(numbered, area))


def test_a_greek_class_name_is_drawn_whole_and_its_tag_fits_it():
    """The tag is measured in the font that draws it: no letter spills out of it onto the picture."""
    needs_font(GREEK)
    assert class_label(GREEK, 3) == GREEK
    image, (x0, y0, x1, y1) = one_box(GREEK, 0.87)
    area = image[y0:y1, x0:x1]
    drawn = np.argwhere(np.any(area != 90, axis=2))  # tag and letters: all that is not the grey picture
    filled = np.argwhere(np.all(area == class_color(0), axis=2))
    assert len(filled) > 200 and (drawn.min(0) >= filled.min(0)).all() and (drawn.max(0) <= filled.max(0)).all()


def test_the_info_panel_names_a_chinese_class_filter_in_full():
    """The class filter's line said "only #2, #3" where the tags showed numbers; with a font, the names."""
    needs_font("".join(CHINESE))
    filtered = HudInfo(classes=tuple(class_label(name, i) for i, name in enumerate(CHINESE)))  # as the controller does
    line = hud_lines(2, filtered)[0]
    assert line == "2 objects · only 标志, 路牌"
    named = text_panel_rect((480, 640), [line])
    unnamed = text_panel_rect((480, 640), ["2 objects · only"])
    assert named[2] - named[0] > unnamed[2] - unnamed[0] + 20  # the panel is sized for the names it draws


def test_a_font_file_the_user_chose_is_tried_before_the_computer_s_own(monkeypatch, tmp_path):
    greek_font = needs_font(GREEK)  # the computer's first choice for Greek
    chosen = needs_font("".join(CHINESE))
    forget_fonts()
    if chosen == greek_font or not label_fonts.draws(label_fonts._load(chosen), GREEK[0]):
        pytest.skip("no second font here that draws Greek: a chosen one cannot be told from the one found")
    monkeypatch.setenv(label_fonts.FONT_ENV, chosen)
    assert label_fonts.font_for(GREEK).getName() == chosen

    forget_fonts()
    not_a_font = tmp_path / "font.ttf"
    not_a_font.write_text("not a font")
    monkeypatch.setenv(label_fonts.FONT_ENV, str(not_a_font))  # passed over: the computer's own is used
    assert label_fonts.font_for(GREEK).getName() == greek_font


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the font folders searched are Linux's")
def test_without_fontconfig_the_usual_font_folders_are_searched(monkeypatch, tmp_path):
    found = Path(needs_font("".join(CHINESE)))
    usual_name = next(n for n in label_fonts._LINUX_FONT_NAMES if Path(n).suffix == found.suffix)
    shutil.copyfile(found, tmp_path / usual_name)
    monkeypatch.setattr(label_fonts.shutil, "which", lambda name: None)  # no fc-match (a minimal system)
    monkeypatch.setattr(label_fonts, "_LINUX_FONT_DIRS", (str(tmp_path),))
    forget_fonts()
    assert label_fonts.font_for(CHINESE[1]).getName() == str(tmp_path / usual_name)


def test_fonts_looked_up_when_a_model_loads_are_not_looked_up_again_on_its_frames(monkeypatch):
    """The app finds them on the model loader's thread: asking fontconfig on the GUI thread held a frame up."""
    needs_font("".join(CHINESE))
    forget_fonts()
    find_label_fonts(CHINESE + ("person",))
    asked = []
    monkeypatch.setattr(label_fonts, "_fontconfig_matches", lambda characters: asked.append(characters) or [])
    for name in CHINESE:
        one_box(name, 0.77)
    assert tag_text(CHINESE[1], 1, 0.3) == "路牌 0.30" and asked == []


def test_a_name_with_a_character_no_font_has_keeps_the_letters_a_font_has():
    """"🚗 汽车" on a computer with a Chinese font but no emoji one was drawn "#3": now "汽车 #3"."""
    needs_font("汽车")
    unheard_of = "\U000f0001"  # a private-use character: no font has it
    assert class_label(f"{unheard_of} 汽车", 3) == "汽车 #3"
    assert tag_text(f"{unheard_of} 汽车", 3, 0.5) == "汽车 #3 0.50"
    assert class_label(f"{unheard_of} car", 4) == "car #4"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_LIBRARY_PATH is how a Linux bundle finds its libraries")
def test_the_app_bundle_asks_the_system_s_fontconfig_with_the_user_s_library_path(monkeypatch, tmp_path):
    """A PyInstaller bundle puts its own libraries first in LD_LIBRARY_PATH; a system program started with that
    can load them instead of its own and fail. fc-match gets the user's own setting back."""
    font = needs_font("".join(CHINESE))
    fake = tmp_path / "bin" / "fc-match"  # answers only when started with the user's library path
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\n[ "$LD_LIBRARY_PATH" = /usr/lib/mine ] && echo "{font}"\nexit 0\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent), prepend=":")
    monkeypatch.setattr(label_fonts, "_LINUX_FONT_DIRS", ())  # fontconfig is the only way to the font
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/LiveDet/_internal:/usr/lib/mine")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/lib/mine")
    forget_fonts()
    assert label_fonts.font_for(CHINESE[0]).getName() == font


def fake_fc_match(folder: Path, script: str, monkeypatch) -> None:
    fake = folder / "bin" / "fc-match"
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"#!/bin/sh\n" + script.encode("utf-8", "surrogateescape") + b"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent), prepend=":")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a stand-in fc-match is a shell script")
def test_a_font_whose_file_name_is_not_utf8_is_passed_over(monkeypatch, tmp_path):
    """fc-match lists every font installed: one named in Latin-1 (Schrift\xe4.ttf) made every lookup raise,
    so a model with Chinese class names failed to load and a Chinese model name failed every frame."""
    font = needs_font("".join(CHINESE))
    odd = "/usr/share/fonts/Schrift\udce4.ttf"  # the byte 0xe4, as Python keeps a name that is not UTF-8
    fake_fc_match(tmp_path, f"printf '%s\\n' '{odd}' '{font}'", monkeypatch)
    monkeypatch.setattr(label_fonts, "_LINUX_FONT_DIRS", ())
    forget_fonts()
    assert label_fonts.font_for(CHINESE[0]).getName() == font
    assert class_label(CHINESE[1], 1) == CHINESE[1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a stand-in fc-match is a shell script")
def test_a_fontconfig_that_hangs_is_waited_for_once(monkeypatch, tmp_path):
    """A fontconfig whose cache is never built times out at every call: 6 Hindi names took 115 s to look up,
    and a model with 80 names would have taken 11 minutes to load. It is asked once; the font folders still
    serve."""
    import time

    font = needs_font("".join(CHINESE))
    fake_fc_match(tmp_path, "exec sleep 60", monkeypatch)
    monkeypatch.setattr(label_fonts, "FC_MATCH_TIMEOUT_S", 0.5)
    forget_fonts()
    started = time.monotonic()
    find_label_fonts(["मोटर", "गाड़ी", "🚗 car", "🐕 dog", "λέων", CHINESE[0]])
    assert time.monotonic() - started < 1.5  # one wait, not one per name (nor per letter)
    if Path(font).name in label_fonts._LINUX_FONT_NAMES:
        assert class_label(CHINESE[0], 0) == CHINESE[0]  # found in the font folders instead


def test_no_letter_of_a_label_is_drawn_blank():
    """WenQuanYi has an empty glyph for ℃ and Å: "温度℃" was drawn "温度" and a blank, as if whole."""
    from detector.frame_text import _label_font

    needs_font("温度")
    for name in ("温度℃", "\u212b 标志", "25℃"):  # ℃, and the Ångström sign (not the letter Å)
        shown = class_label(name, 0)
        face = _label_font(shown)
        assert face is None or all(label_fonts._ink(face, ch).any() for ch in shown if not ch.isspace()), shown


def test_every_class_tags_text_reads_on_its_colour():
    """A brightness cut-off put white text on VOC's green "bicycle" and teal "cat" tags at 2.4-3:1 contrast; the
    tag's text now takes black or white by WCAG's contrast ratio, at least 4.5:1 (AA) on each of 80 colours."""
    def luminance(bgr) -> float:  # WCAG 2's relative luminance
        linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in bgr]
        return 0.0722 * linear[0] + 0.7152 * linear[1] + 0.2126 * linear[2]

    def contrast(a, b) -> float:
        high, low = sorted((luminance(a), luminance(b)), reverse=True)
        return (high + 0.05) / (low + 0.05)

    worst = []
    for class_id in range(80):
        frame = np.full((240, 320, 3), 90, np.uint8)
        detections = Detections(boxes=np.array([[40, 80, 200, 220]], np.float32), scores=np.array([0.5], np.float32),
                                class_ids=np.array([class_id]), class_names=tuple(f"c{i}" for i in range(80)))
        crop = draw_detections(frame, detections)[40:77, 36:200].reshape(-1, 3).astype(int)
        background = class_color(class_id)
        tag = crop[np.abs(crop - 90).sum(axis=1) > 0]  # the tag: its colour and its text, not the grey frame
        text = tuple(tag[np.abs(tag - background).sum(axis=1).argmax()])  # the text's full ink, not its soft edge
        worst.append((contrast(text, background), class_id))
    assert min(worst)[0] >= 4.5, sorted(worst)[:3]


def test_a_model_with_hundreds_of_classes_gives_each_its_own_colour_and_coco_s_80_keep_theirs():
    """Past 80 classes the shades came round again: class 160 had class 0's colour, and a 365-class model
    (Objects365) had 160 colours for its 365 classes."""
    colours = [class_color(class_id) for class_id in range(365)]
    assert len(set(colours)) == 365
    assert class_color(0) == (36, 36, 242) and class_color(14) == class_color(14)  # the first 80 as they were
    assert len(set(colours[:80])) == 80


def test_a_portrait_video_s_panel_and_boxes_are_drawn_as_large_as_a_landscape_one_s_of_its_height_allows():
    """A phone's 1080x1920 video is shown at its height in a landscape window: sized by its short side, its
    panel's text was 6.7 px tall on a laptop screen where the same video held sideways had 11.9 px."""
    lines = ["3 objects", "FPS capture 30.0 | inference 29.5 | display 30.0", "inference 12 ms",
             "yolo-mnv3-small on cpu (onnxruntime)"]
    upright = np.zeros((1920, 1080, 3), np.uint8)
    x0, y0, x1, y1 = text_panel_rect(upright.shape[:2], lines)
    sideways = text_panel_rect((1080, 1920), lines)
    assert x1 <= 1080  # as large as the picture's width lets it be: 73 % of the landscape's size on screen (was 56 %)
    assert (y1 - y0) / 1920 >= 0.7 * (sideways[3] - sideways[1]) / 1080
    detections = Detections(boxes=np.array([[100, 500, 600, 1500]], np.float32), scores=np.array([0.9], np.float32),
                            class_ids=np.array([14]), class_names=tuple(f"c{i}" for i in range(20)))
    drawn = draw_detections(upright, detections)
    line = np.all(drawn[1000, 90:110] == class_color(14), axis=1).sum()  # the box's left edge, crossed
    assert line >= 7, line  # a 1920-high picture's line (1080x1920 drew the 1080x1080 one's 5)


def test_a_very_tall_picture_s_box_lines_stay_in_proportion_to_its_width():
    """A phone's long screenshot (1080x8000) drew 37-px lines and tags twice as wide as the picture."""
    tall = np.zeros((8000, 1080, 3), np.uint8)
    detections = Detections(boxes=np.array([[100, 4000, 900, 6000]], np.float32), scores=np.array([0.9], np.float32),
                            class_ids=np.array([14]), class_names=tuple(f"c{i}" for i in range(20)))
    drawn = draw_detections(tall, detections)
    line = np.all(drawn[5000, 80:140] == class_color(14), axis=1).sum()
    assert 5 <= line <= 14, line  # 9 px (and its anti-aliased edge), not 37
