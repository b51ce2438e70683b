"""The status bar: the latest message or error, a busy indicator, the recording light, model and device."""

from __future__ import annotations

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
        self.recording_label.setText(text or "")
        self.recording_label.setStyleSheet("color: #d9534f; font-weight: bold;" if text else "")

    def set_model(self, name: str | None, device: str | None) -> None:
        self.model_label.setText(f"{name} · {device}" if name else "no model")
