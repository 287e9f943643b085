"""How the ``tamperscope`` command's process takes memory: tuned for a few large, short-lived arrays.

An analysis allocates and frees many arrays the size of the image (a 12 MP float map is 48 MB). By default glibc
gives every block over 32 MB its own ``mmap`` and returns it on ``free``, and numpy asks the kernel for huge pages
on large arrays; so each new map costs fresh page faults, and where transparent huge pages are defragmented on
demand (a common default) a stall while the kernel compacts memory. Measured on the development machine (12 MP,
one core, docs/performance.md): about a quarter of the command's CPU time was system time spent so. The command is
one analysis (or a scan worker analysing one image after another), so it keeps freed memory for the next array
instead, in one heap that the threads writing the report files share too: the peak resident memory is about the
same, the page faults happen once.

Nothing here changes a result; both settings are skipped where they do not apply (another C library, numpy
already imported, the variable already set by the user). Only the command's own process is tuned so (and the scan
workers it forks), from its entry point: a program importing tamperscope keeps its allocator as it is.
"""

from __future__ import annotations

import os
import sys

#: glibc ``mallopt`` parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8


def keep_freed_memory() -> None:
    """Reuse freed memory within this process instead of returning it to the kernel (see the module doc)."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")  # read once, when numpy is imported
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return
    mallopt(_M_MMAP_MAX, 0)  # every block from the heap, which free() keeps for reuse...
    mallopt(_M_TRIM_THRESHOLD, 1 << 30)  # ...up to 1 GiB of free heap kept rather than handed back...
    mallopt(_M_ARENA_MAX, 1)  # ...and one heap for all threads (the report's encoders), so they reuse it too
