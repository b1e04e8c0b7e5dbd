"""The one shape of the local runtime's background loops (schedules, sweeps, pollers)."""

from __future__ import annotations

import threading


class BackgroundThread:
    """A daemon thread running `_run` until `stop()`. `_run` watches `_stopping`; a loop that
    sleeps on something else wakes up in `_wake_up`."""

    def __init__(self, name: str) -> None:
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake_up()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _wake_up(self) -> None:
        """Interrupt a wait that is not on `_stopping` (nothing to do by default)."""

    def _run(self) -> None:
        raise NotImplementedError
