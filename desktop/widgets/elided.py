"""A one-line label that shortens its text to the width it is given, so a long name never widens the window."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QLabel, QWidget

MIN_WIDTH_PX = 40  # what the label asks of the layout at the least: the rest of its text is elided


def elide(text: str, metrics: QFontMetrics, max_px: int, mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle) -> str:
    """``text`` shortened to at most ``max_px`` wide; in the middle by default (a file name keeps its start and
    extension)."""
    return metrics.elidedText(text, mode, max_px)


def elide_long_words(text: str, metrics: QFontMetrics, max_px: int) -> str:
    """Each space-separated word wider than ``max_px`` shortened in the middle.

    Why: a word-wrapped QLabel can only break at spaces, so one long file name in a message sets its
    minimum width, and Qt grows the window to fit.
    """
    lines = []
    for line in text.split("\n"):
        lines.append(" ".join(elide(word, metrics, max_px) for word in line.split(" ")))
    return "\n".join(lines)


class ElidedLabel(QLabel):
    """Shows as much of its text as fits, with "…" in the middle (a file name keeps its start and extension).

    Why: a plain QLabel's minimum width is its whole text, and Qt grows a shown window to fit that, so
    one long file name in a message made the window wider than a laptop screen. ``text()`` and the
    tooltip keep the whole text.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None, *, hint: str = "",
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle) -> None:
        """``mode``: where the "…" goes; ElideRight for a text whose start matters most (a clock, then a name)."""
        super().__init__(parent)
        self._full = ""
        self._tail = ""  # the end that is never shortened (see setText)
        self._hint = hint  # the tooltip while nothing is elided
        self._mode = mode
        self.setText(text)

    def setText(self, text: str, *, keep_tail: str = "") -> None:
        """``keep_tail``: an end of ``text`` shown whole while the part before it is shortened ("· 320 px · cpu"
        after a model's name: cut in the middle of the whole, it read "yolo-mnv3-small · 32… · cpu")."""
        self._full = text
        self._tail = keep_tail if keep_tail and text.endswith(keep_tail) and keep_tail != text else ""
        self._fit()
        self.updateGeometry()  # the size it would like changed with the text

    def set_hint(self, hint: str) -> None:
        """The tooltip while nothing is elided."""
        self._hint = hint
        self._fit()

    def text(self) -> str:
        return self._full

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + 2 * self.margin() + 4, hint.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(min(MIN_WIDTH_PX, self.sizeHint().width()), super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        self.ensurePolished()  # measure in the font a style sheet just set (errors are bold)
        width = max(0, self.contentsRect().width() - 2 * self.margin())
        metrics = self.fontMetrics()
        if self._tail and metrics.horizontalAdvance(self._full) > width:
            head = self._full[: len(self._full) - len(self._tail)]
            room = width - metrics.horizontalAdvance(self._tail)
            shown = (elide(head, metrics, room, self._mode) + self._tail if room >= metrics.horizontalAdvance("x…x")
                     else elide(self._full, metrics, width, self._mode))  # too narrow for the tail: as before
        else:
            shown = elide(self._full, metrics, width, self._mode)
        super().setText(shown)
        self.setToolTip("\n".join(filter(None, (self._full, self._hint))) if shown != self._full else self._hint)
