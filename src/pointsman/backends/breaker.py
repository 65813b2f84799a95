"""A circuit breaker per backend: stop sending requests to a backend that keeps failing, probe it now and
then.

closed --N consecutive failures--> open --cooldown--> half_open (one probe request let through)
half_open --probe succeeds--> closed;  half_open --probe fails--> open (cooldown starts again)
"""

from __future__ import annotations

import time
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    __slots__ = ("_clock", "consecutive_failures", "cooldown", "opened_at", "probing", "state", "threshold")

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        self.state = CLOSED
        self.consecutive_failures = 0
        self.opened_at = 0.0
        self.probing = False  # half-open: the one probe is in flight
        self._clock = clock

    def allow(self) -> bool:
        """May a request go to the backend now? In half-open state, True for exactly one probe at a time."""
        if self.state is CLOSED:
            return True
        if self.state is OPEN:
            if self._clock() - self.opened_at < self.cooldown:
                return False
            self.state = HALF_OPEN
        if self.probing:
            return False
        self.probing = True
        return True

    def success(self) -> None:
        self.consecutive_failures = 0
        self.state = CLOSED
        self.probing = False

    def failure(self) -> None:
        self.consecutive_failures += 1
        if self.state is HALF_OPEN or self.consecutive_failures >= self.threshold:
            self.state = OPEN
            self.opened_at = self._clock()
            self.probing = False

    def release(self) -> None:
        """A let-through request ended with no verdict (cancelled, or it never reached the backend)."""
        self.probing = False

    def open_for(self, seconds: float) -> None:
        """Open now, with `seconds` of cooldown left (another replica opened this backend's breaker)."""
        self.state = OPEN
        self.opened_at = self._clock() - self.cooldown + seconds
        self.probing = False

    def remaining(self) -> float:
        """Seconds of cooldown left (0.0 unless open)."""
        if self.state is not OPEN:
            return 0.0
        return max(0.0, self.cooldown - (self._clock() - self.opened_at))

    def view(self) -> str:
        """The state as a reader should see it: an open breaker whose cooldown is over is half-open."""
        if self.state is OPEN and self._clock() - self.opened_at >= self.cooldown:
            return HALF_OPEN
        return self.state
