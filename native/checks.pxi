# record_checks at the door, natively: the twin of spancast.record_checks.first_problem (the same index for
# every list of records). It only says whether a record passes; record_checks.check says why one does not.

from cpython.dict cimport PyDict_Next
from spancast import record_checks as _rc

cdef extern from "Python.h":
    bint PyDict_Check_p "PyDict_Check"(PyObject* o)
    bint PyList_Check_p "PyList_Check"(PyObject* o)
    bint PyBool_Check_p "PyBool_Check"(PyObject* o)
    Py_ssize_t PyList_GET_SIZE_p "PyList_GET_SIZE"(PyObject* o)
    PyObject* PyList_GET_ITEM_p "PyList_GET_ITEM"(PyObject* o, Py_ssize_t i)
    void PyErr_Clear()

cdef int MAX_NESTING = _rc.MAX_NESTING
cdef object TIME_MAX_NS = _rc.TIME_MAX_NS
cdef object COUNT_MAX = _rc.COUNT_MAX
cdef Py_ssize_t F_TOTAL_C = GEN["total_tokens"]
cdef tuple F_FREE = tuple(GEN[name] for name in _rc.FREE_FIELDS)


cdef bint int_fits(PyObject* v) noexcept:
    """int64 .. uint64, as record_checks.INT_MIN .. INT_MAX."""
    cdef int overflow = 0
    PyLong_AsLongLongAndOverflow_p(v, &overflow)
    if overflow == 0:
        return True
    if overflow < 0:
        return False
    PyLong_AsUnsignedLongLong(<object>v)
    if PyErr_Occurred() != NULL:
        PyErr_Clear()
        return False
    return True


cdef bint free_fits(PyObject* v, int depth) noexcept:
    """record_checks._walk(v, ..., depth) is None: containers at most MAX_NESTING deep, ints within 64 bits."""
    cdef Py_ssize_t pos = 0, i, n
    cdef PyObject* key
    cdef PyObject* item
    if PyDict_Check_p(v):
        if depth > MAX_NESTING:
            return False
        while PyDict_Next(<object>v, &pos, &key, &item):
            if (PyDict_Check_p(item) or PyList_Check_p(item) or PyLong_Check_p(item)) and not free_fits(item, depth + 1):
                return False
        return True
    if PyList_Check_p(v):
        if depth > MAX_NESTING:
            return False
        n = PyList_GET_SIZE_p(v)
        for i in range(n):
            item = PyList_GET_ITEM_p(v, i)
            if (PyDict_Check_p(item) or PyList_Check_p(item) or PyLong_Check_p(item)) and not free_fits(item, depth + 1):
                return False
        return True
    if PyLong_Check_p(v) and not PyBool_Check_p(v):
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
        if v != NULL and v != <PyObject*>None and not free_fits(v, 1):
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
