"""Give the memory of a finished job back to the system (glibc on Linux; elsewhere a no-op).

A job on the page allocates arrays of hundreds of MB, on whichever of Gradio's worker threads
runs it. glibc's malloc serves each thread from its own arena (up to 8 per core) and, once a
large block has been freed, raises its mmap threshold up to 32 MB, so later arrays under that
come from the arenas and stay with the process when freed. Under load the server's resident
memory then climbs with every thread that has run a large job (measured: +50 % in 3 minutes of
8 clients with a 3 MP photo in the mix, docs/reliability-web.md), though nothing leaks.

:func:`tune` fixes the mmap threshold at 1 MiB (an array that large is mapped on its own and
unmapped when freed: a page fault per page is nothing beside a network pass over it);
:func:`trim` returns what is left free in the arenas after each job (``malloc_trim``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers (malloc.h)
MMAP_THRESHOLD = 1 << 20


@functools.cache
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - glibc (musl has no mallopt / malloc_trim)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def tune() -> bool:
    """Map arrays of 1 MiB or more on their own (see the module doc); True if done."""
    libc = _libc()
    return bool(libc and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def trim() -> None:
    """Return the free memory of every arena to the system (after a job)."""
    libc = _libc()
    if libc:
        libc.malloc_trim(0)
