"""Per-destination id salts: the ids spancast derives differ per destination, so two never collide.

Every id spancast derives (a trace id from the generation id or from a ``trace_id`` that is not 32
hex digits, every span id, a parent from a ``parent_span_id`` that is not 16 hex digits, the UUIDs
of PostHog events, Weave calls and Opik documents) is a hash seeded with the destination's salt, so
a full copy and a privacy-mode copy on one backend (two Phoenix projects, two MLflow experiments)
never merge or overwrite each other's spans. Ids the caller gave in the backend's own form (32 or
16 hex digits, UUIDs where the backend takes them) are used as they are.

The salt of a destination is ``blake2b(name, digest_size=8, person=b"spancast.ids")`` read as a
big-endian integer, so it is the same in every process that configures a destination of that name:
a record replayed, or delivered by another worker, gets the same ids again. Destinations that name one
``id_namespace`` take that namespace's salt instead (:func:`namespace_salt`), so they derive the same ids
(different backends showing one trace under one id). The native encoder and
its pure-Python twin xor it into the seed of their id hash (``hash64``); name-based ids take it in
their hashed text (:func:`salted`).
"""

from __future__ import annotations

import hashlib

__all__ = ["id_salt", "namespace_salt", "salted", "hash64", "SEED_TRACE_HI", "SEED_TRACE_LO", "SEED_SPAN_GEN",
           "SEED_SPAN_MID", "SEED_PARENT", "SEED_ROOT", "SEED_ATTEMPT"]

_PERSON = b"spancast.ids"
_M64 = 0xFFFFFFFFFFFFFFFF

# Seeds of the id hash: one per kind of id, so different ids of one record never collide.
SEED_TRACE_HI, SEED_TRACE_LO, SEED_SPAN_GEN, SEED_SPAN_MID, SEED_PARENT, SEED_ROOT, SEED_ATTEMPT = 1, 2, 3, 4, 5, 6, 256


def id_salt(name: str) -> int:
    """The id salt of the destination with this name (an int in [0, 2**64))."""
    digest = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8, person=_PERSON).digest()
    return int.from_bytes(digest, "big")


def namespace_salt(namespace: str) -> int:
    """The id salt of every destination that names this id_namespace: never a destination name's salt."""
    return id_salt("\x00id_namespace:" + namespace)


def salted(text: str, salt: int) -> str:
    """The text a name-based id (UUIDv5, a keyed hash) is made from, with the salt in it (0: as it was)."""
    return f"{text}#{salt:016x}" if salt else text


def hash64(data: bytes, seed: int) -> int:
    """FNV-1a 64 over the bytes (basis xor seed) with the splitmix64 finaliser; never 0."""
    h = 0xCBF29CE484222325 ^ seed
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & _M64
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & _M64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & _M64
    h ^= h >> 31
    return h or 1
