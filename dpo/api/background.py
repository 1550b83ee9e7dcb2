"""Background jobs started by requests (syncs), so shutdown and tests can wait for them."""

from __future__ import annotations

import threading
import time


class BackgroundJobs:
    """The threads of jobs started by this app that may still be running."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def add(self, thread: threading.Thread) -> None:
        """Track a started thread (finished ones are forgotten)."""
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)

    def running(self) -> int:
        """How many are still running."""
        with self._lock:
            return sum(t.is_alive() for t in self._threads)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for all of them (at most `timeout` seconds); True when none is left running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self.running() == 0
