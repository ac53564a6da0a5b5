# An OTLP/HTTP protobuf ExportTraceServiceRequest walked where it lies: the twin of the walk over the
# upb-parsed message in spancast.ingest.otlp_proto (same spans, attributes, events, groups, problems).
# Why: that walk reads every attribute through a protobuf object (~0.9 us each), most of /v1/traces' read.
# Fields are read in any order, unknown ones (and fields of an unexpected wire type) skipped as protobuf
# does; a singular field given twice: the last wins (strings, numbers) or the occurrences add up (the
# attributes of a resource, what a message holds), as a protobuf merge would. Strings must be UTF-8.

from libc.stdint cimport int32_t
import base64 as _base64

cdef enum:
    WT_VARINT = 0
    WT_I64 = 1
    WT_LEN = 2
    WT_SGROUP = 3
    WT_EGROUP = 4
    WT_I32 = 5
    OTLP_MAX_DEPTH = 100  # nested AnyValues (protobuf's own recursion limit)


class OtlpWireError(ValueError):
    """The bytes are not a well-formed protobuf message (truncated, a bad tag, invalid UTF-8)."""


cdef struct Cursor:
    const unsigned char* p
    Py_ssize_t i
    Py_ssize_t end


cdef uint64_t rd_varint(Cursor* c) except? 0xFFFFFFFFFFFFFFFF:
    cdef uint64_t v = 0
    cdef int shift = 0
    cdef unsigned char b
    while True:
        if c.i >= c.end or shift > 63:
            raise OtlpWireError("truncated or overlong varint")
        b = c.p[c.i]
        c.i += 1
        v |= (<uint64_t>(b & 0x7F)) << shift
        if b < 0x80:
            return v
        shift += 7


cdef Py_ssize_t rd_len(Cursor* c) except -1:
    """The length of a LEN field, checked against what is left; the cursor on its first byte."""
    cdef uint64_t n = rd_varint(c)
    if n > <uint64_t>(c.end - c.i):
        raise OtlpWireError("a length runs past the end of its message")
    return <Py_ssize_t>n


cdef uint64_t rd_fixed64(Cursor* c) except? 0xFFFFFFFFFFFFFFFF:
    cdef uint64_t v = 0
    cdef int k
    if c.end - c.i < 8:
        raise OtlpWireError("truncated fixed64")
    for k in range(8):
        v |= (<uint64_t>c.p[c.i + k]) << (8 * k)
    c.i += 8
    return v


cdef int skip_field(Cursor* c, uint64_t tag) except -1:
    cdef int wt = tag & 7
    cdef uint64_t inner
    if (tag >> 3) == 0 or (tag >> 3) > 0x1FFFFFFF:
        raise OtlpWireError("a field number out of range")
    if wt == WT_VARINT:
        rd_varint(c)
    elif wt == WT_I64:
        if c.end - c.i < 8:
            raise OtlpWireError("truncated fixed64")
        c.i += 8
    elif wt == WT_LEN:
        c.i += rd_len(c)
    elif wt == WT_I32:
        if c.end - c.i < 4:
            raise OtlpWireError("truncated fixed32")
        c.i += 4
    elif wt == WT_SGROUP:  # a group (proto2): skipped up to its own end tag
        while True:
            if c.i >= c.end:
                raise OtlpWireError("an unterminated group")
            inner = rd_varint(c)
            if (inner & 7) == WT_EGROUP:
                if (inner >> 3) != (tag >> 3):
                    raise OtlpWireError("a group ends with another's tag")
                return 0
            skip_field(c, inner)
    else:
        raise OtlpWireError(f"wire type {wt} where a field starts")
    return 0


cdef inline Cursor sub(Cursor* c, Py_ssize_t n) noexcept:
    """The n bytes at the cursor as a cursor of their own; the outer cursor moves past them."""
    cdef Cursor s
    s.p = c.p
    s.i = c.i
    s.end = c.i + n
    c.i += n
    return s


cdef object rd_str(Cursor* c, Py_ssize_t n):
    cdef Cursor s = sub(c, n)
    try:
        return PyUnicode_DecodeUTF8(<const char*>(s.p + s.i), n, NULL)
    except UnicodeDecodeError:
        raise OtlpWireError("a string field is not valid UTF-8") from None


cdef object rd_bytes(Cursor* c, Py_ssize_t n):
    cdef Cursor s = sub(c, n)
    return PyBytes_FromStringAndSize(<const char*>(s.p + s.i), n)


cdef object any_value(Cursor* m, int depth):
    """An AnyValue as a plain value: str, bool, int, float, list, dict (kvlist), bytes as base64 text; None
    when it holds none. The last member of the oneof on the wire wins."""
    cdef uint64_t tag
    cdef Py_ssize_t n
    cdef Cursor s, inner
    value = None
    if depth > OTLP_MAX_DEPTH:
        raise OtlpWireError("values nested too deep")
    while m.i < m.end:
        tag = rd_varint(m)
        if tag == 0x0A:  # 1 string_value
            value = rd_str(m, rd_len(m))
        elif tag == 0x10:  # 2 bool_value
            value = rd_varint(m) != 0
        elif tag == 0x18:  # 3 int_value
            value = <int64_t>rd_varint(m)
        elif tag == 0x21:  # 4 double_value
            value = _u64_double(rd_fixed64(m))
        elif tag == 0x2A:  # 5 array_value: ArrayValue { 1 values }
            n = rd_len(m)
            s = sub(m, n)
            items = []
            while s.i < s.end:
                tag = rd_varint(&s)
                if tag == 0x0A:
                    n = rd_len(&s)
                    inner = sub(&s, n)
                    items.append(any_value(&inner, depth + 1))
                else:
                    skip_field(&s, tag)
            value = items
        elif tag == 0x32:  # 6 kvlist_value: KeyValueList { 1 values }
            n = rd_len(m)
            s = sub(m, n)
            kv = {}
            while s.i < s.end:
                tag = rd_varint(&s)
                if tag == 0x0A:
                    n = rd_len(&s)
                    inner = sub(&s, n)
                    key_value(&inner, kv, depth + 1)
                else:
                    skip_field(&s, tag)
            value = kv
        elif tag == 0x3A:  # 7 bytes_value
            value = _base64.b64encode(rd_bytes(m, rd_len(m))).decode()
        else:
            skip_field(m, tag)
    return value


cdef int check_strings(Cursor* m, uint64_t str_tags, uint64_t kv_tags) except -1:
    """A message read for nothing but its validity, as protobuf's parser checks it: the fields whose
    numbers are set in str_tags are strings (UTF-8), those in kv_tags KeyValues (their values read)."""
    cdef uint64_t tag, no
    cdef Cursor s
    while m.i < m.end:
        tag = rd_varint(m)
        no = tag >> 3
        if (tag & 7) == WT_LEN and no < 64 and (str_tags >> no) & 1:
            rd_str(m, rd_len(m))
        elif (tag & 7) == WT_LEN and no < 64 and (kv_tags >> no) & 1:
            s = sub(m, rd_len(m))
            key_value(&s, {}, 0)
        else:
            skip_field(m, tag)
    return 0


cdef double _u64_double(uint64_t u) noexcept:
    cdef double d
    memcpy(&d, &u, 8)
    return d


cdef int key_value(Cursor* m, dict into, int depth) except -1:
    """A KeyValue { 1 key, 2 value } into a dict (a later key of the same name wins, as in a dict)."""
    cdef uint64_t tag
    cdef Py_ssize_t n
    cdef Cursor s
    key = ""
    value = None
    while m.i < m.end:
        tag = rd_varint(m)
        if tag == 0x0A:
            key = rd_str(m, rd_len(m))
        elif tag == 0x12:
            n = rd_len(m)
            s = sub(m, n)
            value = any_value(&s, depth + 1)
        else:
            skip_field(m, tag)
    into[key] = value
    return 0


cdef int attrs_into(Cursor* m, dict into) except -1:
    """Every KeyValue of field 1 of a Resource into the dict (its entity_refs, field 3, only checked)."""
    cdef uint64_t tag
    cdef Cursor s
    while m.i < m.end:
        tag = rd_varint(m)
        if tag == 0x0A:
            s = sub(m, rd_len(m))
            key_value(&s, into, 0)
        elif tag == 0x1A:  # EntityRef { 1 schema_url, 2 type, 3 id_keys, 4 description_keys }: strings
            s = sub(m, rd_len(m))
            check_strings(&s, 0b11110, 0)
        else:
            skip_field(m, tag)
    return 0


cdef tuple read_span(Cursor* m):
    """(trace_id, span_id, parent_span_id as bytes, name, kind, start, end, attributes, status code,
    status message, events [(name, time, attributes)])."""
    cdef uint64_t tag
    cdef Cursor s, e
    trace_id = span_id = parent = b""
    name, status_message = "", ""
    cdef int64_t kind = 0, status_code = 0
    cdef uint64_t start = 0, end = 0, etime
    attrs = {}
    events = []
    while m.i < m.end:
        tag = rd_varint(m)
        if tag == 0x0A:
            trace_id = rd_bytes(m, rd_len(m))
        elif tag == 0x12:
            span_id = rd_bytes(m, rd_len(m))
        elif tag == 0x22:
            parent = rd_bytes(m, rd_len(m))
        elif tag == 0x1A:  # 3 trace_state: not read, a string all the same
            rd_str(m, rd_len(m))
        elif tag == 0x6A:  # 13 links: Link { 3 trace_state, 4 attributes }, checked only
            s = sub(m, rd_len(m))
            check_strings(&s, 1 << 3, 1 << 4)
        elif tag == 0x2A:
            name = rd_str(m, rd_len(m))
        elif tag == 0x30:
            kind = <int32_t>rd_varint(m)
        elif tag == 0x39:
            start = rd_fixed64(m)
        elif tag == 0x41:
            end = rd_fixed64(m)
        elif tag == 0x4A:
            s = sub(m, rd_len(m))
            key_value(&s, attrs, 0)
        elif tag == 0x5A:  # 11 events: Event { 1 time, 2 name, 3 attributes }
            e = sub(m, rd_len(m))
            etime, ename, eattrs = 0, "", {}
            while e.i < e.end:
                tag = rd_varint(&e)
                if tag == 0x09:
                    etime = rd_fixed64(&e)
                elif tag == 0x12:
                    ename = rd_str(&e, rd_len(&e))
                elif tag == 0x1A:
                    s = sub(&e, rd_len(&e))
                    key_value(&s, eattrs, 0)
                else:
                    skip_field(&e, tag)
            events.append((ename, etime, eattrs))
        elif tag == 0x7A:  # 15 status: Status { 2 message, 3 code }
            s = sub(m, rd_len(m))
            while s.i < s.end:
                tag = rd_varint(&s)
                if tag == 0x12:
                    status_message = rd_str(&s, rd_len(&s))
                elif tag == 0x18:
                    status_code = <int32_t>rd_varint(&s)
                else:
                    skip_field(&s, tag)
        else:
            skip_field(m, tag)
    return (trace_id, span_id, parent, name, kind, start, end, attrs, status_code, status_message, events)


def read_otlp_protobuf(data):
    """The spans of an ExportTraceServiceRequest, in wire order, as
    [(r, s, k, group, span tuple (read_span), raw span bytes)] with group = (resource attributes, scope
    name, raw resource bytes, raw scope bytes, schema_url, scope schema_url), one per ScopeSpans and its
    resource's attributes one dict per ResourceSpans. OtlpWireError when the bytes are not such a message."""
    cdef const unsigned char[::1] view = data
    cdef Cursor top, rs, part, ss, sc, sp
    cdef uint64_t tag
    cdef Py_ssize_t n, start
    cdef int r = 0, s_no, k
    out = []
    top.p = &view[0] if view.shape[0] else NULL
    top.i = 0
    top.end = view.shape[0]
    while top.i < top.end:
        tag = rd_varint(&top)
        if tag != 0x0A:  # 1 resource_spans
            skip_field(&top, tag)
            continue
        rs = sub(&top, rd_len(&top))
        # The resource and schema_url first (they may follow the scope spans on the wire), then its spans.
        resource = {}
        raw_resource = []
        schema_url = ""
        part = rs
        while part.i < part.end:
            tag = rd_varint(&part)
            if tag == 0x0A:
                n = rd_len(&part)
                raw_resource.append(PyBytes_FromStringAndSize(<const char*>(part.p + part.i), n))
                ss = sub(&part, n)
                attrs_into(&ss, resource)
            elif tag == 0x1A:
                schema_url = rd_str(&part, rd_len(&part))
            else:
                skip_field(&part, tag)
        raw_res = b"".join(raw_resource)
        s_no = 0
        while rs.i < rs.end:
            tag = rd_varint(&rs)
            if tag != 0x12:  # 2 scope_spans
                skip_field(&rs, tag)
                continue
            ss = sub(&rs, rd_len(&rs))
            scope_name, scope_url = "", ""
            raw_scope = []
            part = ss
            while part.i < part.end:
                tag = rd_varint(&part)
                if tag == 0x0A:  # 1 scope: InstrumentationScope { 1 name }
                    n = rd_len(&part)
                    raw_scope.append(PyBytes_FromStringAndSize(<const char*>(part.p + part.i), n))
                    sc = sub(&part, n)
                    while sc.i < sc.end:
                        tag = rd_varint(&sc)
                        if tag == 0x0A:
                            scope_name = rd_str(&sc, rd_len(&sc))
                        elif tag == 0x12:  # 2 version: not read, a string all the same
                            rd_str(&sc, rd_len(&sc))
                        elif tag == 0x1A:  # 3 attributes: checked only
                            sp = sub(&sc, rd_len(&sc))
                            key_value(&sp, {}, 0)
                        else:
                            skip_field(&sc, tag)
                elif tag == 0x1A:
                    scope_url = rd_str(&part, rd_len(&part))
                else:
                    skip_field(&part, tag)
            group = (resource, scope_name, raw_res, b"".join(raw_scope), schema_url, scope_url)
            k = 0
            while ss.i < ss.end:
                tag = rd_varint(&ss)
                if tag != 0x12:  # 2 spans
                    skip_field(&ss, tag)
                    continue
                n = rd_len(&ss)
                start = ss.i
                sp = sub(&ss, n)
                out.append((r, s_no, k, group, read_span(&sp),
                            PyBytes_FromStringAndSize(<const char*>(ss.p + start), n)))
                k += 1
            s_no += 1
        r += 1
    return out
