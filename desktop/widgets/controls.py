"""The controls under and above the video: thresholds, playback, and the model picker."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QAction, QKeyEvent, QPaintEvent, QPalette, QWheelEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProxyStyle,
    QSlider,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QToolButton,
    QWidget,
)

from detector import DEFAULT_CONF, DEFAULT_IOU, ModelSpec, checkpoint_name, list_models

from ..model_loader import names_a_file
from .elided import elide

SLIDER_STEPS = 100  # slider units per 1.0
PICKER_MAX_PX = 320  # the model picker grows with its longest name up to this, and cuts a longer one in the middle


def fit_every_text(button: QToolButton, action: QAction, texts: tuple[str, ...]) -> None:
    """Make ``button`` (showing ``action``) as wide as the widest of the texts the action takes in turn, so that
    the buttons beside it do not move when it changes ("Pause" / "Play", "Record" / "Stop recording")."""
    shown, widths = action.text(), []
    for text in texts:
        action.setText(text)
        widths.append(button.sizeHint().width())
    action.setText(shown)
    button.setMinimumWidth(max(widths))


class TabbedToCheckBox(QCheckBox):
    """A check box that Space ticks once the keyboard has reached it with Tab, as in any dialog.

    Why: Space is the window's Pause, which took the key from a focused box, so Loop and Max speed could not be
    ticked from the keyboard at all. A click gives it no focus, so Space after ticking it with the mouse still
    pauses, as it did.
    """

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)

    def event(self, event: QEvent) -> bool:
        if (event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent)
                and event.key() == Qt.Key.Key_Space and not event.modifiers()):
            event.accept()  # the key comes to the box as a key press, not to the window's Pause
            return True
        return super().event(event)


class _ResettableSlider(QSlider):
    """A slider that a double-click puts back to its default, as audio and video editors do."""

    def __init__(self, default: int) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.default = default

    def mouseDoubleClickEvent(self, event) -> None:
        self.setValue(self.default)
        event.accept()


class ThresholdPanel(QWidget):
    """Confidence and IoU sliders with their values beside them."""

    thresholds_changed = Signal(float, float)  # conf, iou

    def __init__(self, conf: float, iou: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.conf_slider = self._slider(1, SLIDER_STEPS, DEFAULT_CONF, "Confidence: boxes scoring below this are "
                                        "hidden. Applies to the frame on screen at once, without re-running the "
                                        "model.")
        self.iou_slider = self._slider(1, SLIDER_STEPS - 1, DEFAULT_IOU, "IoU: of two boxes of one class overlapping "
                                       "more than this, the lower-scoring one is hidden (non-maximum suppression). "
                                       "Lower hides more.")
        self.conf_value, self.iou_value = QLabel(), QLabel()
        for label in (self.conf_value, self.iou_value):
            label.setMinimumWidth(36)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        for row, (name, slider, value) in enumerate((("Confidence", self.conf_slider, self.conf_value),
                                                     ("IoU", self.iou_slider, self.iou_value))):
            grid.addWidget(QLabel(name), row, 0)
            slider.setAccessibleName(f"{name} threshold")  # read out by screen readers, with the slider's value
            grid.addWidget(slider, row, 1)
            grid.addWidget(value, row, 2)
        self.set_values(conf, iou)
        self.conf_slider.valueChanged.connect(self._on_changed)
        self.iou_slider.valueChanged.connect(self._on_changed)

    @staticmethod
    def _slider(low: int, high: int, default: float, tip: str) -> QSlider:
        slider = _ResettableSlider(round(default * SLIDER_STEPS))
        slider.setRange(low, high)
        slider.setPageStep(5)
        slider.setToolTip(f"{tip}\nDouble-click: back to {default:.2f}.")
        return slider

    @property
    def conf(self) -> float:
        return self.conf_slider.value() / SLIDER_STEPS

    @property
    def iou(self) -> float:
        return self.iou_slider.value() / SLIDER_STEPS

    def set_values(self, conf: float, iou: float) -> None:
        """Move the sliders without announcing it (used when restoring settings)."""
        for slider, value in ((self.conf_slider, conf), (self.iou_slider, iou)):
            slider.blockSignals(True)
            slider.setValue(round(value * SLIDER_STEPS))
            slider.blockSignals(False)
        self._update_readouts()

    def _update_readouts(self) -> None:
        self.conf_value.setText(f"{self.conf:.2f}")
        self.iou_value.setText(f"{self.iou:.2f}")

    def _on_changed(self) -> None:
        self._update_readouts()
        self.thresholds_changed.emit(self.conf, self.iou)


class ClickJumpsStyle(QProxyStyle):
    """A click on a slider's groove moves the handle there, as video players seek (Qt's own
    style moved a page, 10 frames, towards the click)."""

    def styleHint(self, hint, option=None, widget=None, returnData=None):
        if hint == QStyle.StyleHint.SH_Slider_AbsoluteSetButtons:
            return Qt.MouseButton.LeftButton.value
        return super().styleHint(hint, option, widget, returnData)


class PlaybackBar(QWidget):
    """Play/pause, frame steps, a seek slider with the position (files only), loop and max-speed switches."""

    seek_requested = Signal(int)
    loop_toggled = Signal(bool)
    realtime_toggled = Signal(bool)

    def __init__(self, pause_action: QAction, step_back_action: QAction, step_forward_action: QAction,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.play_button = QToolButton()
        self.play_button.setDefaultAction(pause_action)
        fit_every_text(self.play_button, pause_action, ("Play", "Pause"))  # the row does not shift on Space
        self._pause_action = pause_action
        self._still = False
        self._step_actions = (step_back_action, step_forward_action)
        self.step_buttons = []
        for action, arrow in zip(self._step_actions, (Qt.ArrowType.LeftArrow, Qt.ArrowType.RightArrow)):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setArrowType(arrow)  # the action's text stays in its tooltip and the View menu
            self.step_buttons.append(button)
        self.seek_slider = QSlider(Qt.Orientation.Horizontal)
        # no base style given: QProxyStyle would take ownership of the application's own and delete it
        # with itself (a crash when the app quits); the slider is its parent, which deletes it
        click_to_seek = ClickJumpsStyle()
        click_to_seek.setParent(self.seek_slider)
        self.seek_slider.setStyle(click_to_seek)
        self.seek_slider.setToolTip("Position in the file: click or drag to seek")
        self.seek_slider.setAccessibleName("Position")  # what a screen reader says, where sighted users see the label
        self.seek_slider.valueChanged.connect(self.seek_requested)
        self.position = QLabel("–")
        self.position.setMinimumWidth(110)
        self.loop_box = TabbedToCheckBox("Loop")
        self.loop_box.setToolTip("Start the file again when it ends")
        self.loop_box.toggled.connect(self.loop_toggled)
        self.fast_box = TabbedToCheckBox("Max speed")
        self.fast_box.setToolTip("Play files as fast as detection allows, every frame, instead of at their own FPS")
        self.fast_box.toggled.connect(lambda fast: self.realtime_toggled.emit(not fast))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.play_button, *self.step_buttons, self.seek_slider, self.position, self.loop_box,
                       self.fast_box):
            layout.addWidget(widget)
        layout.setStretch(3, 1)
        self.show_no_source()

    def set_options(self, loop: bool, realtime: bool) -> None:
        for box, value in ((self.loop_box, loop), (self.fast_box, not realtime)):
            box.blockSignals(True)
            box.setChecked(value)
            box.blockSignals(False)

    def set_frame_count(self, frame_count: int | None, *, live: bool | None = None, still: bool = False) -> None:
        """A file's length enables seeking; a live source (by default, one with no length) has neither that nor
        Loop and Max speed.

        ``live=False`` with no length is a file that does not say it (a raw ``.h264``): it loops and plays at
        max speed like any file, but cannot seek. ``still``: a photo, which has nothing to play, step or seek.
        """
        self._frame_count = frame_count
        self._live = frame_count is None if live is None else live
        self._still = still
        seekable = bool(frame_count) and not still
        self.seek_slider.blockSignals(True)
        self.seek_slider.setRange(0, max(0, (frame_count or 1) - 1))
        self.seek_slider.setValue(0)
        self.seek_slider.blockSignals(False)
        for widget in (self.seek_slider, *self._step_actions):
            widget.setEnabled(seekable)
        for box in (self.loop_box, self.fast_box):
            box.setEnabled(not self._live and not still)
        self._pause_action.setEnabled(not still)
        self.position.setText("photo" if still else "live" if self._live else "–" if frame_count is None
                              else f"0 / {frame_count}")

    @property
    def still(self) -> bool:
        """A photo is shown: nothing plays."""
        return self._still

    def set_true_length(self, frames: int) -> None:
        """A damaged file holds fewer frames than its header said: the bar ends where its frames do (a seek
        past them did nothing and said nothing)."""
        if not self._frame_count or not 0 < frames < self._frame_count:
            return
        self._frame_count = frames
        self.seek_slider.blockSignals(True)
        self.seek_slider.setRange(0, frames - 1)
        self.seek_slider.blockSignals(False)
        self.position.setText(f"{self.seek_slider.value() + 1} / {frames}")

    def show_no_source(self) -> None:
        """Nothing plays (at start, or after a source failed): no position, nothing to seek or pause (Pause
        looked ready and did nothing, while Record and Snapshot said what was missing)."""
        self.set_frame_count(None)
        self._pause_action.setEnabled(False)
        self.position.setText("–")

    def show_position(self, index: int) -> None:
        if self._still:
            return  # "photo" stands
        if self._frame_count is None:
            self.position.setText(f"live · frame {index + 1}" if self._live else f"frame {index + 1}")
            return
        if not self.seek_slider.isSliderDown():  # never fight the user's drag
            self.seek_slider.blockSignals(True)
            self.seek_slider.setValue(index)
            self.seek_slider.blockSignals(False)
        self.position.setText(f"{index + 1} / {self._frame_count}")


class ModelPicker(QComboBox):
    """Every manifest in the models folder, weights files opened this session, and "Open weights…"."""

    model_chosen = Signal(str)  # a manifest name or a file path
    open_weights_requested = Signal()

    OPEN_WEIGHTS = "\x00open-weights"
    NO_MODELS = "\x00no-models"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumContentsLength(18)
        # as wide as its longest name, up to a limit; beyond it the name is cut in the middle (see paintEvent)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.setMaximumWidth(PICKER_MAX_PX)
        self.setPlaceholderText("No model")  # none running (all failed to load): the box was blank
        self.setToolTip("Detection model: switching loads it in the background while the video keeps playing")
        self._opened_files: list[str] = []
        self._current: str | None = None
        self._in_popup = False  # the list is open: what is activated now was picked in it
        self.specs: list[ModelSpec] = []
        self.activated.connect(self._on_activated)
        self.refresh()

    @property
    def has_models(self) -> bool:
        return bool(self.specs or self._opened_files)

    def refresh(self) -> None:
        """Re-read the models folder (new manifests appear without a restart)."""
        self.specs = list_models()
        self.blockSignals(True)
        self.clear()
        for spec in self.specs:
            label = spec.name if spec.weights_available else f"{spec.name} (weights missing)"
            self.addItem(label, spec.name)
            self.setItemData(self.count() - 1, spec.description or spec.name, Qt.ItemDataRole.ToolTipRole)
        for path in self._opened_files:
            self.addItem(checkpoint_name(Path(path)) + Path(path).suffix, path)  # runs/cats/best… is cats-best…
            self.setItemData(self.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        if not self.has_models:
            self.addItem("No models installed", self.NO_MODELS)
            self.model().item(self.count() - 1).setEnabled(False)
        self.insertSeparator(self.count())
        self.addItem("Open weights…", self.OPEN_WEIGHTS)
        self.setItemData(self.count() - 1, "Load a .safetensors/.pt checkpoint, an .onnx export or a manifest",
                         Qt.ItemDataRole.ToolTipRole)
        self._offer_open_weights(self.view().isVisible())
        self.blockSignals(False)
        self._select(self._current)

    def set_current(self, name_or_path: str | None) -> None:
        """Show ``name_or_path`` as chosen, adding an opened file to the list; without announcing it."""
        if name_or_path and names_a_file(name_or_path) and name_or_path not in self._opened_files:
            self._opened_files.append(name_or_path)
            self._current = name_or_path
            self.refresh()
        self._current = name_or_path
        self._select(name_or_path)

    @property
    def choice(self) -> str | None:
        """The model last chosen (it may still be loading, or have failed)."""
        return self._current

    def forget_file(self, path: str) -> None:
        """A weights file that failed to load leaves the list (it stood there as if it could be chosen)."""
        if path in self._opened_files:
            self._opened_files.remove(path)
            self.refresh()

    def _select(self, name_or_path: str | None) -> None:
        index = self.findData(name_or_path) if name_or_path else -1
        if index < 0:
            index = self.findData(self.NO_MODELS)
        self.blockSignals(True)
        self.setCurrentIndex(index)
        self.blockSignals(False)

    def paintEvent(self, event: QPaintEvent) -> None:
        """As QComboBox draws itself, but a name too long for the box is cut in the middle, so a run's
        "-best"/"-last" stays in view (Qt cuts the end off without a "…": two runs read the same)."""
        painter = QStylePainter(self)
        option = self._label_option()
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)

    def shown_text(self) -> str:
        """The name as the closed box shows it, cut in the middle to fit."""
        return self._label_option().currentText

    def _label_option(self) -> QStyleOptionComboBox:
        """The box's style option with the text it shows: the name (or "No model", greyed) cut to fit."""
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        if self.currentIndex() < 0 and self.placeholderText():
            option.palette.setBrush(QPalette.ColorRole.ButtonText, option.palette.placeholderText())
            option.currentText = self.placeholderText()
        field = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                            QStyle.SubControl.SC_ComboBoxEditField, self)
        text = option.currentText
        if self.fontMetrics().horizontalAdvance(text) > field.width() and names_a_file(text):
            text = str(Path(text).with_suffix(""))  # cut, a run's "-best" and "-last" both read "….safetensors"
        option.currentText = elide(text, self.fontMetrics(), field.width())
        return option

    def showPopup(self) -> None:
        self.refresh()
        self._in_popup = True  # a choice made in the list is deliberate; one reached by keys on the closed box may not be
        self._offer_open_weights(True)
        super().showPopup()

    def hidePopup(self) -> None:
        super().hidePopup()
        self._offer_open_weights(False)

    def _offer_open_weights(self, offered: bool) -> None:
        """"Open weights…" can be chosen in the open list only: keys on the closed picker (Down, End, a typed
        "o") skip greyed-out items, and reaching it there opened a modal file dialog."""
        item = self.model().item(self.findData(self.OPEN_WEIGHTS))
        if item is not None:
            item.setEnabled(offered)

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Scrolling over the toolbar switched models, one load each, and ended on "Open weights…", which
        opened a file dialog: the wheel goes to the window instead; a click or the keys choose."""
        event.ignore()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self._in_popup = False  # keys on the closed picker (End, or typing "o") move onto "Open weights…" too
        super().keyPressEvent(event)

    def _on_activated(self, index: int) -> None:
        data = self.itemData(index)
        chosen_in_list, self._in_popup = self._in_popup, False
        if data == self.OPEN_WEIGHTS:
            self._select(self._current)
            if chosen_in_list:  # passing over it with End, Down or a typed "o" opened a modal file dialog
                self.open_weights_requested.emit()
        elif data and data != self.NO_MODELS and data != self._current:
            self._current = data
            self.model_chosen.emit(data)

    def choose(self, name_or_path: str) -> None:
        """Pick a model as a user would (used by drag-and-drop and tests)."""
        self.set_current(name_or_path)
        self.model_chosen.emit(name_or_path)
