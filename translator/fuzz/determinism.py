"""Make a seeded hypothesis run a pure function of its seed, whatever the process imported.

Hypothesis (>= 6.131) sometimes draws an integer, float or string from a pool of "local constants":
literals it collects from the source of every *local* module in `sys.modules` (anything outside
site-packages and the stdlib, test files excepted). For the fuzzer that pool holds the literals of
the translator package, of `translator.fuzz.__main__` when the CLI imported it, of a user's
script, ... so the same (seed, index) drew a different model depending on what had been imported
before, and on the current source of every such module: a model number printed by one run was not
the same model under `--show`, `--shrink` or a regression test.

`local_constants_disabled()` empties that pool for the duration of a run: the provider still
decides "draw a constant?" with the same random call, and then picks from hypothesis' fixed global
constants only. Hypothesis caches the per-constraint constant tuples globally (`CONSTANTS_CACHE`),
so the cache is cleared on entry (entries may hold the real local pool) and on exit (entries hold
our empty one). Hypothesis versions without the pool have nothing to disable (the context manager
is then a no-op).
"""
from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def local_constants_disabled():
    try:
        from hypothesis.internal.conjecture import providers
        real = providers._get_local_constants
        cache = providers.CONSTANTS_CACHE.cache
        empty = providers.Constants()
    except (ImportError, AttributeError):    # a hypothesis without local constants
        yield
        return

    cache.clear()
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = real
        cache.clear()
