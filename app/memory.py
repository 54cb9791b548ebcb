"""Keep the server's resident memory flat over a long demo (glibc's allocator; elsewhere no-ops).

Streamlit runs every script run, fragment reruns included, in a fresh thread. glibc gives threads
their own malloc arenas (up to 8 per core) and keeps what each arena once held: a server that trains
and serves for an hour grew by tens of MB in steps until every arena had reached its own peak
(README, "A long run with one viewer"). Two arenas are plenty for a server whose heavy work is
TensorFlow's (which allocates through its own pools), and handing freed pages back to the system
now and then keeps the peaks from staying resident. (Measured over an hour this did not keep the
server flat: README, "A long run with one viewer".) Found since: glibc fixes its arena limit once
the process has more than eight arenas, and a limit set later applies only while fewer exist;
under `streamlit run` the server's own threads have made about seven before this module runs, so
the cap stops the count there rather than at two (/proc/PID/smaps of a soaked server: seven
64 MiB-aligned heaps). glibc reads `MALLOC_ARENA_MAX` from the environment when the process
starts, before any thread exists: README's `streamlit run` line sets it (`SERVER_ENV`), and a
server started without it says so in its log (`advise`). `trace_if_asked` logs where Python's own
memory grows, to tell a leak in Python from memory held below it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
import time
import tracemalloc

ARENAS = 2  # malloc arenas for the whole process (glibc's default: 8 per core)
TRIM_EVERY = 30.0  # seconds between returns of freed memory to the system
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h
ARENA_ENV = "MALLOC_ARENA_MAX"
SERVER_ENV = {ARENA_ENV: str(ARENAS)}  # what README's command sets before `streamlit run`

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


def advise(environ=os.environ) -> bool:
    """Log, once per process, that the server was started without `SERVER_ENV` (on glibc only,
    where it matters); True when it did."""
    global _advised
    if _LIBC is None or _advised or all(environ.get(k) == v for k, v in SERVER_ENV.items()):
        return False
    _advised = True
    settings = " ".join(f"{k}={v}" for k, v in SERVER_ENV.items())
    logging.getLogger(__name__).warning(
        "started without %s: over a long demo the server's memory creeps in glibc's malloc arenas "
        "(README, 'A long run with one viewer'); start it as `%s streamlit run dashboard.py`",
        settings,
        settings,
    )
    return True


_advised = False


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


TRACE_ENV = "GAN_STUDIO_TRACEMALLOC"  # a file: the server logs where Python's memory grows (soak.py --trace)
TRACE_EVERY = 60.0


def trace_if_asked() -> bool:
    """With $GAN_STUDIO_TRACEMALLOC set to a file, trace Python's allocations and append to that file, every
    TRACE_EVERY seconds, the traced total and the ten source lines whose memory grew most since tracing
    began: what tells a Python leak from memory the allocator or a C library keeps. Once per process."""
    path = os.environ.get(TRACE_ENV)
    if not path or tracemalloc.is_tracing():
        return False
    tracemalloc.start(10)
    first, start = tracemalloc.take_snapshot(), time.monotonic()

    def log() -> None:
        while True:
            time.sleep(TRACE_EVERY)
            snapshot = tracemalloc.take_snapshot()
            current, _ = tracemalloc.get_traced_memory()
            top = snapshot.compare_to(first, "traceback")[:10]
            with open(path, "a") as f:
                f.write(f"minute {(time.monotonic() - start) / 60:.0f}: traced {current / 2**20:.1f} MiB\n")
                for stat in top:
                    recent = list(stat.traceback)[::-1][:4]  # tracemalloc lists the oldest frame first
                    frames = " <- ".join(f"{fr.filename.rsplit('/', 2)[-1]}:{fr.lineno}" for fr in recent)
                    f.write(f"  {stat.size_diff / 2**20:+.2f} MiB ({stat.count_diff:+,} blocks) {frames}\n")

    threading.Thread(target=log, name="memory-trace", daemon=True).start()
    return True
