# The encoder's side of span sharing (spancache.pxi): what an append keeps for the other members of its
# group, and how a member pastes kept spans with its own ids. Functions of the TraceEncoder, written
# here to keep encoder.pxi to the rendering itself.


cdef int note_sources(TraceEncoder self, bint draw_root, int code, uint64_t start, uint64_t end,
                      const char* idp, Py_ssize_t idn, int trace_kind, object trace_text, const uint8_t* trace_id,
                      object parent_text) except -1:
    """What a cache needs besides the bytes to give the record's spans another salt's ids."""
    cdef const char* p
    cdef Py_ssize_t n
    self.cap_draw_root = draw_root
    self.cap_code, self.cap_start, self.cap_end = code, start, end
    self.cap_id_src = PyBytes_FromStringAndSize(idp, idn)
    if not trace_kind:  # the caller's own
        self.cap_trace_src = None
    elif trace_text is not None:
        p = utf8_of(trace_text, &n, self._keep)
        self.cap_trace_src = PyBytes_FromStringAndSize(p, n)
    else:
        self.cap_trace_src = self.cap_id_src
    self.cap_parent_src = None
    if parent_text is not None:
        p = utf8_of(parent_text, &n, self._keep)
        self.cap_parent_src = PyBytes_FromStringAndSize(p, n)
    memcpy(self.cap_trace_given, trace_id, 16)
    return 0


cdef int keep_piece(TraceEncoder self, object record, Py_ssize_t at, Py_ssize_t spans_before, bint plain) except -1:
    """Give the cache the spans the last append wrote from at (see spancache.pxi)."""
    cdef SpanPiece e = SpanPiece.__new__(SpanPiece)
    cdef Py_ssize_t lead = 1 if self.json and spans_before == 0 else 0, n = self.body.len - at, i
    cdef IdAt* ids
    cdef RootAt* r
    cdef char* out
    e.piece = PyBytes_FromStringAndSize(NULL, n + lead)
    out = PyBytes_AS_STRING(e.piece)
    if lead:
        out[0] = b','
    memcpy(out + lead, self.body.data + at, n)
    e.nids = self.ncap
    e.ids = PyBytes_FromStringAndSize(NULL, sizeof(IdAt) * self.ncap)
    ids = <IdAt*>PyBytes_AS_STRING(e.ids)
    for i in range(self.ncap):
        ids[i].at = self.cap_ids[i].at - at + lead
        ids[i].kind = self.cap_ids[i].kind
    e.nspans = self.spans - spans_before
    e.draw_root = self.cap_draw_root
    if self.cap_root_len:
        r = &self.root_at[self.nroots - 1]
        e.root_len = self.cap_root_len - at + lead
        e.root_code_at = r.code_at - at + lead
        e.root_start_at, e.root_end_at = r.start_at - at + lead, r.end_at - at + lead
    e.code, e.start, e.end = self.cap_code, self.cap_start, self.cap_end
    e.id_src, e.trace_src, e.parent_src = self.cap_id_src, self.cap_trace_src, self.cap_parent_src
    e.trace_given = PyBytes_FromStringAndSize(<char*>self.cap_trace_given, 16) if e.trace_src is None else None
    e.uses = 1
    e.plain = plain
    self.cap_id_src = self.cap_trace_src = self.cap_parent_src = None
    return self.cache.put(e, record)


cdef bint paste(TraceEncoder self, SpanPiece e) except -1:
    """Append a kept record's spans with this encoder's ids; False, with nothing written, when they lack a
    trace root this request needs (the keeper's request held it already)."""
    cdef Buf* b = &self.body
    cdef uint8_t trace_id[16]
    cdef uint8_t v[8]
    cdef uint64_t root_id = 0, x
    cdef Py_ssize_t known = -1, rslot, skip = 0, cut, n, base, i
    cdef const IdAt* ids = <const IdAt*>PyBytes_AS_STRING(e.ids)
    cdef const char* src
    cdef int kind
    cdef uint64_t salt = self.salt
    if e.trace_src is None:
        memcpy(trace_id, PyBytes_AS_STRING(e.trace_given), 16)
    else:
        src = PyBytes_AS_STRING(e.trace_src)
        store_be64(trace_id, hash64(src, PyBytes_GET_SIZE(e.trace_src), SEED_TRACE_HI ^ salt))
        store_be64(trace_id + 8, hash64(src, PyBytes_GET_SIZE(e.trace_src), SEED_TRACE_LO ^ salt))
    if e.draw_root:
        root_id = hash64(<const char*>trace_id, 16, SEED_ROOT ^ salt)
        known = self._find_root(trace_id, &rslot) if self.nroots else -1
        if known >= 0:
            skip = e.root_len
        elif e.root_len == 0:
            return False
    self.undo_slot = -1
    self.undo_changed = -1
    if known >= 0:
        self._root_seen(known, e.code, e.start, e.end)
    cut = skip + (1 if self.json and self.spans == 0 else 0)
    n = PyBytes_GET_SIZE(e.piece) - cut
    buf_need(b, n)
    base = b.len - cut
    memcpy(b.data + b.len, PyBytes_AS_STRING(e.piece) + cut, n)
    b.len += n
    for i in range(e.nids):
        if ids[i].at < skip:
            continue
        kind = ids[i].kind
        if kind == ID_TRACE:
            if self.json:
                hex_at(b.data + base + ids[i].at, trace_id, 16)
            else:
                memcpy(b.data + base + ids[i].at, trace_id, 16)
            continue
        if kind == ID_ROOT:
            x = root_id
        elif kind == ID_PARENT:
            x = hash64(PyBytes_AS_STRING(e.parent_src), PyBytes_GET_SIZE(e.parent_src), SEED_PARENT ^ salt)
        elif kind == ID_MID:
            x = hash64(PyBytes_AS_STRING(e.id_src), PyBytes_GET_SIZE(e.id_src), SEED_SPAN_MID ^ salt)
        elif kind == ID_GEN:
            x = hash64(PyBytes_AS_STRING(e.id_src), PyBytes_GET_SIZE(e.id_src), SEED_SPAN_GEN ^ salt)
        else:
            x = hash64(PyBytes_AS_STRING(e.id_src), PyBytes_GET_SIZE(e.id_src),
                       (SEED_ATTEMPT + kind - ID_ATTEMPT) ^ salt)
        store_be64(v, x)
        if self.json:
            hex_at(b.data + base + ids[i].at, v, 8)
        else:
            memcpy(b.data + base + ids[i].at, v, 8)
    if e.draw_root and known < 0:
        self._add_root(trace_id, e.code, e.start, e.end, base + e.root_code_at, base + e.root_start_at,
                       base + e.root_end_at)
    self.spans += e.nspans - (1 if skip else 0)
    return True
