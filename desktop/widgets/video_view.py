"""Where the video goes: the annotated frame scaled to fit, or a "choose a source" page."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ..cameras import CameraInfo
from ..imaging import bgr_to_pixmap
from .elided import elide, elide_long_words

CHOOSE_TITLE = "Choose a source"
RECENT_ON_PAGE = 4  # the page stays short enough for a 720-pixel-high window; the menu lists them all
WORD_MAX_PX = 360  # the widest one word may be on this page: long names are shortened, the window keeps its size


class VideoCanvas(QWidget):
    """Paints the latest frame, letterboxed to keep its aspect ratio."""

    # The part of the picture the recording badge covers, as fractions of it (left, top, right, bottom), or
    # None: the overlay keeps the tags off it
    covered_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._covered: tuple[float, float, float, float] | None = None
        self.recording_badge = ""  # "● REC" in a corner: fullscreen hides the status bar that says it
        self.notice = ""  # the status bar's message, along the bottom: fullscreen hides the bar
        self._notice_is_error = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def show_frame(self, frame: np.ndarray) -> None:
        size_before = self._pixmap.size() if self._pixmap is not None else None
        self._pixmap = bgr_to_pixmap(frame)  # GUI thread only, like every QPixmap
        if self._pixmap.size() != size_before:
            self._say_what_is_covered()
        self.update()

    def clear(self) -> None:
        self._pixmap = None
        self._say_what_is_covered()
        self.update()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._say_what_is_covered()

    @property
    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def set_recording_badge(self, text: str) -> None:
        """The badge's text ("● REC", or that it starts on Play), or "" for none."""
        if text != self.recording_badge:
            self.recording_badge = text
            self._say_what_is_covered()
            self.update()

    def _picture_rect(self) -> QRect | None:
        if self._pixmap is None or self._pixmap.isNull():
            return None
        size = self._pixmap.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        return QRect((self.width() - size.width()) // 2, (self.height() - size.height()) // 2,
                     size.width(), size.height())

    def _badge_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        return font

    def _badge_rect(self) -> QRect | None:
        if not self.recording_badge:
            return None
        box = QFontMetrics(self._badge_font()).boundingRect(self.recording_badge).adjusted(-8, -4, 8, 4)
        box.moveTopRight(self.rect().topRight() + QPoint(-12, 12))
        return box

    def _say_what_is_covered(self) -> None:
        """Emit ``covered_changed`` when the badge's share of the picture changes (on, off, resized)."""
        picture, badge = self._picture_rect(), self._badge_rect()
        covered = None
        if picture is not None and badge is not None and picture.intersects(badge):
            part = picture.intersected(badge.adjusted(-4, -4, 4, 4))  # a margin: tags do not touch it
            covered = tuple(round(v, 4) for v in ((part.left() - picture.left()) / picture.width(),
                                                  (part.top() - picture.top()) / picture.height(),
                                                  (part.right() + 1 - picture.left()) / picture.width(),
                                                  (part.bottom() + 1 - picture.top()) / picture.height()))
        if covered != self._covered:
            self._covered = covered
            self.covered_changed.emit(covered)

    def set_notice(self, text: str, error: bool = False) -> None:
        if (text, error) != (self.notice, self._notice_is_error):
            self.notice, self._notice_is_error = text, error
            self.update()

    def sizeHint(self) -> QSize:
        return QSize(960, 720)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(16, 16, 16))
        target = self._picture_rect()
        if target is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawPixmap(target, self._pixmap)
        badge = self._badge_rect()
        if badge is not None:  # on the screen only: recordings are made of the frames, not of this widget
            painter.setFont(self._badge_font())
            painter.fillRect(badge, QColor(0, 0, 0, 150))
            painter.setPen(QColor(235, 40, 40))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, self.recording_badge)
        if self.notice:  # on the screen only, as the badge
            self._paint_notice(painter)
        painter.end()

    def _paint_notice(self, painter: QPainter) -> None:
        font = painter.font()
        font.setPointSizeF(QFont().pointSizeF() * 1.3)
        font.setBold(self._notice_is_error)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        text = metrics.elidedText(self.notice, Qt.TextElideMode.ElideMiddle, max(40, self.width() - 64))
        box = metrics.boundingRect(text).adjusted(-12, -6, 12, 6)
        box.moveCenter(QPoint(self.width() // 2, self.height() - 24 - box.height() // 2))
        painter.fillRect(box, QColor(0, 0, 0, 170))
        painter.setPen(QColor(255, 110, 100) if self._notice_is_error else QColor(240, 240, 240))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


class WelcomePage(QWidget):
    """Shown until a source delivers its first frame, and after a source fails (with the reason)."""

    open_file_requested = Signal()
    open_url_requested = Signal()
    camera_chosen = Signal(int)
    recent_chosen = Signal(str)  # a file path or stream address, as Source ▸ Open recent lists it
    retry_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # the page takes the keyboard focus before its buttons: Space (Play) reached "Open video or photo…"
        # whenever nothing played, and opened a file dialog; Tab still goes on to the buttons
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QVBoxLayout(self)
        layout.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel()
        self.set_title(CHOOSE_TITLE)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setMinimumWidth(WORD_MAX_PX + 100)  # a message reads in two lines, not five narrow ones
        open_file = QPushButton("Open video or photo…")
        open_file.setToolTip("Play a video file or detect objects in a photo (you can also drop one onto the window)")
        open_file.clicked.connect(self.open_file_requested)
        open_url = QPushButton("Open stream URL…")
        open_url.setToolTip("Watch an RTSP or HTTP stream, e.g. rtsp://camera.local/stream (or drop a link "
                           "onto the window)")
        open_url.clicked.connect(self.open_url_requested)
        self.retry_button = QPushButton()
        self.retry_button.clicked.connect(self.retry_requested)
        self.retry_button.hide()
        self._camera_box = QVBoxLayout()
        drop_hint = QLabel("Or drop a video, a photo or a stream link onto this window.")
        drop_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        drop_hint.setEnabled(False)  # greyed: a hint, not a control
        for widget in (self.title, self.message, self.retry_button, open_file, open_url):
            layout.addWidget(widget)
        layout.addLayout(self._camera_box)
        self._recent_title = QLabel("<b>Recent</b>")
        self._recent_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._recent_box = QVBoxLayout()
        layout.addSpacing(8)
        layout.addWidget(self._recent_title)
        layout.addLayout(self._recent_box)
        layout.addSpacing(12)
        layout.addWidget(drop_hint)
        self.set_cameras([])
        self.set_recent([])

    def set_title(self, text: str) -> None:
        self.title.setText(f"<h2>{html.escape(text)}</h2>")

    def set_message(self, text: str, *, error: bool = False) -> None:
        self.message.setStyleSheet("color: #d9534f; font-weight: bold;" if error else "")
        self.message.ensurePolished()  # measure in the font the style sheet just chose (bold for errors)
        shown = elide_long_words(text, self.message.fontMetrics(), WORD_MAX_PX)
        self.message.setText(shown)
        self.message.setToolTip(text if shown != text else "")
        # a wrapped label asks the layout for one line: a three-line error squashed the buttons below it to
        # 15 px, their names cut; asked for all its lines, the page scrolls instead where the window is too low
        self.message.setMinimumHeight(self.message.heightForWidth(self.message.minimumWidth()) if shown else 0)

    def offer_retry(self, label: str | None) -> None:
        """Show "Reconnect to <label>" after a live source was lost; None hides it."""
        if label:
            self.retry_button.setText(f"Reconnect to {elide(label, self.retry_button.fontMetrics(), WORD_MAX_PX)}")
            self.retry_button.setToolTip(f"Open {label} again")
        self.retry_button.setVisible(bool(label))

    def set_recent(self, entries: list[tuple[str, str, str]]) -> None:
        """One button per (shown name, tooltip, value) that Source ▸ Open recent lists, up to
        ``RECENT_ON_PAGE``: what was opened last is one click away, as on a player's start page."""
        _empty(self._recent_box)
        for name, tooltip, value in entries[:RECENT_ON_PAGE]:
            button = QPushButton(elide(name, self.fontMetrics(), WORD_MAX_PX))
            button.setToolTip(f"Open {tooltip}")
            button.clicked.connect(lambda _=False, v=value: self.recent_chosen.emit(v))
            self._recent_box.addWidget(button)
        self._recent_title.setVisible(bool(entries))

    def set_cameras(self, cameras: list[CameraInfo]) -> None:
        _empty(self._camera_box)
        if not cameras:
            hint = QLabel("No camera found. Plug one in and it appears here.")
            hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self._camera_box.addWidget(hint)
        for camera in cameras:
            button = QPushButton(f"Camera: {elide(camera.name, self.fontMetrics(), WORD_MAX_PX)}")
            button.setToolTip(f"Open {camera.name} ({camera.device_id or f'index {camera.index}'})")
            button.clicked.connect(lambda _=False, i=camera.index: self.camera_chosen.emit(i))
            self._camera_box.addWidget(button)


def _empty(layout: QVBoxLayout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        if item.widget() is not None:
            item.widget().hide()  # gone at once, not when the event loop next deletes it
            item.widget().deleteLater()


class VideoView(QStackedWidget):
    """The central area: the welcome page or the video canvas."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.welcome = WelcomePage()
        self.canvas = VideoCanvas()
        # in a scroll area: with a camera error, three cameras and four recent files the page was taller than a
        # 600-px laptop screen (or one at 200 % scale), and the window with it
        self._welcome_area = QScrollArea()
        self._welcome_area.setWidget(self.welcome)
        self._welcome_area.setWidgetResizable(True)
        self._welcome_area.setFrameShape(QFrame.Shape.NoFrame)
        self._welcome_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the page itself takes the keyboard (Space)
        self.addWidget(self._welcome_area)
        self.addWidget(self.canvas)

    def show_welcome(self, message: str = "", *, error: bool = False, retry_label: str | None = None,
                     opening: bool = False) -> None:
        """``opening``: a source is on its way, so the page is headed "Opening…", not "Choose a source" (which
        asked for what the user had just done); its buttons stay, to choose another meanwhile."""
        self.welcome.set_title("Opening…" if opening else CHOOSE_TITLE)
        self.welcome.set_message(message, error=error)
        self.welcome.offer_retry(retry_label)
        self.canvas.clear()
        self.setCurrentWidget(self._welcome_area)

    def show_frame(self, frame: np.ndarray) -> None:
        self.canvas.show_frame(frame)
        if self.currentWidget() is not self.canvas:
            self.setCurrentWidget(self.canvas)

    @property
    def showing_video(self) -> bool:
        return self.currentWidget() is self.canvas
