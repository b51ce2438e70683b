"""Fixtures for the desktop app's tests: offscreen Qt, settings in tmp_path, the real window on demand."""

from __future__ import annotations

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt creates the QApplication

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("pytestqt", reason="the desktop tests need pytest-qt (pip install -e '.[test]')")

LEFT_LOAD_WAIT_S = 120  # a model load takes 1-7 s; a busy 2-core CI machine may take several times that


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Every test starts with empty settings of its own, in process and in subprocesses."""
    from PySide6.QtCore import QSettings

    folder = tmp_path / "config"
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    return folder


@pytest.fixture(scope="session", autouse=True)
def no_model_load_outlives_the_tests():
    """Waits at the end for model loads that tests left running (a window closed mid-load, as a user may quit).

    Why: Python ending while such a thread frees a torch tensor aborts the process ("terminate called
    without an active exception", exit 134) after every test passed. The app ends with os._exit then.
    """
    yield
    from desktop.model_loader import LOADER_THREAD_PREFIX

    for thread in threading.enumerate():
        if thread.name.startswith(LOADER_THREAD_PREFIX):
            thread.join(LEFT_LOAD_WAIT_S)


@pytest.fixture
def models_dir(random_models_dir, monkeypatch) -> Path:
    """The zoo the app sees: untrained test-small and test-large."""
    monkeypatch.setenv("LIVEDET_MODELS_DIR", str(random_models_dir))
    return random_models_dir


class StatusLines:
    """``status_lines(window)``: every message the status bar of a window from ``launch`` has shown, oldest
    first (an error as "⚠ …", as it reads), from before its session started.

    Why: news comes in its own time (the model's "ready" while a camera opens, a recording's "Saved …"), and on a
    busy CI it can replace the line a test reads in the moment before the test reads it. A test asks whether
    the line was shown, and what was shown after it, rather than what happens to be in view.
    """

    def __init__(self) -> None:
        self._shown: dict[object, list[str]] = {}

    def watch(self, window) -> None:
        lines = self._shown[window] = []
        if window.status.message_label.text():  # said while the window was built ("The GPU chosen last time …")
            lines.append(window.status.message_label.text())
        window.status.message_changed.connect(lambda text, _error: lines.append(text) if text else None)

    def __call__(self, window) -> list[str]:
        return self._shown[window]


@pytest.fixture
def status_lines() -> StatusLines:
    return StatusLines()


@pytest.fixture
def launch(qtbot, tmp_path, status_lines):
    """Start the real main window the way ``python -m desktop`` does, with recordings going to tmp_path; what its
    status bar shows is recorded in ``status_lines`` from the start."""
    from desktop.model_loader import SHARED_CACHE
    from desktop.startup import LaunchOptions, build_window, start_session

    windows = []

    def _launch(model_cache=SHARED_CACHE, **options):
        launch_options = LaunchOptions(**options)
        window = build_window(launch_options, model_cache=model_cache)
        status_lines.watch(window)
        window.controller.record_folder = tmp_path / "recordings"
        qtbot.addWidget(window)
        window.show()
        start_session(window, launch_options)
        windows.append(window)
        return window

    yield _launch
    for window in windows:
        window.close()  # saves settings, finalises recordings, joins threads
