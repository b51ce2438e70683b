"""A menu of ticks that stays open while they are ticked.

Model ▸ Show classes lists every class of the model (80 for a COCO model). A plain menu closes at
each click, so choosing six classes took six trips through Model ▸ Show classes; here a click,
Enter or Space on a checkable entry toggles it and the menu stays open (Esc goes back to the menu
above it, a click outside closes both). Entries that are not checkable ("All classes" is, and stays open too) behave as usual.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QMenu

TOGGLE_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)


class TickMenu(QMenu):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pressed: QAction | None = None  # a release toggles only the entry pressed here: a release alone
        # (the drag that opened the menu from its parent ended over it) ticked an entry

    def _toggles(self, action: QAction | None) -> bool:
        return action is not None and action.isCheckable() and action.isEnabled() and not action.menu()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._pressed = self.actionAt(event.position().toPoint())
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        action = self.actionAt(event.position().toPoint())
        pressed, self._pressed = self._pressed, None
        if self._toggles(action) and action is pressed and event.button() == Qt.MouseButton.LeftButton:
            action.trigger()  # toggles it and tells its listeners, as a click that closed the menu did
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        action = self.activeAction()
        if self._toggles(action) and event.key() in TOGGLE_KEYS:
            action.trigger()
            return
        super().keyPressEvent(event)
