"""One log line per cause and interval: a cause that repeats is counted, and the count rides on its next line."""

from __future__ import annotations

import logging
import time

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """log(level, cause, message, *args): at most one line per cause every interval_s (causes are short
    strings: an exception type, a field name; never record content or a secret)."""

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0, max_causes: int = 256) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.max_causes = max_causes  # a flood of distinct causes cannot grow this without bound
        self._seen: dict[str, tuple[float, int]] = {}

    def __call__(self, level: int, cause: str, message: str, *args: object) -> bool:
        """Log unless this cause was logged less than interval_s ago; True when it was logged."""
        now = time.monotonic()
        last, repeats = self._seen.get(cause, (None, 0))
        if last is not None and now - last < self.interval_s:
            self._seen[cause] = (last, repeats + 1)
            return False
        if repeats:
            message += f" ({repeats} more like it in the last {self.interval_s:g}s)"
        if cause not in self._seen and len(self._seen) >= self.max_causes:
            self._seen.pop(next(iter(self._seen)))
        self._seen[cause] = (now, 0)
        self.logger.log(level, message, *args)
        return True

    def __repr__(self) -> str:
        return f"<RateLimitedLog {self.logger.name} causes={len(self._seen)} interval={self.interval_s:g}s>"
