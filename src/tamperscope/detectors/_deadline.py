"""A wall-clock limit on a block of Python code, for detectors that may run long.

The limit is a ``SIGALRM`` timer, so it works only in the main thread of a
POSIX process, and it interrupts at the next Python bytecode: a single long
call into C (one huge FFT) finishes before the interruption lands. Elsewhere
the block runs unlimited; the scanner and the service also bound the whole
job from outside, by killing its worker process.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class DeadlineExceeded(Exception):
    """Raised inside a block that ran past its time limit."""


def can_interrupt() -> bool:
    """Whether :func:`time_limit` can interrupt code in the calling thread."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`DeadlineExceeded` in the block once ``seconds`` have passed.

    ``None`` or a value <= 0, or a thread that cannot be interrupted, means no limit.
    An enclosing timer (set by the caller) is restored afterwards.
    """
    if not seconds or seconds <= 0 or not can_interrupt():
        yield
        return

    def expire(signum, frame):
        raise DeadlineExceeded(f"ran past its time limit of {seconds:g} s")

    previous_handler = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    if previous_delay and previous_delay < seconds:
        # The caller's own timer (alarm() shares this one) is due first: keep its deadline.
        signal.setitimer(signal.ITIMER_REAL, previous_delay)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            # Give the caller's timer back what is left of it (at least a tick, so a lapsed one still fires).
            signal.setitimer(signal.ITIMER_REAL, max(previous_delay - (time.monotonic() - started), 1e-3))
