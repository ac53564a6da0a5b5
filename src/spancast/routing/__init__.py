"""Per-destination routing: which records a destination gets, and whether their content goes with them.

A Route applies, in this order, pure functions of the record and the destination's settings
(OpenRouter's per-destination controls, spec 1.5):

1. ``api_key_hashes``: an allowlist of API key hashes, matched against ``record.api_key_hash``.
   None (the default) lets every record through. A record without a key hash (OpenRouter's
   "chatroom requests") is not in any allowlist, so a destination with one never gets it.
2. ``filter_rules``: see :mod:`spancast.routing.filters`.
3. ``sampling_rate`` in [0.0001, 1]: deterministic per session, so a session is in or out as a
   whole (a record without ``session_id`` samples alone, by its ``id``), and independent per
   destination. The point of a record is ``blake2b(session_id or id, digest_size=8, key=K)`` read
   as a big-endian integer over 2**64, with ``K = blake2b(destination name, digest_size=32,
   person=b"spancast.sample")``; the record is kept when its point is below the rate. The hash is
   spelled out so that every process (and any other implementation) agrees. At rate 1 nothing is
   hashed.
4. ``privacy_mode``: records that pass lose their content fields (``record.CONTENT_FIELDS``:
   messages, prompt, completion, reasoning, tool_calls) and nothing else; usage, cost, timing,
   user, session and trace metadata still go out.

Records rejected by 1 or 2 count as ``filtered``, by 3 as ``sampled_out``. A destination without any
of these settings has a passthrough route: ``select`` hands back the very list it was given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from ..errors import ConfigError
from ..record import CONTENT_FIELDS, GENERATION_GROUPS, Generation
from .filters import FilterRules

__all__ = ["Route", "FilterRules", "redact", "MIN_SAMPLING_RATE"]

MIN_SAMPLING_RATE = 0.0001
_SAMPLE_PERSON = b"spancast.sample"
_CLEARED = dict.fromkeys(CONTENT_FIELDS)

Verdict = Literal["deliver", "filtered", "sampled_out"]


def redact(record: Generation) -> Generation:
    """The record without its content fields (privacy mode); the record itself is left as it was."""
    return msgspec.structs.replace(record, **_CLEARED)


def without(record: Generation, groups: tuple[str, ...]) -> Generation:
    """The record without the generation metadata groups a destination did not ask for (its
    broadcast_generation_* flags are off); the same record when it has none of them (the usual case:
    three attribute reads)."""
    if record.generation_cost is None and record.generation_identity is None and record.generation_context is None:
        return record
    clear = {name: None for name in groups if getattr(record, name) is not None}
    return msgspec.structs.replace(record, **clear) if clear else record


class Route:
    """One destination's key allowlist, filter rules, sampling and privacy mode, checked at configuration."""

    __slots__ = ("name", "api_key_hashes", "filter_rules", "sampling_rate", "privacy_mode", "passthrough",
                 "_rules", "_hasher", "_threshold", "withheld", "_only_withhold")

    def __init__(
        self,
        name: str,
        *,
        api_key_hashes: list[str] | None = None,
        filter_rules: Mapping[str, Any] | None = None,
        sampling_rate: float = 1.0,
        privacy_mode: bool = False,
        generation_groups: tuple[str, ...] = tuple(GENERATION_GROUPS),
        where: str = "destination",
        written: Mapping[str, str] | None = None,
    ) -> None:
        """where is the destination's path in errors; written maps a setting's snake_case name to the
        key as the user wrote it (``samplingRate``), so that errors name what is in their file."""
        def path(key: str) -> str:
            return f"{where}.{(written or {}).get(key, key)}"

        self.name = name
        self.api_key_hashes: frozenset[str] | None = None
        if api_key_hashes is not None:
            if not api_key_hashes:
                raise ConfigError(path("api_key_hashes"), "needs at least one key hash; omit it (or null) for all keys")
            for i, entry in enumerate(api_key_hashes):
                if not isinstance(entry, str) or not entry:
                    raise ConfigError(f"{path('api_key_hashes')}[{i}]", "expected a non-empty string")
            self.api_key_hashes = frozenset(api_key_hashes)
        self.filter_rules = None if filter_rules is None else FilterRules(filter_rules, path("filter_rules"))
        self._rules = self.filter_rules if self.filter_rules is not None and self.filter_rules.enabled else None
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, float)) or not (
            MIN_SAMPLING_RATE <= sampling_rate <= 1
        ):
            raise ConfigError(path("sampling_rate"), f"expected a number from {MIN_SAMPLING_RATE} to 1, got {sampling_rate!r}")
        self.sampling_rate = float(sampling_rate)
        # Keyed once here; each record's hash starts from a copy of this keyed state.
        key = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=32, person=_SAMPLE_PERSON).digest()
        self._hasher = hashlib.blake2b(digest_size=8, key=key)
        self._threshold = int(self.sampling_rate * 2**64) if self.sampling_rate < 1 else None
        if not isinstance(privacy_mode, bool):
            raise ConfigError(path("privacy_mode"), f"expected true or false, got {privacy_mode!r}")
        self.privacy_mode = privacy_mode
        #: The record's generation metadata fields this destination does not get (GENERATION_GROUPS).
        self.withheld = tuple(field for flag, field in GENERATION_GROUPS.items() if flag not in generation_groups)
        plain = self.api_key_hashes is None and self._rules is None and self._threshold is None and not privacy_mode
        self.passthrough = plain and not self.withheld
        self._only_withhold = plain and bool(self.withheld)

    @classmethod
    def from_settings(cls, settings: Any, name: str, where: str, written: Mapping[str, str] | None = None) -> Route:
        """The route a destination's settings describe (CommonSettings or anything with those fields)."""
        return cls(
            name,
            api_key_hashes=settings.api_key_hashes,
            filter_rules=settings.filter_rules,
            sampling_rate=settings.sampling_rate,
            privacy_mode=settings.privacy_mode,
            generation_groups=tuple(flag for flag in GENERATION_GROUPS if getattr(settings, flag, False)),
            where=where,
            written=written,
        )

    def sample_point(self, record: Generation) -> float:
        """Where the record's session (or the record, without one) falls in [0, 1) for this destination."""
        return self._point(record) / 2**64

    def _point(self, record: Generation) -> int:
        hasher = self._hasher.copy()
        hasher.update((record.session_id or record.id).encode("utf-8", "surrogatepass"))
        return int.from_bytes(hasher.digest(), "big")

    def decide(self, record: Generation) -> Verdict:
        """What routing does with one record (the content is redacted later, by select)."""
        keys = self.api_key_hashes
        if keys is not None and record.api_key_hash not in keys:
            return "filtered"
        if self._rules is not None and not self._rules(record):
            return "filtered"
        if self._threshold is not None and self._point(record) >= self._threshold:
            return "sampled_out"
        return "deliver"

    def select(self, records: list[Any], kept: list[int] | None = None) -> tuple[list[Any], int, int]:
        """The records to deliver (redacted in privacy mode), how many were filtered, how many sampled out.

        A passthrough route returns the same list, untouched. When kept is a list, the index of each
        record delivered is appended to it (a spool needs to know which positions routing settled)."""
        if self.passthrough:
            if kept is not None:
                kept.extend(range(len(records)))
            return records, 0, 0
        withheld = self.withheld
        if self._only_withhold:  # nothing to decide: every record goes, without the groups it may not carry
            if kept is not None:
                kept.extend(range(len(records)))
            return [without(r, withheld) if type(r) is Generation else r for r in records], 0, 0
        keep: list[Any] = []
        filtered = sampled_out = 0
        decide, privacy = self.decide, self.privacy_mode
        for i, record in enumerate(records):
            if not isinstance(record, Generation):
                # Not a record routing can read: the encoder drops it as invalid_record, content and all.
                keep.append(record)
                if kept is not None:
                    kept.append(i)
                continue
            verdict = decide(record)
            if verdict == "deliver":
                if withheld:
                    record = without(record, withheld)
                keep.append(redact(record) if privacy else record)
                if kept is not None:
                    kept.append(i)
            elif verdict == "filtered":
                filtered += 1
            else:
                sampled_out += 1
        return keep, filtered, sampled_out

    def __repr__(self) -> str:  # counts, not values: key hashes and rule values stay out of logs
        if self.passthrough:
            return f"<Route dest={self.name!r} passthrough>"
        parts = [f"dest={self.name!r}"]
        if self.api_key_hashes is not None:
            parts.append(f"api_keys={len(self.api_key_hashes)}")
        if self.filter_rules is not None:
            rules = self.filter_rules
            state = "" if rules.enabled else " (disabled)"
            parts.append(f"rules={sum(rules.group_sizes)} in {len(rules.group_sizes)} groups, combine={rules.combine}{state}")
        if self._threshold is not None:
            parts.append(f"sampling_rate={self.sampling_rate:g}")
        if self.privacy_mode:
            parts.append("privacy_mode")
        return f"<Route {' '.join(parts)}>"
