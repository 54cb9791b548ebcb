"""Keep the server's resident memory flat over a long demo (glibc's allocator; elsewhere no-ops).

Streamlit runs every script run, fragment reruns included, in a fresh thread. glibc gives threads
their own malloc arenas (up to 8 per core) and keeps what each arena once held: a server that trains
and serves for an hour grew by tens of MB in steps until every arena had reached its own peak
(README, "A long run with one viewer"). Two arenas are plenty for a server whose heavy work is
TensorFlow's (which allocates through its own pools), and handing freed pages back to the system
now and then keeps the peaks from staying resident.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time

ARENAS = 2  # malloc arenas for the whole process (glibc's default: 8 per core)
TRIM_EVERY = 30.0  # seconds between returns of freed memory to the system
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h

_lock = threading.Lock()
_last_trim = 0.0


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, Windows, musl without the names)
        return None


_LIBC = _libc()


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap the arenas glibc creates from now on; True where it took effect."""
    return bool(_LIBC is not None and _LIBC.mallopt(_M_ARENA_MAX, arenas))


def trim(every: float = TRIM_EVERY) -> bool:
    """Return freed heap pages to the system, at most once per `every` seconds over all threads.
    True when this call trimmed."""
    global _last_trim
    if _LIBC is None:
        return False
    with _lock:
        now = time.monotonic()
        if now - _last_trim < every:
            return False
        _last_trim = now
    _LIBC.malloc_trim(0)
    return True
