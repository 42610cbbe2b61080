"""The Likeness window (PySide6). Importing gui applies the refcount guard below before any Qt call."""
from __future__ import annotations

import ctypes
import sys

IMMORTAL_REFCOUNT_BOOST = 1 << 40


def make_singletons_immortal() -> bool:
    """Work around a shiboken6 6.12 bug on Python < 3.12: every Qt method returning void drops a reference
    to None (and every signal emit one to True or False), so after a few minutes of painting CPython frees None
    and aborts ("none_dealloc"). Python 3.12 made these objects immortal; here we give them a refcount so large
    that they can never reach zero, which is the same thing. Returns True when the boost was applied."""
    if sys.version_info >= (3, 12):
        return False
    applied = False
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt is the first field of a PyObject
        if abs(refcount.value - sys.getrefcount(singleton)) > 1000:
            return applied  # not the layout we expect (a debug build?): leave it alone
        if refcount.value < IMMORTAL_REFCOUNT_BOOST:
            refcount.value += IMMORTAL_REFCOUNT_BOOST
            applied = True
    return applied


make_singletons_immortal()
