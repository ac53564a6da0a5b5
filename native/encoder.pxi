# The trace encoder: records straight to OTLP protobuf or OTLP JSON span bytes, guided by an
# attribute plan. The wire format and field numbers are tabled at the top of
# src/spancast/codec/_py.py; this file writes the same fields in the same order, and cuts string
# attribute values to max_value_chars code points as the twin does (see its docstring).

cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem
from cpython.mem cimport PyMem_Malloc
from libc.string cimport memcmp, strlen

from spancast.codec import _py
from spancast.codec._cache import encode_with
from spancast.codec.envelope import EMPTY_JSON, Envelope
from spancast.codec.plan import Op, get_plan

cdef enum:
    OP_STR = 1
    OP_STR_LOWER = 2
    OP_STR_OR = 3
    OP_STR_ARRAY = 4
    OP_INT = 5
    OP_DOUBLE = 6
    OP_BOOL = 7
    OP_CONST = 8
    OP_EXPAND = 9
    OP_JSON = 10
    OP_JSON_OBJECT = 11
    OP_TEXT_OR_JSON = 12
    OP_MIME_OF = 13
    OP_MESSAGES = 14
    OP_OUTPUT_MESSAGE = 15
    OP_CUSTOM_JSON = 16
    OP_ENTRY = 17

#: The op numbers this module was compiled with; a test checks them against spancast.codec.plan.Op.
OPS = {
    "STR": OP_STR, "STR_LOWER": OP_STR_LOWER, "STR_OR": OP_STR_OR, "STR_ARRAY": OP_STR_ARRAY,
    "INT": OP_INT, "DOUBLE": OP_DOUBLE, "BOOL": OP_BOOL, "CONST": OP_CONST, "EXPAND": OP_EXPAND,
    "JSON": OP_JSON, "JSON_OBJECT": OP_JSON_OBJECT, "TEXT_OR_JSON": OP_TEXT_OR_JSON,
    "MIME_OF": OP_MIME_OF, "MESSAGES": OP_MESSAGES, "OUTPUT_MESSAGE": OP_OUTPUT_MESSAGE,
    "CUSTOM_JSON": OP_CUSTOM_JSON, "ENTRY": OP_ENTRY,
}

cdef enum:
    KIND_INTERNAL = 1
    KIND_CLIENT = 3
    STATUS_OK = 1
    STATUS_ERROR = 2


cdef enum:
    SEED_TRACE_HI = 1
    SEED_TRACE_LO = 2
    SEED_SPAN_GEN = 3
    SEED_SPAN_MID = 4
    SEED_PARENT = 5
    SEED_ATTEMPT = 256


cdef inline Py_ssize_t utf8_prefix(const char* p, Py_ssize_t n, Py_ssize_t max_chars) noexcept:
    """How many bytes the first max_chars code points of the valid UTF-8 text p[0:n] take."""
    cdef Py_ssize_t i, chars = 0
    for i in range(n):
        if (<uint8_t>p[i] & 0xC0) != 0x80:  # a lead byte starts the next code point
            if chars == max_chars:
                return i
            chars += 1
    return n


cdef struct Step:
    int op
    Py_ssize_t off
    Py_ssize_t off2
    double scale
    const char* key
    Py_ssize_t keylen
    PyObject* arg        # borrowed; owned by TraceEncoder._plan_refs
    PyObject* name       # field name, for errors
    PyObject* name2
    int nparts           # JSON_OBJECT: its members, resolved to offsets and written keys
    Py_ssize_t part_off[4]
    PyObject* part_key[4]   # '"messages":' (bytes, owned by _plan_refs)
    PyObject* part_key2[4]  # the same escaped again, for OTLP JSON


cdef struct SpanHead:
    uint8_t trace_id[16]
    uint8_t span_id[8]
    uint8_t parent[8]
    bint has_parent
    const char* name
    Py_ssize_t name_len
    int kind
    uint64_t start
    uint64_t end


@cython.final
cdef class TraceEncoder:
    """Appends records one by one into one ExportTraceServiceRequest; knows its exact size so far."""

    cdef Buf body          # [headroom for the envelope head][spans...]
    cdef Buf scratch       # nested JSON text of one value
    cdef Buf keyb          # a key built from a prefix and an index or a mapping key
    cdef Py_ssize_t head_room
    cdef bint json
    cdef Step* steps
    cdef Py_ssize_t nsteps
    cdef list _plan_refs
    cdef list _keep        # temporaries whose UTF-8 buffers are in use during one append
    cdef list _mid_attrs   # (key bytes, value bytes) of the intermediate span
    cdef bytes prefix, suffix, resource_field, scope_field
    cdef Py_ssize_t nattrs  # attributes written in the current span (JSON commas)
    cdef int level          # how many times nested JSON text is escaped: 1, or 2 in OTLP JSON
    cdef Py_ssize_t nested_at  # where the attribute holding nested JSON text starts (protobuf)
    cdef Py_ssize_t max_chars  # string attribute values are cut to this many code points; -1: no cut
    cdef uint64_t salt         # xor-ed into every id hash's seed: each destination derives its own ids
    cdef readonly str format
    cdef readonly object plan
    cdef readonly object envelope
    cdef readonly Py_ssize_t records
    cdef readonly Py_ssize_t spans

    def __cinit__(self):
        self.steps = NULL

    def __init__(self, *, format="protobuf", flavor="gen_ai", resource=None, max_value_chars=None, id_salt=0):
        if format not in ("protobuf", "json"):
            raise ValueError(f"unknown format {format!r}; expected 'protobuf' or 'json'")
        self.format = format
        self.json = format == "json"
        self.plan = get_plan(flavor)
        self.max_chars = _py.check_max_value_chars(max_value_chars)
        self.salt = _py.check_id_salt(id_salt)
        # With a cut, nested JSON text is written once into scratch, cut, then written as a string.
        self.level = 2 if self.json and self.max_chars < 0 else 1
        self.envelope = Envelope(format, _py.resource_attrs(resource, self.max_chars))
        self.prefix = self.envelope.prefix
        self.suffix = self.envelope.suffix
        self.resource_field = self.envelope.resource_field
        self.scope_field = self.envelope.scope_field
        self._keep = []
        self._compile(self.plan)
        # Room for the longest head: JSON's fixed prefix, or protobuf's two tags, two varints and two fields.
        if self.json:
            self.head_room = len(self.prefix)
        else:
            self.head_room = 2 + 20 + len(self.resource_field) + len(self.scope_field)
        buf_need(&self.body, self.head_room + 65536)
        self.body.len = self.head_room
        if self.json:
            memcpy(self.body.data, PyBytes_AS_STRING(self.prefix), self.head_room)

    def __dealloc__(self):
        buf_free(&self.body)
        buf_free(&self.scratch)
        buf_free(&self.keyb)
        PyMem_Free(self.steps)

    cdef _compile(self, plan):
        cdef Step* s
        cdef Py_ssize_t i
        self._plan_refs = []
        self.nsteps = len(plan.steps)
        self.steps = <Step*>PyMem_Malloc(sizeof(Step) * (self.nsteps + 1))
        if self.steps == NULL:
            raise MemoryError()
        for i, (op, key, field, arg) in enumerate(plan.steps):
            s = &self.steps[i]
            kb = key.encode("utf-8")  # get_plan() checked it needs no escaping in JSON
            self._plan_refs.append(kb)
            s.op = int(op)
            s.key = PyBytes_AS_STRING(kb)
            s.keylen = len(kb)
            s.off = GEN[field] if field is not None else -1
            s.off2 = -1
            s.scale = 1.0
            s.arg = NULL
            s.name = <PyObject*>field
            s.name2 = <PyObject*>None
            s.nparts = 0
            if op == Op.STR_OR:
                s.off2 = GEN[arg]
                s.name2 = <PyObject*>arg
            elif op == Op.DOUBLE:
                s.scale = arg
            elif op == Op.CONST:
                ref = arg.encode("utf-8")
                self._plan_refs.append(ref)
                s.arg = <PyObject*>ref
            elif op == Op.EXPAND or op == Op.CUSTOM_JSON:
                ref = tuple(sorted(k.encode("utf-8") for k in arg))  # compared as UTF-8 in in_skip()
                self._plan_refs.append(ref)
                s.arg = <PyObject*>ref if ref else NULL
            elif op == Op.JSON_OBJECT:
                if len(arg) > 4:
                    raise ValueError(f"plan {plan.name}: {key!r} has more than 4 members")
                s.nparts = len(arg)
                for j, (member, fname) in enumerate(arg):
                    # each JSON key as written in plain JSON text, and escaped again inside an OTLP JSON string
                    k1, k2 = f'"{member}":'.encode(), f'\\"{member}\\":'.encode()
                    self._plan_refs += [k1, k2]
                    s.part_off[j] = GEN[fname]
                    s.part_key[j] = <PyObject*>k1
                    s.part_key2[j] = <PyObject*>k2
                s.name = <PyObject*>key  # its errors name the attribute, as the Python twin does
                self._plan_refs.append(key)
            elif op == Op.ENTRY:
                self._plan_refs.append(arg)
                s.arg = <PyObject*>arg
            elif op == Op.TEXT_OR_JSON or op == Op.MIME_OF:
                s.off = GEN[arg[0]]
                s.name = <PyObject*>arg[0]
                if arg[1] is not None:
                    s.off2 = GEN[arg[1]]
                    s.name2 = <PyObject*>arg[1]
            self._plan_refs.append(field)
        self._mid_attrs = [(k.encode("utf-8"), v.encode("utf-8")) for k, v in plan.intermediate]

    # ------------------------------------------------------------ attribute writers

    cdef char* _kv_open(self, const char* k, Py_ssize_t kn, Py_ssize_t av_len) except NULL:
        """Protobuf: a span attribute up to its AnyValue body; returns where the body goes (room reserved)."""
        cdef Buf* b = &self.body
        cdef Py_ssize_t kv_len = 1 + vsize(kn) + kn + 1 + vsize(av_len) + av_len
        buf_need(b, 1 + vsize(kv_len) + kv_len)
        cdef char* p = b.data + b.len
        p = wbyte(p, 0x4A)
        p = wvarint(p, kv_len)
        p = wbyte(p, 0x0A)
        p = wvarint(p, kn)
        p = wcopy(p, k, kn)
        p = wbyte(p, 0x12)
        return wvarint(p, av_len)

    cdef int _json_kv_open(self, const char* k, Py_ssize_t kn) except -1:
        cdef Buf* b = &self.body
        if self.nattrs:
            put_cstr(b, ',{"key":"')
        else:
            put_cstr(b, '{"key":"')
        if k == self.keyb.data:  # built from record data: escape it
            put_escaped(b, k, kn)
        else:  # a key of the plan or of this file, checked to need no escaping
            put_lit(b, k, kn)
        put_cstr(b, '","value":')
        self.nattrs += 1
        return 0

    cdef int kv_str(self, const char* k, Py_ssize_t kn, const char* v, Py_ssize_t vn) except -1:
        cdef Buf* b = &self.body
        cdef char* p
        if vn > self.max_chars >= 0:  # never more code points than bytes: only then can it be too long
            vn = utf8_prefix(v, vn, self.max_chars)
        if self.json:
            self._json_kv_open(k, kn)
            put_cstr(b, '{"stringValue":"')
            put_escaped(b, v, vn)
            put_cstr(b, '"}}')
        else:
            p = self._kv_open(k, kn, 1 + vsize(vn) + vn)
            p = wbyte(p, 0x0A)
            p = wvarint(p, vn)
            p = wcopy(p, v, vn)
            b.len = p - b.data
        return 0

    cdef int kv_str_array1(self, const char* k, Py_ssize_t kn, const char* v, Py_ssize_t vn) except -1:
        cdef Buf* b = &self.body
        cdef Py_ssize_t item_len, arr_len
        cdef char* p
        if vn > self.max_chars >= 0:
            vn = utf8_prefix(v, vn, self.max_chars)
        if self.json:
            self._json_kv_open(k, kn)
            put_cstr(b, '{"arrayValue":{"values":[{"stringValue":"')
            put_escaped(b, v, vn)
            put_cstr(b, '"}]}}}')
        else:
            item_len = 1 + vsize(vn) + vn
            arr_len = 1 + vsize(item_len) + item_len
            p = self._kv_open(k, kn, 1 + vsize(arr_len) + arr_len)
            p = wbyte(p, 0x2A)
            p = wvarint(p, arr_len)
            p = wbyte(p, 0x0A)
            p = wvarint(p, item_len)
            p = wbyte(p, 0x0A)
            p = wvarint(p, vn)
            p = wcopy(p, v, vn)
            b.len = p - b.data
        return 0

    cdef int kv_int(self, const char* k, Py_ssize_t kn, int64_t v) except -1:
        cdef Buf* b = &self.body
        cdef char* p
        if self.json:
            self._json_kv_open(k, kn)
            put_cstr(b, '{"intValue":"')
            put_i64_dec(b, v)
            put_cstr(b, '"}}')
        else:
            p = self._kv_open(k, kn, 1 + vsize(<uint64_t>v))
            p = wbyte(p, 0x18)
            p = wvarint(p, <uint64_t>v)
            b.len = p - b.data
        return 0

    cdef int kv_double(self, const char* k, Py_ssize_t kn, double v) except -1:
        cdef Buf* b = &self.body
        cdef uint64_t bits
        cdef char* p
        if self.json:
            self._json_kv_open(k, kn)
            if isfinite(v):
                put_cstr(b, '{"doubleValue":')
                put_double_repr(b, v)
                put_cstr(b, '}}')
            elif v != v:
                put_cstr(b, '{"doubleValue":"NaN"}}')
            elif v > 0:
                put_cstr(b, '{"doubleValue":"Infinity"}}')
            else:
                put_cstr(b, '{"doubleValue":"-Infinity"}}')
        else:
            p = self._kv_open(k, kn, 9)
            p = wbyte(p, 0x21)
            memcpy(&bits, &v, 8)
            p = wfixed64(p, bits)
            b.len = p - b.data
        return 0

    cdef int kv_bool(self, const char* k, Py_ssize_t kn, bint v) except -1:
        cdef Buf* b = &self.body
        cdef char* p
        if self.json:
            self._json_kv_open(k, kn)
            if v:
                put_cstr(b, '{"boolValue":true}}')
            else:
                put_cstr(b, '{"boolValue":false}}')
        else:
            p = self._kv_open(k, kn, 2)
            p = wbyte(p, 0x10)
            p = wbyte(p, 1 if v else 0)
            b.len = p - b.data
        return 0

    cdef int kv_null(self, const char* k, Py_ssize_t kn) except -1:
        if self.json:
            self._json_kv_open(k, kn)
            put_cstr(&self.body, '{}}')
        else:
            self.body.len = self._kv_open(k, kn, 0) - self.body.data
        return 0

    cdef int kv_scratch(self, const char* k, Py_ssize_t kn) except -1:
        return self.kv_str(k, kn, self.scratch.data, self.scratch.len)

    cdef Buf* nested_open(self, const char* k, Py_ssize_t kn) except NULL:
        """Where the JSON text of a string attribute goes: straight into the body either way. In an
        OTLP JSON document it is escaped twice; in protobuf its three enclosing lengths are not
        known yet, so each gets a 2-byte slot (right for 128 B to 16 KiB) that nested_close() fills.
        With max_value_chars the text goes to scratch instead (once escaped), for nested_close() to cut."""
        cdef char* p
        if self.max_chars >= 0:
            self.scratch.len = 0
            return &self.scratch
        if self.json:
            self._json_kv_open(k, kn)
            put_cstr(&self.body, '{"stringValue":"')
            return &self.body
        buf_need(&self.body, 1 + 2 + 1 + vsize(kn) + kn + 1 + 2 + 1 + 2)
        p = self.body.data + self.body.len
        self.nested_at = self.body.len
        p = wbyte(p, 0x4A) + 2
        p = wvarint(wbyte(p, 0x0A), kn)
        p = wcopy(p, k, kn)
        p = wbyte(p, 0x12) + 2
        p = wbyte(p, 0x0A) + 2
        self.body.len = p - self.body.data
        return &self.body

    cdef int nested_close(self, const char* k, Py_ssize_t kn) except -1:
        cdef Buf* b = &self.body
        cdef Py_ssize_t head = 1 + 2 + 1 + vsize(kn) + kn + 1 + 2 + 1 + 2
        cdef Py_ssize_t text = b.len - self.nested_at - head
        cdef Py_ssize_t av_len, kv_len, exact, shift
        cdef char* p
        if self.max_chars >= 0:
            return self.kv_str(k, kn, self.scratch.data, self.scratch.len)
        if self.json:
            return put_cstr(b, '"}}')
        av_len = 1 + vsize(text) + text
        kv_len = 1 + vsize(kn) + kn + 1 + vsize(av_len) + av_len
        exact = 1 + vsize(kv_len) + kv_len - text
        shift = exact - head
        if shift > 0:
            buf_need(b, shift)
        if shift != 0:  # a length that is not 2 bytes long: move the text to fit the exact header
            memmove(b.data + self.nested_at + exact, b.data + self.nested_at + head, text)
            b.len += shift
        p = b.data + self.nested_at
        p = wvarint(wbyte(p, 0x4A), kv_len)
        p = wvarint(wbyte(p, 0x0A), kn)
        p = wcopy(p, k, kn)
        p = wvarint(wbyte(p, 0x12), av_len)
        wvarint(wbyte(p, 0x0A), text)
        return 0

    cdef int kv_json(self, const char* k, Py_ssize_t kn, object v, object field, object subkey=None) except -1:
        json_value(self.nested_open(k, kn), v, field, subkey, 1, self._keep, self.level)
        return self.nested_close(k, kn)

    cdef int kv_text(self, const char* k, Py_ssize_t kn, object v, object field) except -1:
        cdef Py_ssize_t n
        cdef const char* p
        if not PyUnicode_Check(v):
            text_of(v, field)  # raises
        p = utf8_of(v, &n, self._keep)
        return self.kv_str(k, kn, p, n)

    cdef int kv_typed(self, const char* k, Py_ssize_t kn, object v, object field, object subkey) except -1:
        cdef int overflow = 0
        cdef long long iv
        if v is None:
            return self.kv_null(k, kn)
        if v is True or v is False:
            return self.kv_bool(k, kn, v is True)
        if PyUnicode_Check(v):
            return self.kv_text(k, kn, v, field)
        if PyLong_Check(v):
            iv = PyLong_AsLongLongAndOverflow(v, &overflow)
            if overflow == 0:
                return self.kv_int(k, kn, iv)
            self.scratch.len = 0
            put_int_dec(&self.scratch, v)
            return self.kv_scratch(k, kn)
        if PyFloat_Check(v):
            return self.kv_double(k, kn, PyFloat_AS_DOUBLE(v))
        if PyList_Check(v) or PyTuple_Check(v) or PyDict_Check(v):
            return self.kv_json(k, kn, v, field, subkey)
        raise EncodeError(field_name(field, subkey), f"unsupported type {type(v).__name__}")

    # ------------------------------------------------------------ keys built on the fly

    cdef int key_put(self, const char* p, Py_ssize_t n) except -1:
        return put_lit(&self.keyb, p, n)

    cdef int key_index(self, Py_ssize_t i) except -1:
        return put_u64_dec(&self.keyb, <uint64_t>i)

    cdef int msg_attrs(self, object role, object content, object tool_calls, object field) except -1:
        """role / content / tool_calls.N.tool_call.* under the key prefix already in keyb."""
        cdef Py_ssize_t base = self.keyb.len, base2, j, n
        cdef const char* p
        if role is not None and PyUnicode_Check(role):
            self.key_put("role", 4)
            self.kv_text(self.keyb.data, self.keyb.len, role, field)
            self.keyb.len = base
        if content is not None:
            self.key_put("content", 7)
            if PyUnicode_Check(content):
                self.kv_text(self.keyb.data, self.keyb.len, content, field)
            else:
                self.kv_json(self.keyb.data, self.keyb.len, content, field)
            self.keyb.len = base
        if not (PyList_Check(tool_calls) or PyTuple_Check(tool_calls)):
            return 0
        for j, call in enumerate(tool_calls):
            if not PyDict_Check(call):
                continue
            self.keyb.len = base
            self.key_put("tool_calls.", 11)
            self.key_index(j)
            self.key_put(".tool_call.", 11)
            base2 = self.keyb.len
            call_id = (<dict>call).get("id")
            if call_id is not None and PyUnicode_Check(call_id):
                self.key_put("id", 2)
                self.kv_text(self.keyb.data, self.keyb.len, call_id, field)
                self.keyb.len = base2
            fn = (<dict>call).get("function")
            if fn is not None and PyDict_Check(fn):
                name = (<dict>fn).get("name")
                if name is not None and PyUnicode_Check(name):
                    self.key_put("function.name", 13)
                    self.kv_text(self.keyb.data, self.keyb.len, name, field)
                    self.keyb.len = base2
                args = (<dict>fn).get("arguments")
                if args is not None:
                    self.key_put("function.arguments", 18)
                    if PyUnicode_Check(args):
                        self.kv_text(self.keyb.data, self.keyb.len, args, field)
                    else:
                        self.kv_json(self.keyb.data, self.keyb.len, args, field)
                    self.keyb.len = base2
        self.keyb.len = base
        return 0

    # ------------------------------------------------------------ the plan

    cdef int simple_step(self, Step* s, PyObject* raw) except -1:
        """One str / int / double / bool field, read through a borrowed pointer (no reference counting
        on the path every record takes); the checked object-level helpers only run to raise."""
        cdef Py_ssize_t n
        cdef const char* p
        cdef int overflow = 0
        cdef long long iv
        cdef double d
        cdef int truth
        cdef Py_ssize_t i
        if s.op == OP_STR or s.op == OP_STR_ARRAY:
            if not PyUnicode_Check_p(raw):
                text_of(<object>raw, <object>s.name)
            if PyUnicode_IS_COMPACT_ASCII_p(raw):
                p = <const char*>PyUnicode_DATA_p(raw)
                n = PyUnicode_GET_LENGTH_p(raw)
            else:
                p = utf8_of(<object>raw, &n, self._keep)
            if s.op == OP_STR:
                return self.kv_str(s.key, s.keylen, p, n)
            return self.kv_str_array1(s.key, s.keylen, p, n)
        if s.op == OP_INT:
            if PyLong_Check_p(raw):
                iv = PyLong_AsLongLongAndOverflow_p(raw, &overflow)
                if overflow == 0:
                    return self.kv_int(s.key, s.keylen, iv)
            return self.kv_int(s.key, s.keylen, int64_of(<object>raw, <object>s.name))
        if s.op == OP_DOUBLE:
            d = PyFloat_AS_DOUBLE_p(raw) if PyFloat_CheckExact_p(raw) else double_of(<object>raw, <object>s.name)
            return self.kv_double(s.key, s.keylen, d if s.scale == 1.0 else d * s.scale)
        if s.op == OP_BOOL:
            truth = PyObject_IsTrue_p(raw)
            if truth < 0:
                return -1  # its exception is set
            return self.kv_bool(s.key, s.keylen, truth)
        # STR_LOWER: the general path
        v = <object>raw
        text_of(v, <object>s.name)
        if PyUnicode_IS_COMPACT_ASCII(v):  # ASCII lower-cases byte by byte, as str.lower() does
            n = PyUnicode_GET_LENGTH(v)
            self.scratch.len = 0
            buf_need(&self.scratch, n)
            p = <const char*>PyUnicode_DATA(v)
            for i in range(n):
                self.scratch.data[i] = <char>(p[i] + 32 if 65 <= p[i] <= 90 else p[i])
            self.scratch.len = n
            return self.kv_scratch(s.key, s.keylen)
        return self.kv_text(s.key, s.keylen, v.lower(), <object>s.name)

    cdef int run_plan(self, object rec) except -1:
        cdef Step* s
        cdef Py_ssize_t i, n, pos
        cdef const char* p
        cdef PyObject* k
        cdef PyObject* val
        cdef double d
        cdef bint first
        cdef PyObject* raw
        cdef PyObject* jk
        cdef Py_ssize_t j
        cdef Buf* nb
        for i in range(self.nsteps):
            s = &self.steps[i]
            if s.off >= 0:
                raw = fraw(rec, s.off)
                if s.op <= OP_BOOL and s.op != OP_STR_OR:
                    if raw != NULL and raw != <PyObject*>None:  # an absent field writes nothing
                        self.simple_step(s, raw)
                    continue
                v = <object>raw if raw != NULL else None
            else:
                v = None
            if s.op == OP_STR_OR:
                if v is not None:
                    self.kv_text(s.key, s.keylen, v, <object>s.name)
                else:
                    v = fget(rec, s.off2)
                    if v is not None:
                        self.kv_text(s.key, s.keylen, v, <object>s.name2)
            elif s.op == OP_CONST:
                self.kv_str(s.key, s.keylen, PyBytes_AS_STRING(<bytes>s.arg), PyBytes_GET_SIZE(<bytes>s.arg))
            elif s.op == OP_EXPAND:
                if v is not None:
                    if not PyDict_Check(v):
                        raise EncodeError(<object>s.name, f"expected an object, got {type(v).__name__}")
                    pos = 0
                    while PyDict_Next(v, &pos, &k, &val):
                        if not PyUnicode_Check(<object>k):
                            raise EncodeError(<object>s.name, f"key {(<object>k)!r} is not a string")
                        p = utf8_of(<object>k, &n, self._keep)
                        if s.arg != NULL and in_skip(<tuple>s.arg, p, n):
                            continue
                        self.keyb.len = 0
                        self.key_put(s.key, s.keylen)
                        self.key_put(p, n)
                        self.kv_typed(self.keyb.data, self.keyb.len, <object>val, <object>s.name, <object>k)
            elif s.op == OP_JSON:
                if v is not None:
                    self.kv_json(s.key, s.keylen, v, <object>s.name)
            elif s.op == OP_JSON_OBJECT:
                nb = NULL
                for j in range(s.nparts):
                    raw = fraw(rec, s.part_off[j])
                    if raw == NULL or raw == <PyObject*>None:
                        continue
                    if nb == NULL:
                        nb = self.nested_open(s.key, s.keylen)
                        put_char(nb, b'{')
                    else:
                        put_char(nb, b',')
                    jk = s.part_key2[j] if self.level == 2 else s.part_key[j]
                    put_lit(nb, PyBytes_AS_STRING(<object>jk), PyBytes_GET_SIZE(<object>jk))
                    json_value(nb, <object>raw, <object>s.name, None, 2, self._keep, self.level)
                if nb != NULL:
                    put_char(nb, b'}')
                    self.nested_close(s.key, s.keylen)
            elif s.op == OP_TEXT_OR_JSON or s.op == OP_MIME_OF:
                other = fget(rec, s.off2) if s.off2 >= 0 else None
                if v is not None:
                    if s.op == OP_MIME_OF:
                        self.kv_str(s.key, s.keylen, "text/plain", 10)
                    else:
                        self.kv_text(s.key, s.keylen, v, <object>s.name)
                elif other is not None:
                    if s.op == OP_MIME_OF:
                        self.kv_str(s.key, s.keylen, "application/json", 16)
                    else:
                        self.kv_json(s.key, s.keylen, other, <object>s.name2)
            elif s.op == OP_MESSAGES:
                if PyList_Check(v) or PyTuple_Check(v):
                    for j, msg in enumerate(v):
                        if not PyDict_Check(msg):
                            continue
                        self.keyb.len = 0
                        self.key_put(s.key, s.keylen)
                        self.key_index(j)
                        self.key_put(".message.", 9)
                        self.msg_attrs((<dict>msg).get("role"), (<dict>msg).get("content"),
                                       (<dict>msg).get("tool_calls"), <object>s.name)
            elif s.op == OP_OUTPUT_MESSAGE:
                completion = fget(rec, F_COMPLETION)
                tool_calls = fget(rec, F_TOOL_CALLS)
                if completion is not None or tool_calls is not None:
                    self.keyb.len = 0
                    self.key_put(s.key, s.keylen)
                    self.key_put("0.message.", 10)
                    self.msg_attrs("assistant", completion, tool_calls, "completion")
            elif s.op == OP_ENTRY:
                if v is not None:
                    if not PyDict_Check(v):
                        raise EncodeError(<object>s.name, f"expected an object, got {type(v).__name__}")
                    val = PyDict_GetItem(v, <object>s.arg)  # borrowed; the record holds the dict
                    if val != NULL and val != <PyObject*>None:
                        self.kv_typed(s.key, s.keylen, <object>val, <object>s.name, <object>s.arg)
            elif s.op == OP_CUSTOM_JSON:
                if v is not None:
                    if not PyDict_Check(v):
                        raise EncodeError(<object>s.name, f"expected an object, got {type(v).__name__}")
                    nb = NULL
                    pos = 0
                    while PyDict_Next(v, &pos, &k, &val):
                        if not PyUnicode_Check(<object>k):
                            raise EncodeError(<object>s.name, f"object key {(<object>k)!r} is not a string")
                        p = utf8_of(<object>k, &n, self._keep)
                        if s.arg != NULL and in_skip(<tuple>s.arg, p, n):
                            continue
                        if nb == NULL:
                            nb = self.nested_open(s.key, s.keylen)
                            put_char(nb, b'{')
                        else:
                            put_char(nb, b',')
                        put_quoted(nb, p, n, self.level)
                        put_char(nb, b':')
                        json_value(nb, <object>val, <object>s.name, None, 2, self._keep, self.level)
                    if nb != NULL:
                        put_char(nb, b'}')
                        self.nested_close(s.key, s.keylen)
        return 0

    # ------------------------------------------------------------ spans

    cdef Py_ssize_t span_open(self, SpanHead* h) except -1:
        cdef Buf* b = &self.body
        cdef Py_ssize_t slot = 0
        cdef char* p
        self.nattrs = 0
        if self.json:
            if self.spans:
                put_char(b, b',')
            buf_need(b, 128)
            put(b, '{"traceId":"', strlen('{"traceId":"'))
            put_hex(b, h.trace_id, 16)
            put(b, '","spanId":"', strlen('","spanId":"'))
            put_hex(b, h.span_id, 8)
            if h.has_parent:
                put(b, '","parentSpanId":"', strlen('","parentSpanId":"'))
                put_hex(b, h.parent, 8)
            put(b, '","name":"', strlen('","name":"'))
            put_escaped(b, h.name, h.name_len)
            put_cstr(b, '","kind":')
            put_u64_dec(b, h.kind)
            put_cstr(b, ',"startTimeUnixNano":"')
            put_u64_dec(b, h.start)
            put_cstr(b, '","endTimeUnixNano":"')
            put_u64_dec(b, h.end)
            put_cstr(b, '","attributes":[')
        else:
            buf_need(b, 3 + 18 + 10 + 10 + 1 + vsize(h.name_len) + h.name_len + 2 + 18)
            p = wbyte(b.data + b.len, 0x12)
            slot = p - b.data
            p += 2  # most spans are 128 B to 16 KiB: a 2-byte length, patched at the end
            p = wbyte(wbyte(p, 0x0A), 16)
            p = wcopy(p, h.trace_id, 16)
            p = wbyte(wbyte(p, 0x12), 8)
            p = wcopy(p, h.span_id, 8)
            if h.has_parent:
                p = wbyte(wbyte(p, 0x22), 8)
                p = wcopy(p, h.parent, 8)
            p = wbyte(p, 0x2A)
            p = wvarint(p, h.name_len)
            p = wcopy(p, h.name, h.name_len)
            p = wvarint(wbyte(p, 0x30), h.kind)
            p = wfixed64(wbyte(p, 0x39), h.start)
            p = wfixed64(wbyte(p, 0x41), h.end)
            b.len = p - b.data
        return slot

    cdef int span_close(self, Py_ssize_t slot, int code, const char* msg, Py_ssize_t msg_len) except -1:
        cdef Buf* b = &self.body
        cdef Py_ssize_t status_len
        if self.json:
            put_cstr(b, '],"status":{')
            if msg != NULL:
                put_cstr(b, '"message":"')
                put_escaped(b, msg, msg_len)
                put_cstr(b, '",')
            put_cstr(b, '"code":')
            put_u64_dec(b, code)
            put_cstr(b, '}}')
        else:
            status_len = 2 + (1 + vsize(msg_len) + msg_len if msg != NULL else 0)
            buf_need(b, 2 + status_len)
            put_byte(b, 0x7A)
            put_varint(b, status_len)
            if msg != NULL:
                put_byte(b, 0x12)
                put_varint(b, msg_len)
                put(b, msg, msg_len)
            put_byte(b, 0x18)
            put_varint(b, code)
            patch_len(b, slot, 2)
        self.spans += 1
        return 0

    cdef int _append(self, object rec) except -1:
        cdef SpanHead h
        cdef SpanHead mid
        cdef Py_ssize_t n, idn, slot, tn
        cdef const char* idp
        cdef const char* p
        cdef const char* msgp = NULL
        cdef Py_ssize_t msgn = 0
        cdef uint64_t start, end, cursor, stop, duration
        cdef uint8_t gen_span_id[8]
        cdef bint has_mid = False, failed
        cdef int code = STATUS_OK
        cdef double latency
        cdef int64_t status_code
        if not is_instance(rec, GEN_TYPE):
            raise EncodeError("<record>", f"expected spancast.Generation, got {type(rec).__name__}")
        trace = fget(rec, F_TRACE)
        if trace is not None and not PyDict_Check(trace):
            raise EncodeError("trace", f"expected an object, got {type(trace).__name__}")
        idp = utf8_of(text_of(fget(rec, F_ID), "id"), &idn, self._keep)
        start = time_of(fget(rec, F_START), "start_time_ns")
        end = time_of(fget(rec, F_END), "end_time_ns")

        cdef PyObject* tk[5]
        trace_keys(trace, tk)
        trace_text = id_text(tk[K_TRACE_ID], "trace_id")
        original_trace = None
        if trace_text is not None:
            p = utf8_of(trace_text, &tn, self._keep)
            if not parse_id(p, tn, 16, h.trace_id):
                store_be64(h.trace_id, hash64(p, tn, SEED_TRACE_HI ^ self.salt))
                store_be64(h.trace_id + 8, hash64(p, tn, SEED_TRACE_LO ^ self.salt))
                original_trace = trace_text
        else:
            store_be64(h.trace_id, hash64(idp, idn, SEED_TRACE_HI ^ self.salt))
            store_be64(h.trace_id + 8, hash64(idp, idn, SEED_TRACE_LO ^ self.salt))
        parent_text = id_text(tk[K_PARENT], "parent_span_id")
        original_parent = None
        h.has_parent = False
        if parent_text is not None:
            p = utf8_of(parent_text, &tn, self._keep)
            h.has_parent = True
            if not parse_id(p, tn, 8, h.parent):
                store_be64(h.parent, hash64(p, tn, SEED_PARENT ^ self.salt))
                original_parent = parent_text
        name = id_text(tk[K_GEN_NAME], "generation_name") or id_text(tk[K_TRACE_NAME], "trace_name") or "LLM Generation"
        span_name = id_text(tk[K_SPAN_NAME], "span_name")
        status = fget(rec, F_STATUS)
        if status == "error":
            code = STATUS_ERROR
            message = fget(rec, F_ERRMSG) or "Provider returned error"
            msgp = utf8_of(text_of(message, "error_message"), &msgn, self._keep)

        if span_name:
            has_mid = True
            memcpy(mid.trace_id, h.trace_id, 16)
            store_be64(mid.span_id, hash64(idp, idn, SEED_SPAN_MID ^ self.salt))
            mid.has_parent = h.has_parent
            memcpy(mid.parent, h.parent, 8)
            mid.name = utf8_of(span_name, &mid.name_len, self._keep)
            mid.kind = KIND_INTERNAL
            mid.start = start
            mid.end = end
            slot = self.span_open(&mid)
            for key, value in self._mid_attrs:
                self.kv_str(PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key), PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
            self.span_close(slot, STATUS_OK, NULL, 0)
            h.has_parent = True
            memcpy(h.parent, mid.span_id, 8)

        store_be64(h.span_id, hash64(idp, idn, SEED_SPAN_GEN ^ self.salt))
        memcpy(gen_span_id, h.span_id, 8)
        h.name = utf8_of(name, &h.name_len, self._keep)
        h.kind = KIND_CLIENT
        h.start = start
        h.end = end
        slot = self.span_open(&h)
        self.run_plan(rec)
        if original_trace is not None:
            self.kv_text("spancast.original_trace_id", 26, original_trace, "trace.trace_id")
        if original_parent is not None:
            self.kv_text("spancast.original_parent_span_id", 32, original_parent, "trace.parent_span_id")
        self.span_close(slot, code, msgp, msgn)

        attempts = fget(rec, F_ATTEMPTS)
        if not attempts:
            return 0
        cursor = start
        for number, attempt in enumerate(attempts, 1):
            if not is_instance(attempt, ATT_TYPE):
                raise EncodeError("provider_attempts", f"expected ProviderAttempt, got {type(attempt).__name__}")
            provider = text_of(fget(attempt, A_PROVIDER), "provider_attempts.provider")
            lat = fget(attempt, A_LATENCY)
            if lat is None:
                stop = end
            else:
                latency = double_of(lat, "provider_attempts.latency_ms")
                duration = <uint64_t>(latency * 1e6) if 0.0 <= latency <= 1e12 else 0
                stop = end if duration > end - cursor else cursor + duration
            memcpy(h.parent, gen_span_id, 8)
            h.has_parent = True
            store_be64(h.span_id, hash64(idp, idn, (SEED_ATTEMPT + number) ^ self.salt))
            aname = f"provider attempt {number}: {provider}"
            h.name = utf8_of(aname, &h.name_len, self._keep)
            h.start = cursor
            h.end = stop
            slot = self.span_open(&h)
            p = utf8_of(provider, &n, self._keep)
            self.kv_str("gen_ai.provider.name", 20, p, n)
            astatus = fget(attempt, A_STATUS)
            if astatus is not None:
                status_code = int64_of(astatus, "provider_attempts.status")
                self.kv_int("http.response.status_code", 25, status_code)
            aerror = fget(attempt, A_ERROR)
            if aerror is not None:
                p = utf8_of(text_of(aerror, "provider_attempts.error"), &n, self._keep)
                self.span_close(slot, STATUS_ERROR, p, n)
            else:
                failed = astatus is not None and astatus >= 400
                self.span_close(slot, STATUS_ERROR if failed else STATUS_OK, NULL, 0)
            cursor = stop
        return 0

    # ------------------------------------------------------------ public

    cdef int _append_atomic(self, object record) except -1:
        cdef Py_ssize_t before_len = self.body.len, before_spans = self.spans
        try:
            self._append(record)
        except BaseException:
            self.body.len = before_len
            self.spans = before_spans
            raise
        finally:
            if self._keep:
                self._keep.clear()
        self.records += 1
        return 0

    def append(self, record, Py_ssize_t max_bytes=-1):
        """Add one record; returns the bytes it added. On error nothing is added.

        With max_bytes, a record that would make a non-empty request larger than that is not added
        and 0 is returned (the batch is full); a lone record is always added, however large."""
        cdef Py_ssize_t before = self._size(), before_len = self.body.len, before_spans = self.spans
        self._append_atomic(record)
        if max_bytes >= 0 and self.records > 1 and self._size() > max_bytes:
            self.body.len = before_len
            self.spans = before_spans
            self.records -= 1
            return 0
        return self._size() - before

    def append_many(self, list records, Py_ssize_t start, Py_ssize_t max_records, Py_ssize_t max_bytes, list errors):
        """Append records[start:] until the request is full; returns (next index, why it stopped).

        Stops with "records" when it holds max_records, with "bytes" when the next record would make
        it larger than max_bytes (that record is not added) or it has reached max_bytes, and with None
        when every record is in. A record that cannot be encoded is skipped and (index, EncodeError)
        is appended to errors. This is the batcher's loop, run here so it costs no Python per record."""
        cdef Py_ssize_t i = start, n = len(records), before_len, before_spans
        while i < n:
            if self.records >= max_records:
                return i, "records"
            before_len = self.body.len
            before_spans = self.spans
            try:
                self._append_atomic(records[i])
            except EncodeError as exc:
                errors.append((i, exc))
                i += 1
                continue
            if self.records > 1 and self._size() > max_bytes:
                self.body.len = before_len
                self.spans = before_spans
                self.records -= 1
                return i, "bytes"
            i += 1
            if self._size() >= max_bytes:
                return i, "bytes"
        return i, "records" if self.records >= max_records else None

    def extend(self, records):
        """Append each record in turn; stops at the first that fails (the ones before it stay)."""
        for record in records:
            self._append_atomic(record)

    cdef Py_ssize_t _size(self) noexcept:
        cdef Py_ssize_t body_len = self.body.len - self.head_room, ss, rs
        if self.spans == 0:
            return len(EMPTY_JSON) if self.json else 0
        if self.json:
            return self.head_room + body_len + len(self.suffix)
        ss = len(self.scope_field) + body_len
        rs = len(self.resource_field) + 1 + vsize(ss) + ss
        return 1 + vsize(rs) + rs

    @property
    def size(self):
        """Exact length of what finish() would return now."""
        return self._size()

    cdef Py_ssize_t _seal(self, Py_ssize_t* length) except -1:
        """Write the envelope around the spans; the request starts at the returned offset."""
        cdef Buf* b = &self.body
        cdef Py_ssize_t body_len = b.len - self.head_room, ss, rs, head, start
        if self.json:
            put_lit(b, PyBytes_AS_STRING(self.suffix), len(self.suffix))
            length[0] = b.len
            return 0
        ss = len(self.scope_field) + body_len
        rs = len(self.resource_field) + 1 + vsize(ss) + ss
        head = 1 + vsize(rs) + len(self.resource_field) + 1 + vsize(ss) + len(self.scope_field)
        start = self.head_room - head
        b.len = start
        put_byte(b, 0x0A)
        put_varint(b, rs)
        put(b, PyBytes_AS_STRING(self.resource_field), len(self.resource_field))
        put_byte(b, 0x12)
        put_varint(b, ss)
        put(b, PyBytes_AS_STRING(self.scope_field), len(self.scope_field))
        length[0] = head + body_len
        return start

    def finish(self):
        """The request bytes; the encoder is empty again afterwards."""
        cdef Py_ssize_t length, start
        if self.spans == 0:
            return EMPTY_JSON if self.json else b""
        start = self._seal(&length)
        out = PyBytes_FromStringAndSize(self.body.data + start, length)
        self.reset()
        return out

    def finish_view(self):
        """What finish() returns, as a Body that owns the encoder's buffer (no copy; see body.pxi); the
        encoder continues in a pooled buffer."""
        cdef Py_ssize_t length, start
        cdef Body out
        if self.spans == 0:
            return EMPTY_JSON if self.json else b""
        start = self._seal(&length)
        out = Body.__new__(Body)
        out.buf = self.body
        out.start = start
        out.nbytes = length
        pool_take(&self.body)
        buf_need(&self.body, self.head_room + 65536)
        self.body.len = self.head_room
        if self.json:
            memcpy(self.body.data, PyBytes_AS_STRING(self.prefix), self.head_room)
        self.records = 0
        self.spans = 0
        return out

    def reset(self):
        """Drop what was appended; a buffer grown past 16 MiB by a big batch is given back."""
        if self.body.cap > (16 << 20):
            buf_free(&self.body)
            buf_need(&self.body, self.head_room + 65536)
            if self.json:
                memcpy(self.body.data, PyBytes_AS_STRING(self.prefix), self.head_room)
        if self.scratch.cap > (16 << 20):
            buf_free(&self.scratch)
        self.body.len = self.head_room
        self.records = 0
        self.spans = 0

    @property
    def max_value_chars(self):
        """The cut applied to string attribute values (-1: none)."""
        return self.max_chars

    @property
    def id_salt(self):
        """What is xor-ed into the seed of every id this encoder derives (0: none)."""
        return self.salt

    def __repr__(self):
        return (f"<TraceEncoder impl=native format={self.format} flavor={self.plan.name} "
                f"records={self.records} bytes={self._size()}>")


def encode_traces(records, *, format="protobuf", flavor="gen_ai", resource=None):
    """Encode records into one ExportTraceServiceRequest (protobuf or OTLP JSON bytes)."""
    return encode_with(TraceEncoder, records, format, flavor, resource)


def simd():
    """Which vector path the JSON escaper took on this CPU (for the benchmark's environment line)."""
    return "avx2" if spancast_use_avx2 else "sse2-or-scalar"


def double_repr(double d):
    """The text the encoder writes for a double; tests compare it with float.__repr__."""
    cdef Buf b
    b.data = NULL
    b.len = b.cap = 0
    try:
        put_double_repr(&b, d)
        return (<bytes>PyBytes_FromStringAndSize(b.data, b.len)).decode()
    finally:
        buf_free(&b)


def hash64_py(data, seed):
    """The id hash, exposed so tests can compare it with the pure-Python one."""
    cdef bytes b = bytes(data)
    return hash64(PyBytes_AS_STRING(b), len(b), seed)
