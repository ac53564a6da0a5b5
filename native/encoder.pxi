# The trace encoder: records straight to OTLP protobuf or OTLP JSON span bytes, guided by an
# attribute plan. The wire format and field numbers are tabled at the top of
# src/spancast/codec/_py.py; this file writes the same fields in the same order, and cuts string
# attribute values to max_value_chars code points as the twin does (see its docstring).

cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem
from cpython.unicode cimport PyUnicode_CompareWithASCIIString
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.string cimport memcmp, memset, strlen

from spancast.codec import _py
from spancast.codec import shapes as _shapes
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
    OP_MAP = 18
    OP_GENAI_INPUT = 19
    OP_GENAI_OUTPUT = 20
    OP_PYFUNC = 21

#: The op numbers this module was compiled with; a test checks them against spancast.codec.plan.Op.
OPS = {
    "STR": OP_STR, "STR_LOWER": OP_STR_LOWER, "STR_OR": OP_STR_OR, "STR_ARRAY": OP_STR_ARRAY,
    "INT": OP_INT, "DOUBLE": OP_DOUBLE, "BOOL": OP_BOOL, "CONST": OP_CONST, "EXPAND": OP_EXPAND,
    "JSON": OP_JSON, "JSON_OBJECT": OP_JSON_OBJECT, "TEXT_OR_JSON": OP_TEXT_OR_JSON,
    "MIME_OF": OP_MIME_OF, "MESSAGES": OP_MESSAGES, "OUTPUT_MESSAGE": OP_OUTPUT_MESSAGE,
    "CUSTOM_JSON": OP_CUSTOM_JSON, "ENTRY": OP_ENTRY, "MAP": OP_MAP, "GENAI_INPUT": OP_GENAI_INPUT,
    "GENAI_OUTPUT": OP_GENAI_OUTPUT, "PYFUNC": OP_PYFUNC,
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
    SEED_ROOT = 6
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


# Fixed pieces of the GenAI message parts' JSON, as written in plain JSON text (FRAG_P[0]) and escaped
# once more inside an OTLP JSON string (FRAG_P[1]): written with their lengths known, no strlen.
cdef enum:
    FR_ROLE = 0
    FR_PARTS = 1
    FR_TOOL_RESPONSE = 2
    FR_ID = 3
    FR_RESPONSE = 4
    FR_TEXT = 5
    FR_NAME = 6
    FR_PROMPT_OPEN = 7
    FR_PROMPT_CLOSE = 8
    FR_OUTPUT_OPEN = 9
    FR_REASONING = 10
    FR_FINISH = 11
    FR_CLOSE = 12
    FR_TOOL_CALL = 13
    FR_ARGUMENTS = 14
    FR_COUNT = 15

_GENAI_FRAGS = (
    b'{"role":', b',"parts":[', b'{"type":"tool_call_response"', b',"id":', b',"response":',
    b'{"type":"text","content":', b',"name":', b'[{"role":"user","parts":[{"type":"text","content":', b'}]}]',
    b'[{"role":"assistant","parts":[', b'{"type":"reasoning","content":', b'],"finish_reason":', b'}]',
    b'{"type":"tool_call"', b',"arguments":',
)
_FRAG_REFS = [(f, f.replace(b'"', b'\\"')) for f in _GENAI_FRAGS]  # owns the bytes the pointers below read
cdef const char* FRAG_P[2][FR_COUNT]
cdef Py_ssize_t FRAG_N[2][FR_COUNT]
for _i, (_plain, _escaped) in enumerate(_FRAG_REFS):
    FRAG_P[0][_i] = PyBytes_AS_STRING(_plain)
    FRAG_N[0][_i] = PyBytes_GET_SIZE(_plain)
    FRAG_P[1][_i] = PyBytes_AS_STRING(_escaped)
    FRAG_N[1][_i] = PyBytes_GET_SIZE(_escaped)

cdef str S_USER = "user", S_ID = "id", S_FUNCTION = "function", S_NAME = "name", S_ARGUMENTS = "arguments"
cdef str S_TYPE = "type", S_TEXT = "text", S_EMPTY = "", S_TOOL_CALL = "tool_call", S_ERROR = "error", S_STOP = "stop"


cdef inline bint str_is(PyObject* s, const char* lit, Py_ssize_t n) noexcept:
    """Whether the str s equals the ASCII literal lit of n bytes (no rich comparison on the hot path)."""
    if PyUnicode_IS_COMPACT_ASCII_p(s):
        return PyUnicode_GET_LENGTH_p(s) == n and memcmp(PyUnicode_DATA_p(s), lit, n) == 0
    return PyUnicode_CompareWithASCIIString(<object>s, lit) == 0


cdef enum:
    M_ROLE = 0
    M_CONTENT = 1
    M_NAME = 2
    M_CALL_ID = 3
    M_TOOL_CALLS = 4


cdef void message_keys(object msg, PyObject** out) noexcept:
    """A chat message's role, content, name, tool_call_id and tool_calls (borrowed; NULL when absent), in
    one pass over its entries: cheaper than five lookups for the two or three keys a message has."""
    cdef Py_ssize_t pos = 0, n
    cdef PyObject* k
    cdef PyObject* val
    cdef const char* p
    cdef int i
    for i in range(5):
        out[i] = NULL
    while PyDict_Next(msg, &pos, &k, &val):
        if Py_TYPE(<object>k) == <PyTypeObject*>str and PyUnicode_IS_COMPACT_ASCII_p(k):
            n = PyUnicode_GET_LENGTH_p(k)
            p = <const char*>PyUnicode_DATA_p(k)
            if n == 4:
                if memcmp(p, b"role", 4) == 0:
                    out[M_ROLE] = val
                elif memcmp(p, b"name", 4) == 0:
                    out[M_NAME] = val
            elif n == 7 and memcmp(p, b"content", 7) == 0:
                out[M_CONTENT] = val
            elif n == 12 and memcmp(p, b"tool_call_id", 12) == 0:
                out[M_CALL_ID] = val
            elif n == 10 and memcmp(p, b"tool_calls", 10) == 0:
                out[M_TOOL_CALLS] = val
        elif PyUnicode_Check(<object>k):  # a str subclass or a non-ASCII key: compared as dict.get would
            for i, lit in enumerate((b"role", b"content", b"name", b"tool_call_id", b"tool_calls")):
                if PyUnicode_CompareWithASCIIString(<object>k, lit) == 0:
                    out[i] = val


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
    bint lower           # MAP: lower-case a value the mapping does not list
    int nparts           # JSON_OBJECT: its members, resolved to offsets and written keys
    Py_ssize_t part_off[4]
    PyObject* part_key[4]   # '"messages":' (bytes, owned by _plan_refs)
    PyObject* part_key2[4]  # the same escaped again, for OTLP JSON


cdef inline void digits_at(char* p, uint64_t v) noexcept:
    """v's decimal digits over the as many digits at p (the caller checked their number matches)."""
    cdef int n = decimal_digits(v)
    while n > 0:
        n -= 1
        p[n] = <char>(48 + v % 10)
        v //= 10


cdef struct RootAt:
    # Where a trace root written into this request keeps what a later record of its trace may change.
    uint8_t trace_id[16]
    Py_ssize_t code_at
    Py_ssize_t start_at
    Py_ssize_t end_at
    uint64_t start
    uint64_t end
    int code


cdef struct Steps:
    Step* steps
    Py_ssize_t n


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
    # Which derived id each id field holds (ID_*; 0: one the caller gave, the same for every salt):
    # a span cache (spancache.pxi) patches these for another destination's salt.
    int trace_kind
    int span_kind
    int parent_kind


@cython.final
cdef class TraceEncoder:
    """Appends records one by one into one ExportTraceServiceRequest; knows its exact size so far."""

    cdef Buf body          # [headroom for the envelope head][spans...]
    cdef Buf scratch       # nested JSON text of one value
    cdef Buf keyb          # a key built from a prefix and an index or a mapping key
    cdef Py_ssize_t head_room
    cdef bint json
    cdef Steps gen_steps   # the generation span's
    cdef Steps trace_steps  # trace-level: on the root span, else on the generation span
    cdef Steps root_steps  # a drawn root span's own
    cdef list _plan_refs
    cdef list _keep        # temporaries whose UTF-8 buffers are in use during one append
    cdef list _mid_attrs   # (key bytes, value bytes) of the intermediate span
    cdef list _attempt_attrs  # (key bytes, value bytes) of the provider attempt spans
    cdef bint draw_roots
    cdef bint exception_event
    cdef object default_name  # the plan's, or None: the model
    # The trace roots this request holds: root_at[i] for the i-th, found by trace id through root_slots, an
    # open-addressing table (linear probing, -1 empty) of slots_cap (a power of two) indexes into root_at.
    cdef RootAt* root_at
    cdef Py_ssize_t nroots, roots_cap
    cdef Py_ssize_t* root_slots
    cdef Py_ssize_t slots_cap
    # What the last append changed, to put back when its record is taken out again: the root it added
    # (its key), and the root it changed (index, and the entry as it was).
    cdef Py_ssize_t undo_slot   # the slot of the root the last append added (-1: none)
    cdef Py_ssize_t undo_changed
    cdef RootAt undo_saved
    cdef bytes prefix, suffix, resource_field, scope_field
    cdef Py_ssize_t nattrs  # attributes written in the current span (JSON commas)
    cdef int level          # how many times nested JSON text is escaped: 1, or 2 in OTLP JSON
    cdef Py_ssize_t nested_at  # where the attribute holding nested JSON text starts (protobuf)
    cdef Py_ssize_t max_chars  # string attribute values are cut to this many code points; -1: no cut
    cdef Py_ssize_t start_at, end_at  # where the last span's start and end times were written
    cdef uint64_t salt         # xor-ed into every id hash's seed: each destination derives its own ids
    cdef readonly str format
    cdef readonly object plan
    cdef readonly object envelope
    cdef readonly Py_ssize_t records
    cdef readonly Py_ssize_t spans
    cdef SpanCache cache    # shared with the encoders of destinations that render spans alike (or None)
    cdef bint capturing     # this append keeps its spans in the cache
    cdef IdAt cap_ids[MAX_IDS]  # where the last append wrote derived ids, from its start (for the cache)
    cdef int ncap, cap_span_first
    cdef Py_ssize_t cap_root_len  # where the root span the last append wrote first ends (0: none)
    cdef bint cap_draw_root
    cdef int cap_code
    cdef uint64_t cap_start, cap_end
    cdef object cap_id_src, cap_trace_src, cap_parent_src
    cdef uint8_t cap_trace_given[16]

    def __cinit__(self):
        self.gen_steps.steps = NULL
        self.trace_steps.steps = NULL
        self.root_steps.steps = NULL
        self.root_at = NULL
        self.nroots = self.roots_cap = 0
        self.root_slots = NULL
        self.slots_cap = 0
        self.undo_slot = -1
        self.undo_changed = -1

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
        self.envelope = Envelope(format, _py.resource_attrs(resource, self.max_chars, self.plan.resource), self.plan.scope)
        self.prefix = self.envelope.prefix
        self.suffix = self.envelope.suffix
        self.resource_field = self.envelope.resource_field
        self.scope_field = self.envelope.scope_field
        self._keep = []
        self._plan_refs = []
        self._compile(self.plan.steps, &self.gen_steps)
        self._compile(self.plan.trace_steps, &self.trace_steps)
        self._compile(self.plan.root_steps, &self.root_steps)
        self._mid_attrs = [(k.encode("utf-8"), v.encode("utf-8")) for k, v in self.plan.intermediate]
        self._attempt_attrs = [(k.encode("utf-8"), v.encode("utf-8")) for k, v in self.plan.attempt]
        self.draw_roots = self.plan.root_span
        self.exception_event = self.plan.exception_event
        self.default_name = self.plan.default_name
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
        PyMem_Free(self.gen_steps.steps)
        PyMem_Free(self.trace_steps.steps)
        PyMem_Free(self.root_steps.steps)
        PyMem_Free(self.root_at)
        PyMem_Free(self.root_slots)

    cdef _compile(self, steps, Steps* out):
        cdef Step* s
        cdef Py_ssize_t i
        out.n = len(steps)
        out.steps = <Step*>PyMem_Malloc(sizeof(Step) * (out.n + 1))
        if out.steps == NULL:
            raise MemoryError()
        for i, (op, key, field, arg) in enumerate(steps):
            s = &out.steps[i]
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
            s.lower = False
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
            elif op == Op.MAP:
                self._plan_refs.append(arg)
                s.arg = <PyObject*>arg[0]
                s.lower = bool(arg[1])
            elif op == Op.PYFUNC:
                self._plan_refs += [arg, key]
                s.arg = <PyObject*>arg
                s.name = <PyObject*>key  # its values' errors name the attribute, as the Python twin does
            elif op == Op.GENAI_INPUT or op == Op.GENAI_OUTPUT:
                fname = "messages" if op == Op.GENAI_INPUT else "completion"
                self._plan_refs.append(fname)
                s.name = <PyObject*>fname
            elif op == Op.JSON_OBJECT:
                if len(arg) > 4:
                    raise ValueError(f"plan {self.plan.name}: {key!r} has more than 4 members")
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

    cdef int msg_attrs(self, object role, object content, object name, object call_id, object reasoning,
                       object tool_calls, object field) except -1:
        """role / content / name / tool_call_id / contents.0 (reasoning) / tool_calls.N.tool_call.* under the
        key prefix already in keyb."""
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
        if name is not None and PyUnicode_Check(name):
            self.key_put("name", 4)
            self.kv_text(self.keyb.data, self.keyb.len, name, field)
            self.keyb.len = base
        if call_id is not None and PyUnicode_Check(call_id):
            self.key_put("tool_call_id", 12)
            self.kv_text(self.keyb.data, self.keyb.len, call_id, field)
            self.keyb.len = base
        if reasoning is not None and PyUnicode_Check(reasoning):
            self.key_put("contents.0.message_content.type", 31)
            self.kv_str(self.keyb.data, self.keyb.len, "reasoning", 9)
            self.keyb.len = base
            self.key_put("contents.0.message_content.text", 31)
            self.kv_text(self.keyb.data, self.keyb.len, reasoning, field)
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

    # ------------------------------------------------------------ GenAI message parts (codec/shapes.py's, written here)

    cdef inline int frag(self, Buf* nb, int which) except -1:
        """A fixed piece of JSON text (GENAI_FRAGS), its quotes escaped once more inside an OTLP JSON string."""
        cdef int lv = self.level - 1
        return put_lit(nb, FRAG_P[lv][which], FRAG_N[lv][which])

    cdef inline int text_value(self, Buf* nb, PyObject* text) except -1:
        """A str (checked by the caller) as a quoted JSON string."""
        cdef Py_ssize_t n
        cdef const char* p
        if PyUnicode_IS_COMPACT_ASCII_p(text):
            p = <const char*>PyUnicode_DATA_p(text)
            n = PyUnicode_GET_LENGTH_p(text)
        else:
            p = utf8_of(<object>text, &n, self._keep)
        return put_quoted(nb, p, n, self.level)

    cdef int tool_call_parts(self, Buf* nb, PyObject* tool_calls, bint first, object field) except -1:
        """shapes._tool_call_parts: {"type":"tool_call","id","name","arguments"} per call; False when none."""
        cdef Py_ssize_t i
        cdef PyObject* call
        cdef PyObject* v
        if tool_calls == NULL or not PyList_Check(<object>tool_calls):
            return first
        for i in range(PyList_GET_SIZE(<object>tool_calls)):
            call = <PyObject*>PyList_GET_ITEM(<object>tool_calls, i)
            if not PyDict_Check(<object>call):
                continue
            if not first:
                put_char(nb, b',')
            first = False
            self.frag(nb, FR_TOOL_CALL)
            v = PyDict_GetItem(<object>call, S_ID)
            if v != NULL and PyUnicode_Check_p(v):
                self.frag(nb, FR_ID)
                self.text_value(nb, v)
            fn = PyDict_GetItem(<object>call, S_FUNCTION)
            self.frag(nb, FR_NAME)
            if fn != NULL and PyDict_Check(<object>fn):
                v = PyDict_GetItem(<object>fn, S_NAME)
                self.text_value(nb, v if v != NULL and PyUnicode_Check_p(v) else <PyObject*>S_EMPTY)
                v = PyDict_GetItem(<object>fn, S_ARGUMENTS)
                if v != NULL and v != <PyObject*>None:
                    self.frag(nb, FR_ARGUMENTS)
                    json_value(nb, _shapes.tool_arguments(<object>v), field, None, 5, self._keep, self.level)
            else:
                self.text_value(nb, <PyObject*>S_EMPTY)
            put_char(nb, b'}')
        return first

    cdef int content_parts(self, Buf* nb, PyObject* content) except -1:
        """shapes._content_parts, followed by nothing; False when it wrote no part."""
        cdef Py_ssize_t i
        cdef PyObject* item
        cdef PyObject* kind
        cdef PyObject* text
        cdef bint first = True
        if content == NULL or content == <PyObject*>None:
            return True
        if PyUnicode_Check_p(content):
            self.frag(nb, FR_TEXT)
            self.text_value(nb, content)
            put_char(nb, b'}')
            return False
        if PyList_Check(<object>content):
            for i in range(PyList_GET_SIZE(<object>content)):
                item = <PyObject*>PyList_GET_ITEM(<object>content, i)
                if not PyDict_Check(<object>item):
                    continue
                kind = PyDict_GetItem(<object>item, S_TYPE)
                if kind == NULL or not PyUnicode_Check_p(kind):
                    continue
                if not first:
                    put_char(nb, b',')
                first = False
                text = PyDict_GetItem(<object>item, S_TEXT)
                if text != NULL and PyUnicode_Check_p(text) and str_is(kind, "text", 4):
                    self.frag(nb, FR_TEXT)
                    self.text_value(nb, text)
                    put_char(nb, b'}')
                else:
                    json_value(nb, <object>item, "messages", None, 4, self._keep, self.level)
            return first
        self.frag(nb, FR_TEXT)
        text_obj = _py.json_text(<object>content, "messages")
        self.text_value(nb, <PyObject*>text_obj)
        put_char(nb, b'}')
        return False

    cdef int genai_input(self, Step* s, object rec) except -1:
        """gen_ai.input.messages, as shapes.genai_input builds it (the same JSON text, without the dicts):
        each message's keys are read in one pass over its entries, not looked up one by one."""
        cdef Buf* nb
        cdef bint first_msg = True
        cdef Py_ssize_t i
        cdef PyObject* messages = fraw(rec, F_MESSAGES)
        cdef PyObject* msg
        cdef PyObject* role
        cdef PyObject* prompt
        cdef PyObject* m[5]
        if messages != NULL and PyList_Check(<object>messages):
            nb = self.nested_open(s.key, s.keylen)
            put_char(nb, b'[')
            for i in range(PyList_GET_SIZE(<object>messages)):
                msg = <PyObject*>PyList_GET_ITEM(<object>messages, i)
                if not PyDict_Check(<object>msg):
                    continue
                if not first_msg:
                    put_char(nb, b',')
                first_msg = False
                message_keys(<object>msg, m)
                role = m[M_ROLE]
                if role == NULL or not PyUnicode_Check_p(role):
                    role = <PyObject*>S_USER
                self.frag(nb, FR_ROLE)
                self.text_value(nb, role)
                self.frag(nb, FR_PARTS)
                if str_is(role, "tool", 4):
                    self.frag(nb, FR_TOOL_RESPONSE)
                    if m[M_CALL_ID] != NULL and PyUnicode_Check_p(m[M_CALL_ID]):
                        self.frag(nb, FR_ID)
                        self.text_value(nb, m[M_CALL_ID])
                    self.frag(nb, FR_RESPONSE)
                    json_value(nb, <object>m[M_CONTENT] if m[M_CONTENT] != NULL else None, "messages", None, 5,
                               self._keep, self.level)
                    put_char(nb, b'}')
                else:
                    self.tool_call_parts(nb, m[M_TOOL_CALLS], self.content_parts(nb, m[M_CONTENT]), "messages")
                put_char(nb, b']')
                if m[M_NAME] != NULL and PyUnicode_Check_p(m[M_NAME]):
                    self.frag(nb, FR_NAME)
                    self.text_value(nb, m[M_NAME])
                put_char(nb, b'}')
            put_char(nb, b']')
            return self.nested_close(s.key, s.keylen)
        prompt = fraw(rec, F_PROMPT)
        if prompt != NULL and PyUnicode_Check_p(prompt):
            nb = self.nested_open(s.key, s.keylen)
            self.frag(nb, FR_PROMPT_OPEN)
            self.text_value(nb, prompt)
            self.frag(nb, FR_PROMPT_CLOSE)
            return self.nested_close(s.key, s.keylen)
        return 0

    cdef int genai_output(self, Step* s, object rec) except -1:
        """gen_ai.output.messages, as shapes.genai_output builds it."""
        cdef Buf* nb
        cdef bint first = True, has_calls = False
        cdef Py_ssize_t i
        cdef PyObject* reasoning = fraw(rec, F_REASONING)
        cdef PyObject* completion = fraw(rec, F_COMPLETION)
        cdef PyObject* tool_calls = fraw(rec, F_TOOL_CALLS)
        cdef PyObject* reason
        cdef bint has_reasoning = reasoning != NULL and PyUnicode_Check_p(reasoning)
        cdef bint has_text = completion != NULL and PyUnicode_Check_p(completion)
        if tool_calls != NULL and PyList_Check(<object>tool_calls):
            for i in range(PyList_GET_SIZE(<object>tool_calls)):
                if PyDict_Check(<object>PyList_GET_ITEM(<object>tool_calls, i)):
                    has_calls = True
                    break
        if not (has_reasoning or has_text or has_calls):
            return 0
        nb = self.nested_open(s.key, s.keylen)
        self.frag(nb, FR_OUTPUT_OPEN)
        if has_reasoning:
            self.frag(nb, FR_REASONING)
            self.text_value(nb, reasoning)
            put_char(nb, b'}')
            first = False
        if has_text:
            if not first:
                put_char(nb, b',')
            self.frag(nb, FR_TEXT)
            self.text_value(nb, completion)
            put_char(nb, b'}')
            first = False
        self.tool_call_parts(nb, tool_calls, first, "completion")
        self.frag(nb, FR_FINISH)
        reason = fraw(rec, F_FINISH)
        if reason != NULL and PyUnicode_Check_p(reason):  # shapes.finish_reason
            self.text_value(nb, <PyObject*>S_TOOL_CALL if str_is(reason, "tool_calls", 10) else reason)
        elif fget(rec, F_STATUS) == "error":
            self.text_value(nb, <PyObject*>S_ERROR)
        elif tool_calls != NULL and <object>tool_calls and (completion == NULL or completion == <PyObject*>None):
            self.text_value(nb, <PyObject*>S_TOOL_CALL)
        else:
            self.text_value(nb, <PyObject*>S_STOP)
        self.frag(nb, FR_CLOSE)
        return self.nested_close(s.key, s.keylen)

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

    cdef int run_plan(self, object rec, Steps* steps) except -1:
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
        for i in range(steps.n):
            s = &steps.steps[i]
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
                        self.msg_attrs((<dict>msg).get("role"), (<dict>msg).get("content"), (<dict>msg).get("name"),
                                       (<dict>msg).get("tool_call_id"), None, (<dict>msg).get("tool_calls"),
                                       <object>s.name)
            elif s.op == OP_OUTPUT_MESSAGE:
                completion = fget(rec, F_COMPLETION)
                tool_calls = fget(rec, F_TOOL_CALLS)
                reasoning = fget(rec, F_REASONING)
                if completion is not None or tool_calls is not None or reasoning is not None:
                    self.keyb.len = 0
                    self.key_put(s.key, s.keylen)
                    self.key_put("0.message.", 10)
                    self.msg_attrs("assistant", completion, None, None, reasoning, tool_calls, "completion")
            elif s.op == OP_MAP:
                if v is not None:
                    text_of(v, <object>s.name)
                    val = PyDict_GetItem(<dict>s.arg, v)  # borrowed; the plan holds the mapping
                    if val != NULL:
                        self.kv_text(s.key, s.keylen, <object>val, <object>s.name)
                    elif s.lower:
                        self.kv_text(s.key, s.keylen, v.lower(), <object>s.name)
                    else:
                        self.kv_text(s.key, s.keylen, v, <object>s.name)
            elif s.op == OP_GENAI_INPUT:
                self.genai_input(s, rec)
            elif s.op == OP_GENAI_OUTPUT:
                self.genai_output(s, rec)
            elif s.op == OP_PYFUNC:
                result = (<object>s.arg)(rec)
                if result is not None:
                    self.kv_typed(s.key, s.keylen, result, <object>s.name, None)
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

    cdef inline void _id_at(self, int kind, Py_ssize_t at) noexcept:
        """Note where a derived id is written (a cache may patch it for another salt); past MAX_IDS the
        append is not kept in the cache."""
        if kind and self.capturing:
            if self.ncap < MAX_IDS and kind < ID_MAX:
                self.cap_ids[self.ncap].at = at
                self.cap_ids[self.ncap].kind = kind
                self.ncap += 1
            else:
                self.ncap = MAX_IDS + 1

    cdef Py_ssize_t span_open(self, SpanHead* h) except -1:
        cdef Buf* b = &self.body
        cdef Py_ssize_t slot = 0
        cdef char* p
        self.nattrs = 0
        self.cap_span_first = self.ncap
        if self.json:
            if self.spans:
                put_char(b, b',')
            buf_need(b, 128)
            put(b, '{"traceId":"', strlen('{"traceId":"'))
            self._id_at(h.trace_kind, b.len)
            put_hex(b, h.trace_id, 16)
            put(b, '","spanId":"', strlen('","spanId":"'))
            self._id_at(h.span_kind, b.len)
            put_hex(b, h.span_id, 8)
            if h.has_parent:
                put(b, '","parentSpanId":"', strlen('","parentSpanId":"'))
                self._id_at(h.parent_kind, b.len)
                put_hex(b, h.parent, 8)
            put(b, '","name":"', strlen('","name":"'))
            put_escaped(b, h.name, h.name_len)
            put_cstr(b, '","kind":')
            put_u64_dec(b, h.kind)
            put_cstr(b, ',"startTimeUnixNano":"')
            self.start_at = b.len
            put_u64_dec(b, h.start)
            put_cstr(b, '","endTimeUnixNano":"')
            self.end_at = b.len
            put_u64_dec(b, h.end)
            put_cstr(b, '","attributes":[')
        else:
            buf_need(b, 3 + 18 + 10 + 10 + 1 + vsize(h.name_len) + h.name_len + 2 + 18)
            p = wbyte(b.data + b.len, 0x12)
            slot = p - b.data
            p += 2  # most spans are 128 B to 16 KiB: a 2-byte length, patched at the end
            p = wbyte(wbyte(p, 0x0A), 16)
            self._id_at(h.trace_kind, p - b.data)
            p = wcopy(p, h.trace_id, 16)
            p = wbyte(wbyte(p, 0x12), 8)
            self._id_at(h.span_kind, p - b.data)
            p = wcopy(p, h.span_id, 8)
            if h.has_parent:
                p = wbyte(wbyte(p, 0x22), 8)
                self._id_at(h.parent_kind, p - b.data)
                p = wcopy(p, h.parent, 8)
            p = wbyte(p, 0x2A)
            p = wvarint(p, h.name_len)
            p = wcopy(p, h.name, h.name_len)
            p = wvarint(wbyte(p, 0x30), h.kind)
            p = wbyte(p, 0x39)
            self.start_at = p - b.data
            p = wfixed64(p, h.start)
            p = wbyte(p, 0x41)
            self.end_at = p - b.data
            p = wfixed64(p, h.end)
            b.len = p - b.data
        return slot

    cdef int span_close(self, Py_ssize_t slot, int code, const char* msg, Py_ssize_t msg_len,
                        object events=None) except -1:
        """Events (bytes the Python twin's writer made: rare, errors only), the status, the span's length.
        After it, start_at and end_at are where the times are in the finished span."""
        cdef Buf* b = &self.body
        cdef Py_ssize_t status_len, before
        cdef int i
        if self.json:
            put_cstr(b, '],')
            if events is not None:
                put_lit(b, PyBytes_AS_STRING(events), PyBytes_GET_SIZE(events))
            put_cstr(b, '"status":{')
            if msg != NULL:
                put_cstr(b, '"message":"')
                put_escaped(b, msg, msg_len)
                put_cstr(b, '",')
            put_cstr(b, '"code":')
            put_u64_dec(b, code)
            put_cstr(b, '}}')
        else:
            if events is not None:
                put_lit(b, PyBytes_AS_STRING(events), PyBytes_GET_SIZE(events))
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
            before = b.len
            patch_len(b, slot, 2)
            self.start_at += b.len - before  # the span moved when its length took other than 2 bytes
            self.end_at += b.len - before
            if b.len != before:
                for i in range(self.cap_span_first, min(self.ncap, MAX_IDS)):
                    self.cap_ids[i].at += b.len - before
        self.spans += 1
        return 0

    cdef int _write_root(self, RootAt* r) noexcept:
        """A root's status code and times into its bytes (same size: see _root_seen)."""
        cdef Buf* b = &self.body
        if self.json:
            b.data[r.code_at] = <char>(48 + r.code)
            digits_at(b.data + r.start_at, r.start)
            digits_at(b.data + r.end_at, r.end)
        else:
            b.data[r.code_at] = <char>r.code
            wfixed64(b.data + r.start_at, r.start)
            wfixed64(b.data + r.end_at, r.end)
        return 0

    cdef int _root_seen(self, Py_ssize_t index, int code, uint64_t start, uint64_t end) except -1:
        """A record of a trace whose root this request holds already: the root fails if the record failed and
        widens to its times (in place: same-size bytes; times only when their decimal digits stay as many)."""
        cdef RootAt* r = &self.root_at[index]
        cdef int new_code = STATUS_ERROR if code == STATUS_ERROR else r.code
        cdef uint64_t new_start = start if start < r.start else r.start
        cdef uint64_t new_end = end if end > r.end else r.end
        if decimal_digits(new_start) != decimal_digits(r.start):  # JSON patches digits in place; protobuf says the same
            new_start = r.start
        if decimal_digits(new_end) != decimal_digits(r.end):
            new_end = r.end
        if new_code == r.code and new_start == r.start and new_end == r.end:
            return 0
        self.undo_changed = index
        self.undo_saved = r[0]
        r.code, r.start, r.end = new_code, new_start, new_end
        return self._write_root(r)

    cdef Py_ssize_t _find_root(self, const uint8_t* trace_id, Py_ssize_t* slot) noexcept:
        """The index in root_at of the trace's root (-1: none yet); slot is where it is, or would go."""
        cdef uint64_t hi, lo
        cdef Py_ssize_t i, j, mask = self.slots_cap - 1
        memcpy(&hi, trace_id, 8)
        memcpy(&lo, trace_id + 8, 8)
        # ids a user gives may be sequential: mixed, not taken as they are
        i = <Py_ssize_t>(((hi ^ lo) * 0x9E3779B97F4A7C15ULL) >> 32) & mask
        while True:
            j = self.root_slots[i]
            if j < 0 or memcmp(self.root_at[j].trace_id, trace_id, 16) == 0:
                slot[0] = i
                return j
            i = (i + 1) & mask

    cdef int _grow_slots(self) except -1:
        cdef Py_ssize_t cap = self.slots_cap * 2 if self.slots_cap else 256, i, slot
        cdef Py_ssize_t* grown = <Py_ssize_t*>PyMem_Malloc(sizeof(Py_ssize_t) * cap)
        if grown == NULL:
            raise MemoryError()
        memset(grown, 0xFF, sizeof(Py_ssize_t) * cap)  # every slot -1
        PyMem_Free(self.root_slots)
        self.root_slots = grown
        self.slots_cap = cap
        for i in range(self.nroots):
            self._find_root(self.root_at[i].trace_id, &slot)
            self.root_slots[slot] = i
        return 0

    cdef int _add_root(self, const uint8_t* trace_id, int code, uint64_t start, uint64_t end, Py_ssize_t code_at,
                       Py_ssize_t start_at, Py_ssize_t end_at) except -1:
        """A root just written: code_at, start_at, end_at are where its status code and times are."""
        cdef RootAt* grown
        cdef RootAt* r
        cdef Py_ssize_t slot
        if self.nroots == self.roots_cap:
            self.roots_cap = self.roots_cap * 2 if self.roots_cap else 64
            grown = <RootAt*>PyMem_Realloc(self.root_at, sizeof(RootAt) * self.roots_cap)
            if grown == NULL:
                raise MemoryError()
            self.root_at = grown
        if 2 * (self.nroots + 1) > self.slots_cap:  # at most half full: probes stay short
            self._grow_slots()
        r = &self.root_at[self.nroots]
        memcpy(r.trace_id, trace_id, 16)
        r.code_at, r.start_at, r.end_at, r.start, r.end, r.code = code_at, start_at, end_at, start, end, code
        self._find_root(trace_id, &slot)
        self.root_slots[slot] = self.nroots
        self.nroots += 1
        self.undo_slot = slot
        return 0

    cdef void _undo_roots(self):
        """Forget what the last append did to the trace roots (its record is being taken out again). The root it
        added was the table's last insertion, so emptying its slot leaves every other probe sequence whole."""
        if self.undo_slot >= 0:
            self.root_slots[self.undo_slot] = -1
            self.nroots -= 1
            self.undo_slot = -1
        if self.undo_changed >= 0:
            self.root_at[self.undo_changed] = self.undo_saved
            self._write_root(&self.root_at[self.undo_changed])
            self.undo_changed = -1

    cdef void _clear_roots(self):
        if self.nroots:
            memset(self.root_slots, 0xFF, sizeof(Py_ssize_t) * self.slots_cap)
        self.nroots = 0
        self.undo_slot = -1
        self.undo_changed = -1

    cdef int _append(self, object rec) except -1:
        cdef SpanHead h
        cdef SpanHead mid
        cdef SpanHead root
        cdef Py_ssize_t n, idn, slot, tn, rslot, known
        cdef const char* idp
        cdef const char* p
        cdef const char* msgp = NULL
        cdef Py_ssize_t msgn = 0
        cdef uint64_t start, end, cursor, stop, duration
        cdef uint8_t gen_span_id[8]
        cdef bint has_mid = False, failed, draw_root
        cdef int code = STATUS_OK
        cdef double latency
        cdef int64_t status_code
        self.undo_slot = -1
        self.undo_changed = -1
        self.ncap = 0
        self.cap_root_len = 0
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
        h.trace_kind = ID_TRACE
        h.parent_kind = 0
        if trace_text is not None:
            p = utf8_of(trace_text, &tn, self._keep)
            if not parse_id(p, tn, 16, h.trace_id):
                store_be64(h.trace_id, hash64(p, tn, SEED_TRACE_HI ^ self.salt))
                store_be64(h.trace_id + 8, hash64(p, tn, SEED_TRACE_LO ^ self.salt))
                original_trace = trace_text
            else:
                h.trace_kind = 0
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
                h.parent_kind = ID_PARENT
        default = self.default_name or text_of(fget(rec, F_MODEL), "model")
        gen_name = id_text(tk[K_GEN_NAME], "generation_name")
        trace_name = id_text(tk[K_TRACE_NAME], "trace_name")
        if self.draw_roots:
            name = gen_name or default
        else:
            name = gen_name or trace_name or default
        # a root named like the generation adds nothing: the generation is the root (a connection test's one span)
        # With parent_span_id the generation is a child of the caller's span, as OpenRouter documents: the
        # caller's trace has its root already, and a root of ours would sit between the two.
        draw_root = self.draw_roots and parent_text is None and bool(trace_name or trace_text is not None) \
            and not (trace_name and trace_name == name)
        span_name = id_text(tk[K_SPAN_NAME], "span_name")
        status = fget(rec, F_STATUS)
        if status == "error":
            code = STATUS_ERROR
            message = fget(rec, F_ERRMSG) or "Provider returned error"
            msgp = utf8_of(text_of(message, "error_message"), &msgn, self._keep)
        if self.capturing:
            note_sources(self, draw_root, code, start, end, idp, idn, h.trace_kind, trace_text, &h.trace_id[0],
                               parent_text if h.parent_kind else None)

        if draw_root:
            store_be64(root.span_id, hash64(<const char*>h.trace_id, 16, SEED_ROOT ^ self.salt))
            known = self._find_root(h.trace_id, &rslot) if self.nroots else -1
            if known >= 0:
                self._root_seen(known, code, start, end)
            else:
                memcpy(root.trace_id, h.trace_id, 16)
                root.has_parent = h.has_parent
                memcpy(root.parent, h.parent, 8)
                root.trace_kind, root.span_kind, root.parent_kind = h.trace_kind, ID_ROOT, h.parent_kind
                root_name = trace_name or default
                root.name = utf8_of(root_name, &root.name_len, self._keep)
                root.kind = KIND_INTERNAL
                root.start = start
                root.end = end
                slot = self.span_open(&root)
                self.run_plan(rec, &self.root_steps)
                self.run_plan(rec, &self.trace_steps)
                self.span_close(slot, code, NULL, 0)
                # the status code is the span's last byte in protobuf; in JSON it is followed by "}}"
                self._add_root(h.trace_id, code, start, end, self.body.len - (3 if self.json else 1),
                               self.start_at, self.end_at)
                self.cap_root_len = self.body.len
            h.has_parent = True
            h.parent_kind = ID_ROOT
            memcpy(h.parent, root.span_id, 8)

        if span_name:
            has_mid = True
            memcpy(mid.trace_id, h.trace_id, 16)
            store_be64(mid.span_id, hash64(idp, idn, SEED_SPAN_MID ^ self.salt))
            mid.has_parent = h.has_parent
            memcpy(mid.parent, h.parent, 8)
            mid.trace_kind, mid.span_kind, mid.parent_kind = h.trace_kind, ID_MID, h.parent_kind
            mid.name = utf8_of(span_name, &mid.name_len, self._keep)
            mid.kind = KIND_INTERNAL
            mid.start = start
            mid.end = end
            slot = self.span_open(&mid)
            for key_b, value_b in self._mid_attrs:
                self.kv_str(PyBytes_AS_STRING(key_b), PyBytes_GET_SIZE(key_b), PyBytes_AS_STRING(value_b),
                            PyBytes_GET_SIZE(value_b))
            self.span_close(slot, STATUS_OK, NULL, 0)
            h.has_parent = True
            h.parent_kind = ID_MID
            memcpy(h.parent, mid.span_id, 8)

        store_be64(h.span_id, hash64(idp, idn, SEED_SPAN_GEN ^ self.salt))
        h.span_kind = ID_GEN
        memcpy(gen_span_id, h.span_id, 8)
        h.name = utf8_of(name, &h.name_len, self._keep)
        h.kind = KIND_CLIENT
        h.start = start
        h.end = end
        slot = self.span_open(&h)
        self.run_plan(rec, &self.gen_steps)
        if not draw_root:
            self.run_plan(rec, &self.trace_steps)
        if original_trace is not None:
            self.kv_text("spancast.original_trace_id", 26, original_trace, "trace.trace_id")
        if original_parent is not None:
            self.kv_text("spancast.original_parent_span_id", 32, original_parent, "trace.parent_span_id")
        events = None
        if code == STATUS_ERROR and self.exception_event:
            events = _py.events_piece(_py.exception_events(rec, end, message), self.json)
        self.span_close(slot, code, msgp, msgn, events)

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
            h.parent_kind = ID_GEN
            store_be64(h.span_id, hash64(idp, idn, (SEED_ATTEMPT + number) ^ self.salt))
            h.span_kind = ID_ATTEMPT + number if number < ID_MAX - ID_ATTEMPT else ID_MAX  # past it: not kept
            aname = f"provider attempt {number}: {provider}"
            h.name = utf8_of(aname, &h.name_len, self._keep)
            h.start = cursor
            h.end = stop
            slot = self.span_open(&h)
            for key_b, value_b in self._attempt_attrs:
                self.kv_str(PyBytes_AS_STRING(key_b), PyBytes_GET_SIZE(key_b), PyBytes_AS_STRING(value_b),
                            PyBytes_GET_SIZE(value_b))
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
        return self._append_from(record, self._kept(record), False)

    cdef inline SpanPiece _kept(self, object record):
        """The record's spans as another member of this encoder's group kept them, or None."""
        if self.cache is None or self.cache.members < 2:
            return None
        return self.cache.get(record)

    cdef int _append_from(self, object record, SpanPiece piece, bint plain) except -1:
        """Append a record, from its kept spans when the cache has them (piece); plain: its messages were
        checked for media and hold none (kept with its spans, so other lanes skip the check)."""
        cdef Py_ssize_t before_len = self.body.len, before_spans = self.spans
        cdef bint pasted = False
        # Note where the ids go only when the spans will be kept for other members
        self.capturing = piece is None and self.cache is not None and self.cache.members > 1
        try:
            if piece is not None:
                pasted = paste(self, piece)
            if not pasted:
                self._append(record)
        except BaseException:
            self._undo_roots()
            self.body.len = before_len
            self.spans = before_spans
            raise
        finally:
            if self._keep:
                self._keep.clear()
        if pasted:
            self.cache.taken(piece)
        elif self.capturing and self.ncap <= MAX_IDS:
            keep_piece(self, record, before_len, before_spans, plain)
        self.records += 1
        return 0

    def share_spans(self, dict caches):
        """Share span bytes with the other encoders given the same caches (a dict the caller holds, one per
        group of destinations) that have this encoder's format, plan and value cut; returns the SpanCache."""
        key = (self.format, self.plan.name, self.max_chars)
        cache = caches.get(key)
        if cache is None or (<SpanCache>cache).plan is not self.plan:
            cache = caches[key] = SpanCache(self.format, self.plan, self.max_chars)
        self.cache = <SpanCache>cache
        self.cache.members += 1
        return cache

    def append(self, record, Py_ssize_t max_bytes=-1):
        """Add one record; returns the bytes it added. On error nothing is added.

        With max_bytes, a record that would make a non-empty request larger than that is not added
        and 0 is returned (the batch is full); a lone record is always added, however large."""
        cdef Py_ssize_t before = self._size(), before_len = self.body.len, before_spans = self.spans
        self._append_atomic(record)
        if max_bytes >= 0 and self.records > 1 and self._size() > max_bytes:
            self._undo_roots()
            self.body.len = before_len
            self.spans = before_spans
            self.records -= 1
            return 0
        return self._size() - before

    def append_many(self, list records, Py_ssize_t start, Py_ssize_t max_records, Py_ssize_t max_bytes, list errors,
                    Py_ssize_t media_from=PY_SSIZE_T_MAX):
        """Append records[start:] until the request is full; returns (next index, why it stopped).

        Stops with "records" when it holds max_records, with "bytes" when the next record would make
        it larger than max_bytes (that record is not added) or it has reached max_bytes, and with None
        when every record is in. A record that cannot be encoded is skipped and (index, EncodeError)
        is appended to errors. This is the batcher's loop, run here so it costs no Python per record.

        From index media_from on, a record whose messages may hold media (the routes' pre-check,
        media.pxi) is not added: it stops with "media" at its index, for the caller to strip it and go on.
        The check reads each record just before it is encoded, so the encoder finds it in the cache: a
        separate pass over the batch met every record cold."""
        cdef Py_ssize_t i = start, n = len(records), before_len, before_spans
        cdef PyObject* messages
        cdef SpanPiece piece
        cdef bint plain
        while i < n:
            if self.records >= max_records:
                return i, "records"
            record = records[i]
            piece = self._kept(record)
            plain = False
            if i >= media_from and (piece is None or not piece.plain):
                if is_instance(record, GEN_TYPE):
                    messages = fraw(record, F_MESSAGES)
                    if messages != NULL and messages != <PyObject*>None and not md_plain(messages):
                        return i, "media"
                    plain = True
            before_len = self.body.len
            before_spans = self.spans
            try:
                self._append_from(record, piece, plain)
            except EncodeError as exc:
                errors.append((i, exc))
                i += 1
                continue
            if self.records > 1 and self._size() > max_bytes:
                self._undo_roots()
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
        self._clear_roots()
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
        self._clear_roots()

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
