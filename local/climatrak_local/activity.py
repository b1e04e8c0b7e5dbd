"""Bookkeeping that lets the runtime tell when it is idle: work in flight and a generation count."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Activity:
    """Counts units of work (handler invocations, rule messages not yet enqueued).

    `generation` grows on every start, so an observer can tell "nothing ran in between"
    from "something started and finished while I was looking elsewhere".
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._generation = 0

    def begin(self, units: int = 1) -> None:
        with self._lock:
            self._in_flight += units
            self._generation += 1

    def end(self, units: int = 1) -> None:
        with self._lock:
            self._in_flight -= units

    @contextmanager
    def running(self) -> Iterator[None]:
        self.begin()
        try:
            yield
        finally:
            self.end()

    def snapshot(self) -> tuple[int, int]:
        """(work in flight, generation)."""
        with self._lock:
            return self._in_flight, self._generation
