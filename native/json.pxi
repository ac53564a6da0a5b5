# Canonical JSON of free-form values (model parameters, messages, custom metadata), the twin of
# spancast.codec._py.json_text: compact, insertion order, floats as repr(), non-finite floats as null.

from cpython.dict cimport PyDict_Check, PyDict_Next
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check
from cpython.list cimport PyList_Check, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_Check
from cpython.ref cimport PyObject
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_Check
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.math cimport fabs, isfinite, llround, signbit


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size)
    bint PyUnicode_IS_COMPACT_ASCII(object s)
    Py_ssize_t PyUnicode_GET_LENGTH(object s)
    void* PyUnicode_DATA(object s)
    long long PyLong_AsLongLongAndOverflow(object v, int* overflow) except? -1
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)
    void PyErr_Clear()
    char* PyOS_double_to_string(double val, char format_code, int precision, int flags, int* ptype) except NULL
    int Py_DTSF_ADD_DOT_0


cdef enum:
    MAX_JSON_DEPTH = 256


cdef inline const char* utf8_of(object s, Py_ssize_t* n, list keep) except NULL:
    """UTF-8 of a str without copying; lone surrogates (only from records built in Python) become '?'."""
    if PyUnicode_IS_COMPACT_ASCII(s):  # ASCII text is its own UTF-8
        n[0] = PyUnicode_GET_LENGTH(s)
        return <const char*>PyUnicode_DATA(s)
    cdef const char* p = PyUnicode_AsUTF8AndSize(s, n)
    if p != NULL:
        return p
    PyErr_Clear()
    cdef bytes b = str.encode(s, "utf-8", "replace")
    keep.append(b)
    n[0] = PyBytes_GET_SIZE(b)
    return PyBytes_AS_STRING(b)


cdef object field_name(object field, object subkey):
    # Error paths only: a subkey names an entry of a mapping field.
    if subkey is None:
        return field
    return f"{field}.{subkey}"


cdef double[23] POW10_D  # 10**k is exact in a double up to k = 22
cdef long long[18] POW10_I
POW10_I[0] = 1
POW10_D[0] = 1.0
for _i in range(1, 23):
    POW10_D[_i] = POW10_D[_i - 1] * 10.0
    if _i < 18:
        POW10_I[_i] = POW10_I[_i - 1] * 10


cdef bint shortest(double a, int k, long long* m_out, int* k_out) noexcept:
    """The fewest decimals k (from k on) such that round(a * 10^k) / 10^k reads back as a, when that
    integer stays below 2**51 and no neighbour of it reads back too (a tie is dtoa's to break).

    m / 10^k is one correctly rounded division, i.e. what parsing the text gives. Below 2**51,
    t + 0.5 is exact, so truncating it rounds t to nearest as llround() would, and t is within an
    ulp of a * 10^k, so a candidate further than 3 ulps from t cannot read back: no division then."""
    cdef double t
    cdef long long m
    while k < 23:
        t = a * POW10_D[k]
        if t >= 2251799813685248.0:  # 2**51
            return False
        m = <long long>(t + 0.5)
        if m != 0 and fabs(t - <double>m) <= t * 6.7e-16 + 1e-300:
            if <double>m / POW10_D[k] == a:
                if <double>(m - 1) / POW10_D[k] == a or <double>(m + 1) / POW10_D[k] == a:
                    return False
                m_out[0] = m
                k_out[0] = k
                return True
        k += 1
    return False


cdef int put_double_repr(Buf* b, double d) except -1:
    """repr(d) exactly, as float.__repr__ writes it (the shortest text that reads back as d)."""
    cdef double a = fabs(d)
    cdef long long m
    cdef int k = 0
    if a == 0.0:
        return put_cstr(b, "-0.0" if signbit(d) else "0.0")
    if 1e-7 <= a < 1e-4:
        return put_small_double(b, d, a)
    if 1e-4 <= a < 1e15:
        # In this range repr writes the shortest digits in fixed notation.
        while k < 17 and a * POW10_D[k] < 1.0:  # decimals before the first significant digit
            k += 1
        if shortest(a, k, &m, &k) and k < 18:
            if d < 0:
                put_char(b, b'-')
            put_i64_dec(b, m // POW10_I[k])
            put_char(b, b'.')
            if k == 0:
                return put_char(b, b'0')
            return put_padded(b, m % POW10_I[k], k)
    return put_double_dtoa(b, d)


cdef int put_small_double(Buf* b, double d, double a) except -1:
    """repr() of 1e-7 <= |d| < 1e-4, which repr writes as d.ddde-0X."""
    cdef long long m
    cdef int k = 5, ndigits
    while k < 8 and a * POW10_D[k] < 1.0:
        k += 1
    if not shortest(a, k, &m, &k):
        return put_double_dtoa(b, d)
    ndigits = decimal_digits(<uint64_t>m)
    buf_need(b, ndigits + 8)
    if d < 0:
        put_byte(b, 45)
    put_byte(b, <uint8_t>(48 + m // POW10_I[ndigits - 1]))  # d.ddd: the first digit, then the rest
    if ndigits > 1:
        put_byte(b, 46)
        put_padded(b, m % POW10_I[ndigits - 1], ndigits - 1)
    put_cstr(b, "e-0")  # the exponent, ndigits - 1 - k, is -5, -6 or -7 here
    return put_char(b, <char>(48 + (k - ndigits + 1)))


cdef int put_padded(Buf* b, long long v, int width) except -1:
    """v (>= 0) in exactly width decimal digits, zero-padded; two digits a step, unsigned (cheaper division)."""
    cdef uint64_t u = <uint64_t>v, r
    cdef int i = width
    cdef char* p
    buf_need(b, width)
    p = b.data + b.len
    while i >= 2:
        r = u % 100
        u //= 100
        i -= 2
        p[i] = DIGIT_PAIRS[2 * r]
        p[i + 1] = DIGIT_PAIRS[2 * r + 1]
    if i:
        p[0] = <char>(48 + u % 10)
    b.len += width
    return 0


cdef int put_double_dtoa(Buf* b, double d) except -1:
    cdef char* s = PyOS_double_to_string(d, b"r", 0, Py_DTSF_ADD_DOT_0, NULL)
    cdef Py_ssize_t n = 0
    while s[n]:
        n += 1
    try:
        put_lit(b, s, n)
    finally:
        PyMem_Free(s)
    return 0


cdef int put_int_dec(Buf* b, object v) except -1:
    """Decimal of any Python int: fast for int64, int.__repr__ beyond."""
    cdef int overflow = 0
    cdef long long iv = PyLong_AsLongLongAndOverflow(v, &overflow)
    cdef bytes text
    if overflow == 0:
        return put_i64_dec(b, iv)
    text = int.__repr__(v).encode("ascii")
    return put_lit(b, PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text))


cdef int json_value(Buf* b, object v, object field, object subkey, int depth, list keep, int level) except -1:
    cdef Py_ssize_t n, i, pos
    cdef const char* p
    cdef double d
    cdef PyObject* k
    cdef PyObject* val
    cdef bint first
    if depth > MAX_JSON_DEPTH:
        raise EncodeError(field_name(field, subkey), f"nested deeper than {MAX_JSON_DEPTH} levels")
    if v is None:
        put_cstr(b, "null")
    elif v is True:
        put_cstr(b, "true")
    elif v is False:
        put_cstr(b, "false")
    elif PyUnicode_Check(v):
        p = utf8_of(v, &n, keep)
        put_quoted(b, p, n, level)
    elif PyLong_Check(v):
        put_int_dec(b, v)
    elif PyFloat_Check(v):
        d = PyFloat_AS_DOUBLE(v)
        if isfinite(d):
            put_double_repr(b, d)
        else:
            put_cstr(b, "null")
    elif PyList_Check(v):
        put_char(b, b'[')
        i = 0
        while i < PyList_GET_SIZE(v):
            if i:
                put_char(b, b',')
            json_value(b, <object>PyList_GET_ITEM(v, i), field, subkey, depth + 1, keep, level)
            i += 1
        put_char(b, b']')
    elif PyTuple_Check(v):
        put_char(b, b'[')
        for i in range(PyTuple_GET_SIZE(v)):
            if i:
                put_char(b, b',')
            json_value(b, <object>PyTuple_GET_ITEM(v, i), field, subkey, depth + 1, keep, level)
        put_char(b, b']')
    elif PyDict_Check(v):
        put_char(b, b'{')
        pos = 0
        first = True
        while PyDict_Next(v, &pos, &k, &val):
            if not PyUnicode_Check(<object>k):
                raise EncodeError(field_name(field, subkey), f"object key {(<object>k)!r} is not a string")
            if not first:
                put_char(b, b',')
            first = False
            p = utf8_of(<object>k, &n, keep)
            put_quoted(b, p, n, level)
            put_char(b, b':')
            json_value(b, <object>val, field, subkey, depth + 1, keep, level)
        put_char(b, b'}')
    else:
        raise EncodeError(field_name(field, subkey), f"unsupported type {type(v).__name__}")
    return 0


def json_text(value, field="value"):
    """The twin of spancast.codec.values.json_text: the canonical JSON text of a free-form value, written
    by the encoders' own writer (lone surrogates, only possible from records built in Python, become '?'
    as the encoders write them; the Python twin keeps them in the text and its callers' utf8() replaces them)."""
    cdef Buf b
    cdef list keep = []
    b.data = NULL
    b.len = b.cap = 0
    try:
        json_value(&b, value, field, None, 1, keep, 1)
        return PyUnicode_DecodeUTF8(b.data, b.len, NULL)
    finally:
        buf_free(&b)
