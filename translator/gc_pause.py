"""Pause Python's cyclic garbage collector while one file is translated.

A translation allocates hundreds of thousands of small objects (CST nodes) that live until the file
is done, and makes almost no reference cycles. The collector, triggered every 700 allocations, kept
re-walking the growing live trees: a fifth of the translation's time. Paused for one file, it runs
as usual afterwards (any cycles made meanwhile are collected then). Reference counting, which frees
almost everything, is unaffected.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def gc_paused():
    if not gc.isenabled():          # already paused by a caller (a nested translation)
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
