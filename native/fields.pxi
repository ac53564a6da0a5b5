# Reading and checking record fields: slot offsets, type checks, ids and typed values. Each check
# raises the EncodeError the Python twin raises for the same value, in the same order.

from libc.string cimport memcmp

from spancast.errors import EncodeError
from spancast.record import Generation, ProviderAttempt

cdef extern from "Python.h":
    # Borrowed-pointer forms of the checks simple_step() needs.
    bint PyUnicode_Check_p "PyUnicode_Check"(PyObject* o)
    bint PyUnicode_IS_COMPACT_ASCII_p "PyUnicode_IS_COMPACT_ASCII"(PyObject* o)
    void* PyUnicode_DATA_p "PyUnicode_DATA"(PyObject* o)
    Py_ssize_t PyUnicode_GET_LENGTH_p "PyUnicode_GET_LENGTH"(PyObject* o)
    bint PyLong_Check_p "PyLong_Check"(PyObject* o)
    long long PyLong_AsLongLongAndOverflow_p "PyLong_AsLongLongAndOverflow"(PyObject* o, int* overflow)
    bint PyFloat_CheckExact_p "PyFloat_CheckExact"(PyObject* o)
    double PyFloat_AS_DOUBLE_p "PyFloat_AS_DOUBLE"(PyObject* o)
    int PyObject_IsTrue_p "PyObject_IsTrue"(PyObject* o)
    unsigned long long PyLong_AsUnsignedLongLong(object v)
    PyObject* PyErr_Occurred()
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member


cdef enum:
    T_OBJECT_EX = 16


# Record fields are read by their slot offset, resolved once here from the struct's member
# descriptors: a getattr per field would cost more than writing the whole span.
cdef dict _offsets(object cls):
    cdef dict out = {}
    cdef PyMemberDescrObject* descr
    for name in cls.__struct_fields__:
        attr = cls.__dict__.get(name)
        if type(attr).__name__ != "member_descriptor":
            raise ImportError(f"{cls.__name__}.{name} is not a slot (msgspec layout changed)")
        descr = <PyMemberDescrObject*>attr
        if descr.d_member.type != T_OBJECT_EX:
            raise ImportError(f"{cls.__name__}.{name} is not an object slot")
        out[name] = descr.d_member.offset
    return out


cdef extern from "Python.h":
    ctypedef struct PyTypeObject
    PyTypeObject* Py_TYPE(object o)
    bint PyType_IsSubtype(PyTypeObject* a, PyTypeObject* b)

# isinstance() on a msgspec Struct goes through its metaclass's __instancecheck__; this does not.
cdef PyTypeObject* GEN_TYPE = <PyTypeObject*>Generation
cdef PyTypeObject* ATT_TYPE = <PyTypeObject*>ProviderAttempt


cdef inline bint is_instance(object o, PyTypeObject* t) noexcept:
    return Py_TYPE(o) == t or PyType_IsSubtype(Py_TYPE(o), t)


cdef dict GEN = _offsets(Generation)
cdef dict ATT = _offsets(ProviderAttempt)
cdef Py_ssize_t F_ID = GEN["id"], F_START = GEN["start_time_ns"], F_END = GEN["end_time_ns"]
cdef Py_ssize_t F_TRACE = GEN["trace"], F_STATUS = GEN["status"], F_ERRMSG = GEN["error_message"]
cdef Py_ssize_t F_ATTEMPTS = GEN["provider_attempts"], F_COMPLETION = GEN["completion"]
cdef Py_ssize_t F_TOOL_CALLS = GEN["tool_calls"], F_REASONING = GEN["reasoning"], F_MODEL = GEN["model"]
cdef Py_ssize_t F_ERRTYPE = GEN["error_type"], F_MESSAGES = GEN["messages"], F_PROMPT = GEN["prompt"]
cdef Py_ssize_t F_FINISH = GEN["finish_reason"]
cdef Py_ssize_t A_PROVIDER = ATT["provider"], A_STATUS = ATT["status"], A_LATENCY = ATT["latency_ms"]
cdef Py_ssize_t A_ERROR = ATT["error"]


cdef inline PyObject* fraw(object rec, Py_ssize_t off) noexcept:
    # Borrowed: the record holds the reference while it is being encoded. NULL or None = absent.
    return (<PyObject**>((<char*><PyObject*>rec) + off))[0]


cdef inline object fget(object rec, Py_ssize_t off):
    cdef PyObject* p = fraw(rec, off)
    if p == NULL:
        return None
    return <object>p


cdef inline int hexval(int c) noexcept:
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


cdef bint parse_id(const char* p, Py_ssize_t n, int nbytes, uint8_t* out) noexcept:
    """A valid, non-zero W3C id of 2*nbytes hex digits into out; False otherwise."""
    cdef int i, hi, lo
    cdef bint nonzero = False
    if n != 2 * nbytes:
        return False
    for i in range(nbytes):
        hi = hexval(<uint8_t>p[2 * i])
        lo = hexval(<uint8_t>p[2 * i + 1])
        if hi < 0 or lo < 0:
            return False
        out[i] = <uint8_t>((hi << 4) | lo)
        if out[i]:
            nonzero = True
    return nonzero


cdef inline bint in_skip(tuple skip, const char* p, Py_ssize_t n) noexcept:
    """Whether the UTF-8 key is one of the (few) keys a step leaves out."""
    cdef Py_ssize_t i
    cdef PyObject* item
    for i in range(PyTuple_GET_SIZE(skip)):
        item = PyTuple_GET_ITEM(skip, i)
        if PyBytes_GET_SIZE(<object>item) == n and memcmp(PyBytes_AS_STRING(<object>item), p, n) == 0:
            return True
    return False


cdef enum:
    K_TRACE_ID = 0
    K_PARENT = 1
    K_GEN_NAME = 2
    K_TRACE_NAME = 3
    K_SPAN_NAME = 4


cdef void trace_keys(object trace, PyObject** out) noexcept:
    """The five meaningful trace keys in one pass over the dict (borrowed values, NULL when absent)."""
    cdef Py_ssize_t pos = 0, n
    cdef PyObject* k
    cdef PyObject* val
    cdef const char* p
    cdef int i
    for i in range(5):
        out[i] = NULL
    if trace is None:
        return
    while PyDict_Next(trace, &pos, &k, &val):
        if not PyUnicode_Check(<object>k) or not PyUnicode_IS_COMPACT_ASCII(<object>k):
            continue
        n = PyUnicode_GET_LENGTH(<object>k)
        p = <const char*>PyUnicode_DATA(<object>k)
        if n == 8 and memcmp(p, b"trace_id", 8) == 0:
            out[K_TRACE_ID] = val
        elif n == 14 and memcmp(p, b"parent_span_id", 14) == 0:
            out[K_PARENT] = val
        elif n == 15 and memcmp(p, b"generation_name", 15) == 0:
            out[K_GEN_NAME] = val
        elif n == 10 and memcmp(p, b"trace_name", 10) == 0:
            out[K_TRACE_NAME] = val
        elif n == 9 and memcmp(p, b"span_name", 9) == 0:
            out[K_SPAN_NAME] = val


cdef object id_text(PyObject* raw, str key):
    """A trace key's value as text: str as is, int as decimal, None when absent or empty (codec.values.id_text);
    anything else is an error."""
    if raw == NULL:
        return None
    v = <object>raw
    if v is None or PyUnicode_Check(v):
        return v or None
    if PyLong_Check(v) and not (v is True or v is False):
        return int.__repr__(v)
    raise EncodeError(f"trace.{key}", f"expected str, got {type(v).__name__}")


cdef object text_of(object v, object field):
    if PyUnicode_Check(v):
        return v
    raise EncodeError(field, f"expected str, got {type(v).__name__}")


cdef int64_t int64_of(object v, object field) except? -1:
    cdef int overflow = 0
    cdef long long iv
    if not PyLong_Check(v):
        raise EncodeError(field, f"expected int, got {type(v).__name__}")
    iv = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow:
        raise EncodeError(field, "integer out of the int64 range")
    return iv


cdef double double_of(object v, object field) except? -1.0:
    if PyFloat_Check(v):
        return PyFloat_AS_DOUBLE(v)
    if PyLong_Check(v):
        try:
            return float(v)
        except OverflowError:
            raise EncodeError(field, "integer too large for a double") from None
    raise EncodeError(field, f"expected float, got {type(v).__name__}")


cdef uint64_t time_of(object v, str field) except? 0:
    cdef unsigned long long t
    cdef int overflow = 0
    cdef long long iv
    if PyLong_Check(v):
        iv = PyLong_AsLongLongAndOverflow(v, &overflow)  # the fast path: every time before 2262
        if overflow == 0:
            if iv >= 0:
                return <uint64_t>iv
            raise EncodeError(field, "expected an int in [0, 2**64)")
        t = PyLong_AsUnsignedLongLong(v)
        if not (t == <unsigned long long>-1 and PyErr_Occurred()):
            return t
        PyErr_Clear()
    raise EncodeError(field, "expected an int in [0, 2**64)")


