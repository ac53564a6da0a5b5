"""Per-thread reuse of encoders by encode_traces(): a warm buffer and a compiled plan per configuration.

A TraceEncoder compiles its plan and envelope when built and grows its buffer to the batch size, so
building one per call costs more than encoding a small batch. Each thread keeps up to eight (one per
format, flavour and resource it has used); an encoder grown past 16 MiB gives its memory back when
it finishes a batch.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Mapping

_local = threading.local()
MAX_CACHED = 8


def _key(factory: Callable[..., Any], format: str, flavor: Any, resource: Mapping[str, Any] | None) -> Any:
    # The factory is part of the key: the native encoder and its twin must never stand in for each other.
    try:
        key = (factory, format, flavor, tuple(sorted(resource.items())) if resource else ())
        hash(key)
        return key
    except TypeError:  # unhashable resource values: no reuse, still correct
        return None


def encode_with(factory: Callable[..., Any], records, format: str, flavor: Any, resource) -> bytes:
    """Encode with this thread's encoder for the configuration, building it on first use."""
    key = _key(factory, format, flavor, resource)
    cache: OrderedDict | None = getattr(_local, "encoders", None)
    if cache is None:
        cache = _local.encoders = OrderedDict()
    encoder = cache.pop(key, None) if key is not None else None  # popped: a re-entrant call builds its own
    if encoder is None:
        encoder = factory(format=format, flavor=flavor, resource=resource)
    try:
        encoder.extend(records)
        return encoder.finish()
    except BaseException:
        encoder.reset()
        raise
    finally:
        if key is not None:
            cache[key] = encoder
            while len(cache) > MAX_CACHED:
                cache.popitem(last=False)
