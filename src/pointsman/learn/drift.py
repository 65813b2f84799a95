"""Drift detection: the Page-Hinkley test on a stream (here: feedback quality minus what was predicted).

Page-Hinkley for a fall in the mean: with x_bar the running mean, m_t = sum (x_i - x_bar_i + delta) and
M_t = max m; an alarm when M_t - m_t > threshold (the sum fell `threshold` below its high-water mark while
each step is allowed `delta` of slack). Symmetric for a rise. After an alarm the test starts over.
With a fixed `reference` instead of the running mean it is a two-sided CUSUM against that value: a stream
that is off from the start (a router that promised more than it delivers) raises an alarm too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PageHinkley:
    delta: float = 0.1  # slack per observation: changes smaller than this are not drift
    threshold: float = 15.0  # how far the cumulative sum may fall (or rise) before an alarm
    min_samples: int = 30  # no alarm before this many observations since the last reset
    reference: float | None = None  # compare with this value instead of the running mean
    n: int = 0
    mean: float = 0.0
    down: float = 0.0  # sum for a fall, and its high-water mark
    down_max: float = 0.0
    up: float = 0.0  # sum for a rise, and its low-water mark
    up_min: float = 0.0

    def update(self, x: float) -> str | None:
        """Add one observation; returns "down" or "up" on an alarm (and resets), else None."""
        self.n += 1
        self.mean += (x - self.mean) / self.n
        ref = self.mean if self.reference is None else self.reference
        self.down += x - ref + self.delta
        self.down_max = max(self.down_max, self.down)
        self.up += x - ref - self.delta
        self.up_min = min(self.up_min, self.up)
        if self.n < self.min_samples:
            return None
        if self.down_max - self.down > self.threshold:
            self.reset()
            return "down"
        if self.up - self.up_min > self.threshold:
            self.reset()
            return "up"
        return None

    def reset(self) -> None:
        self.n, self.mean, self.down, self.down_max, self.up, self.up_min = 0, 0.0, 0.0, 0.0, 0.0, 0.0
