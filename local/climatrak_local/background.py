"""The one shape of the local runtime's background loops (schedules, sweeps, pollers)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod


class BackgroundThread(ABC):
    """A daemon thread running `_run` until `stop()`. `_run` watches `_stopping`; a loop that
    also sleeps on another event passes it as `wake`, which `stop()` sets too."""

    def __init__(self, name: str, wake: threading.Event | None = None) -> None:
        self._stopping = threading.Event()
        self._wake_on_stop = wake
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._wake_on_stop is not None:
            self._wake_on_stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @abstractmethod
    def _run(self) -> None:
        """The loop; it returns once `_stopping` is set."""
