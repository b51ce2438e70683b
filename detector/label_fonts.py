"""A font on this computer that can draw a class name OpenCV's own fonts cannot (Chinese, Greek, Korean...).

OpenCV's Hershey font draws ASCII (OpenCV 5: Latin and Cyrillic too), and OpenCV 5's built-in TrueType
face adds nothing beyond Latin. Since OpenCV 5, ``cv2.FontFace`` also loads a TrueType/OpenType file
(collections included), so a label in any script the computer has a font for can be drawn where it
would have been a row of "?". A font is looked for once per set of characters, in this order:

1. ``LIVEDET_LABEL_FONT``: a font file the user chose;
2. fontconfig (Linux, BSD; macOS where installed): the fonts ``fc-match`` ranks best for the characters;
3. fonts that Windows and macOS ship with wide coverage (Microsoft YaHei, Malgun Gothic, PingFang...),
   and on Linux without fontconfig, the usual Noto/Droid/WenQuanYi/DejaVu files.

Each candidate is checked by drawing every character: OpenCV draws the same "?" for each glyph
neither the file nor its built-in face has. Nothing here is downloaded: with no such font installed,
the caller falls back to what OpenCV can draw (``detector.frame_text.class_label``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

FONT_ENV = "LIVEDET_LABEL_FONT"  # a font file to try first (any .ttf/.otf/.ttc the user prefers)
FC_MATCH_TIMEOUT_S = 3.0
FC_MATCH_CANDIDATES = 8  # fontconfig's best few for the characters; the rest of its ranking covers less

FACE_LOCK = threading.Lock()  # hold it to draw with a face: each keeps its last size (OpenCV 5), shared by threads
_FOUND: list[cv2.FontFace] = []  # the fonts found so far, tried first
_fontconfig_failed = False  # fc-match hung or failed once: not asked again
_NO_SUCH_GLYPH = "\U000f0000"  # a private-use plane character no font has: how OpenCV draws a missing glyph

_WINDOWS_FONTS = ("msyh.ttc", "msyh.ttf", "msjh.ttc", "YuGothR.ttc", "meiryo.ttc", "malgun.ttf", "simsun.ttc",
                  "arialuni.ttf", "segoeui.ttf", "arial.ttf", "Nirmala.ttf", "tahoma.ttf", "seguisym.ttf")
_MACOS_FONTS = ("/System/Library/Fonts/PingFang.ttc", "/System/Library/Fonts/Hiragino Sans GB.ttc",
                "/System/Library/Fonts/ヒラギノ角ゴシック W3.ttc", "/System/Library/Fonts/AppleSDGothicNeo.ttc",
                "/System/Library/Fonts/Supplemental/Arial Unicode.ttf", "/Library/Fonts/Arial Unicode.ttf",
                "/System/Library/Fonts/Helvetica.ttc", "/System/Library/Fonts/Supplemental/Arial.ttf")
_LINUX_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
_LINUX_FONT_NAMES = ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "DroidSansFallbackFull.ttf",
                     "DroidSansFallback.ttf", "wqy-microhei.ttc", "wqy-zenhei.ttc", "NotoSans-Regular.ttf",
                     "DejaVuSans.ttf")


def can_load_fonts() -> bool:
    """Whether this OpenCV can draw with a font file (OpenCV 5 and later)."""
    return hasattr(cv2, "FontFace")


def font_for(characters: str) -> cv2.FontFace | None:
    """A loaded font that draws every one of ``characters``, or None where no font here can."""
    return _font_for("".join(sorted(set(characters) - {" "}))) if characters.strip() else None


@functools.lru_cache(maxsize=256)
def _font_for(characters: str) -> cv2.FontFace | None:
    if not can_load_fonts():
        return None
    for face in _FOUND:  # a font found for other names often has these too ("标志", then "路牌"): no search
        if all(draws(face, ch) for ch in characters):
            return face
    tried: set[Path] = set()
    for path in _candidates(characters):
        key = path.resolve() if path.exists() else path
        if key in tried:
            continue
        tried.add(key)
        face = _load(str(path))
        if face is not None and all(draws(face, ch) for ch in characters):
            _FOUND.append(face)
            return face
    return None


def _candidates(characters: str) -> Iterator[Path]:
    """Font files worth trying for ``characters``, the likeliest first."""
    chosen = os.environ.get(FONT_ENV, "").strip()
    if chosen:
        yield Path(chosen).expanduser()
    yield from _fontconfig_matches(characters)
    if sys.platform == "win32":
        folder = Path(os.environ.get("WINDIR", r"C:\Windows")) / "Fonts"
        yield from (folder / name for name in _WINDOWS_FONTS)
    elif sys.platform == "darwin":
        yield from (Path(name) for name in _MACOS_FONTS)
    else:
        yield from _linux_font_files()


def _fontconfig_matches(characters: str) -> list[Path]:
    """fontconfig's ranking of installed fonts for these characters (none where it is not installed). One
    that hangs or fails is not asked again: a fontconfig whose cache is never built times out at every call,
    and a model with 80 class names asked it 132 times."""
    global _fontconfig_failed
    fc_match = shutil.which("fc-match")
    if fc_match is None or _fontconfig_failed:
        return []
    charset = " ".join(f"{ord(ch):x}" for ch in characters)
    try:
        listed = subprocess.run([fc_match, "--sort", "--format=%{file}\\n", f":charset={charset}"], env=_system_env(),
                                capture_output=True, timeout=FC_MATCH_TIMEOUT_S, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        _fontconfig_failed = True
        return []
    files = [Path(os.fsdecode(line)) for line in listed.splitlines() if line.strip()]  # any bytes a name holds
    return [f for f in files if f.suffix.lower() in {".ttf", ".otf", ".ttc", ".otc"}][:FC_MATCH_CANDIDATES]


def _system_env() -> dict[str, str]:
    """The environment for a program of the system's: an app bundle (PyInstaller) puts its own libraries first in
    LD_LIBRARY_PATH, which fc-match must not load in place of the system's; the user's own setting is kept."""
    env = dict(os.environ)
    if getattr(sys, "frozen", False) and sys.platform.startswith("linux"):
        original = env.pop("LD_LIBRARY_PATH_ORIG", None)
        if original is None:
            env.pop("LD_LIBRARY_PATH", None)
        else:
            env["LD_LIBRARY_PATH"] = original
    return env


def _linux_font_files() -> Iterable[Path]:
    for folder in _LINUX_FONT_DIRS:
        root = Path(folder).expanduser()
        if not root.is_dir():
            continue
        for name in _LINUX_FONT_NAMES:
            yield from sorted(root.rglob(name))


@functools.lru_cache(maxsize=32)
def _load(path: str) -> cv2.FontFace | None:
    """The font in ``path``, or None: OpenCV gives an unnamed face (its built-in one) for a file it cannot read."""
    try:
        if not Path(path).is_file():
            return None
        face = cv2.FontFace(path)
    except (cv2.error, OSError, ValueError):  # ValueError: a name OpenCV cannot take (not UTF-8, say)
        return None
    return face if face.getName() else None


def _ink(face: cv2.FontFace, text: str) -> np.ndarray:
    image = np.zeros((48, 48), np.uint8)
    with FACE_LOCK:
        cv2.putText(image, text, (4, 36), 255, face, 28)
    return image


@functools.lru_cache(maxsize=4096)
def draws(face: cv2.FontFace, ch: str) -> bool:
    """Whether ``face`` (or OpenCV's built-in face behind it) has a glyph for ``ch``: not the "?" of a missing
    one, and not a blank one either where the character has ink (WenQuanYi's ℃ and Å are empty)."""
    ink = _ink(face, ch)
    if not ink.any():
        return ch.isspace() or unicodedata.category(ch) in ("Cf", "Mn")  # a space, a joiner, a mark: no ink alone
    return not np.array_equal(ink, _ink(face, _NO_SUCH_GLYPH))
