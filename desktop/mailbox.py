"""A one-slot "latest frame wins" hand-over between two threads.

Live video must never build lag: when the producer is faster than the
consumer, ``offer`` replaces the waiting item instead of queueing it. When
every frame matters (a file being recorded, or played as fast as possible),
``put`` waits for the slot to empty instead: back-pressure that never holds
more than one item. Pure Python, so it is tested without Qt.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    """One slot shared by one producer thread and one consumer thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False

    def offer(self, item: T) -> bool:
        """Put ``item`` without waiting; returns True when it replaced (dropped) an older one."""
        with self._cond:
            if self._closed:
                return False
            replaced = self._full
            self._item, self._full = item, True
            self._cond.notify_all()
            return replaced

    def put(self, item: T, timeout: float | None = None) -> bool:
        """Wait until the slot is empty, then put ``item``. False when closed or timed out (item not put)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._closed or not self._full, timeout):
                return False
            if self._closed:
                return False
            self._item, self._full = item, True
            self._cond.notify_all()
            return True

    def take(self, timeout: float | None = None) -> T | None:
        """The waiting item, waiting up to ``timeout`` seconds for one; None when none came or closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._closed or self._full, timeout):
                return None
            return self._pop()

    def take_nowait(self) -> T | None:
        with self._cond:
            return self._pop()

    def clear(self) -> bool:
        """Drop the waiting item (after a seek it is stale); True when there was one."""
        with self._cond:
            had = self._full
            self._pop()
            return had

    def close(self) -> None:
        """Wake every waiter; later puts are refused and the waiting item is dropped."""
        with self._cond:
            self._closed = True
            self._item, self._full = None, False
            self._cond.notify_all()

    @property
    def is_full(self) -> bool:
        with self._cond:
            return self._full

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def _pop(self) -> T | None:
        if not self._full:
            return None
        item, self._item, self._full = self._item, None, False
        self._cond.notify_all()  # a producer waiting in put() may go on
        return item
