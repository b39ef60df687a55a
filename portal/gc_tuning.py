"""Garbage-collector settings for long-lived server processes (ASGI and WSGI).

CPython's cyclic collector periodically walks every tracked object of the oldest generation.
In a server that is, above all, the heap Django built at start-up (modules, URL patterns,
templates, models): a full pass over it stalled daphne's event loop for about 80 ms every few
seconds, which was the whole p99 of a 100-client push (bench/push_latency.py: 98-115 ms with the
default settings, 25-27 ms with these). So once the application is loaded:

- collect, then `gc.freeze()` the start-up heap: it is never garbage and is not walked again;
- collect the youngest generation every 10,000 allocations instead of 700, and the older
  ones less often: request garbage is freed by reference counting anyway.

`CIVICDESK_GC_TUNING=0` keeps Python's defaults.
"""

from __future__ import annotations

import gc
import os

THRESHOLDS = (10_000, 50, 50)


def tune_gc() -> bool:
    """Apply the settings above unless CIVICDESK_GC_TUNING=0; returns whether it did."""
    if os.environ.get("CIVICDESK_GC_TUNING", "1") == "0":
        return False
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    return True
