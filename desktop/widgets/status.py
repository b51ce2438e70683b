"""The status bar: the latest message or error, a busy indicator, the recording light, model and device."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QProgressBar, QStatusBar, QWidget

from .elided import ElidedLabel

INFO_TIMEOUT_MS = 8000  # information fades; errors stay until something replaces them
SIDE_LABEL_MAX_PX = 300  # busy, recording and model labels: long names are shortened, the message keeps the room


class StatusPanel(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message_label = ElidedLabel()
        self.busy_label = ElidedLabel()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)  # indeterminate: it moves while something loads
        self.busy_bar.setMaximumWidth(90)
        self.busy_bar.setMaximumHeight(14)
        self.recording_label = ElidedLabel()
        self.model_label = ElidedLabel("no model", hint="Model and device running detection")
        self.addWidget(self.message_label, 1)
        for widget in (self.busy_label, self.recording_label, self.model_label):
            widget.setMaximumWidth(SIDE_LABEL_MAX_PX)
        for widget in (self.busy_label, self.busy_bar, self.recording_label, self.model_label):
            self.addPermanentWidget(widget)
        self._busy: dict[str, str] = {}
        self._fade = QTimer(self)
        self._fade.setSingleShot(True)
        self._fade.timeout.connect(lambda: self.message_label.clear())
        self.last_error = ""
        self._refresh_busy()
        self._recording_name: str | None = None  # the file being written, once it is open
        self._recorded_s = 0.0  # time recorded before the current stretch (pauses do not count)
        self._stretch_start: float | None = None  # when the current unpaused stretch began
        self._recording_clock = QTimer(self)
        self._recording_clock.timeout.connect(self._show_recording)

    def show_info(self, text: str) -> None:
        self.message_label.setStyleSheet("")
        self.message_label.setText(text)
        self._fade.start(INFO_TIMEOUT_MS)

    def show_error(self, text: str) -> None:
        self.last_error = text
        self._fade.stop()
        self.message_label.setStyleSheet("color: #d9534f; font-weight: bold;")
        self.message_label.setText(f"⚠ {text}")

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

    def set_recording(self, text: str | None) -> None:
        """A fixed recording light ("● REC" while the file opens), or None for none."""
        self._recording_clock.stop()
        self.recording_label.setText(text or "")
        self.recording_label.setStyleSheet("color: #d9534f; font-weight: bold;" if text else "")

    def start_recording_clock(self, name: str, paused: bool = False) -> None:
        """"● REC 0:07 name": how long this recording has run, as recorders show it; pauses do not count."""
        self._recording_name, self._recorded_s = name, 0.0
        self._stretch_start = None if paused else time.monotonic()
        self.set_recording("● REC")
        self._recording_clock.start(500)
        self._show_recording()

    def pause_recording_clock(self, paused: bool) -> None:
        if self._recording_name is None or not self._recording_clock.isActive():
            return
        if paused and self._stretch_start is not None:
            self._recorded_s += time.monotonic() - self._stretch_start
            self._stretch_start = None
        elif not paused and self._stretch_start is None:
            self._stretch_start = time.monotonic()
        self._show_recording()

    def _show_recording(self) -> None:
        running = time.monotonic() - self._stretch_start if self._stretch_start is not None else 0.0
        seconds = int(self._recorded_s + running)
        hours, rest = divmod(seconds, 3600)
        clock = f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
        self.recording_label.setText(f"● REC {clock} {self._recording_name}")

    def set_model(self, name: str | None, device: str | None, input_size: int | None = None) -> None:
        size = f" · {input_size} px" if input_size else ""
        self.model_label.setText(f"{name}{size} · {device}" if name else "no model")
