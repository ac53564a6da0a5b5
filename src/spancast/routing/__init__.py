"""Per-destination routing: which records a destination gets, and what of them goes there.

A Route applies, in this order, pure functions of the record and the destination's settings
(OpenRouter's per-destination controls, spec 1.5, then spancast's own):

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
4. ``privacy_mode``: records that pass are reduced to metadata, without a byte of the user's or
   the model's text (:mod:`spancast.routing.privacy` says exactly what goes: no content, no error
   messages unless ``privacy_keep_error_messages``, no tool schemas or other text parameters).
5. Media: every image, audio or file part of the messages becomes a small placeholder
   (:mod:`spancast.routing.media`), unless ``keep_media``.
6. Redaction: ``redact_fields`` dropped, ``redact_patterns`` and ``redact_regexes`` masked
   (:mod:`spancast.routing.redaction`).

Before 4, a record delivered loses the generation metadata groups (``generation_cost``,
``generation_identity``, ``generation_context``) the destination's ``broadcast_generation_*`` flags do
not ask for (all three are off by default, as OpenRouter's).

4 to 6 make new records; the records given are never changed (every destination gets the same ones).
Records rejected by 1 or 2 count as ``filtered``, by 3 as ``sampled_out``. A destination with none of
these settings, ``keep_media`` and every ``broadcast_generation_*`` flag on has a passthrough route:
``select`` hands back the very list it was given; with only media stripping, it does too when no record
holds media (and none holds a group withheld).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from ..codec import IMPL, implementation
from ..errors import ConfigError
from ..record import CONTENT_FIELDS, GENERATION_GROUPS, Generation
from .filters import FilterRules
from .media import first_maybe_media, strip_media
from .privacy import privacy_reduce
from .redaction import Redaction

__all__ = ["Route", "FilterRules", "Redaction", "redact", "privacy_reduce", "strip_media", "MIN_SAMPLING_RATE"]

MIN_SAMPLING_RATE = 0.0001
_SAMPLE_PERSON = b"spancast.sample"
_CLEARED = dict.fromkeys(CONTENT_FIELDS)

Verdict = Literal["deliver", "filtered", "sampled_out"]


def redact(record: Generation) -> Generation:
    """The record without its content fields (and nothing else); the record itself is left as it was.
    Privacy mode removes more than this: see privacy_reduce."""
    return msgspec.structs.replace(record, **_CLEARED)


def without(record: Generation, groups: tuple[str, ...]) -> Generation:
    """The record without the generation metadata groups a destination did not ask for (its
    broadcast_generation_* flags are off); the same record when it has none of them (the usual case:
    three attribute reads)."""
    if record.generation_cost is None and record.generation_identity is None and record.generation_context is None:
        return record
    clear = {name: None for name in groups if getattr(record, name) is not None}
    return msgspec.structs.replace(record, **clear) if clear else record


def _first_with_groups(records: list[Any], start: int = 0) -> int:
    """The index of the first record from start that holds a generation_* group (-1: none does). The native
    twin (spancast._native.first_with_groups, the same index for every input) is used when it is loaded:
    every lane reads this of every record, and the groups are off by default."""
    for i in range(max(start, 0), len(records)):
        r = records[i]
        if isinstance(r, Generation) and (r.generation_cost is not None or r.generation_identity is not None
                                          or r.generation_context is not None):
            return i
    return -1


first_with_groups = implementation("native").first_with_groups if IMPL == "native" else _first_with_groups


class Route:
    """One destination's key allowlist, filter rules, sampling and privacy mode, checked at configuration."""

    __slots__ = ("name", "api_key_hashes", "filter_rules", "sampling_rate", "privacy_mode", "keep_error_messages",
                 "keep_media", "redaction", "passthrough", "keeps_records", "withheld", "_rules", "_hasher", "_threshold",
                 "_transform", "_media_only", "strips_media_only")

    def __init__(
        self,
        name: str,
        *,
        api_key_hashes: list[str] | None = None,
        filter_rules: Mapping[str, Any] | None = None,
        sampling_rate: float = 1.0,
        privacy_mode: bool = False,
        generation_groups: tuple[str, ...] = tuple(GENERATION_GROUPS),
        privacy_keep_error_messages: bool = False,
        keep_media: bool = False,
        redact_fields: list[str] | None = None,
        redact_patterns: list[str] | None = None,
        redact_regexes: list[str] | None = None,
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
        for key, flag in (("privacy_mode", privacy_mode), ("privacy_keep_error_messages", privacy_keep_error_messages),
                          ("keep_media", keep_media)):
            if not isinstance(flag, bool):
                raise ConfigError(path(key), f"expected true or false, got {flag!r}")
        self.privacy_mode = privacy_mode
        self.keep_error_messages = privacy_keep_error_messages
        self.keep_media = keep_media
        self.redaction = Redaction(redact_fields, redact_patterns, redact_regexes, where=where, written=written)
        #: The record's generation metadata fields this destination does not get (GENERATION_GROUPS).
        self.withheld = tuple(field for flag, field in GENERATION_GROUPS.items() if flag not in generation_groups)
        steps = []
        if privacy_mode:
            steps.append(lambda record: privacy_reduce(record, privacy_keep_error_messages))
        if not keep_media:
            steps.append(strip_media)
        if self.redaction:
            steps.append(self.redaction.apply)
        self._transform = _compose(steps)
        decides = self.api_key_hashes is not None or self._rules is not None or self._threshold is not None
        self.passthrough = not decides and self._transform is None and not self.withheld
        # Only media stripping: most batches hold no media and go through as they are (select's fast path).
        self._media_only = steps == [strip_media]
        #: Nothing to decide and at most media to strip: every record goes, without the groups it may not carry
        #: (the default destination: its broadcast_generation_* flags are off and it strips media), the very
        #: object emitted unless it holds media or a group withheld (rare): its lane may share span bytes with
        #: other lanes' (spancache.pxi), which are keyed by the record object.
        self.keeps_records = not decides and (self._transform is None or self._media_only)
        #: Every record goes and only media is stripped: a lane may leave the media check to its encoder
        #: (select(media=False), then the batcher's strip), which reads each record just before encoding it.
        self.strips_media_only = self.keeps_records and self._media_only

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
            privacy_keep_error_messages=settings.privacy_keep_error_messages,
            keep_media=settings.keep_media,
            redact_fields=settings.redact_fields,
            redact_patterns=settings.redact_patterns,
            redact_regexes=settings.redact_regexes,
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
        """What routing does with one record (what of it goes is decided later, by select)."""
        keys = self.api_key_hashes
        if keys is not None and record.api_key_hash not in keys:
            return "filtered"
        if self._rules is not None and not self._rules(record):
            return "filtered"
        if self._threshold is not None and self._point(record) >= self._threshold:
            return "sampled_out"
        return "deliver"

    def select(self, records: list[Any], kept: list[int] | None = None, media: bool = True
               ) -> tuple[list[Any], int, int]:
        """The records to deliver (transformed: privacy mode, media, redaction), how many were filtered, how
        many sampled out.

        A passthrough route returns the same list, untouched, and so does a route that only strips media
        when no record holds any. When kept is a list, the index of each record delivered is appended to
        it (a spool needs to know which positions routing settled). media=False leaves the media of a
        route that strips_media_only in the records, for the caller to strip (the batcher does, as it
        encodes them)."""
        if self.passthrough:
            if kept is not None:
                kept.extend(range(len(records)))
            return records, 0, 0
        if self.keeps_records:  # every record goes: without the groups withheld, its media stripped
            if kept is not None:
                kept.extend(range(len(records)))
            withheld = self.withheld
            out = records
            if withheld:  # a new list only when some record holds a group withheld (rare)
                scan = first_with_groups if records.__class__ is list else _first_with_groups
                i = scan(records)
                while i >= 0:
                    r2 = without(records[i], withheld)
                    if r2 is not records[i]:
                        if out is records:
                            out = list(records)
                        out[i] = r2
                    i = scan(records, i + 1)
            if not self._media_only or not media:
                return out, 0, 0
            i = first_maybe_media(out) if out.__class__ is list else 0
            if i < 0:
                return out, 0, 0
            if out is records:
                out = list(records)
            while i >= 0:
                out[i] = strip_media(out[i]) if isinstance(out[i], Generation) else out[i]
                i = first_maybe_media(out, i + 1)
            return out, 0, 0
        keep: list[Any] = []
        filtered = sampled_out = 0
        decide, transform = self.decide, self._transform
        for i, record in enumerate(records):
            if not isinstance(record, Generation):
                # Not a record routing can read: the encoder drops it as invalid_record, content and all.
                keep.append(record)
                if kept is not None:
                    kept.append(i)
                continue
            verdict = decide(record)
            if verdict == "deliver":
                if self.withheld:
                    record = without(record, self.withheld)
                keep.append(record if transform is None else transform(record))
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
        if self.keeps_records and self._media_only:
            return f"<Route dest={self.name!r} strip_media>"
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
            parts.append("privacy_mode+error_messages" if self.keep_error_messages else "privacy_mode")
        if self.keep_media:
            parts.append("keep_media")
        if self.redaction:
            parts.append(repr(self.redaction))
        return f"<Route {' '.join(parts)}>"

def _compose(steps: list[Any]) -> Any:
    """One function applying steps in order (None for none)."""
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def transform(record: Generation) -> Generation:
        for step in steps:
            record = step(record)
        return record

    return transform
