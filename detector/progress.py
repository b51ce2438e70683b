"""Progress bars for long commands: shown in a terminal, silent in logs and CI.

A bar in a log file is hundreds of carriage-return lines of noise, so the
default is to draw one only when stderr is an interactive terminal.
"""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def stderr_is_terminal() -> bool:
    """True when a person is watching stderr (not a pipe, file, or CI log)."""
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def say(message: str) -> None:
    """A line for people, on stderr (stdout is for the JSON summary).

    A stderr that cannot be written (``2>log`` on a full disk) must not end the work: the line is dropped. A
    reader that went away (a broken pipe) still ends the command, as it ends ``cat``.
    """
    try:
        print(message, file=sys.stderr, flush=True)
    except BrokenPipeError:
        raise
    except OSError:
        pass


def print_above_bar(message: str) -> None:
    """A line on stderr that does not tear a bar being drawn (safe from any thread)."""
    tqdm_module = sys.modules.get("tqdm")  # imported only once a bar is drawn
    if tqdm_module is None:
        say(message)
        return
    try:
        tqdm_module.tqdm.write(message, file=sys.stderr)
    except BrokenPipeError:
        raise
    except OSError:
        pass


class Progress:
    """A counter that draws a tqdm bar (rate, ETA) when ``enabled``, and does nothing otherwise.

    ``total`` may be None for live sources; the bar then shows the count and rate only.
    """

    def __init__(self, total: int | None = None, *, desc: str = "", unit: str = "it", enabled: bool | None = None) -> None:
        self.enabled = stderr_is_terminal() if enabled is None else enabled
        self.count = 0
        self._bar = None
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False)

    def update(self, n: int = 1) -> None:
        self.count += n
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(items: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it",
          enabled: bool | None = None) -> Iterator[T]:
    """Iterate ``items`` while advancing a ``Progress`` bar."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc=desc, unit=unit, enabled=enabled) as bar:
        for item in items:
            yield item
            bar.update()
