"""The status bar: the latest message or error, a busy indicator, the recording light, model and device.

An error stands until the user's next try of the same thing works, another error replaces it, or a
click dismisses it. News that comes meanwhile ("Model ready", "End of the video") shows for a while and
the error comes back, so an error is never lost under a message that arrived a second later.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QProgressBar, QStatusBar, QWidget

from .elided import ElidedLabel

INFO_TIMEOUT_MS = 8000  # information fades; a standing error comes back after it
ERROR_STYLE = "color: #d9534f; font-weight: bold;"
DISMISS_HINT = "Click to dismiss"

# what an error is about: the next success of the same kind resolves it
ABOUT_SOURCE = "source"  # opening a camera, file or stream, and keeping it
ABOUT_MODEL = "model"  # loading a model, or moving it to another device
ABOUT_OUTPUT = "output"  # recordings, snapshots and their folder
ABOUT_CLASSES = "classes"  # a class filter that names none of the model's classes (so it is off)
SIDE_LABEL_MAX_PX = 480  # busy, recording and model labels: long names are shortened, the message keeps the room
SIDE_LABEL_MIN_PX = 60  # "● REC 0:07" still reads


class StatusPanel(QStatusBar):
    message_changed = Signal(str, bool)  # the message in view ("" for none), and whether it is an error

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message_label = ElidedLabel()
        self.busy_label = ElidedLabel()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)  # indeterminate: it moves while something loads
        self.busy_bar.setMaximumWidth(90)
        self.busy_bar.setMaximumHeight(14)
        self.recording_label = ElidedLabel(mode=Qt.TextElideMode.ElideRight)  # "● REC 0:07 livedet-2026…": the clock stays
        self.model_label = ElidedLabel("no model", hint="Model and device running detection")
        # the class filter in force, also when the info panel (which says it too) is hidden
        self.classes_label = ElidedLabel(hint="Only these classes are shown (Model ▸ Show classes)",
                                         mode=Qt.TextElideMode.ElideRight)  # a list: cut at its end, not mid-name
        self.classes_label.setVisible(False)
        self.addWidget(self.message_label, 1)
        self._side_labels = (self.busy_label, self.recording_label, self.classes_label, self.model_label)
        for widget in self._side_labels:
            widget.setMaximumWidth(SIDE_LABEL_MAX_PX)
        for widget in (self.busy_label, self.busy_bar, self.recording_label, self.classes_label, self.model_label):
            self.addPermanentWidget(widget)
        self._busy: dict[str, str] = {}
        self._fade = QTimer(self)
        self._fade.setSingleShot(True)
        self._fade.timeout.connect(self._show_standing_error)
        self.message_label.installEventFilter(self)  # a click on a standing error dismisses it
        self.last_error = ""  # the latest error shown, dismissed or not
        self._standing: tuple[str, str] | None = None  # (what it is about, text) of the error in view
        self._refresh_busy()
        self._recording_name: str | None = None  # the file being written, once it is open
        self._video_time: Callable[[], float] | None = None  # the recording's length so far, in seconds
        self._recording_clock = QTimer(self)
        self._recording_clock.timeout.connect(self._show_recording)

    def show_info(self, text: str) -> None:
        """News, shown for INFO_TIMEOUT_MS; a standing error is back after it."""
        self.message_label.setStyleSheet("")
        self.message_label.set_hint("")
        self.message_label.setText(text)
        self._fit_side_labels()
        self._fade.start(INFO_TIMEOUT_MS)
        self.message_changed.emit(text, False)

    def withdraw_info(self, text: str) -> None:
        """Take news that no longer holds off the screen before its time ("End of the video" once it plays again)."""
        if self._fade.isActive() and self.message_label.text() == text:
            self._fade.stop()
            self._show_standing_error()

    def show_error(self, text: str, about: str = "") -> None:
        """An error that stands until ``resolved(about)``, a new error or a click.

        ``about`` names what failed ("source", "model", "output"): the next success of that kind
        resolves it, and only that kind, so a model loading at start-up does not hide a missing camera.
        """
        self.last_error = text
        self._standing = (about, text)
        self._fade.stop()
        self._show_standing_error()

    def resolved(self, about: str) -> None:
        """The user's next try of ``about`` worked: its error no longer stands."""
        if self._standing is not None and self._standing[0] == about:
            self.dismiss_error()

    def dismiss_error(self) -> None:
        self._standing = None
        if not self._fade.isActive():  # an error in view goes; news in view stays its time
            self._show_standing_error()

    @property
    def message(self) -> tuple[str, bool]:
        """The message in view ("" for none), and whether it is an error."""
        return self.message_label.text(), self._standing is not None and not self._fade.isActive()

    @property
    def standing_error(self) -> str | None:
        return self._standing[1] if self._standing is not None else None

    def _show_standing_error(self) -> None:
        if self._standing is None:
            self.message_label.setStyleSheet("")
            self.message_label.setText("")
            self.message_label.set_hint("")
            self._fit_side_labels()
            self.message_changed.emit("", False)
            return
        self.message_label.setStyleSheet(ERROR_STYLE)
        self.message_label.setText(f"⚠ {self._standing[1]}")
        self.message_label.set_hint(DISMISS_HINT)
        self._fit_side_labels()
        self.message_changed.emit(self.message_label.text(), True)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._fit_side_labels()
        super().resizeEvent(event)

    def _fit_side_labels(self) -> None:
        """The side labels shorten so that a message keeps half the bar: the model's label alone kept 300 px
        of 478 (an error read '⚠ file not…esting.mp4'), and at 800 px the REC light, a class filter and the
        model left an error 123 px ('⚠ broken… failed.'). A short message leaves them the rest: beside
        "vtest.avi: 768×576 at 10.0 FPS" the model's label read 'yolo-mnv3-small · 32… · cpu' with 300 px
        of the bar empty. So the message takes what it needs, up to half; the labels share the rest, the
        shortest whole first, each up to a third of the bar while the message is cut."""
        width, text = self.width(), self.message_label.text()
        shown = [w for w in self._side_labels if w.isVisibleTo(self) and w.text()]
        needed = self.message_label.fontMetrics().horizontalAdvance(text) * 11 // 10 + 8 if text else 0  # bold
        # what else takes room: the busy bar while it shows, the gaps between widgets, the size grip
        others = (self.busy_bar.maximumWidth() if self.busy_bar.isVisibleTo(self) else 0) + 12 * (len(shown) + 2)
        room = width - min(needed, width // 2) - others
        cap = min(width // 3 if needed > width // 2 else SIDE_LABEL_MAX_PX, SIDE_LABEL_MAX_PX)
        # none under its floor ("● REC 0:07 …" keeps its clock); above it, the shortest are whole first
        floors = {w: self._floor(w) for w in shown}
        extra = room - sum(floors.values())
        limits = {}
        by_want = sorted(shown, key=lambda w: w.sizeHint().width() - floors[w])
        for count, widget in enumerate(by_want):
            wanted = min(widget.sizeHint().width(), cap) - floors[widget]
            limits[widget] = floors[widget] + max(0, min(wanted, extra // (len(by_want) - count)))
            extra -= limits[widget] - floors[widget]
        for widget in self._side_labels:
            widget.setMaximumWidth(limits.get(widget, SIDE_LABEL_MAX_PX))

    def _floor(self, label: ElidedLabel) -> int:
        """The least a side label is given: the REC light keeps its clock and the start of the file's name."""
        if label is self.recording_label:
            return label.fontMetrics().horizontalAdvance("● REC 00:00 liv…") + 8
        return SIDE_LABEL_MIN_PX

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (watched is self.message_label and event.type() == QEvent.Type.MouseButtonRelease
                and self._standing is not None and not self._fade.isActive()):
            self.dismiss_error()
            return True
        return super().eventFilter(watched, event)

    def set_busy(self, key: str, text: str) -> None:
        self._busy[key] = text
        self._refresh_busy()

    def clear_busy(self, key: str) -> None:
        self._busy.pop(key, None)
        self._refresh_busy()

    @property
    def busy(self) -> bool:
        return bool(self._busy)

    def _refresh_busy(self) -> None:
        self.busy_label.setText(" · ".join(self._busy.values()))
        self.busy_label.setVisible(self.busy)
        self.busy_bar.setVisible(self.busy)
        self._fit_side_labels()

    def set_recording(self, text: str | None) -> None:
        """A fixed recording light ("● REC" while the file opens), or None for none."""
        self._recording_clock.stop()
        self.recording_label.setText(text or "")
        self.recording_label.setStyleSheet(ERROR_STYLE if text else "")
        self._fit_side_labels()

    def start_recording_clock(self, name: str, video_time: Callable[[], float]) -> None:
        """"● REC 0:07 name": how long the recorded video is so far, as recorders show it (a paused video adds
        nothing to it). ``video_time`` gives that length: a file played at max speed records faster than the
        wall clock (a wall clock said 0:05 of a 36-second file), a file on a slow CPU slower.
        """
        self._recording_name, self._video_time = name, video_time
        self.set_recording("● REC")
        self._recording_clock.start(500)
        self._show_recording()

    @property
    def recording_clock_running(self) -> bool:
        """True once a recording's file is open and its clock shown (not while it waits for a first frame)."""
        return self._recording_clock.isActive()

    def _show_recording(self) -> None:
        if self._video_time is None:
            return
        seconds = int(self._video_time())
        hours, rest = divmod(seconds, 3600)
        clock = f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
        before = self.recording_label.text()
        self.recording_label.setText(f"● REC {clock} {self._recording_name}")
        if len(before) != len(self.recording_label.text()):  # the name came, or the clock grew a digit: the room
            self._fit_side_labels()  # was measured for "● REC", and the light read "● REC 0:03 live…" for good

    def set_class_filter(self, shown: list[str] | None, *, unmatched: list[str] | None = None) -> None:
        """"only car, person" while a filter hides the other classes (by name, as the overlay says them); None: every
        class. ``unmatched``: a filter naming none of the model's classes, which shows every class: said here, where
        news (the source's line, "Model … ready") never covers it, as it covered the message for 8 s."""
        if unmatched:
            self.classes_label.setStyleSheet(ERROR_STYLE)
            self.classes_label.setText(f"⚠ no {', '.join(sorted(unmatched))}: every class")
        else:
            self.classes_label.setStyleSheet("")
            self.classes_label.setText(f"only {', '.join(sorted(shown))}" if shown is not None else "")
        self.classes_label.setVisible(shown is not None or bool(unmatched))
        self._fit_side_labels()

    def set_model(self, name: str | None, device: str | None, input_size: int | None = None) -> None:
        """"yolo-mnv3-small · 320 px · cpu": the runtime ("(onnxruntime)", "(torch, CUDA graphs)") is in the
        tooltip; on the bar it took 190 px, and at 800 px beside a recording the device itself was cut off."""
        size = f" · {input_size} px" if input_size else ""
        tail = f"{size} · {str(device).split(' (')[0]}"
        self.model_label.set_hint(f"{name} runs on {device}" if name else "")
        self.model_label.setText(f"{name}{tail}" if name else "no model", keep_tail=tail)
