"""Per-destination id salts: the ids spancast derives differ per destination, so two never collide.

Every id spancast derives (a trace id from the generation id or from a ``trace_id`` that is not 32
hex digits, every span id, a parent from a ``parent_span_id`` that is not 16 hex digits, the UUIDs
of PostHog events, Weave calls and Opik documents) is a hash seeded with the destination's salt, so
a full copy and a privacy-mode copy on one backend (two Phoenix projects, two MLflow experiments)
never merge or overwrite each other's spans. Ids the caller gave in the backend's own form (32 or
16 hex digits, UUIDs where the backend takes them) are used as they are.

The salt of a destination is ``blake2b(name, digest_size=8, person=b"spancast.ids")`` read as a
big-endian integer, so it is the same in every process that configures a destination of that name:
a record replayed, or delivered by another worker, gets the same ids again. The native encoder and
its pure-Python twin xor it into the seed of their id hash (``hash64``); name-based ids take it in
their hashed text (:func:`salted`).
"""

from __future__ import annotations

import hashlib

__all__ = ["id_salt", "salted"]

_PERSON = b"spancast.ids"


def id_salt(name: str) -> int:
    """The id salt of the destination with this name (an int in [0, 2**64))."""
    digest = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8, person=_PERSON).digest()
    return int.from_bytes(digest, "big")


def salted(text: str, salt: int) -> str:
    """The text a name-based id (UUIDv5, a keyed hash) is made from, with the salt in it (0: as it was)."""
    return f"{text}#{salt:016x}" if salt else text
