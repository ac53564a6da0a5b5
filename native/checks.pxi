# record_checks at the door, natively: the twin of spancast.record_checks.first_problem (the same index for
# every list of records). It only says whether a record passes; record_checks.check says why one does not.

from cpython.bool cimport PyBool_Check
from spancast import record_checks as _rc

cdef int MAX_NESTING = _rc.MAX_NESTING
cdef object TIME_MAX_NS = _rc.TIME_MAX_NS
cdef object COUNT_MAX = _rc.COUNT_MAX
cdef Py_ssize_t F_TOTAL_C = GEN["total_tokens"]
cdef tuple F_FREE = tuple(GEN[name] for name in _rc.FREE_FIELDS)


cdef bint int_fits(object v) except -1:
    """int64 .. uint64, as record_checks.INT_MIN .. INT_MAX."""
    cdef int overflow = 0
    PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow == 0:
        return True
    if overflow < 0:
        return False
    PyLong_AsUnsignedLongLong(v)
    if PyErr_Occurred() != NULL:
        PyErr_Clear()
        return False
    return True


cdef bint free_fits(object v, int depth) except -1:
    """record_checks._walk(v, ..., depth) is None: containers at most MAX_NESTING deep, ints within 64 bits."""
    cdef Py_ssize_t pos = 0, i
    cdef PyObject* key
    cdef PyObject* item
    if PyDict_Check(v):
        if depth > MAX_NESTING:
            return False
        while PyDict_Next(v, &pos, &key, &item):
            if not free_fits(<object>item, depth + 1):
                return False
        return True
    if PyList_Check(v):
        if depth > MAX_NESTING:
            return False
        for i in range(PyList_GET_SIZE(v)):
            if not free_fits(<object>PyList_GET_ITEM(v, i), depth + 1):
                return False
        return True
    if PyLong_Check(v) and not PyBool_Check(v):
        return int_fits(v)
    return True


cdef bint record_fits(object record) except -1:
    cdef Py_ssize_t off
    cdef PyObject* v = fraw(record, F_TOTAL_C)
    if v != NULL and v != <PyObject*>None and <object>v > COUNT_MAX:
        return False
    for off in (F_START, F_END):
        v = fraw(record, off)
        if v == NULL or <object>v > TIME_MAX_NS:
            return False
    for off in F_FREE:
        v = fraw(record, off)
        if v != NULL and v != <PyObject*>None and not free_fits(<object>v, 1):
            return False
    return True


def first_problem(records):
    """The index of the first record record_checks.check refuses, -1 when it takes them all: the twin of
    spancast.record_checks.first_problem (decoded records only: each a Generation)."""
    cdef Py_ssize_t i = 0
    for record in records:
        if not is_instance(record, GEN_TYPE):
            raise TypeError(f"expected Generation records, got {type(record).__name__}")
        if not record_fits(record):
            return i
        i += 1
    return -1
