# A record's span bytes, rendered once for every destination that renders spans alike.
#
# Destinations derive their own ids (a salt each, see spancast.codec.ids), so two OTLP destinations
# never send the same bytes; yet apart from the ids, the spans of a record are the same for every
# encoder with the same format, plan and value cut (the resource is in the envelope, not the spans).
# The first encoder of a group to append a record keeps its spans here with where each derived id
# sits; the others copy them and write their own ids over those places (a few hashes of short
# inputs instead of rendering again: the record's content is not read). The result is byte for
# byte what rendering would give, which tests check against encoders without a cache.
#
# A trace root is drawn once per request: a record keeps its root's bytes apart, so an encoder whose
# request holds that root already takes the rest; one that needs a root the keeper did not write
# renders the record itself. Entries are keyed by the record object, held weakly: an entry goes when
# every member has taken it, when its record dies (a lane's own copy, stripped of media, once its batch
# is sent; a record only one lane reads), or past max_bytes, oldest first. A miss costs a render, never
# correctness.

from collections import deque
from weakref import ref as weak_ref

cdef enum:
    MAX_IDS = 64  # derived ids a kept record may have (3 per span): a record with more is not kept
    MAX_HELD = 65536  # entries in the order, taken ones included: the bound when nothing is over max_bytes
    # What a derived id is derived from (SpanHead.*_kind); an attempt's span id is ID_ATTEMPT + its number
    ID_TRACE = 1
    ID_PARENT = 2
    ID_ROOT = 3
    ID_MID = 4
    ID_GEN = 5
    ID_ATTEMPT = 16
    ID_MAX = 1 << 20


cdef struct IdAt:
    Py_ssize_t at  # from the start of the record's bytes (the piece)
    int kind


@cython.final
cdef class SpanPiece:
    """One record's spans as the first encoder of a group wrote them, and what its ids are made of."""
    cdef object ref          # a weak reference to the record, whose death drops the entry (_died)
    cdef Py_ssize_t key      # the record's id: its key in the cache
    cdef SpanCache cache     # while kept (the cycle is cut when it goes)
    cdef bytes piece         # JSON: each span after a ','; the first one's is dropped at a request's start
    cdef bytes ids           # IdAt[nids]
    cdef Py_ssize_t nids
    cdef Py_ssize_t nspans
    cdef Py_ssize_t root_len  # the root span's bytes at the start of piece (0: none written)
    cdef Py_ssize_t root_code_at, root_start_at, root_end_at
    cdef bint draw_root
    cdef int code
    cdef uint64_t start, end
    cdef bytes id_src        # the record id's UTF-8: span ids hash it
    cdef bytes trace_src     # what the trace id hashes (None: the caller's 32 hex digits, in trace_given)
    cdef bytes trace_given
    cdef bytes parent_src    # what a derived parent id hashes (None: none derived)
    cdef int uses
    cdef bint plain          # its messages were checked for media and hold none

    def _died(self, ref):
        """Its record died (its last reference went, on whichever thread): it goes from the cache."""
        if self.cache is not None:
            self.cache.dropped += 1
            self.cache._forget(self)


@cython.final
cdef class SpanCache:
    """Span bytes shared by the encoders of one format, plan and value cut (see the top of this file)."""
    cdef readonly str format
    cdef readonly object plan
    cdef readonly Py_ssize_t max_chars
    cdef public Py_ssize_t max_bytes  # the Broadcaster sets it from its memory cap
    cdef readonly int members
    cdef readonly Py_ssize_t bytes
    cdef readonly Py_ssize_t hits, misses, kept, evicted, dropped
    cdef dict entries        # id(record) -> SpanPiece
    cdef object order        # deque of SpanPiece, oldest first (gone ones are husks until popped)

    def __init__(self, format, plan, Py_ssize_t max_chars, Py_ssize_t max_bytes=32 << 20):
        self.format = format
        self.plan = plan
        self.max_chars = max_chars
        self.max_bytes = max_bytes
        self.entries = {}
        self.order = deque()

    cdef SpanPiece get(self, object record):
        cdef object e = self.entries.get(id(record))
        if e is None or (<SpanPiece>e).ref() is not record:
            self.misses += 1
            return None
        return <SpanPiece>e

    cdef void taken(self, SpanPiece e) noexcept:
        """A member pasted e: once every member has, it goes."""
        self.hits += 1
        e.uses += 1
        if e.uses >= self.members:
            self._forget(e)

    cdef void _forget(self, SpanPiece e) noexcept:
        if e.piece is not None:
            if self.entries.get(e.key) is e:
                del self.entries[e.key]
            self.bytes -= len(e.piece)
            e.piece = None
            e.ref = None  # a weak reference that goes before its record never calls back
            e.cache = None
            e.ids = None

    cdef int put(self, SpanPiece e, object record) except -1:
        if self.members < 2 or id(record) in self.entries:
            return 0
        e.key = id(record)
        e.ref = weak_ref(record, e._died)
        e.cache = self
        self.entries[e.key] = e
        self.order.append(e)
        self.bytes += len(e.piece)
        self.kept += 1
        order = self.order
        while order and (self.bytes > self.max_bytes or (<SpanPiece>order[0]).piece is None
                         or len(order) > MAX_HELD):
            old = <SpanPiece>order.popleft()
            if old.piece is not None:
                self.evicted += 1
                self._forget(old)
        return 0

    def clear(self):
        for e in self.order:
            self._forget(<SpanPiece>e)
        self.entries.clear()
        self.order.clear()
        self.bytes = 0

    def __len__(self):
        return len(self.entries)

    def __repr__(self):
        return (f"<SpanCache format={self.format} flavor={self.plan.name} members={self.members} "
                f"records={len(self.entries)} bytes={self.bytes} hits={self.hits} misses={self.misses} "
                f"evicted={self.evicted} dropped={self.dropped}>")
