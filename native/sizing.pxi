# The record size estimate, the twin of spancast/codec/_sizing.py (same integer for every input).

from cpython.dict cimport PyDict_Next
from cpython.list cimport PyList_GET_SIZE, PyList_GET_ITEM
from cpython.tuple cimport PyTuple_GET_SIZE, PyTuple_GET_ITEM

from spancast.codec import _sizing as _SZ

cdef Py_ssize_t SZ_RECORD_BASE = _SZ.RECORD_BASE, SZ_TEXT_BASE = _SZ.TEXT_BASE, SZ_DICT_BASE = _SZ.DICT_BASE
cdef Py_ssize_t SZ_LIST_BASE = _SZ.LIST_BASE, SZ_ENTRY = _SZ.ENTRY, SZ_OTHER = _SZ.OTHER, SZ_DEEP = _SZ.DEEP
cdef int SZ_MAX_DEPTH = _SZ.MAX_DEPTH
cdef Py_ssize_t SZ_ATTEMPT = _SZ.ATTEMPT, SZ_NOT_A_RECORD = _SZ.NOT_A_RECORD
cdef Py_ssize_t F_ERRMSG_SZ = GEN["error_message"], F_PROMPT_SZ = GEN["prompt"], F_REASONING_SZ = GEN["reasoning"]
cdef Py_ssize_t F_MESSAGES_SZ = GEN["messages"], F_PARAMS_SZ = GEN["model_parameters"]


cdef Py_ssize_t value_bytes(PyObject* v, int depth) noexcept:
    cdef Py_ssize_t n, pos = 0, i
    cdef PyObject* k
    cdef PyObject* item
    cdef PyTypeObject* t = Py_TYPE(<object>v)
    if t == <PyTypeObject*>str:
        return SZ_TEXT_BASE + PyUnicode_GET_LENGTH_p(v)
    if depth >= SZ_MAX_DEPTH:
        return SZ_DEEP
    if t == <PyTypeObject*>dict:
        n = SZ_DICT_BASE
        while PyDict_Next(<object>v, &pos, &k, &item):
            n += SZ_ENTRY + (PyUnicode_GET_LENGTH_p(k) if Py_TYPE(<object>k) == <PyTypeObject*>str else SZ_OTHER)
            n += value_bytes(item, depth + 1)
        return n
    if t == <PyTypeObject*>list:
        n = SZ_LIST_BASE
        for i in range(PyList_GET_SIZE(<object>v)):
            n += SZ_ENTRY + value_bytes(<PyObject*>PyList_GET_ITEM(<object>v, i), depth + 1)
        return n
    if t == <PyTypeObject*>tuple:
        n = SZ_LIST_BASE
        for i in range(PyTuple_GET_SIZE(<object>v)):
            n += SZ_ENTRY + value_bytes(<PyObject*>PyTuple_GET_ITEM(<object>v, i), depth + 1)
        return n
    return SZ_OTHER


cdef inline Py_ssize_t text_len(PyObject* p) noexcept:
    if p != NULL and Py_TYPE(<object>p) == <PyTypeObject*>str:
        return PyUnicode_GET_LENGTH_p(p)
    return 0


cdef inline Py_ssize_t nested_bytes(PyObject* p) noexcept:
    if p == NULL or <object>p is None:
        return 0
    return value_bytes(p, 0)


def record_bytes(record):
    """An estimate of the memory a queued record holds (content characters plus fixed overheads)."""
    cdef Py_ssize_t n
    cdef PyObject* attempts
    if not is_instance(record, GEN_TYPE):
        return SZ_NOT_A_RECORD
    n = SZ_RECORD_BASE
    n += text_len(fraw(record, F_ERRMSG_SZ)) + text_len(fraw(record, F_PROMPT_SZ))
    n += text_len(fraw(record, F_COMPLETION)) + text_len(fraw(record, F_REASONING_SZ))
    n += nested_bytes(fraw(record, F_MESSAGES_SZ)) + nested_bytes(fraw(record, F_TOOL_CALLS))
    n += nested_bytes(fraw(record, F_PARAMS_SZ)) + nested_bytes(fraw(record, F_TRACE))
    attempts = fraw(record, F_ATTEMPTS)
    if attempts != NULL and Py_TYPE(<object>attempts) == <PyTypeObject*>list:
        n += SZ_ATTEMPT * PyList_GET_SIZE(<object>attempts)
    return n
