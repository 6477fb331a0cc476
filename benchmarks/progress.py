"""A progress bar on stderr: redrawn in place on a terminal, one line per step otherwise."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """Counts steps out of a total and shows what runs now, with elapsed and remaining time."""

    WIDTH = 24

    def __init__(self, total: int, stream: Optional[TextIO] = None, enabled: bool = True) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self._drawn = 0

    def reset(self, total: int) -> None:
        self.total, self.done, self.start = total, 0, time.monotonic()

    def advance(self, steps: int, label: str = "") -> None:
        """Count ``steps`` more as done; show ``label`` (what runs next) if given."""
        self.done += steps
        if not self.enabled or not (label or self.tty):
            return
        elapsed = time.monotonic() - self.start
        filled = self.WIDTH * self.done // max(self.total, 1)
        left = f", ~{_clock(elapsed / self.done * (self.total - self.done))} left" \
            if self.done else ""
        line = (f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{self.total} "
                f"{_clock(elapsed)}{left}  {label}")
        if self.tty:
            self.stream.write("\r" + line.ljust(self._drawn))
            self._drawn = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def clear(self) -> None:
        """Erase the bar (before printing to the same terminal)."""
        if self.tty and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0

    def close(self) -> None:
        self.clear()
